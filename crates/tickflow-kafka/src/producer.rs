//! An idempotent producer that can tell whether everything it sent was acknowledged, or
//! everything it sent before a mark, without waiting ([`OutputProducer::mark`]).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use crate::headers::OutputHeaders;
use crate::settings::{KafkaArgs, KafkaError};

/// Counts delivery reports and tracks which records are still waiting for theirs; failures are
/// logged without the payload.
#[derive(Debug, Default)]
pub struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    outstanding: Mutex<Outstanding>,
}

/// Records are numbered in the order they are queued; this knows the lowest number still
/// waiting for its delivery report, so "everything queued before record N is acknowledged" is a
/// comparison, whatever order the reports of different partitions arrive in.
#[derive(Debug, Default)]
struct Outstanding {
    /// The lowest number not yet reported (every number below it is).
    first_waiting: u64,
    /// Whether each number from `first_waiting` on has been reported.
    reported: VecDeque<bool>,
}

impl Outstanding {
    fn queue(&mut self) -> u64 {
        self.reported.push_back(false);
        self.first_waiting + self.reported.len() as u64 - 1
    }

    fn report(&mut self, number: u64) {
        let Some(slot) = number.checked_sub(self.first_waiting).and_then(|i| self.reported.get_mut(i as usize)) else {
            return;
        };
        *slot = true;
        while self.reported.front() == Some(&true) {
            self.reported.pop_front();
            self.first_waiting += 1;
        }
    }

    fn next_number(&self) -> u64 {
        self.first_waiting + self.reported.len() as u64
    }
}

impl DeliveryCounter {
    fn outstanding(&self) -> std::sync::MutexGuard<'_, Outstanding> {
        self.outstanding.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, number: Self::DeliveryOpaque) {
        self.outstanding().report(number as u64);
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, message)) => {
                use rdkafka::Message;
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(topic = message.topic(), partition = message.partition(), %error, "record not delivered");
            }
        }
    }
}

/// Why an output record was not sent.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The record did not encode: a bug, not a broker problem.
    #[error("a {what} record did not encode: {cause}")]
    Encode { what: &'static str, cause: serde_json::Error },
}

impl OutputError {
    /// Whether retrying later can succeed (the broker is down or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, OutputError::Kafka(error) if error.is_transient())
    }

    /// `value` as JSON, or why it did not encode.
    pub fn encode(what: &'static str, value: &impl serde::Serialize) -> Result<Vec<u8>, OutputError> {
        serde_json::to_vec(value).map_err(|cause| OutputError::Encode { what, cause })
    }
}

/// One record to send. `partition: None` lets the key choose the partition.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub key: &'a [u8],
    pub payload: &'a [u8],
}

/// Producer settings beyond the connection.
#[derive(Debug, Clone, Copy)]
pub struct ProducerTuning {
    /// How long librdkafka may wait to fill a batch: small on the latency path.
    pub linger_ms: u32,
    /// The largest record it may send (librdkafka's `message.max.bytes`).
    pub max_record_bytes: usize,
    /// How much librdkafka may hold waiting for delivery (`queue.buffering.max.kbytes`), never
    /// less than two of the largest records; beyond it `send` waits. `None`: librdkafka's bound
    /// (1 GB or 100 000 records).
    pub max_queued_kbytes: Option<u32>,
}

impl Default for ProducerTuning {
    fn default() -> Self {
        ProducerTuning { linger_ms: 1, max_record_bytes: 1_000_000, max_queued_kbytes: None }
    }
}

impl ProducerTuning {
    fn apply(&self, config: &mut ClientConfig) {
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", self.linger_ms.to_string())
            .set("message.max.bytes", self.max_record_bytes.to_string())
            // The idempotent producer keeps a partition's records in the order sent with up to
            // five requests in flight (the broker checks their sequence numbers), which the
            // stream-processor's restart relies on.
            .set("max.in.flight.requests.per.connection", "5")
            .set("message.timeout.ms", "300000");
        if let Some(kbytes) = self.max_queued_kbytes {
            let two_records = u32::try_from(self.max_record_bytes.div_ceil(1024) * 2).unwrap_or(u32::MAX);
            config.set("queue.buffering.max.kbytes", kbytes.max(two_records).to_string());
        }
    }
}

pub struct OutputProducer {
    producer: BaseProducer<DeliveryCounter>,
}

impl std::fmt::Debug for OutputProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputProducer").finish_non_exhaustive()
    }
}

impl OutputProducer {
    pub fn new(args: &KafkaArgs, tuning: ProducerTuning) -> Result<Self, KafkaError> {
        let mut config = args.client_config();
        tuning.apply(&mut config);
        for property in args.extra_properties() {
            config.set(&property.key, &property.value); // explicit properties win
        }
        let producer = config
            .create_with_context(DeliveryCounter::default())
            .map_err(KafkaError::client("creating the producer"))?;
        Ok(OutputProducer { producer })
    }

    /// Queues a record; waits while librdkafka's queue is full.
    pub fn send(&self, record: Outgoing<'_>, headers: Option<OutputHeaders>) -> Result<(), KafkaError> {
        let number = self.producer.context().outstanding().queue();
        let sent = self.send_numbered(record, headers, number as usize);
        if sent.is_err() {
            self.producer.context().outstanding().report(number); // never queued: nothing to wait for
        }
        sent
    }

    fn send_numbered(
        &self,
        record: Outgoing<'_>,
        headers: Option<OutputHeaders>,
        number: usize,
    ) -> Result<(), KafkaError> {
        let mut base: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(record.topic, number).key(record.key).payload(record.payload);
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Some(headers) = headers {
            base = base.headers(headers.0);
        }
        loop {
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    base = returned;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => return Err(KafkaError::Client { context: "sending a record", cause: error }),
            }
        }
    }

    /// Serves delivery reports without blocking.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// A mark after every record sent so far, for [`OutputProducer::acknowledged_before`].
    pub fn mark(&self) -> u64 {
        self.producer.context().outstanding().next_number()
    }

    /// Whether every record sent before `mark` is acknowledged, without waiting (serve delivery
    /// reports with [`OutputProducer::poll`]); `Undelivered` if any record was not delivered.
    pub fn acknowledged_before(&self, mark: u64) -> Result<bool, KafkaError> {
        let context = self.producer.context();
        let failed = context.failed.load(Ordering::Relaxed);
        if failed > 0 {
            return Err(KafkaError::Undelivered(failed));
        }
        Ok(context.outstanding().first_waiting >= mark)
    }

    /// Waits until every record sent before `mark` is acknowledged; `Undelivered` if any record
    /// was not delivered, a timeout error if they are not acknowledged within `timeout`.
    pub fn wait_acknowledged_before(&self, mark: u64, timeout: Duration) -> Result<(), KafkaError> {
        let started = std::time::Instant::now();
        while !self.acknowledged_before(mark)? {
            if started.elapsed() >= timeout {
                let cause = rdkafka::error::KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut);
                return Err(KafkaError::Client { context: "waiting for records to be acknowledged", cause });
            }
            self.producer.poll(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Waits until every record sent so far is acknowledged; `Undelivered` if any was not.
    /// Returns how many were delivered since the last flush.
    pub fn flush(&self, timeout: Duration) -> Result<u64, KafkaError> {
        self.producer.flush(timeout).map_err(KafkaError::client("flushing the producer"))?;
        let context = self.producer.context();
        let failed = context.failed.swap(0, Ordering::Relaxed);
        if failed > 0 {
            return Err(KafkaError::Undelivered(failed));
        }
        Ok(context.delivered.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::config::ClientConfig;

    use super::{Outstanding, ProducerTuning};

    #[test]
    fn a_queue_bound_is_set_only_when_asked_and_always_takes_two_of_the_largest_records() {
        let queued = |tuning: ProducerTuning| {
            let mut config = ClientConfig::new();
            tuning.apply(&mut config);
            config.get("queue.buffering.max.kbytes").map(str::to_owned)
        };
        assert_eq!(queued(ProducerTuning::default()), None, "librdkafka's own bound");
        let bounded = ProducerTuning { max_queued_kbytes: Some(16 * 1024), ..ProducerTuning::default() };
        assert_eq!(queued(bounded).as_deref(), Some("16384"));
        let large_records = ProducerTuning { max_record_bytes: 64 * 1024 * 1024, ..bounded };
        assert_eq!(queued(large_records).as_deref(), Some("131072"), "room for two 64 MB records");
    }

    #[test]
    fn the_first_waiting_record_moves_only_when_everything_before_it_is_reported() {
        let mut outstanding = Outstanding::default();
        let numbers: Vec<u64> = (0..4).map(|_| outstanding.queue()).collect();
        assert_eq!(numbers, [0, 1, 2, 3]);
        assert_eq!(outstanding.next_number(), 4);
        outstanding.report(2); // another partition's report arrives first
        outstanding.report(1);
        assert_eq!(outstanding.first_waiting, 0, "record 0 is still waiting");
        outstanding.report(0);
        assert_eq!(outstanding.first_waiting, 3);
        outstanding.report(3);
        outstanding.report(3); // a repeated or unknown report changes nothing
        outstanding.report(99);
        assert_eq!(outstanding.first_waiting, 4);
        assert_eq!(outstanding.queue(), 4);
    }
}
