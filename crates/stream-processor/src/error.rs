//! What can go wrong in the stream-processor, and whether trying again can help: an output not
//! sent (the broker) or not encoded (a bug), as the Kafka adapter says.

pub use tickflow_kafka::producer::OutputError as ProcessorError;
