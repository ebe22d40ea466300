//! Replays the seeded synthetic market through the stream-processing core and prints what came
//! out: trades accepted, rejections by reason, candles and anomalies.
//!
//! `cargo run --release -p tickflow-core --example replay_synthetic -- [TRADES] [SEED]`

use std::collections::BTreeMap;
use std::time::Instant;

use tickflow_core::contract::Metric;
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let trades: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let seed: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(42);

    let reference = ReferenceData::bundled()?;
    let mut market = SyntheticMarket::new(&reference, SyntheticConfig { seed, ..SyntheticConfig::default() });
    let records: Vec<Vec<u8>> =
        (0..trades).map(|_| serde_json::to_vec(&market.next_trade())).collect::<Result<_, _>>()?;
    // Every hundredth record is delivered twice, as a reconnecting feed would.
    let stream = records.iter().enumerate().flat_map(|(i, r)| std::iter::repeat_n(r, if i % 100 == 0 { 2 } else { 1 }));

    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference)?;
    let (mut accepted, mut rejected) = (0usize, BTreeMap::new());
    let (mut candles, mut finals, mut anomalies) = (0usize, 0usize, BTreeMap::new());
    let mut metrics = Vec::new();
    let started = Instant::now();
    for record in stream {
        match processor.process(record, &mut metrics) {
            Ok(_) => accepted += 1,
            Err(rejection) => *rejected.entry(rejection.reason.as_str()).or_insert(0usize) += 1,
        }
        for metric in metrics.drain(..) {
            match metric {
                Metric::Candle(c) => {
                    candles += 1;
                    finals += usize::from(c.is_final);
                }
                Metric::Anomaly(a) => {
                    *anomalies
                        .entry(serde_json::to_value(a.kind)?.as_str().unwrap_or_default().to_owned())
                        .or_insert(0usize) += 1
                }
                Metric::FeedGap(_) => {}
            }
        }
    }
    let elapsed = started.elapsed();
    println!("instruments        {}", market.instrument_count());
    println!("trades accepted    {accepted}");
    for (reason, count) in &rejected {
        println!("rejected {reason:<16}{count}");
    }
    println!("candle records     {candles} ({finals} final)");
    for (kind, count) in &anomalies {
        println!("anomalies {kind:<16}{count}");
    }
    println!("core throughput    {:.0} records/s on one core", accepted as f64 / elapsed.as_secs_f64());
    Ok(())
}
