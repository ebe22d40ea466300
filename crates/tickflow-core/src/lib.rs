//! The pure core of tickflow.
//!
//! Everything here is plain synchronous code over values: no IO, no async runtime, no clock
//! (time comes in as a parameter or from the records themselves), no Kafka, object store or
//! database client. The binaries are thin shells around it.
//!
//! - [`contract`]: the shared data contracts and the column model read from `schemas/`.
//! - [`venue`]: Finnhub, Binance and Coinbase frames normalized into trades.
//! - [`validate`]: untrusted bytes into a trade or a typed rejection.
//! - [`dedup`], [`window`], [`anomaly`]: the stateful steps.
//! - [`processor`]: all of them composed into the stream-processor's hot path.
//! - [`reference`]: instruments and trading calendars.
//! - [`synthetic`]: a seeded market generator for the demo feed, tests and benchmarks.

pub mod anomaly;
pub mod contract;
pub mod decimal;
pub mod dedup;
pub mod feed;
pub mod processor;
pub mod reference;
mod scan;
pub mod synthetic;
pub mod validate;
pub mod venue;
pub mod window;
