//! Links the prebuilt DuckDB found in DUCKDB_LIB_DIR with an rpath, so the binaries and tests run
//! without LD_LIBRARY_PATH (scripts/duckdb-lib.sh fetches it; `--features bundled` compiles DuckDB instead).
fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        return;
    }
    if let Some(dir) = std::env::var_os("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
