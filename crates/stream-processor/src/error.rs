//! What can go wrong in the stream-processor, and whether trying again can help.

use tickflow_kafka::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// An output record did not encode: a bug, not a broker problem.
    #[error("an output record for {topic} did not encode: {cause}")]
    Encode { topic: &'static str, cause: serde_json::Error },
}

impl ProcessorError {
    /// Whether retrying later can succeed (the broker is down or busy).
    pub fn is_transient(&self) -> bool {
        match self {
            ProcessorError::Kafka(error) => error.is_transient(),
            ProcessorError::Encode { .. } => false,
        }
    }
}
