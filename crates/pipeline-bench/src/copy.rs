//! The baseline: copy `raw_trades` to another topic record for record, through the same broker,
//! with the services' consumer and producer settings, and nothing else.

use std::time::{Duration, Instant};

use serde::Serialize;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_kafka::admin::ensure_topics;
use tickflow_kafka::consumer::StartAt;
use tickflow_kafka::consumer::{self, ConsumerTuning};
use tickflow_kafka::producer::{Outgoing, OutputProducer, ProducerTuning};
use tickflow_kafka::{KafkaArgs, KafkaRecord};

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The topic to copy into (created when missing).
    #[arg(long, default_value = "bench_copy")]
    to: String,
    /// Stop once the input has been quiet this long.
    #[arg(long, default_value_t = 2.0)]
    quiet_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct CopyReport {
    records: u64,
    /// From the first record read to the last record's delivery acknowledged.
    seconds: f64,
    records_per_second: f64,
}

pub fn run(kafka: &KafkaArgs, args: &CopyArgs) -> anyhow::Result<CopyReport> {
    ensure_topics(kafka, &[args.to.as_str()], Duration::from_secs(30))?;
    let reader = consumer::consumer(kafka, "tickflow-bench-copy", ConsumerTuning::default())?;
    let partitions = consumer::partition_count(&reader, RAW_TRADES, Duration::from_secs(30))?;
    let starts: Vec<_> = (0..partitions).map(|p| (RAW_TRADES, p, StartAt::Beginning)).collect();
    consumer::assign(&reader, &starts)?;
    let writer = OutputProducer::new(kafka, ProducerTuning::default())?;

    let quiet = Duration::from_secs_f64(args.quiet_seconds);
    let (mut records, mut first, mut last) = (0u64, None::<Instant>, Instant::now());
    loop {
        match reader.poll(Duration::from_millis(50)) {
            Some(message) => {
                let message = message?;
                first.get_or_insert_with(Instant::now);
                let record = Outgoing {
                    topic: &args.to,
                    partition: Some(message.partition()),
                    key: message.key(),
                    payload: message.payload(),
                };
                writer.send(record, None)?;
                writer.poll();
                records += 1;
                last = Instant::now();
            }
            None if first.is_some() && last.elapsed() >= quiet => break,
            None => writer.poll(),
        }
    }
    writer.flush(Duration::from_secs(120))?;
    let seconds = first.map_or(0.0, |first| (last - first).as_secs_f64());
    Ok(CopyReport { records, seconds, records_per_second: records as f64 / seconds.max(1e-9) })
}
