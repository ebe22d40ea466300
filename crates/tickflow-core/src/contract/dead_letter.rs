//! Rejections and the dead-letter contract (`schemas/dead_letter.schema.json`).

use serde::{Deserialize, Serialize};

/// Why a record was rejected. Every rejection names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not valid JSON.
    ParseError,
    /// Valid JSON, but not the shape of the contract.
    SchemaError,
    InvalidPrice,
    InvalidSize,
    /// The instrument is not in the reference data.
    UnknownSymbol,
    /// The message is larger than the configured limit.
    TooLarge,
    /// Event time too far from receive time.
    ClockSkew,
    /// Older than the instrument's watermark minus the allowed lateness. No longer produced:
    /// late trades are kept and marked `is_late`; the reason stays for dead letters of older runs.
    LateEvent,
    /// A trade identity already seen.
    Duplicate,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::ParseError,
        RejectReason::SchemaError,
        RejectReason::InvalidPrice,
        RejectReason::InvalidSize,
        RejectReason::UnknownSymbol,
        RejectReason::TooLarge,
        RejectReason::ClockSkew,
        RejectReason::LateEvent,
        RejectReason::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::ParseError => "parse_error",
            RejectReason::SchemaError => "schema_error",
            RejectReason::InvalidPrice => "invalid_price",
            RejectReason::InvalidSize => "invalid_size",
            RejectReason::UnknownSymbol => "unknown_symbol",
            RejectReason::TooLarge => "too_large",
            RejectReason::ClockSkew => "clock_skew",
            RejectReason::LateEvent => "late_event",
            RejectReason::Duplicate => "duplicate",
        }
    }
}

/// A rejected record: a reason code and a fixed description. The description never echoes
/// the payload, so it is safe to log and to put in a dead-letter header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: &'static str,
}

impl Rejection {
    pub const fn new(reason: RejectReason, detail: &'static str) -> Self {
        Rejection { reason, detail }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

impl std::error::Error for Rejection {}

/// The pipeline stage that rejected a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Producer,
    StreamProcessor,
    LakeWriter,
}

/// A rejected record with its original bytes and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: RejectReason,
    pub detail: String,
    pub stage: Stage,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    /// When the record was rejected (microseconds since the epoch, UTC).
    pub rejected_at_us: i64,
    #[serde(with = "base64_bytes")]
    pub original_bytes: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD.decode(text.as_bytes()).map_err(de::Error::custom)
    }
}
