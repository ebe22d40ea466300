//! The peers benchmark's input (`scripts/peers_bench.py`): the seeded synthetic market written to
//! `raw_trades` as the producer writes it, with the faults every engine must handle mixed in:
//!
//! - duplicates: a copy of a trade, same identity, sent again up to `--duplicate-reach-seconds`
//!   of event time later (a redelivery after a reconnect);
//! - stragglers: a trade held back by `--straggler-seconds` (1 s) of event time, inside the
//!   allowed lateness: it still counts;
//! - late trades: a trade held back by `--late-seconds` (10 s), beyond the allowed lateness:
//!   its window is final, so it must not change the window;
//! - invalid records: broken JSON, a negative price, an instrument no reference lists.
//!
//! Which trade gets which fault is decided by the seed, so two runs write the same records in
//! the same order. At the end a watermark record on every partition closes every window, as the
//! producer does when its feed ends.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use tickflow_core::contract::Watermark;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, synthetic_reference};
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::admin::ensure_topics;
use tickflow_kafka::consumer::{self, ConsumerTuning};
use tickflow_kafka::headers::{KIND_WATERMARK, OutputHeaders};
use tickflow_kafka::producer::{Outgoing, OutputProducer, ProducerTuning};

#[derive(Debug, clap::Args)]
pub struct PeersInputArgs {
    /// Trades of the synthetic market (before duplicates are added).
    #[arg(long, default_value_t = 2_000_000)]
    trades: u64,
    /// Seed of the synthetic market and of the faults.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Share of trades sent a second time.
    #[arg(long, default_value_t = 0.01)]
    duplicate_share: f64,
    /// Trades per second of event time (1 000: 2 M trades span 33 minutes, so every instrument
    /// has some 34 one-minute windows).
    #[arg(long, default_value_t = 1_000.0)]
    trades_per_second: f64,
    /// A duplicate follows its original within this much event time.
    #[arg(long, default_value_t = 0.5)]
    duplicate_reach_seconds: f64,
    /// Share of trades held back inside the allowed lateness (2 s by default).
    #[arg(long, default_value_t = 0.005)]
    straggler_share: f64,
    /// How far behind a straggler arrives, in event time.
    #[arg(long, default_value_t = 1.0)]
    straggler_seconds: f64,
    /// Share of trades held back beyond the allowed lateness.
    #[arg(long, default_value_t = 0.001)]
    late_share: f64,
    /// How far behind a late trade arrives, in event time.
    #[arg(long, default_value_t = 10.0)]
    late_seconds: f64,
    /// Trade this many synthetic instruments (`synthetic_reference`) instead of the bundled
    /// catalogue's 59; the services then need the catalogue: see --reference-out.
    #[arg(long)]
    instruments: Option<usize>,
    /// Write the catalogue's instruments.csv into this folder (for TICKFLOW_REFERENCE_DIR, next to
    /// a copy of schemas/reference/calendars.csv).
    #[arg(long)]
    reference_out: Option<std::path::PathBuf>,
    /// Share of records that are invalid (not counting towards the trades).
    #[arg(long, default_value_t = 0.001)]
    invalid_share: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct PeersInputReport {
    records: u64,
    trades: u64,
    duplicates: u64,
    stragglers: u64,
    late: u64,
    invalid: u64,
    instruments: usize,
    first_event_time_us: i64,
    last_event_time_us: i64,
}

const INVALID: [&str; 3] = [
    r#"{"trade_key":"binance:BTCUSDT:broken","venue":"binance","#,
    r#"{"trade_key":"binance:BTCUSDT:neg","venue":"binance","venue_symbol":"BTCUSDT","instrument_id":"BTC-USD","trade_id":"neg","price":"-1.5","size":"0.1","side":"buy","conditions":[],"price_only":false,"event_time_us":EVENT,"receive_time_us":EVENT}"#,
    r#"{"trade_key":"binance:NOPEUSDT:1","venue":"binance","venue_symbol":"NOPEUSDT","instrument_id":"NOPE-USD","trade_id":"1","price":"1.5","size":"0.1","side":"buy","conditions":[],"price_only":false,"event_time_us":EVENT,"receive_time_us":EVENT}"#,
];

pub fn run(kafka: &KafkaArgs, args: &PeersInputArgs) -> anyhow::Result<PeersInputReport> {
    ensure_topics(kafka, &[RAW_TRADES], Duration::from_secs(30))?;
    let metadata = consumer::consumer(kafka, "tickflow-bench-peers-input", ConsumerTuning::default())?;
    let partitions = consumer::partition_count(&metadata, RAW_TRADES, Duration::from_secs(30))?;
    let reference = match args.instruments {
        Some(count) => synthetic_reference(count),
        None => ReferenceData::bundled()?,
    };
    if let Some(dir) = &args.reference_out {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("instruments.csv"), reference.instruments_csv())?;
    }
    let config =
        SyntheticConfig { seed: args.seed, trades_per_second: args.trades_per_second, ..SyntheticConfig::default() };
    let mut market = SyntheticMarket::new(&reference, config);
    let records_in = |seconds: f64| (seconds * args.trades_per_second).round().max(1.0) as u64;
    let (duplicate_reach, straggler_records, late_records) =
        (records_in(args.duplicate_reach_seconds), records_in(args.straggler_seconds), records_in(args.late_seconds));
    let mut rng = Pcg64Mcg::seed_from_u64(args.seed ^ 0x9e37_79b9);
    let writer = OutputProducer::new(kafka, ProducerTuning { linger_ms: 20, ..ProducerTuning::default() })?;
    let mut report = PeersInputReport { instruments: market.instrument_count(), ..PeersInputReport::default() };
    // Records waiting to go out, by the index of the record they follow; (key, payload).
    let mut held: BTreeMap<u64, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut sent = 0u64;
    let send = |key: &str, payload: &[u8], sent: &mut u64| -> anyhow::Result<()> {
        writer.send(Outgoing { topic: RAW_TRADES, partition: None, key: key.as_bytes(), payload }, None)?;
        writer.poll();
        *sent += 1;
        Ok(())
    };
    let (late_until, straggle_until) = (args.late_share, args.late_share + args.straggler_share);
    for index in 0..args.trades {
        let trade = market.next_trade();
        let payload = serde_json::to_vec(&trade)?;
        let key = trade.instrument_id.to_string();
        if index == 0 {
            report.first_event_time_us = trade.event_time_us;
        }
        report.last_event_time_us = report.last_event_time_us.max(trade.event_time_us);
        let roll: f64 = rng.random();
        if roll < late_until {
            held.entry(index + late_records).or_default().push((key.clone(), payload.clone()));
            report.late += 1;
        } else if roll < straggle_until {
            held.entry(index + straggler_records).or_default().push((key.clone(), payload.clone()));
            report.stragglers += 1;
        } else {
            send(&key, &payload, &mut sent)?;
        }
        if rng.random::<f64>() < args.duplicate_share {
            let after = index + rng.random_range(1..=duplicate_reach);
            held.entry(after).or_default().push((key, payload));
            report.duplicates += 1;
        }
        if rng.random::<f64>() < args.invalid_share {
            let broken = INVALID[rng.random_range(0..INVALID.len())].replace("EVENT", &trade.event_time_us.to_string());
            send("invalid", broken.as_bytes(), &mut sent)?;
            report.invalid += 1;
        }
        while let Some(entry) = held.first_entry() {
            if *entry.key() > index {
                break;
            }
            for (key, payload) in entry.remove() {
                send(&key, &payload, &mut sent)?;
            }
        }
    }
    for (_, records) in std::mem::take(&mut held) {
        for (key, payload) in records {
            send(&key, &payload, &mut sent)?;
        }
    }
    // The feed has ended: a watermark a day past the last trade closes every window.
    let end = serde_json::to_vec(&Watermark::all(report.last_event_time_us + 86_400_000_000))?;
    for partition in 0..partitions {
        let record = Outgoing { topic: RAW_TRADES, partition: Some(partition), key: b"", payload: &end };
        writer.send(record, Some(OutputHeaders::kind(KIND_WATERMARK)))?;
        sent += 1;
    }
    writer.flush(Duration::from_secs(300))?;
    report.records = sent;
    report.trades = args.trades;
    Ok(report)
}
