//! The layering holds: the core has nothing that does IO or async in its normal dependency tree,
//! and only the Kafka adapter and the crates that use it link librdkafka.

use std::process::Command;

const FORBIDDEN: [&str; 9] =
    ["tokio", "rdkafka", "object_store", "duckdb", "axum", "hyper", "reqwest", "async-std", "mio"];

/// The names of the packages in `package`'s normal dependency tree.
fn dependency_names(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    let names: Vec<String> =
        tree.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect();
    assert!(names.iter().any(|n| n == "serde_json"), "the tree of {package} was read: {names:?}");
    names
}

#[test]
fn core_has_no_io_or_async_dependencies() {
    let names = dependency_names("tickflow-core");
    for forbidden in FORBIDDEN {
        assert!(!names.iter().any(|n| n == forbidden), "tickflow-core depends on {forbidden}");
    }
}

#[test]
fn only_kafka_users_link_librdkafka() {
    for package in ["tickflow-service", "tickflow-lake", "exchange-sim"] {
        let names = dependency_names(package);
        assert!(!names.iter().any(|n| n == "rdkafka" || n == "tickflow-kafka"), "{package} links Kafka");
    }
    assert!(dependency_names("stream-processor").iter().any(|n| n == "rdkafka"), "the check can see rdkafka");
}
