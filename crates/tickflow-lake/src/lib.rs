//! The Parquet lake. Its Arrow (and so Parquet) schemas are derived from the contracts in
//! `schemas/` through the core's column model; nothing here lists a column by hand.

pub mod schema;

pub use schema::{LakeTable, arrow_schema, parquet_schema};
