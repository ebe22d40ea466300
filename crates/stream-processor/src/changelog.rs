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
/// and all its outputs were acknowledged: read back from the changelog it holds the processor's
/// state (`P` is the default); written, it borrows a live processor's.
#[derive(Debug, Serialize, Deserialize)]
pub struct PartitionSnapshot<P = ProcessorSnapshot> {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
    pub processor: P,
}

/// A partition's snapshot as the changelog stores it (postcard, zstd-compressed), made when the
/// checkpoint is taken so a checkpoint waiting for its outputs holds a few compressed bytes per
/// instrument rather than a copy of the state.
#[derive(Debug)]
pub struct EncodedState {
    pub partition: i32,
    pub next_offset: i64,
    compressed: Vec<u8>,
}

impl EncodedState {
    pub fn encode(snapshot: &PartitionSnapshot<impl Serialize>) -> anyhow::Result<Self> {
        // Serialized straight into the compressor: no uncompressed copy of the state is made.
        let mut compressor = zstd::Encoder::new(Vec::new(), 1).context("compressing a state snapshot")?;
        postcard::to_io(snapshot, &mut compressor).context("encoding a state snapshot")?;
        let mut compressed = compressor.finish().context("compressing a state snapshot")?;
        // Held until the checkpoint's outputs are acknowledged: without the room its doubling left.
        compressed.shrink_to_fit();
        if compressed.len() > MAX_STATE_BYTES {
            bail!(
                "the state of {RAW_TRADES} partition {} is {} bytes, over the changelog's {MAX_STATE_BYTES}",
                snapshot.partition,
                compressed.len()
            );
        }
        Ok(EncodedState { partition: snapshot.partition, next_offset: snapshot.next_offset, compressed })
    }

    /// A snapshot as the changelog holds it; `None` if it cannot be read.
    pub fn decode(compressed: &[u8]) -> Option<PartitionSnapshot> {
        let encoded = zstd::decode_all(compressed).ok()?;
        postcard::from_bytes::<PartitionSnapshot>(&encoded).ok()
    }

    /// Its size in the changelog.
    pub fn compressed_bytes(&self) -> usize {
        self.compressed.len()
    }
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
        let tuning = ProducerTuning { linger_ms: 5, max_record_bytes: MAX_STATE_BYTES, max_queued_kbytes: None };
        let producer = OutputProducer::new(kafka, tuning)?;
        Ok(StateChangelog { kafka: kafka.clone(), topic, producer })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends a partition's state; durable once [`StateChangelog::flush`] returns.
    pub fn save(&self, state: &EncodedState) -> anyhow::Result<()> {
        let key = format!("{RAW_TRADES}-{}", state.partition);
        let record = Outgoing {
            topic: &self.topic,
            partition: Some(state.partition),
            key: key.as_bytes(),
            payload: &state.compressed,
        };
        self.producer.send(record, None)?;
        Ok(())
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
        let decoded = EncodedState::decode(record.payload());
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

#[cfg(test)]
mod tests {
    use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
    use tickflow_core::reference::ReferenceData;
    use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};

    use super::*;

    fn encoded(processor: &StreamProcessor) -> EncodedState {
        let snapshot = PartitionSnapshot {
            topic: RAW_TRADES.to_owned(),
            partition: 3,
            next_offset: 1_234,
            processor: processor.snapshot(),
        };
        EncodedState::encode(&snapshot).expect("encodes")
    }

    #[test]
    fn a_live_processors_state_reads_back_and_carries_on_as_the_live_one() {
        let reference = ReferenceData::bundled().expect("reference");
        let config = ProcessorConfig::default();
        let mut live = StreamProcessor::new(config.clone(), reference.clone()).expect("processor");
        let mut market = SyntheticMarket::new(&reference, SyntheticConfig::default());
        let mut metrics = Vec::new();
        for _ in 0..5_000 {
            let _ = live.process_trade(market.next_trade(), &mut metrics);
        }
        let saved = encoded(&live);
        let read = EncodedState::decode(&saved.compressed).expect("reads back");
        assert_eq!((read.topic.as_str(), read.partition, read.next_offset), (RAW_TRADES, 3, 1_234));
        let mut restored = StreamProcessor::restore(config, reference, read.processor).expect("restores");
        assert!(live.state_size().0 > 0 && live.state_size().1 > 0, "identities and windows were saved");
        assert_eq!(restored.state_size(), live.state_size(), "the same identities and open windows");
        let (mut from_live, mut from_restored) = (Vec::new(), Vec::new());
        for _ in 0..5_000 {
            let trade = market.next_trade();
            let live_verdict = live.process_trade(trade.clone(), &mut from_live).map(|e| e.is_late);
            let restored_verdict = restored.process_trade(trade, &mut from_restored).map(|e| e.is_late);
            assert_eq!(live_verdict.map_err(|r| r.reason), restored_verdict.map_err(|r| r.reason));
        }
        assert!(!from_live.is_empty(), "the trades after the snapshot closed windows");
        assert!(from_live == from_restored, "the restored processor emits what the live one does");
    }

    #[test]
    fn unreadable_bytes_are_no_snapshot() {
        assert!(EncodedState::decode(b"not zstd").is_none());
        let garbage = zstd::encode_all(&b"not postcard"[..], 1).expect("compresses");
        assert!(EncodedState::decode(&garbage).is_none());
    }
}
