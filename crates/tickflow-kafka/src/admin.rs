//! Topic creation at start-up.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::settings::{KafkaArgs, KafkaError};

/// Creates each topic that does not exist yet, with the configured partitions and
/// replication. Topics that exist are left as they are.
pub fn ensure_topics(args: &KafkaArgs, topics: &[&str], timeout: Duration) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        args.client_config().create().map_err(KafkaError::client("creating the admin client"))?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| NewTopic::new(name, args.topic_partitions, TopicReplication::Fixed(args.replication_factor)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let results = futures_executor::block_on(admin.create_topics(&new_topics, &options))
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
