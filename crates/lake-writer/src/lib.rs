//! tickflow lake-writer: Kafka topics to Hive-partitioned Parquet, exactly once per record.
//!
//! The service is a library: [`join`] makes this instance a member of the lake-writer group
//! with the lake it is given, and [`run`] serves it until its shutdown is requested, so tests
//! drive it against a broker of their own and a `memory://` lake. `main.rs` only reads the
//! command line and the environment.
//!
//! - `batch`: a partition's records sorted into the files they become.
//! - `policy`: when a batch is written.
//! - `resume`: where a partition resumes, from the lake's markers.
//! - `writer`: a batch into the lake in one `tickflow_lake::commit` call, with retries.
//! - `assignment`: the partitions this member owns, each with its batch.

pub mod assignment;
pub mod batch;
pub mod policy;
pub mod resume;
pub mod writer;

use std::time::{Duration, Instant};

use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::consumer::ConsumerTuning;
use tickflow_kafka::group::{GroupConsumer, Membership, NextOffset};
use tickflow_service::Readiness;
use tickflow_service::shutdown::Shutdown;

use crate::assignment::Assignment;
use crate::policy::FlushPolicy;
use crate::writer::LakeWriter;

/// The topics the lake-writer reads.
pub const INPUTS: [&str; 3] = [ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS];

/// A member of the lake-writer group, ready to run.
pub type LakeWriterMember = GroupConsumer<Assignment>;

/// Joins the lake-writer group; partitions arrive on the first polls of [`run`].
pub fn join(
    kafka: &KafkaArgs,
    membership: &Membership,
    writer: LakeWriter,
    policy: FlushPolicy,
) -> anyhow::Result<LakeWriterMember> {
    let tuning = ConsumerTuning { fetch_wait_max_ms: 100, ..ConsumerTuning::default() };
    Ok(GroupConsumer::join(kafka, membership, tuning, &INPUTS, Assignment::new(writer, policy))?)
}

/// Writes what the group assigns until `shutdown` is requested; then writes every buffered
/// record, commits and leaves the group.
pub fn run(member: LakeWriterMember, shutdown: &Shutdown, readiness: &Readiness) -> anyhow::Result<()> {
    let mut lag_measured = Instant::now();
    while !shutdown.requested() {
        let mut written = poll_once(&member)?;
        // One clock read per record serves every batch's age.
        let now = Instant::now();
        written.extend(member.with_owner(|assignment| {
            readiness.set(assignment.joined);
            assignment.flush_due(now)
        })?);
        member.commit(&written)?;
        if now.saturating_duration_since(lag_measured) >= Duration::from_secs(1) {
            record_lag(&member);
            member.with_owner(|assignment| assignment.record_oldest_unwritten());
            // A second from the end of the measurement, so that however long it takes the loop
            // reads for a second between two.
            lag_measured = Instant::now();
        }
    }
    let written = member.with_owner(|assignment| assignment.flush_all())?;
    member.commit(&written)?;
    member.leave();
    tracing::info!("lake-writer stopped; every buffered record was written");
    Ok(())
}

/// Reads one record into its batch; returns the position to commit when that wrote a batch.
fn poll_once(member: &LakeWriterMember) -> anyhow::Result<Vec<NextOffset>> {
    match member.poll(Duration::from_millis(50), |assignment, record| assignment.add(record)) {
        Ok(Some(added)) => Ok(added?.into_iter().collect()),
        Ok(None) => Ok(Vec::new()),
        Err(error) if error.is_transient() => {
            tracing::warn!(%error, "consumer error; retrying");
            member.with_owner(|assignment| assignment.consumer_retried());
            Ok(Vec::new())
        }
        Err(error) => Err(error.into()),
    }
}

/// Sets `consumer_lag` of each owned partition: records not read yet (what was read is written
/// at the latest by the next flush or the stop), against the ends the consumer last fetched.
fn record_lag(member: &LakeWriterMember) {
    for next in member.with_owner(|assignment| assignment.positions()) {
        if let Some(lag) = member.lag(&next.topic, next.partition, next.offset) {
            member.with_owner(|assignment| assignment.metrics().set_lag(&next.topic, next.partition, lag));
        }
    }
}
