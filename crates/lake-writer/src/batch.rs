//! A batch: consecutive records of one topic partition, sorted into the lake files they will
//! become (one per table, date and symbol). Routing a record reads only what its path needs; a
//! record that cannot be placed (not JSON, no instrument or time, an unknown metric, a dead letter
//! without its headers) becomes a dead letter of the lake-writer in the lake's `dead_letters`
//! table, with its reason and its bytes, so nothing leaves the lake unaccounted for.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_core::contract::{DeadLetter, MetricKind, RejectReason, Rejection, Stage};
use tickflow_core::validate::{from_json, json_rejection};
use tickflow_kafka::KafkaRecord;
use tickflow_lake::LakeTable;
use tickflow_lake::commit::{FileRecords, LakeBatch};
use tickflow_lake::layout::{data_file, date_of};

#[derive(Debug)]
pub struct Batch {
    pub topic: &'static str,
    pub partition: i32,
    pub first_offset: Option<i64>,
    pub last_offset: i64,
    /// The files the batch becomes, by table, date and symbol.
    pub files: BTreeMap<String, FileRecords>,
    pub bytes: usize,
    /// Records in the batch that have a file (a redelivery has none).
    records: u64,
    pub started: Instant,
    /// A batch replayed after a crash must end exactly where its marker says.
    pub forced_last: Option<i64>,
    /// The next offset this partition expects; anything older is a redelivery.
    pub next_offset: Option<i64>,
    /// The key of the file a record goes to, reused from record to record.
    key: String,
}

/// What happened to a record offered to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Routed,
    /// Cannot be placed in its topic's table: routed to the lake's dead letters, for this reason.
    DeadLettered(RejectReason),
    /// Older than what the partition already holds: dropped.
    Redelivered,
}

/// What a record says about where it belongs.
#[derive(Deserialize)]
struct Locator<'a> {
    metric: Option<MetricKind>,
    #[serde(borrow)]
    instrument_id: Option<Cow<'a, str>>,
    event_time_us: Option<i64>,
    window_start_us: Option<i64>,
    from_us: Option<i64>,
}

impl Batch {
    pub fn new(topic: &'static str, partition: i32, forced_last: Option<i64>, next_offset: Option<i64>) -> Self {
        Batch {
            next_offset,
            topic,
            partition,
            first_offset: None,
            last_offset: -1,
            files: BTreeMap::new(),
            bytes: 0,
            records: 0,
            started: Instant::now(),
            forced_last,
            key: String::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first_offset.is_none()
    }

    /// Adds a record (one that cannot be placed, as its dead letter).
    pub fn add(&mut self, record: &impl KafkaRecord) -> Added {
        let offset = record.offset();
        if self.next_offset.is_some_and(|next| offset < next) {
            return Added::Redelivered;
        }
        self.next_offset = Some(offset + 1);
        if self.first_offset.is_none() {
            self.first_offset = Some(offset);
            self.started = Instant::now();
        }
        self.last_offset = offset;
        let (Route { table, time_us, symbol, line }, added) = match route(self.topic, record) {
            Ok(route) => (route, Added::Routed),
            Err(rejection) => (dead_letter_route(self.topic, record, rejection), Added::DeadLettered(rejection.reason)),
        };
        // Files are found by table, day and symbol; the path is made once, for the file's first record.
        self.key.clear();
        let _ = write!(self.key, "{}/{}/{symbol}", table.name, time_us.div_euclid(DAY_US));
        let file = match self.files.get_mut(self.key.as_str()) {
            Some(file) => file,
            None => {
                let path = data_file(table, &date_of(time_us), &symbol, self.topic, self.partition, offset).to_string();
                let file = FileRecords {
                    table,
                    path,
                    first_offset: offset,
                    last_offset: offset,
                    records: 0,
                    lines: Vec::new(),
                };
                self.files.entry(self.key.clone()).or_insert(file)
            }
        };
        file.last_offset = offset;
        file.records += 1;
        self.records += 1;
        file.lines.extend_from_slice(&line);
        file.lines.push(b'\n');
        self.bytes += line.len() + 1;
        added
    }

    /// An empty batch that continues this one's partition.
    pub fn next(&self) -> Batch {
        Batch::new(self.topic, self.partition, None, self.next_offset)
    }

    /// Records in the batch that have a file.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The batch as the lake commits it.
    pub fn to_lake(&self) -> LakeBatch<'_> {
        LakeBatch {
            topic: self.topic,
            partition: self.partition,
            first_offset: self.first_offset.unwrap_or(0),
            last_offset: self.last_offset,
            files: self.files.values().collect(),
        }
    }
}

/// Where a record goes: its table, the time that dates it, its symbol, and the line it adds.
struct Route<'a> {
    table: LakeTable,
    time_us: i64,
    symbol: Cow<'a, str>,
    line: Cow<'a, [u8]>,
}

const DAY_US: i64 = 86_400_000_000;

fn route<'a>(topic: &str, record: &'a impl KafkaRecord) -> Result<Route<'a>, Rejection> {
    let payload = record.payload();
    if topic == DEAD_LETTERS {
        let letter = record.dead_letter().ok_or(NO_HEADERS)?;
        let symbol = String::from_utf8_lossy(record.key());
        let line = serde_json::to_vec(&letter).map_err(|_| NO_HEADERS)?;
        return Ok(Route { table: LakeTable::DEAD_LETTERS, time_us: letter.rejected_at_us, symbol, line: line.into() });
    }
    let locator: Locator<'_> = from_json(payload).ok_or_else(|| json_rejection(payload))?;
    let symbol = locator.instrument_id.filter(|id| !id.is_empty()).ok_or(NO_INSTRUMENT)?;
    let (table, time) = match (topic, locator.metric) {
        (ENRICHED_TRADES, _) => (LakeTable::TRADES, locator.event_time_us),
        (REALTIME_METRICS, Some(MetricKind::Candle)) => (LakeTable::CANDLES, locator.window_start_us),
        (REALTIME_METRICS, Some(MetricKind::Anomaly)) => (LakeTable::ANOMALIES, locator.window_start_us),
        (REALTIME_METRICS, Some(MetricKind::FeedGap)) => (LakeTable::FEED_GAPS, locator.from_us),
        (REALTIME_METRICS, None) => return Err(NO_METRIC),
        _ => return Err(Rejection::new(RejectReason::SchemaError, "a topic the lake-writer does not read")),
    };
    Ok(Route { table, time_us: time.ok_or(NO_TIME)?, symbol, line: payload.into() })
}

const NO_HEADERS: Rejection = Rejection::new(RejectReason::SchemaError, "a dead letter without its tickflow-* headers");
const NO_INSTRUMENT: Rejection = Rejection::new(RejectReason::SchemaError, "no instrument_id");
const NO_METRIC: Rejection = Rejection::new(RejectReason::SchemaError, "no metric kind");
const NO_TIME: Rejection = Rejection::new(RejectReason::SchemaError, "no time to place it by");

/// The dead letter of a record that cannot be placed: dated by the record's Kafka timestamp (the
/// same on every replay), filed under its key (its instrument) or `unknown`.
fn dead_letter_route<'a>(topic: &str, record: &'a impl KafkaRecord, rejection: Rejection) -> Route<'a> {
    let rejected_at_us = record.timestamp_ms().map(|ms| ms.saturating_mul(1000)).unwrap_or_else(now_us);
    let letter = DeadLetter {
        reason: rejection.reason,
        detail: rejection.detail.to_owned(),
        stage: Stage::LakeWriter,
        source_topic: topic.to_owned(),
        source_partition: record.partition(),
        source_offset: record.offset(),
        rejected_at_us,
        original_bytes: record.payload().to_vec(),
    };
    let key = String::from_utf8_lossy(record.key());
    let symbol = if key.trim().is_empty() { Cow::Borrowed("unknown") } else { key };
    let line = serde_json::to_vec(&letter).expect("a dead letter serializes");
    Route { table: LakeTable::DEAD_LETTERS, time_us: rejected_at_us, symbol, line: line.into() }
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}
