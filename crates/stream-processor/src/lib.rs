//! tickflow stream-processor: `raw_trades` in; `enriched_trades`, `realtime_metrics` and
//! `dead_letters` out. At least once in, exactly once out: see `worker.rs` and ARCHITECTURE.md.
//!
//! The service is a library: [`join`] makes this instance a member of the processor group
//! (outputs checked, state changelog opened) and [`run`] serves it until its shutdown is
//! requested, so tests drive it against a broker of their own. `main.rs` only reads the
//! command line and the environment.

pub mod assignment;
pub mod changelog;
pub mod error;
pub mod outputs;
pub mod worker;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::processor::ProcessorConfig;
use tickflow_core::reference::ReferenceData;
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::consumer::{self, ConsumerTuning};
use tickflow_kafka::group::{GroupConsumer, Membership};
use tickflow_kafka::producer::{OutputProducer, ProducerTuning};
use tickflow_service::Readiness;
use tickflow_service::metrics::ServiceMetrics;
use tickflow_service::shutdown::Shutdown;

use crate::assignment::{Assignment, Setup};
use crate::changelog::StateChangelog;
use crate::outputs::Output;

/// A member of the processor group, ready to run.
pub type ProcessorMember = GroupConsumer<Assignment>;

/// How this instance takes part in its group.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// The group whose members share `raw_trades`' partitions; its state is kept in the
    /// compacted topic `<group>-state`.
    pub membership: Membership,
    /// How often a checkpoint of the state is taken (and the previous one saved and its offsets
    /// committed once its outputs are acknowledged).
    pub commit_interval: Duration,
}

/// Checks that every output topic can take the input's partition numbers, opens the group's
/// state changelog and joins the group; partitions arrive on the first polls of [`run`].
pub fn join(
    kafka: &KafkaArgs,
    group: &GroupSettings,
    config: ProcessorConfig,
    reference: ReferenceData,
    metrics: &ServiceMetrics,
) -> anyhow::Result<ProcessorMember> {
    let probe = consumer::consumer(kafka, "tickflow-probe", ConsumerTuning::default())?;
    let timeout = Duration::from_secs(15);
    let input_partitions = consumer::partition_count(&probe, RAW_TRADES, timeout)?;
    for output in Output::ALL {
        let topic = output.topic();
        if consumer::partition_count(&probe, topic, timeout)? < input_partitions {
            bail!("{topic} has fewer partitions than {RAW_TRADES}; outputs go to the input's partition number");
        }
    }
    drop(probe);
    let changelog = StateChangelog::open(kafka, &group.membership.group_id, input_partitions)?;
    tracing::info!(changelog = changelog.topic(), "state kept in Kafka");
    let setup = Setup {
        kafka: kafka.clone(),
        config,
        reference,
        changelog,
        // Outputs waiting for the broker are bounded (a stalled broker held up to 100 000 of them,
        // about 60 MB); past the bound the processor waits, as it would for a full queue.
        producer: OutputProducer::new(
            kafka,
            ProducerTuning { max_queued_kbytes: Some(16 * 1024), ..Default::default() },
        )?,
        metrics: metrics.clone(),
    };
    let member =
        GroupConsumer::join(kafka, &group.membership, ConsumerTuning::default(), &[RAW_TRADES], Assignment::new(setup))
            .context("joining the processor group")?;
    Ok(member)
}

/// While records keep coming, delivery reports are served and the commit clock read once per
/// this many records rather than after each (each costs librdkafka a queue lock and clock reads,
/// a measurable share of a record's handling); an idle poll does both at once. A full producer
/// queue is served where it fills (`OutputProducer::send`).
const RECORDS_BETWEEN_HOUSEKEEPING: u32 = 64;

/// Processes what the group assigns until `shutdown` is requested, committing every
/// `commit_interval`; then commits once more and leaves the group.
pub fn run(
    member: ProcessorMember,
    commit_interval: Duration,
    shutdown: &Shutdown,
    readiness: &Readiness,
) -> anyhow::Result<()> {
    let mut last_commit = Instant::now();
    let mut since_housekeeping = 0;
    while !shutdown.requested() {
        match member.poll(Duration::from_millis(20), |assignment, record| assignment.handle(record)) {
            Ok(Some(handled)) => {
                handled?;
                since_housekeeping += 1;
                if since_housekeeping < RECORDS_BETWEEN_HOUSEKEEPING {
                    continue;
                }
            }
            Ok(None) => {}
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, "consumer error; retrying");
                member.with_owner(|assignment| assignment.consumer_retried());
            }
            Err(error) => return Err(error.into()),
        }
        since_housekeeping = 0;
        member.with_owner(|assignment| assignment.poll_producer());
        if last_commit.elapsed() >= commit_interval {
            let (offsets, positions) = member.with_owner(|assignment| -> anyhow::Result<_> {
                assignment.record_holds();
                readiness.set(assignment.joined);
                Ok((assignment.commit()?, assignment.positions().collect::<Vec<_>>()))
            })?;
            member.commit(&offsets)?;
            for (partition, next) in positions {
                if let Some(lag) = member.lag(RAW_TRADES, partition, next) {
                    member.with_owner(|assignment| assignment.record_lag(partition, lag));
                }
            }
            // Between commits is between batches: what librdkafka's threads and the
            // checkpoint freed goes back to the system rather than staying in glibc's arenas.
            tickflow_service::memory::release_freed_memory();
            last_commit = Instant::now();
        }
    }
    let offsets = member.with_owner(Assignment::commit_all)?;
    member.commit(&offsets)?;
    member.leave();
    tracing::info!("stream-processor stopped after a final commit");
    Ok(())
}
