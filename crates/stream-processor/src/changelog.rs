//! Each input partition's processor state, kept in Kafka as Kafka Streams keeps a store: a
//! compacted changelog topic (`<group>-state`) with a partition per input partition, whose latest
//! record is that partition's state after everything before its `next_offset` was processed and
//! all its outputs were acknowledged. Whichever member of the group is given the partition
//! restores it from there, so the state follows the partition from instance to instance.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::processor::ProcessorSnapshot;
use tickflow_kafka::admin::ensure_compacted_topic;
use tickflow_kafka::consumer::{self, ConsumerTuning};
use tickflow_kafka::producer::{Outgoing, OutputProducer, ProducerTuning};
use tickflow_kafka::{KafkaArgs, KafkaRecord};

/// The largest state record the changelog takes (zstd-compressed).
pub const MAX_STATE_BYTES: usize = 64 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(15);

/// The state of one partition's processor after everything before `next_offset` was processed
/// and all its outputs were acknowledged.
#[derive(Debug, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
    pub processor: ProcessorSnapshot,
}

/// The changelog topic of one processor group.
pub struct StateChangelog {
    kafka: KafkaArgs,
    topic: String,
    producer: OutputProducer,
}

impl std::fmt::Debug for StateChangelog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateChangelog").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl StateChangelog {
    /// The changelog of `group_id`, created (compacted, one partition per input partition) when
    /// missing.
    pub fn open(kafka: &KafkaArgs, group_id: &str, input_partitions: i32) -> anyhow::Result<Self> {
        let topic = format!("{group_id}-state");
        ensure_compacted_topic(kafka, &topic, input_partitions, MAX_STATE_BYTES, TIMEOUT)
            .with_context(|| format!("creating the state changelog {topic}"))?;
        let probe = consumer::consumer(kafka, "tickflow-probe", ConsumerTuning::default())?;
        let partitions = consumer::partition_count(&probe, &topic, TIMEOUT)?;
        if partitions < input_partitions {
            bail!(
                "the state changelog {topic} has {partitions} partitions, fewer than {RAW_TRADES}'s {input_partitions}"
            );
        }
        let tuning = ProducerTuning { linger_ms: 5, max_record_bytes: MAX_STATE_BYTES };
        let producer = OutputProducer::new(kafka, tuning)?;
        Ok(StateChangelog { kafka: kafka.clone(), topic, producer })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends a partition's state; durable once [`StateChangelog::flush`] returns. Returns its size.
    pub fn save(&self, snapshot: &PartitionSnapshot) -> anyhow::Result<usize> {
        let encoded = postcard::to_stdvec(snapshot).context("encoding a state snapshot")?;
        let compressed = zstd::encode_all(encoded.as_slice(), 1).context("compressing a state snapshot")?;
        if compressed.len() > MAX_STATE_BYTES {
            bail!(
                "the state of {RAW_TRADES} partition {} is {} bytes, over the changelog's {MAX_STATE_BYTES}",
                snapshot.partition,
                compressed.len()
            );
        }
        let key = format!("{}-{}", snapshot.topic, snapshot.partition);
        let record = Outgoing {
            topic: &self.topic,
            partition: Some(snapshot.partition),
            key: key.as_bytes(),
            payload: &compressed,
        };
        self.producer.send(record, None)?;
        Ok(compressed.len())
    }

    /// Waits until every state sent is acknowledged.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.producer.flush(Duration::from_secs(120)).context("the state changelog did not acknowledge a snapshot")?;
        Ok(())
    }

    /// The latest state of `partition`; `None` if there is none or it cannot be read (then the
    /// partition starts from its committed offset with empty state).
    pub fn load(&self, partition: i32) -> anyhow::Result<Option<PartitionSnapshot>> {
        let Some(record) = consumer::last_record(&self.kafka, &self.topic, partition, TIMEOUT)? else {
            return Ok(None);
        };
        let decoded = zstd::decode_all(record.payload())
            .ok()
            .and_then(|bytes| postcard::from_bytes::<PartitionSnapshot>(&bytes).ok());
        if decoded.is_none() {
            tracing::warn!(
                topic = self.topic,
                partition,
                offset = record.offset(),
                "state snapshot unreadable; ignoring it"
            );
        }
        Ok(decoded.filter(|s| s.topic == RAW_TRADES && s.partition == partition))
    }
}
