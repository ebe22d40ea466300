//! Topic creation at start-up.

use std::time::Duration;

use std::sync::Mutex;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
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

/// Remembers the broker refusing the client's credentials. librdkafka reports that as a global
/// error (heard only by a client that polls its main queue, which the admin client does not)
/// and keeps trying, so without this a wrong password would look like a broker not up yet.
#[derive(Default)]
struct CredentialsWatch {
    refused: Mutex<Option<String>>,
}

impl ClientContext for CredentialsWatch {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)
        );
        if refused {
            *self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason.to_owned());
        } else {
            tracing::warn!(%error, reason, "Kafka client error");
        }
    }
}

impl ProducerContext for CredentialsWatch {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Connects as the settings say and asks for the cluster's metadata, listening for the broker's
/// answer to the credentials: `Err(Authentication)` if it refused them. A broker that does not
/// answer within `timeout` is not an error here (creating the topics reports it).
pub fn check_credentials(args: &KafkaArgs, timeout: Duration) -> Result<(), KafkaError> {
    let probe: BaseProducer<CredentialsWatch> = args
        .client_config()
        .create_with_context(CredentialsWatch::default())
        .map_err(KafkaError::client("creating a client"))?;
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        probe.poll(Duration::from_millis(20));
        if let Some(reason) = probe.context().refused.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(KafkaError::Authentication(reason));
        }
        if probe.client().fetch_metadata(None, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
    }
    Ok(())
}

fn create(args: &KafkaArgs, new_topics: &[NewTopic<'_>], timeout: Duration) -> Result<(), KafkaError> {
    check_credentials(args, timeout)?;
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
