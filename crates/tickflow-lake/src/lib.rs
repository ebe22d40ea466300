//! The Parquet lake: where files go, what they contain, and how they are committed.
//!
//! - [`schema`]: Arrow/Parquet schemas derived from the contracts in `schemas/`; nothing here
//!   lists a column by hand.
//! - [`layout`]: `<table>/date=YYYY-MM-DD/symbol=<instrument>/<topic>-<partition>-<first offset>.parquet`.
//! - [`decode`]: JSON records read once, straight into the Arrow columns their contract declares.
//! - [`encode`]: JSON records to a Parquet file (zstd) whose key-value metadata names the
//!   Kafka records it holds, and that metadata read back.
//! - [`store`]: the object store (`file://`, `s3://`, `memory://`), create-only writes that
//!   verify an existing file instead of overwriting it, and batch markers that record progress
//!   in the lake itself.
//! - [`commit`]: a whole batch through that protocol in one call.

pub mod commit;
pub mod decode;
pub mod encode;
pub mod layout;
pub mod schema;
pub mod store;

pub use schema::{LakeTable, arrow_schema, parquet_schema};
