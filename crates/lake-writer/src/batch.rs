//! A batch: consecutive records of one topic partition, sorted into the lake files they will
//! become (one per table, date and symbol). Routing a record reads only what its path needs.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use tickflow_core::contract::MetricKind;
use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
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
    pub started: Instant,
    /// A batch replayed after a crash must end exactly where its marker says.
    pub forced_last: Option<i64>,
    /// The next offset this partition expects; anything older is a redelivery.
    pub next_offset: Option<i64>,
}

/// What happened to a record offered to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Routed,
    /// Cannot be placed in any table; skipped, but part of the batch's range.
    Unroutable,
    /// Older than what the partition already holds: dropped.
    Redelivered,
}

/// What a record says about where it belongs.
#[derive(Deserialize)]
struct Locator<'a> {
    metric: Option<MetricKind>,
    #[serde(borrow)]
    instrument_id: Option<&'a str>,
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
            started: Instant::now(),
            forced_last,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first_offset.is_none()
    }

    /// Adds a record; an unroutable one is skipped but still advances the batch's range.
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
        let Some(Route { table, date, symbol, line }) = route(self.topic, record) else { return Added::Unroutable };
        let path = data_file(table, &date, &symbol, self.topic, self.partition, offset).to_string();
        let key = format!("{}/{date}/{symbol}", table.name);
        let file = self.files.entry(key).or_insert_with(|| FileRecords {
            table,
            path,
            first_offset: offset,
            last_offset: offset,
            records: 0,
            lines: Vec::new(),
        });
        file.last_offset = offset;
        file.records += 1;
        file.lines.extend_from_slice(&line);
        file.lines.push(b'\n');
        self.bytes += line.len() + 1;
        Added::Routed
    }

    /// An empty batch that continues this one's partition.
    pub fn next(&self) -> Batch {
        Batch::new(self.topic, self.partition, None, self.next_offset)
    }

    /// Records in the batch that have a file.
    pub fn records(&self) -> u64 {
        self.files.values().map(|f| f.records).sum()
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

/// Where a record goes: its table, date and symbol partition, and the line it adds.
struct Route {
    table: LakeTable,
    date: String,
    symbol: String,
    line: Vec<u8>,
}

fn route(topic: &str, record: &impl KafkaRecord) -> Option<Route> {
    let payload = record.payload();
    if topic == DEAD_LETTERS {
        let letter = record.dead_letter()?;
        let symbol = String::from_utf8_lossy(record.key()).into_owned();
        let line = serde_json::to_vec(&letter).ok()?;
        return Some(Route { table: LakeTable::DEAD_LETTERS, date: date_of(letter.rejected_at_us), symbol, line });
    }
    let locator: Locator<'_> = serde_json::from_slice(payload).ok()?;
    let symbol = locator.instrument_id?.to_owned();
    let (table, time) = match (topic, locator.metric) {
        (ENRICHED_TRADES, _) => (LakeTable::TRADES, locator.event_time_us?),
        (REALTIME_METRICS, Some(MetricKind::Candle)) => (LakeTable::CANDLES, locator.window_start_us?),
        (REALTIME_METRICS, Some(MetricKind::Anomaly)) => (LakeTable::ANOMALIES, locator.window_start_us?),
        (REALTIME_METRICS, Some(MetricKind::FeedGap)) => (LakeTable::FEED_GAPS, locator.from_us?),
        _ => return None,
    };
    Some(Route { table, date: date_of(time), symbol, line: payload.to_vec() })
}
