//! Records read from Kafka, as tickflow reads them: position, key, payload, and what the
//! headers tickflow writes say (record kind, provenance, dead-letter origin).

use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Headers, OwnedMessage};
use tickflow_core::contract::DeadLetter;

use crate::headers::{Provenance, RecordKind, dead_letter_from, record_kind};

/// What tickflow reads of a Kafka record.
pub trait KafkaRecord {
    fn topic(&self) -> &str;
    fn partition(&self) -> i32;
    fn offset(&self) -> i64;
    /// The key; empty when the record has none.
    fn key(&self) -> &[u8];
    /// The value; empty when the record has none (a tombstone).
    fn payload(&self) -> &[u8];
    /// The value of the first header named `key`.
    fn header(&self, key: &str) -> Option<&[u8]>;
    /// What a `raw_trades` record is, by its `tickflow-kind` header.
    fn kind(&self) -> RecordKind;
    /// Which input record a stream-processor output came from.
    fn provenance(&self) -> Option<Provenance>;
    /// A dead letter read back from its headers and value; `None` if a header is missing.
    fn dead_letter(&self) -> Option<DeadLetter>;
    /// The record's timestamp (create or log-append time), ms since the epoch, if it has one.
    fn timestamp_ms(&self) -> Option<i64>;
}

macro_rules! kafka_record {
    ($record:ty) => {
        impl KafkaRecord for $record {
            fn topic(&self) -> &str {
                self.0.topic()
            }
            fn partition(&self) -> i32 {
                self.0.partition()
            }
            fn offset(&self) -> i64 {
                self.0.offset()
            }
            fn key(&self) -> &[u8] {
                self.0.key().unwrap_or_default()
            }
            fn payload(&self) -> &[u8] {
                self.0.payload().unwrap_or_default()
            }
            fn header(&self, key: &str) -> Option<&[u8]> {
                self.0.headers()?.iter().find(|h| h.key == key)?.value
            }
            fn kind(&self) -> RecordKind {
                record_kind(self.0.headers())
            }
            fn provenance(&self) -> Option<Provenance> {
                Provenance::from_headers(self.0.headers())
            }
            fn dead_letter(&self) -> Option<DeadLetter> {
                dead_letter_from(self.0.headers(), self.payload())
            }
            fn timestamp_ms(&self) -> Option<i64> {
                self.0.timestamp().to_millis()
            }
        }
    };
}

/// A record borrowed from the consumer that read it.
pub struct Record<'a>(pub(crate) BorrowedMessage<'a>);

/// A record that outlives the consumer that read it.
pub struct OwnedRecord(pub(crate) OwnedMessage);

kafka_record!(Record<'_>);
kafka_record!(OwnedRecord);

/// A record made outside a consumer: tests and fuzzing build the records a topic could hold.
impl From<OwnedMessage> for OwnedRecord {
    fn from(message: OwnedMessage) -> Self {
        OwnedRecord(message)
    }
}

impl Record<'_> {
    pub fn detach(&self) -> OwnedRecord {
        OwnedRecord(self.0.detach())
    }
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record({}-{}@{})", self.topic(), self.partition(), self.offset())
    }
}

impl std::fmt::Debug for OwnedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnedRecord({}-{}@{})", self.topic(), self.partition(), self.offset())
    }
}
