//! Visibility latencies of the pipeline's outputs, measured by a consumer of its output topics.
//!
//! The producer's paced synthetic feed stamps every trade with the time it was scheduled, not
//! the time it was sent (open loop), so a stalled pipeline shows up here as latency.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tickflow_core::contract::topics::{ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_kafka::admin::ensure_topics;
use tickflow_kafka::consumer::StartAt;
use tickflow_kafka::consumer::{self, ConsumerTuning};
use tickflow_kafka::{KafkaArgs, KafkaRecord};
use tickflow_service::now_us;

#[derive(Debug, clap::Args)]
pub struct ObserveArgs {
    /// Seconds to ignore at the start (connections warming up, first windows).
    #[arg(long, default_value_t = 5.0)]
    warmup_seconds: f64,
    /// Seconds to measure after the warm-up.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// The stream-processor's allowed lateness in milliseconds: a candle closes at its window end
    /// plus this.
    #[arg(long, default_value_t = 2_000)]
    allowed_lateness_ms: i64,
}

#[derive(Debug, Deserialize)]
struct EventTime {
    event_time_us: i64,
}

#[derive(Debug, Deserialize)]
struct CandleTimes {
    metric: String,
    window_start_us: Option<i64>,
    window_length_us: Option<i64>,
    is_final: Option<bool>,
    revision: Option<u32>,
}

/// Percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub struct LatencySummary {
    count: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct ObserveReport {
    seconds: f64,
    enriched_trades: u64,
    enriched_per_second: f64,
    /// Exchange time of a trade to the enriched trade read from `enriched_trades`.
    trade_visible: LatencySummary,
    /// Window end to the provisional candle read from `realtime_metrics`.
    candle_provisional_after_window_end: LatencySummary,
    /// Window end plus allowed lateness to the final candle read from `realtime_metrics`.
    candle_final_after_close: LatencySummary,
}

struct Latencies(Histogram<u64>);

impl Latencies {
    fn new() -> anyhow::Result<Self> {
        // Microseconds up to an hour, three significant digits.
        Ok(Latencies(Histogram::new_with_bounds(1, 3_600_000_000, 3)?))
    }

    fn record(&mut self, micros: i64) {
        self.0.saturating_record(micros.max(1).unsigned_abs());
    }

    fn summary(&self) -> LatencySummary {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1_000.0;
        LatencySummary {
            count: self.0.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1_000.0,
        }
    }
}

pub fn run(kafka: &KafkaArgs, args: &ObserveArgs) -> anyhow::Result<ObserveReport> {
    ensure_topics(kafka, &[ENRICHED_TRADES, REALTIME_METRICS], Duration::from_secs(30))?;
    let reader = consumer::consumer(
        kafka,
        "tickflow-pipeline-bench",
        ConsumerTuning { fetch_wait_max_ms: 1, ..ConsumerTuning::default() },
    )?;
    let mut starts = Vec::new();
    for topic in [ENRICHED_TRADES, REALTIME_METRICS] {
        for partition in 0..consumer::partition_count(&reader, topic, Duration::from_secs(30))? {
            starts.push((topic, partition, StartAt::End));
        }
    }
    consumer::assign(&reader, &starts)?;

    let (mut trades, mut provisional, mut closed) = (Latencies::new()?, Latencies::new()?, Latencies::new()?);
    let lateness_us = args.allowed_lateness_ms * 1_000;
    let started = Instant::now();
    let warmup = Duration::from_secs_f64(args.warmup_seconds);
    let end = warmup + Duration::from_secs_f64(args.seconds);
    while started.elapsed() < end {
        let Some(message) = reader.poll(Duration::from_millis(100)) else { continue };
        let message = message?;
        let seen_us = now_us();
        if started.elapsed() < warmup {
            continue;
        }
        let payload = message.payload();
        if message.topic() == ENRICHED_TRADES {
            if let Ok(trade) = serde_json::from_slice::<EventTime>(payload) {
                trades.record(seen_us - trade.event_time_us);
            }
        } else if let Ok(candle) = serde_json::from_slice::<CandleTimes>(payload)
            && candle.metric == "candle"
            && let (Some(start), Some(length)) = (candle.window_start_us, candle.window_length_us)
        {
            let window_end = start + length;
            if candle.is_final == Some(true) {
                closed.record(seen_us - (window_end + lateness_us));
            } else if candle.revision == Some(0) {
                provisional.record(seen_us - window_end);
            }
        }
    }
    Ok(ObserveReport {
        seconds: args.seconds,
        enriched_trades: trades.0.len(),
        enriched_per_second: trades.0.len() as f64 / args.seconds,
        trade_visible: trades.summary(),
        candle_provisional_after_window_end: provisional.summary(),
        candle_final_after_close: closed.summary(),
    })
}
