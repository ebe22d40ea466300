//! Consumers that share their topics' partitions with the other members of a consumer group.
//!
//! Rebalancing is cooperative (`cooperative-sticky`): a rebalance moves only the partitions that
//! change owner, and the others keep flowing. The service owns its partitions through a
//! [`PartitionOwner`]: on every assignment it prepares each new partition's state and says where
//! the partition resumes; before a partition leaves it finishes it (writes out and returns the
//! offsets to commit), so the next owner starts exactly where this one stopped. Both run inside
//! the consumer's poll, on the service's thread, before any record of the new assignment is
//! read and before the group may give a revoked partition to another member.
//!
//! A member with an instance id (static membership, `group.instance.id`) that restarts within
//! the session timeout gets its partitions back without a rebalance of the others. But a static
//! member that loses its coordinator for longer than the session timeout (a broker restart) is
//! fenced when it rejoins, which librdkafka treats as fatal: the service stops with an error and
//! must be restarted. Dynamic members (no instance id, the default) ride such an outage out.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::consumer::ConsumerTuning;
use crate::record::Record;
use crate::settings::{KafkaArgs, KafkaError};

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

fn listed(partitions: &[TopicPartition]) -> String {
    partitions.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// The offset of the next record to read in a partition: what a commit records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A failure of the service's own work inside a rebalance.
pub type OwnerError = Box<dyn std::error::Error + Send + Sync>;

/// What a service does when the group gives it partitions or takes them away.
pub trait PartitionOwner: Send + 'static {
    /// The group gave these partitions to this member. Prepare their state and return, for each,
    /// the offset its reading starts at (`None`: the committed offset, or the earliest when
    /// nothing is committed).
    fn assigned(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>, OwnerError>;

    /// These partitions leave this member. With `lost == false` another member gets them once
    /// this returns: finish them and return the offsets to commit. With `lost == true` the group
    /// already gave them away (this member missed its session): drop their state, write nothing.
    fn revoked(&mut self, partitions: &[TopicPartition], lost: bool) -> Result<Vec<NextOffset>, OwnerError>;

    /// A rebalance step ended, after `took` of the owner's own work in it (for its metrics).
    fn rebalanced(&mut self, _step: RebalanceStep, _took: Duration) {}
}

/// What a rebalance did to this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceStep {
    Assigned,
    Revoked,
    /// Revoked after this member missed its session: the group already gave the partitions away.
    Lost,
}

impl RebalanceStep {
    pub fn as_str(self) -> &'static str {
        match self {
            RebalanceStep::Assigned => "assigned",
            RebalanceStep::Revoked => "revoked",
            RebalanceStep::Lost => "lost",
        }
    }
}

/// How a member joins its group.
#[derive(Debug, Clone)]
pub struct Membership {
    pub group_id: String,
    /// A stable id for static membership (for example `stream-processor-0`); `None` for dynamic.
    pub instance_id: Option<String>,
    /// How long the group waits for a silent member before moving its partitions.
    pub session_timeout: Duration,
}

impl Membership {
    pub fn new(group_id: impl Into<String>, instance_id: Option<String>) -> Self {
        // An empty id (`PROCESSOR_INSTANCE_ID=` in an env file) means dynamic membership.
        let instance_id = instance_id.filter(|id| !id.trim().is_empty());
        Membership { group_id: group_id.into(), instance_id, session_timeout: Duration::from_secs(10) }
    }
}

struct GroupContext<O> {
    owner: Mutex<O>,
    failure: Mutex<Option<String>>,
}

impl<O: Send> ClientContext for GroupContext<O> {}

impl<O: PartitionOwner> ConsumerContext for GroupContext<O> {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, list: &mut TopicPartitionList) {
        let partitions: Vec<TopicPartition> = list
            .elements()
            .iter()
            .map(|e| TopicPartition { topic: e.topic().to_owned(), partition: e.partition() })
            .collect();
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, &partitions, list),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, &partitions, list),
            other => Err(format!("rebalance failed: {other:?}")),
        };
        if let Err(failure) = outcome {
            tracing::error!(%failure, "rebalance failed; the service stops so that a restart starts clean");
            lock(&self.failure).get_or_insert(failure);
        }
    }
}

impl<O: PartitionOwner> GroupContext<O> {
    fn assign(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: &[TopicPartition],
        list: &mut TopicPartitionList,
    ) -> Result<(), String> {
        let started = std::time::Instant::now();
        let mut owner = lock(&self.owner);
        let starts = owner.assigned(partitions);
        owner.rebalanced(RebalanceStep::Assigned, started.elapsed());
        drop(owner);
        let starts = starts.map_err(|e| format!("preparing partitions: {e}"))?;
        for (partition, start) in partitions.iter().zip(starts) {
            if let Some(offset) = start {
                list.set_partition_offset(&partition.topic, partition.partition, Offset::Offset(offset))
                    .map_err(|e| format!("setting the start of {partition}: {e}"))?;
            }
        }
        let assigned = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(list),
            _ => consumer.assign(list),
        };
        assigned.map_err(|e| format!("assigning partitions: {e}"))?;
        tracing::info!(partitions = listed(partitions), "partitions assigned");
        Ok(())
    }

    fn revoke(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: &[TopicPartition],
        list: &TopicPartitionList,
    ) -> Result<(), String> {
        let lost = consumer.assignment_lost();
        let started = std::time::Instant::now();
        let mut owner = lock(&self.owner);
        let finished = owner.revoked(partitions, lost);
        owner.rebalanced(if lost { RebalanceStep::Lost } else { RebalanceStep::Revoked }, started.elapsed());
        drop(owner);
        // The partitions leave this member whatever happened to their work.
        let unassigned = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(list),
            _ => consumer.unassign(),
        };
        let offsets = finished.map_err(|e| format!("finishing revoked partitions: {e}"))?;
        unassigned.map_err(|e| format!("unassigning partitions: {e}"))?;
        if !lost && !offsets.is_empty() {
            let list = offset_list(&offsets).map_err(|e| e.to_string())?;
            if let Err(error) = consumer.commit(&list, CommitMode::Sync) {
                // The owner's own progress (state, lake markers) is authoritative; the commit is a mirror.
                tracing::warn!(%error, "committing revoked partitions failed");
            }
        }
        tracing::info!(partitions = listed(partitions), lost, "partitions revoked");
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The end of `partition` as of the consumer's last fetch of it, if it has fetched it.
#[allow(unsafe_code)] // rust-rdkafka wraps only the variant that asks the broker
fn cached_high_watermark<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &str, partition: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives, `topic` is a NUL-terminated
    // string that outlives the call, and librdkafka only writes the two offsets it is given.
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &raw mut low,
            &raw mut high,
        )
    };
    (error == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}

fn offset_list(offsets: &[NextOffset]) -> Result<TopicPartitionList, KafkaError> {
    let mut list = TopicPartitionList::new();
    for next in offsets {
        list.add_partition_offset(&next.topic, next.partition, Offset::Offset(next.offset))
            .map_err(KafkaError::client("listing offsets"))?;
    }
    Ok(list)
}

/// A member of a consumer group subscribed to some topics, with the service's partition owner.
pub struct GroupConsumer<O: PartitionOwner> {
    consumer: BaseConsumer<GroupContext<O>>,
}

impl<O: PartitionOwner> std::fmt::Debug for GroupConsumer<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConsumer").finish_non_exhaustive()
    }
}

impl<O: PartitionOwner> GroupConsumer<O> {
    /// Joins `membership.group_id` and subscribes to `topics`; partitions arrive on the next polls.
    pub fn join(
        args: &KafkaArgs,
        membership: &Membership,
        tuning: ConsumerTuning,
        topics: &[&str],
        owner: O,
    ) -> Result<Self, KafkaError> {
        let mut config = args.client_config();
        config
            .set("group.id", &membership.group_id)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", membership.session_timeout.as_millis().to_string())
            .set("heartbeat.interval.ms", (membership.session_timeout.as_millis() / 4).max(100).to_string())
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        tuning.apply(&mut config);
        if let Some(instance) = &membership.instance_id {
            config.set("group.instance.id", instance);
        }
        for property in args.extra_properties() {
            config.set(&property.key, &property.value); // explicit properties win
        }
        let context = GroupContext { owner: Mutex::new(owner), failure: Mutex::new(None) };
        let consumer: BaseConsumer<GroupContext<O>> =
            config.create_with_context(context).map_err(KafkaError::client("creating a group consumer"))?;
        consumer.subscribe(topics).map_err(KafkaError::client("subscribing"))?;
        Ok(GroupConsumer { consumer })
    }

    /// Waits up to `timeout` for a record and hands it to `handle` with the owner. Rebalances
    /// are served here too: a failed one is an error that retrying cannot help.
    pub fn poll<R>(
        &self,
        timeout: Duration,
        handle: impl FnOnce(&mut O, &Record<'_>) -> R,
    ) -> Result<Option<R>, KafkaError> {
        let polled = self.consumer.poll(timeout);
        if let Some(failure) = lock(&self.consumer.context().failure).clone() {
            return Err(KafkaError::Rebalance(failure));
        }
        match polled {
            None => Ok(None),
            Some(Ok(record)) => Ok(Some(handle(&mut lock(&self.consumer.context().owner), &Record(record)))),
            Some(Err(cause @ rdkafka::error::KafkaError::MessageConsumptionFatal(_))) => {
                Err(KafkaError::Fatal { context: "consuming", cause })
            }
            Some(Err(cause)) => Err(KafkaError::Client { context: "consuming", cause }),
        }
    }

    /// Runs `f` with the owner (never call [`GroupConsumer::poll`] from inside).
    pub fn with_owner<R>(&self, f: impl FnOnce(&mut O) -> R) -> R {
        f(&mut lock(&self.consumer.context().owner))
    }

    /// Commits the given positions without waiting for the answer.
    pub fn commit(&self, offsets: &[NextOffset]) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.consumer
            .commit(&offset_list(offsets)?, CommitMode::Async)
            .map_err(KafkaError::client("committing offsets"))
    }

    /// Records behind the end of an assigned partition for a reader whose next record is `next`;
    /// `None` until the partition's end is known.
    ///
    /// The end is the one the broker gave with the last fetch of the partition (librdkafka
    /// keeps it, and fetches at least every `fetch.wait.max.ms` while the partition is
    /// assigned), so this asks the broker nothing: asking it for the end of each partition
    /// in turn took the services' loop away from reading for a second and more.
    pub fn lag(&self, topic: &str, partition: i32, next: i64) -> Option<i64> {
        let high = cached_high_watermark(&self.consumer, topic, partition)?;
        Some((high - next).max(0))
    }

    /// Leaves the group: the owner's `revoked` runs for what is still assigned (a static member
    /// keeps its place in the group until its session times out).
    pub fn leave(self) {
        drop(self.consumer);
    }
}
