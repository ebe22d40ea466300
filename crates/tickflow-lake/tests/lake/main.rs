//! The lake crate's integration tests, one binary.

mod encode;
mod schema;
mod store;
