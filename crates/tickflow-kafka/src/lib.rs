//! tickflow's Kafka adapter, the only crate that imports rdkafka (none of its types is public).
//!
//! - [`settings`]: connection settings from flags and the environment (`KAFKA_BOOTSTRAP_SERVERS`,
//!   any librdkafka property through `KAFKA_PROPERTIES`), secrets never printed.
//! - [`admin`]: creates missing topics at start-up.
//! - [`producer`]: an idempotent producer (`enable.idempotence`, `acks=all`) whose `flush` says
//!   whether every record sent since the last flush was acknowledged.
//! - [`group`]: members of a consumer group (cooperative rebalancing) whose service decides
//!   where each assigned partition resumes and finishes each partition before it leaves.
//! - [`consumer`]: consumers of explicitly assigned partitions that never store an offset on
//!   their own, and partition helpers (watermarks, the last record of a partition).
//!
//! The services are at-least-once: consume a batch, send its outputs, `flush` until all are
//! acknowledged, and only then store the consumed offsets.

pub mod admin;
pub mod consumer;
pub mod group;
pub mod headers;
pub mod producer;
pub mod record;
pub mod settings;

pub use record::{KafkaRecord, OwnedRecord, Record};
pub use settings::{KafkaArgs, KafkaError, KafkaProperty};
