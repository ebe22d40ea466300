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

/// Creates `topics`, retrying with capped backoff while the broker is not up (`retried` hears
/// of each failed attempt). Returns `Ok(false)` once `stopped()` holds: a stop while waiting is
/// immediate and is not an error. A setting that can never work is an error at once.
pub fn wait_for_topics(
    args: &KafkaArgs,
    topics: &[&str],
    stopped: &dyn Fn() -> bool,
    mut retried: impl FnMut(&KafkaError),
) -> Result<bool, KafkaError> {
    use std::sync::mpsc::{RecvTimeoutError, channel};
    let pause = |length: Duration| {
        let until = std::time::Instant::now() + length;
        while std::time::Instant::now() < until && !stopped() {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut delay = Duration::from_millis(200);
    loop {
        if stopped() {
            return Ok(false);
        }
        // On its own thread, so a stop does not wait for the admin request to time out.
        let (done, outcome) = channel();
        let (attempt, names) = (args.clone(), topics.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>());
        std::thread::spawn(move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            done.send(ensure_topics(&attempt, &names, Duration::from_secs(5)))
        });
        let result = loop {
            match outcome.recv_timeout(Duration::from_millis(20)) {
                Ok(result) => break result,
                Err(_) if stopped() => return Ok(false),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(KafkaError::Timeout("creating the topics")),
            }
        };
        match result {
            Ok(()) => return Ok(true),
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "Kafka not ready");
                retried(&error);
                pause(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}
