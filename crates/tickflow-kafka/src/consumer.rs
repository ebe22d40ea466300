//! Consumers with explicit partition ownership and explicit commits, and partition helpers.
//!
//! Services assign themselves partitions (all of a topic by default) instead of joining a
//! rebalancing group: they decide where each partition resumes (from the lake, from a state
//! snapshot, from the committed offset) before reading. Offsets are committed synchronously,
//! and only after the outputs of everything below them were acknowledged.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::record::{KafkaRecord, OwnedRecord, Record};
use crate::settings::{KafkaArgs, KafkaError};

/// Where reading a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
    Offset(i64),
}

impl StartAt {
    fn offset(self) -> Offset {
        match self {
            StartAt::Beginning => Offset::Beginning,
            StartAt::End => Offset::End,
            StartAt::Offset(offset) => Offset::Offset(offset),
        }
    }
}

/// A consumer of explicitly assigned partitions that commits nothing by itself.
pub struct Reader(BaseConsumer);

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

/// Consumer settings beyond the connection.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerTuning {
    /// How long the broker may hold a fetch waiting for data: small on the latency path.
    pub fetch_wait_max_ms: u32,
    /// How far librdkafka fetches ahead of the application, in kilobytes
    /// (`queued.max.messages.kbytes`; librdkafka's default is 64 MB).
    pub prefetch_kbytes: u32,
    /// ... and in records (`queued.min.messages`; librdkafka's default is 100 000).
    pub prefetch_records: u32,
}

impl Default for ConsumerTuning {
    /// A prefetch of 8 MB or 20 000 records: measured (BENCHMARKS.md, "P3 and P6, third round"),
    /// the stream-processor drains as fast with it as with librdkafka's 64 MB and holds half the
    /// memory. Smaller saves more memory at a cost in throughput ("P6 and P3, fifth round").
    fn default() -> Self {
        ConsumerTuning { fetch_wait_max_ms: 10, prefetch_kbytes: 8 * 1024, prefetch_records: 20_000 }
    }
}

/// How soon a consumer whose prefetch is full looks again (`fetch.queue.backoff.ms`). librdkafka
/// waits a whole second by default, far longer than our services take to work through a full
/// prefetch: that wait, not the work, set the pace (with librdkafka's 100 000-record prefetch the
/// stream-processor took at most about 100 000 records a second).
const FULL_PREFETCH_BACKOFF_MS: u32 = 10;

impl ConsumerTuning {
    pub(crate) fn apply(&self, config: &mut ClientConfig) {
        config
            .set("fetch.wait.max.ms", self.fetch_wait_max_ms.to_string())
            .set("queued.max.messages.kbytes", self.prefetch_kbytes.to_string())
            .set("queued.min.messages", self.prefetch_records.to_string())
            .set("fetch.queue.backoff.ms", FULL_PREFETCH_BACKOFF_MS.to_string());
    }
}

/// A reader in `group_id` (for committed offsets) that commits nothing by itself.
pub fn consumer(args: &KafkaArgs, group_id: &str, tuning: ConsumerTuning) -> Result<Reader, KafkaError> {
    let mut config = args.client_config();
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    tuning.apply(&mut config);
    for property in args.extra_properties() {
        config.set(&property.key, &property.value);
    }
    config.create().map(Reader).map_err(KafkaError::client("creating a consumer"))
}

impl Reader {
    /// Waits up to `timeout` for the next record of the assigned partitions.
    pub fn poll(&self, timeout: Duration) -> Option<Result<Record<'_>, KafkaError>> {
        Some(self.0.poll(timeout)?.map(Record).map_err(KafkaError::client("consuming")))
    }
}

/// How many partitions `topic` has; a topic just created is waited for until `timeout`.
pub fn partition_count(consumer: &Reader, topic: &str, timeout: Duration) -> Result<i32, KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let metadata = consumer.0.fetch_metadata(Some(topic), left).map_err(KafkaError::client("reading metadata"))?;
        let count = metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len());
        if let Some(count) = i32::try_from(count).ok().filter(|c| *c > 0) {
            return Ok(count);
        }
        if Instant::now() + COORDINATOR_RETRY >= deadline {
            return Err(KafkaError::Timeout("topic has no partitions yet"));
        }
        std::thread::sleep(COORDINATOR_RETRY);
    }
}

/// The committed offset of each partition of `topic` (`None` where nothing is committed). A
/// group coordinator that is not ready yet (a broker that has just started is still creating
/// or loading `__consumer_offsets`) is asked again until `timeout`.
pub fn committed_offsets(
    consumer: &Reader,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<Vec<Option<i64>>, KafkaError> {
    let mut list = TopicPartitionList::new();
    for &partition in partitions {
        list.add_partition(topic, partition);
    }
    let deadline = Instant::now() + timeout;
    let committed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.0.committed_offsets(list.clone(), left) {
            Ok(committed) => break committed,
            Err(error) if coordinator_not_ready(&error) && Instant::now() + COORDINATOR_RETRY < deadline => {
                std::thread::sleep(COORDINATOR_RETRY);
            }
            Err(error) => return Err(KafkaError::Client { context: "reading committed offsets", cause: error }),
        }
    };
    Ok(partitions
        .iter()
        .map(|&p| match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => Some(offset),
            _ => None,
        })
        .collect())
}

const COORDINATOR_RETRY: Duration = Duration::from_millis(200);

/// Whether `error` says the group coordinator is not there yet (it is moving or loading).
fn coordinator_not_ready(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::{CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator};
    matches!(error.rdkafka_error_code(), Some(NotCoordinator | CoordinatorLoadInProgress | CoordinatorNotAvailable))
}

/// Reads each `(topic, partition)` from the given position.
pub fn assign(consumer: &Reader, starts: &[(&str, i32, StartAt)]) -> Result<(), KafkaError> {
    let mut list = TopicPartitionList::new();
    for &(topic, partition, start) in starts {
        list.add_partition_offset(topic, partition, start.offset()).map_err(KafkaError::client("assigning"))?;
    }
    consumer.0.assign(&list).map_err(KafkaError::client("assigning partitions"))
}

/// Commits, for each `(topic, partition)`, the offset of the next record to read.
///
/// Asynchronous: the services keep their own authoritative progress (state snapshots, lake
/// markers), so a commit only mirrors it for monitoring and as a fallback, and a broker that
/// is slow to answer commits cannot stall processing.
pub fn commit(consumer: &Reader, next_offsets: &[(&str, i32, i64)]) -> Result<(), KafkaError> {
    if next_offsets.is_empty() {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    for &(topic, partition, offset) in next_offsets {
        list.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(KafkaError::client("committing"))?;
    }
    consumer.0.commit(&list, CommitMode::Async).map_err(KafkaError::client("committing offsets"))
}

/// The low and high watermarks of a partition.
pub fn watermarks(consumer: &Reader, topic: &str, partition: i32, timeout: Duration) -> Result<(i64, i64), KafkaError> {
    consumer.0.fetch_watermarks(topic, partition, timeout).map_err(KafkaError::client("reading watermarks"))
}

/// The last record of a partition, if it has any.
pub fn last_record(
    args: &KafkaArgs,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<Option<OwnedRecord>, KafkaError> {
    last_record_matching(args, topic, partition, timeout, |_| true)
}

/// The last record of a partition that `matches`, searching back from the end in growing steps.
///
/// Each step reads up to the high watermark (or, where offsets end before it, until nothing
/// more arrives). A transient failure is tried again up to three times: a broker that has just
/// started is worth waiting for, since a service's restart must not need a manual step.
pub fn last_record_matching(
    args: &KafkaArgs,
    topic: &str,
    partition: i32,
    timeout: Duration,
    matches: impl Fn(&OwnedRecord) -> bool,
) -> Result<Option<OwnedRecord>, KafkaError> {
    let mut last = search_back(args, topic, partition, timeout, &matches);
    for _ in 0..3 {
        match &last {
            Err(error) if error.is_transient() => {
                tracing::warn!(topic, partition, %error, "reading back the partition again");
                last = search_back(args, topic, partition, timeout, &matches);
            }
            _ => break,
        }
    }
    last
}

fn search_back(
    args: &KafkaArgs,
    topic: &str,
    partition: i32,
    timeout: Duration,
    matches: &impl Fn(&OwnedRecord) -> bool,
) -> Result<Option<OwnedRecord>, KafkaError> {
    let probe = consumer(args, "tickflow-probe", ConsumerTuning::default())?;
    let (low, high) = watermarks(&probe, topic, partition, timeout)?;
    if high <= low {
        return Ok(None);
    }
    let mut span = 1i64;
    loop {
        let start = (high - span).max(low);
        let mut found = None;
        read_range(&probe, topic, partition, start, high, timeout, &mut |record| {
            if matches(&record) {
                found = Some(record);
            }
        })?;
        if found.is_some() || start == low {
            return Ok(found);
        }
        span = span.saturating_mul(16);
    }
}

/// Hands the last `count` records of a partition (fewer if it holds fewer) to `visit`, oldest first.
pub fn read_tail(
    args: &KafkaArgs,
    topic: &str,
    partition: i32,
    count: i64,
    timeout: Duration,
    visit: &mut impl FnMut(OwnedRecord),
) -> Result<(), KafkaError> {
    let probe = consumer(args, "tickflow-probe", ConsumerTuning::default())?;
    let (low, high) = watermarks(&probe, topic, partition, timeout)?;
    if high <= low || count <= 0 {
        return Ok(());
    }
    read_range(&probe, topic, partition, (high - count).max(low), high, timeout, visit)
}

/// Reads a partition from `start` up to the high watermark `high` (or, where offsets end before
/// it, until nothing more arrives), handing each record to `visit`.
fn read_range(
    probe: &Reader,
    topic: &str,
    partition: i32,
    start: i64,
    high: i64,
    timeout: Duration,
    visit: &mut impl FnMut(OwnedRecord),
) -> Result<(), KafkaError> {
    const QUIET: Duration = Duration::from_millis(300);
    assign(probe, &[(topic, partition, StartAt::Offset(start))])?;
    let deadline = Instant::now() + timeout;
    let (mut read_any, mut quiet_since) = (false, Instant::now());
    loop {
        match probe.0.poll(Duration::from_millis(50)) {
            Some(Ok(message)) => {
                let message = OwnedRecord(message.detach());
                read_any = true;
                quiet_since = Instant::now();
                let at_end = message.offset() >= high - 1;
                visit(message);
                if at_end {
                    return Ok(());
                }
            }
            Some(Err(error)) => return Err(KafkaError::Client { context: "reading back a partition", cause: error }),
            None if read_any && quiet_since.elapsed() >= QUIET => return Ok(()),
            None if Instant::now() > deadline => return Err(KafkaError::Timeout("reading back a partition")),
            None => {}
        }
    }
}

/// Succeeds once the cluster answers a metadata request.
pub fn ping(args: &KafkaArgs, timeout: Duration) -> Result<(), KafkaError> {
    let probe = consumer(args, "tickflow-probe", ConsumerTuning::default())?;
    probe.0.fetch_metadata(None, timeout).map(|_| ()).map_err(KafkaError::client("reaching the brokers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tuning_bounds_the_prefetch_and_shortens_librdkafkas_backoff() {
        let mut config = ClientConfig::new();
        ConsumerTuning::default().apply(&mut config);
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("8192"));
        assert_eq!(config.get("queued.min.messages"), Some("20000"));
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("10"), "not librdkafka's 1000 ms");
        assert_eq!(config.get("fetch.wait.max.ms"), Some("10"));
    }
}
