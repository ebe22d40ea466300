//! Writes a lake as the pipeline would, without a broker: the seeded synthetic market through the
//! stream-processing core, its enriched trades, candles and anomalies encoded by the lake-writer's
//! own encoder into the lake layout, in batches of `--batch-records` trades. For benchmarks of what
//! reads the lake (P7: `dbt build` over 10 M trades, scripts/bench-marts.sh).
//!
//! `generate-lake --out DIR [--trades N] [--trades-per-second R] [--seed S]`

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tickflow_core::contract::Metric;
use tickflow_core::contract::topics::{ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_lake::LakeTable;
use tickflow_lake::encode::{FileMetadata, encode_records};
use tickflow_lake::layout::{data_file, date_of};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 10_000_000)]
    trades: u64,
    /// Event-time rate of the market: 10 M trades at 40/s span about three days.
    #[arg(long, default_value_t = 40.0)]
    trades_per_second: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Trades per lake-writer batch (the lake-writer's --max-records).
    #[arg(long, default_value_t = 200_000)]
    batch_records: u64,
}

/// The records of one future file: (table, date, symbol) -> (topic, first "offset", JSON lines, count).
type Groups = BTreeMap<(&'static str, String, String), (LakeTable, &'static str, i64, Vec<u8>, u64)>;

fn add(
    groups: &mut Groups,
    table: LakeTable,
    topic: &'static str,
    time_us: i64,
    symbol: &str,
    offset: i64,
    json: &[u8],
) {
    let entry = groups
        .entry((table.name, date_of(time_us), symbol.to_owned()))
        .or_insert_with(|| (table, topic, offset, Vec::new(), 0));
    entry.3.extend_from_slice(json);
    entry.3.push(b'\n');
    entry.4 += 1;
}

fn flush(out: &std::path::Path, groups: &mut Groups) -> anyhow::Result<usize> {
    let files = groups.len();
    for ((_, date, symbol), (table, topic, first, lines, records)) in std::mem::take(groups) {
        let metadata = FileMetadata {
            topic: topic.to_owned(),
            partition: 0,
            first_offset: first,
            last_offset: first + records as i64 - 1,
            records,
            batch_first: first,
            batch_last: first + records as i64 - 1,
        };
        let bytes = encode_records(table, &lines, &metadata)?;
        let path = out.join(data_file(table, &date, &symbol, topic, 0, first).as_ref());
        std::fs::create_dir_all(path.parent().context("file path")?)?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let reference = ReferenceData::bundled()?;
    let config = SyntheticConfig { seed: args.seed, trades_per_second: args.trades_per_second, ..Default::default() };
    let mut market = SyntheticMarket::new(&reference, config);
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference)?;
    let (mut groups, mut metrics, mut json) = (Groups::new(), Vec::new(), Vec::new());
    let (mut trade_offset, mut metric_offset, mut files, mut accepted) = (0i64, 0i64, 0usize, 0u64);
    for n in 1..=args.trades {
        if let Ok(enriched) = processor.process_trade(market.next_trade(), &mut metrics) {
            json.clear();
            serde_json::to_writer(&mut json, &enriched)?;
            add(
                &mut groups,
                LakeTable::TRADES,
                ENRICHED_TRADES,
                enriched.event_time_us,
                &enriched.instrument_id,
                trade_offset,
                &json,
            );
            trade_offset += 1;
            accepted += 1;
        }
        for metric in metrics.drain(..) {
            let (table, id, start) = match &metric {
                Metric::Candle(c) => (LakeTable::CANDLES, c.instrument_id.clone(), c.window_start_us),
                Metric::Anomaly(a) => (LakeTable::ANOMALIES, a.instrument_id.clone(), a.window_start_us),
                Metric::FeedGap(g) => (LakeTable::FEED_GAPS, g.instrument_id.clone(), g.from_us),
            };
            json.clear();
            serde_json::to_writer(&mut json, &metric)?;
            add(&mut groups, table, REALTIME_METRICS, start, &id, metric_offset, &json);
            metric_offset += 1;
        }
        if n % args.batch_records == 0 {
            files += flush(&args.out, &mut groups)?;
        }
    }
    files += flush(&args.out, &mut groups)?;
    println!("{}", serde_json::json!({"trades": accepted, "metrics": metric_offset, "files": files, "lake": args.out}));
    Ok(())
}
