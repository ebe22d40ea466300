//! The lake-writer's floor: read its input topics from the beginning with its consumer settings,
//! touch each record's bytes, and do nothing else. What a row costs the lake-writer beyond this
//! is its own work (routing, decoding, Parquet).

use std::time::{Duration, Instant};

use serde::Serialize;
use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_kafka::consumer::{self, ConsumerTuning, StartAt};
use tickflow_kafka::{KafkaArgs, KafkaRecord};

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// The topics to read, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS].map(String::from))]
    topics: Vec<String>,
    /// Stop once the input has been quiet this long.
    #[arg(long, default_value_t = 2.0)]
    quiet_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct ReadReport {
    records: u64,
    /// Key and payload bytes read.
    bytes: u64,
    /// From the first record read to the last.
    seconds: f64,
    records_per_second: f64,
}

pub fn run(kafka: &KafkaArgs, args: &ReadArgs) -> anyhow::Result<ReadReport> {
    // The lake-writer's settings (`lake_writer::join`).
    let tuning = ConsumerTuning { fetch_wait_max_ms: 100, ..ConsumerTuning::default() };
    let reader = consumer::consumer(kafka, "tickflow-bench-read", tuning)?;
    let mut starts = Vec::new();
    for topic in &args.topics {
        let partitions = consumer::partition_count(&reader, topic, Duration::from_secs(30))?;
        starts.extend((0..partitions).map(|p| (topic.as_str(), p, StartAt::Beginning)));
    }
    consumer::assign(&reader, &starts)?;

    let quiet = Duration::from_secs_f64(args.quiet_seconds);
    let (mut records, mut bytes, mut first, mut last) = (0u64, 0u64, None::<Instant>, Instant::now());
    loop {
        match reader.poll(Duration::from_millis(50)) {
            Some(message) => {
                let message = message?;
                first.get_or_insert_with(Instant::now);
                bytes += std::hint::black_box(message.key()).len() as u64;
                bytes += std::hint::black_box(message.payload()).len() as u64;
                records += 1;
                last = Instant::now();
            }
            None if first.is_some() && last.elapsed() >= quiet => break,
            None => {}
        }
    }
    let seconds = first.map_or(0.0, |first| (last - first).as_secs_f64());
    Ok(ReadReport { records, bytes, seconds, records_per_second: records as f64 / seconds.max(1e-9) })
}
