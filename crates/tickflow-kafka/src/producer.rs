//! An idempotent producer that can tell whether everything it sent was acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use crate::headers::OutputHeaders;
use crate::settings::{KafkaArgs, KafkaError};

/// Counts delivery reports; failures are logged without the payload.
#[derive(Debug, Default)]
pub struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
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
}

impl Default for ProducerTuning {
    fn default() -> Self {
        ProducerTuning { linger_ms: 1, max_record_bytes: 1_000_000 }
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
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", tuning.linger_ms.to_string())
            .set("message.max.bytes", tuning.max_record_bytes.to_string())
            // The idempotent producer keeps a partition's records in the order sent with up to
            // five requests in flight (the broker checks their sequence numbers), which the
            // stream-processor's restart relies on.
            .set("max.in.flight.requests.per.connection", "5")
            .set("message.timeout.ms", "300000");
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
        let mut base: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(record.topic).key(record.key).payload(record.payload);
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
