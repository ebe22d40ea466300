//! Record headers tickflow writes: a dead letter's reason and origin, and the provenance of a
//! stream-processor output (which input record, and which of its outputs, it came from).

use rdkafka::message::{Header, Headers, OwnedHeaders};
use tickflow_core::contract::{DeadLetter, RejectReason, Stage};

/// The headers of a record to send.
#[derive(Debug, Clone)]
pub struct OutputHeaders(pub(crate) OwnedHeaders);

impl Default for OutputHeaders {
    fn default() -> Self {
        OutputHeaders(OwnedHeaders::new())
    }
}

impl OutputHeaders {
    pub fn new() -> Self {
        Self::default()
    }

    /// These headers and `key: value`.
    pub fn with(self, key: &str, value: &[u8]) -> Self {
        OutputHeaders(self.0.insert(Header { key, value: Some(value) }))
    }

    /// The headers of a `raw_trades` record of `kind` (`watermark`, `feed_gap`).
    pub fn kind(kind: &str) -> Self {
        Self::new().with(KIND, kind.as_bytes())
    }

    /// These headers and the provenance of a stream-processor output.
    pub fn with_provenance(self, provenance: &Provenance) -> Self {
        let mut text = [0u8; Provenance::MAX_HEADER_BYTES];
        let length = provenance.write_header(&mut text);
        self.with(PROVENANCE, &text[..length])
    }

    /// The headers of a dead letter; its value is the original bytes.
    pub fn dead_letter(letter: &DeadLetter) -> Self {
        let text = [
            (REASON, letter.reason.as_str().to_owned()),
            (DETAIL, letter.detail.clone()),
            (STAGE, stage_name(letter.stage).to_owned()),
            (SOURCE_TOPIC, letter.source_topic.clone()),
            (SOURCE_PARTITION, letter.source_partition.to_string()),
            (SOURCE_OFFSET, letter.source_offset.to_string()),
            (REJECTED_AT_US, letter.rejected_at_us.to_string()),
        ];
        text.iter().fold(Self::new(), |headers, (key, value)| headers.with(key, value.as_bytes()))
    }
}

pub const REASON: &str = "tickflow-reason";
pub const DETAIL: &str = "tickflow-detail";
pub const STAGE: &str = "tickflow-stage";
pub const SOURCE_TOPIC: &str = "tickflow-source-topic";
pub const SOURCE_PARTITION: &str = "tickflow-source-partition";
pub const SOURCE_OFFSET: &str = "tickflow-source-offset";
pub const REJECTED_AT_US: &str = "tickflow-rejected-at-us";
/// Marks a `raw_trades` record that is not a trade: `watermark` or `feed_gap`.
pub const KIND: &str = "tickflow-kind";
pub const KIND_WATERMARK: &str = "watermark";
pub const KIND_FEED_GAP: &str = "feed_gap";

/// What a `raw_trades` record is, by its `tickflow-kind` header (none: a trade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Trade,
    Watermark,
    FeedGap,
    /// A kind this version does not know.
    Unknown,
}

pub(crate) fn record_kind(headers: Option<&impl Headers>) -> RecordKind {
    let Some(kind) = headers.and_then(|h| h.iter().find(|h| h.key == KIND)) else { return RecordKind::Trade };
    match kind.value {
        Some(v) if v == KIND_WATERMARK.as_bytes() => RecordKind::Watermark,
        Some(v) if v == KIND_FEED_GAP.as_bytes() => RecordKind::FeedGap,
        _ => RecordKind::Unknown,
    }
}

/// `partition/offset/index` of the input record an output came from.
pub const PROVENANCE: &str = "tickflow-provenance";

/// Reads a dead letter back from its headers and value; `None` if a header is missing.
pub(crate) fn dead_letter_from(headers: Option<&impl Headers>, value: &[u8]) -> Option<DeadLetter> {
    let headers = headers?;
    let text = |key: &str| -> Option<String> {
        headers
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    };
    let reason = RejectReason::ALL.into_iter().find(|r| Some(r.as_str()) == text(REASON).as_deref())?;
    let stage = match text(STAGE)?.as_str() {
        "producer" => Stage::Producer,
        "stream-processor" => Stage::StreamProcessor,
        "lake-writer" => Stage::LakeWriter,
        _ => return None,
    };
    Some(DeadLetter {
        reason,
        detail: text(DETAIL)?,
        stage,
        source_topic: text(SOURCE_TOPIC)?,
        source_partition: text(SOURCE_PARTITION)?.parse().ok()?,
        source_offset: text(SOURCE_OFFSET)?.parse().ok()?,
        rejected_at_us: text(REJECTED_AT_US)?.parse().ok()?,
        original_bytes: value.to_vec(),
    })
}

pub fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Producer => "producer",
        Stage::StreamProcessor => "stream-processor",
        Stage::LakeWriter => "lake-writer",
    }
}

/// Where an output came from: the input partition and offset, and its index among the outputs
/// that input record produced on the same topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Provenance {
    pub partition: i32,
    pub offset: i64,
    pub index: u32,
}

impl Provenance {
    /// The longest header value: three numbers of at most 11, 20 and 10 characters, two slashes.
    const MAX_HEADER_BYTES: usize = 11 + 20 + 10 + 2;

    /// Writes the header value, `partition/offset/index`, into `text` (sent with every output, so without allocating) and
    /// returns its length.
    fn write_header(&self, text: &mut [u8; Self::MAX_HEADER_BYTES]) -> usize {
        let mut numbers = itoa::Buffer::new();
        let mut length = 0;
        let mut put = |bytes: &[u8]| {
            text[length..length + bytes.len()].copy_from_slice(bytes);
            length += bytes.len();
        };
        put(numbers.format(self.partition).as_bytes());
        put(b"/");
        put(numbers.format(self.offset).as_bytes());
        put(b"/");
        put(numbers.format(self.index).as_bytes());
        length
    }

    pub(crate) fn from_headers(headers: Option<&impl Headers>) -> Option<Provenance> {
        let value = headers?.iter().find(|h| h.key == PROVENANCE)?.value?;
        let mut parts = std::str::from_utf8(value).ok()?.split('/');
        let provenance = Provenance {
            partition: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
            index: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(provenance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The provenance header's value as sent.
    fn header_text(provenance: &Provenance) -> String {
        let headers = OutputHeaders::new().with_provenance(provenance).0;
        let value = headers.iter().find(|h| h.key == PROVENANCE).and_then(|h| h.value).expect("a provenance header");
        String::from_utf8(value.to_vec()).expect("text")
    }

    #[test]
    fn dead_letters_and_provenance_round_trip_through_headers() {
        let letter = DeadLetter {
            reason: RejectReason::ClockSkew,
            detail: "event time is too far ahead of receive time".into(),
            stage: Stage::StreamProcessor,
            source_topic: "raw_trades".into(),
            source_partition: 2,
            source_offset: 99,
            rejected_at_us: 1_700_000_000_000_000,
            original_bytes: b"{}".to_vec(),
        };
        let headers = OutputHeaders::dead_letter(&letter).0;
        assert_eq!(dead_letter_from(Some(&headers), b"{}"), Some(letter));
        let provenance = Provenance { partition: 3, offset: 1234, index: 2 };
        assert_eq!(header_text(&provenance), "3/1234/2");
        let longest = Provenance { partition: i32::MIN, offset: i64::MIN, index: u32::MAX };
        assert_eq!(header_text(&longest), format!("{}/{}/{}", i32::MIN, i64::MIN, u32::MAX));
        for provenance in [provenance, longest, Provenance { partition: 0, offset: 0, index: 0 }] {
            let headers = OutputHeaders::new().with_provenance(&provenance).0;
            assert_eq!(Provenance::from_headers(Some(&headers)), Some(provenance));
        }
    }

    #[test]
    fn record_kinds_are_told_apart_by_their_header() {
        assert_eq!(record_kind(None::<&OwnedHeaders>), RecordKind::Trade);
        assert_eq!(record_kind(Some(&OwnedHeaders::new())), RecordKind::Trade);
        assert_eq!(record_kind(Some(&OutputHeaders::kind(KIND_WATERMARK).0)), RecordKind::Watermark);
        assert_eq!(record_kind(Some(&OutputHeaders::kind(KIND_FEED_GAP).0)), RecordKind::FeedGap);
        assert_eq!(record_kind(Some(&OutputHeaders::kind("heartbeat").0)), RecordKind::Unknown);
    }
}
