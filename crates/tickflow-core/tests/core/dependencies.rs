//! The core stays pure: nothing that does IO or async is in its normal dependency tree.

use std::process::Command;

const FORBIDDEN: [&str; 9] =
    ["tokio", "rdkafka", "object_store", "duckdb", "axum", "hyper", "reqwest", "async-std", "mio"];

#[test]
fn core_has_no_io_or_async_dependencies() {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "-p", "tickflow-core", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(names.contains(&"serde_json"), "the tree was read: {names:?}");
    for forbidden in FORBIDDEN {
        assert!(!names.contains(&forbidden), "tickflow-core depends on {forbidden}");
    }
}
