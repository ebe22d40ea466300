//! The lake crate's integration tests, one binary.

mod decode;
mod encode;
mod schema;
mod store;
