//! Property tests: random trade streams with out-of-order, late and duplicated trades; every
//! decision and every final candle must equal the oracle's.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tickflow_core::contract::{Candle, Metric, Trade};
use tickflow_core::processor::ProcessorConfig;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};

use crate::oracle::{Decision, Oracle};
use crate::support::{T0, bytes, processor, reference, trade_on};

const INSTRUMENTS: [(&str, &str); 3] = [("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT"), ("SOL-USDT", "SOLUSDT")];

/// Runs a stream through the processor and the oracle and compares everything.
fn reconcile(stream: &[Trade<'static>], config: ProcessorConfig) -> Result<(), TestCaseError> {
    let mut processor = processor(config.clone());
    let mut oracle = Oracle::new(config.allowed_lateness_us, config.idle_timeout_us);
    let mut metrics = Vec::new();
    for (position, trade) in stream.iter().enumerate() {
        let got = Decision::of(processor.process(&bytes(trade), &mut metrics).map(|e| e.is_late).map_err(|r| r.reason));
        let expected = oracle.offer(trade);
        prop_assert!(expected.allows(got), "decision for record {}: expected {:?}, got {:?}", position, expected, got);
    }
    processor.finish(&mut metrics);

    let mut emitted: BTreeMap<(String, i64, i64), Vec<&Candle>> = BTreeMap::new();
    for metric in &metrics {
        if let Metric::Candle(candle) = metric {
            let key = (candle.instrument_id.to_string(), candle.window_length_us, candle.window_start_us);
            emitted.entry(key).or_default().push(candle);
        }
    }
    for &length in &config.windows_us {
        let expected = oracle.candles(length);
        let windows: Vec<_> = emitted.keys().filter(|k| k.1 == length).map(|k| (k.0.clone(), k.2)).collect();
        prop_assert_eq!(windows, expected.keys().cloned().collect::<Vec<_>>(), "windows of length {}", length);
        for ((instrument, start), candle) in &expected {
            let records = &emitted[&(instrument.clone(), length, *start)];
            let revisions: Vec<u32> = records.iter().map(|c| c.revision).collect();
            prop_assert_eq!(revisions, (0..records.len() as u32).collect::<Vec<_>>(), "revisions count up");
            let finals: Vec<bool> = records.iter().map(|c| c.is_final).collect();
            prop_assert!(finals.last() == Some(&true) && finals.iter().filter(|f| **f).count() == 1, "one final, last");
            let last = records.last().expect("at least one record");
            if let Err(problem) = candle.check(last) {
                return Err(TestCaseError::fail(format!("{instrument} {start} len {length}: {problem}")));
            }
        }
    }
    Ok(())
}

fn stream_strategy() -> impl Strategy<Value = Vec<Trade<'static>>> {
    let step = (0usize..3, 0i64..400_000, -2_600_000i64..600_000, 1i64..100_000, 1i64..5_000, 0u8..100);
    prop::collection::vec(step, 1..400).prop_map(|steps| {
        let mut cursor = T0;
        let mut stream: Vec<Trade<'static>> = Vec::new();
        for (id, (instrument, advance, jitter, price_cents, size_lots, dice)) in steps.into_iter().enumerate() {
            cursor += advance;
            if dice < 12 && !stream.is_empty() {
                let again = stream[stream.len() - 1 - (dice as usize % stream.len().min(8))].clone();
                stream.push(again); // a redelivery
                continue;
            }
            let (id_text, symbol) = INSTRUMENTS[instrument];
            let price = format!("{}.{:02}", price_cents / 100, price_cents % 100);
            let size = format!("0.{size_lots:04}");
            let mut trade = trade_on(id_text, symbol, id as u64, cursor + jitter, &price, &size);
            trade.price_only = dice >= 97;
            if trade.price_only {
                trade.size = tickflow_core::decimal::Decimal::ZERO;
            }
            stream.push(trade);
        }
        stream
    })
}

fn config(lateness: i64, idle: i64) -> ProcessorConfig {
    ProcessorConfig {
        windows_us: vec![1_000_000, 60_000_000],
        allowed_lateness_us: lateness,
        idle_timeout_us: idle,
        ..ProcessorConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn candles_equal_a_batch_recomputation(stream in stream_strategy(), lateness in 0i64..3_000_000, idle in 0i64..4_000_000) {
        reconcile(&stream, config(lateness, idle))?;
    }
}

#[test]
fn a_long_synthetic_session_reconciles() {
    let reference = reference();
    let mut market =
        SyntheticMarket::new(&reference, SyntheticConfig { trades_per_second: 500.0, ..SyntheticConfig::default() });
    let mut stream: Vec<Trade<'static>> = (0..30_000).map(|_| market.next_trade()).collect();
    // Disorder: swap neighbours and replay a few trades, as a reconnecting feed would.
    for i in (0..stream.len() - 7).step_by(13) {
        stream.swap(i, i + 7);
    }
    let replays: Vec<_> = stream.iter().step_by(101).cloned().collect();
    for (k, trade) in replays.into_iter().enumerate() {
        stream.insert((k * 97 + 50).min(stream.len()), trade);
    }
    reconcile(&stream, config(500_000, 2_000_000)).expect("reconciles");
}

/// Everything a processor emits for a stream, as JSON lines, optionally restarting it from a
/// serialized snapshot after `cut` records.
fn outputs(stream: &[Trade<'static>], config: &ProcessorConfig, cut: Option<usize>) -> Vec<String> {
    let mut processor = processor(config.clone());
    let mut lines = Vec::new();
    let mut metrics = Vec::new();
    for (position, trade) in stream.iter().enumerate() {
        if Some(position) == cut {
            let saved = serde_json::to_string(&processor.snapshot()).expect("snapshot serializes");
            let snapshot = serde_json::from_str(&saved).expect("snapshot deserializes");
            processor = tickflow_core::processor::StreamProcessor::restore(config.clone(), reference(), snapshot)
                .expect("restores");
        }
        let record = bytes(trade);
        match processor.process(&record, &mut metrics) {
            Ok(enriched) => lines.push(serde_json::to_string(&enriched).expect("encodes")),
            Err(rejection) => lines.push(rejection.to_string()),
        }
        lines.extend(metrics.drain(..).map(|m| serde_json::to_string(&m).expect("encodes")));
    }
    processor.finish(&mut metrics);
    lines.extend(metrics.drain(..).map(|m| serde_json::to_string(&m).expect("encodes")));
    lines
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_processor_continues_exactly(stream in stream_strategy(), cut in 0usize..400) {
        let config = config(1_000_000, 2_000_000);
        let cut = cut.min(stream.len());
        prop_assert_eq!(outputs(&stream, &config, Some(cut)), outputs(&stream, &config, None));
    }
}
