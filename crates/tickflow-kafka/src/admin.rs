//! Topic creation at start-up.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::settings::{KafkaArgs, KafkaError};

/// Creates each topic that does not exist yet, with the configured partitions and
/// replication. Topics that exist are left as they are.
pub fn ensure_topics(args: &KafkaArgs, topics: &[&str], timeout: Duration) -> Result<(), KafkaError> {
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| NewTopic::new(name, args.topic_partitions, TopicReplication::Fixed(args.replication_factor)))
        .collect();
    create(args, &new_topics, timeout)
}

/// Creates a compacted topic (the latest record of each key is kept for good) with `partitions`
/// partitions and records up to `max_record_bytes`, unless it exists. Its segments roll every
/// 10 minutes or twice the largest record, and the cleaner runs once a tenth of the log is
/// superseded, so a topic rewritten every second does not grow for days before compaction.
pub fn ensure_compacted_topic(
    args: &KafkaArgs,
    topic: &str,
    partitions: i32,
    max_record_bytes: usize,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let max = max_record_bytes.to_string();
    let segment = (2 * max_record_bytes).to_string();
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(args.replication_factor))
        .set("cleanup.policy", "compact")
        .set("max.message.bytes", &max)
        .set("segment.bytes", &segment)
        .set("segment.ms", "600000")
        .set("min.cleanable.dirty.ratio", "0.1");
    create(args, &[new_topic], timeout)
}

fn create(args: &KafkaArgs, new_topics: &[NewTopic<'_>], timeout: Duration) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        args.client_config().create().map_err(KafkaError::client("creating the admin client"))?;
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let results = futures_executor::block_on(admin.create_topics(new_topics, &options))
        .map_err(KafkaError::client("creating topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                tracing::warn!(topic, error = %code, "could not create topic");
                return Err(KafkaError::Client {
                    context: "creating topics",
                    cause: rdkafka::error::KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(())
}
