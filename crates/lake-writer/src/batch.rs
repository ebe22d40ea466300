//! A batch: consecutive records of one topic partition, sorted into the lake files they will
//! become (one per table, date and symbol). Routing a record reads only what its path needs.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_kafka::Message;
use tickflow_kafka::headers::dead_letter_from;
use tickflow_lake::LakeTable;
use tickflow_lake::encode::FileMetadata;
use tickflow_lake::layout::{data_file, date_of};
use tickflow_lake::store::BatchMarker;

/// The records of one future file.
#[derive(Debug)]
pub struct Group {
    pub table: LakeTable,
    pub path: String,
    pub first_offset: i64,
    pub last_offset: i64,
    pub records: u64,
    /// Newline-separated JSON records.
    pub lines: Vec<u8>,
}

#[derive(Debug)]
pub struct Batch {
    pub topic: &'static str,
    pub partition: i32,
    pub first_offset: Option<i64>,
    pub last_offset: i64,
    pub groups: BTreeMap<String, Group>,
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
    #[serde(borrow)]
    metric: Option<&'a str>,
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
            groups: BTreeMap::new(),
            bytes: 0,
            started: Instant::now(),
            forced_last,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first_offset.is_none()
    }

    /// Adds a record; an unroutable one is skipped but still advances the batch's range.
    pub fn add<M: Message>(&mut self, message: &M) -> Added {
        let offset = message.offset();
        if self.next_offset.is_some_and(|next| offset < next) {
            return Added::Redelivered;
        }
        self.next_offset = Some(offset + 1);
        if self.first_offset.is_none() {
            self.first_offset = Some(offset);
            self.started = Instant::now();
        }
        self.last_offset = offset;
        let Some((table, date, symbol, line)) = route(self.topic, message) else { return Added::Unroutable };
        let path = data_file(table, &date, &symbol, self.topic, self.partition, offset).to_string();
        let key = format!("{}/{date}/{symbol}", table.name);
        let group = self.groups.entry(key).or_insert_with(|| Group {
            table,
            path,
            first_offset: offset,
            last_offset: offset,
            records: 0,
            lines: Vec::new(),
        });
        group.last_offset = offset;
        group.records += 1;
        group.lines.extend_from_slice(&line);
        group.lines.push(b'\n');
        self.bytes += line.len() + 1;
        Added::Routed
    }

    /// An empty batch that continues this one's partition.
    pub fn next(&self) -> Batch {
        Batch::new(self.topic, self.partition, None, self.next_offset)
    }

    pub fn marker(&self) -> BatchMarker {
        BatchMarker {
            topic: self.topic.to_owned(),
            partition: self.partition,
            first_offset: self.first_offset.unwrap_or(0),
            last_offset: self.last_offset,
            files: self.groups.values().map(|g| g.path.clone()).collect(),
        }
    }

    pub fn file_metadata(&self, group: &Group) -> FileMetadata {
        FileMetadata {
            topic: self.topic.to_owned(),
            partition: self.partition,
            first_offset: group.first_offset,
            last_offset: group.last_offset,
            records: group.records,
            batch_first: self.first_offset.unwrap_or(0),
            batch_last: self.last_offset,
        }
    }
}

fn route<M: Message>(topic: &str, message: &M) -> Option<(LakeTable, String, String, Vec<u8>)> {
    let payload = message.payload().unwrap_or_default();
    if topic == DEAD_LETTERS {
        let letter = dead_letter_from(message.headers(), payload)?;
        let symbol = message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
        let line = serde_json::to_vec(&letter).ok()?;
        return Some((LakeTable::DEAD_LETTERS, date_of(letter.rejected_at_us), symbol, line));
    }
    let locator: Locator<'_> = serde_json::from_slice(payload).ok()?;
    let symbol = locator.instrument_id?.to_owned();
    let (table, time) = match (topic, locator.metric) {
        (ENRICHED_TRADES, _) => (LakeTable::TRADES, locator.event_time_us?),
        (REALTIME_METRICS, Some("candle")) => (LakeTable::CANDLES, locator.window_start_us?),
        (REALTIME_METRICS, Some("anomaly")) => (LakeTable::ANOMALIES, locator.window_start_us?),
        (REALTIME_METRICS, Some("feed_gap")) => (LakeTable::FEED_GAPS, locator.from_us?),
        _ => return None,
    };
    Some((table, date_of(time), symbol, payload.to_vec()))
}
