//! Window boundaries, lateness, watermarks, rejections and anomalies, case by case.

use tickflow_core::anomaly::AnomalyConfig;
use tickflow_core::contract::{AnomalyKind, Metric, RejectReason, Session};
use tickflow_core::processor::ProcessorConfig;

use crate::support::{T0, bytes, candles, processor, trade, trade_on};

const SECOND: i64 = 1_000_000;

fn one_second_windows(lateness: i64) -> ProcessorConfig {
    ProcessorConfig { windows_us: vec![SECOND], allowed_lateness_us: lateness, ..ProcessorConfig::default() }
}

#[test]
fn a_trade_at_a_window_end_belongs_to_the_next_window() {
    let mut processor = processor(one_second_windows(0));
    let mut metrics = Vec::new();
    for (id, time) in [(1, T0), (2, T0 + SECOND - 1), (3, T0 + SECOND), (4, T0 + 2 * SECOND)] {
        processor.process(&bytes(&trade(id, time, "100", "1")), &mut metrics).expect("accepted");
    }
    let finals: Vec<_> = candles(&metrics).into_iter().filter(|c| c.is_final).collect();
    assert_eq!(finals.len(), 2, "[T0, T0+1s) and [T0+1s, T0+2s) are closed; the last is open");
    assert_eq!((finals[0].window_start_us, finals[0].trade_count), (T0, 2));
    assert_eq!((finals[1].window_start_us, finals[1].trade_count), (T0 + SECOND, 1));
    assert_eq!(finals[0].last_event_time_us, T0 + SECOND - 1);
    assert!(finals.iter().all(|c| c.revision == 0), "no lateness: the final record is the only one");
}

#[test]
fn late_trades_within_lateness_revise_and_beyond_it_pass_marked_late_without_changing_candles() {
    let mut processor = processor(one_second_windows(2 * SECOND));
    let mut metrics = Vec::new();
    let mut send = |id, time, price: &str, metrics: &mut Vec<Metric>| {
        processor.process(&bytes(&trade(id, time, price, "1")), metrics).map(|e| e.is_late).map_err(|r| r.reason)
    };
    assert_eq!(send(1, T0 + 100_000, "100", &mut metrics), Ok(false), "on time");
    assert_eq!(send(2, T0 + 1_500_000, "101", &mut metrics), Ok(false), "on time, closes [T0, T0+1s) provisionally");
    let provisional = candles(&metrics).into_iter().find(|c| c.window_start_us == T0).expect("emitted").clone();
    assert_eq!((provisional.revision, provisional.is_final, provisional.trade_count), (0, false, 1));

    assert_eq!(send(3, T0 + 900_000, "99", &mut metrics), Ok(false), "out of order but within lateness");
    let revised = candles(&metrics).into_iter().rfind(|c| c.window_start_us == T0).expect("revised").clone();
    assert_eq!((revised.revision, revised.is_final, revised.trade_count), (1, false, 2));
    assert_eq!((revised.low.to_string(), revised.close.to_string()), ("99".into(), "99".into()));

    send(4, T0 + 3_000_000, "102", &mut metrics).expect("on time; the watermark reaches T0+1s+2s");
    let last = candles(&metrics).into_iter().rfind(|c| c.window_start_us == T0).expect("final").clone();
    assert_eq!((last.revision, last.is_final, last.trade_count), (2, true, 2));

    let emitted = metrics.len();
    assert_eq!(send(5, T0 + 500_000, "98", &mut metrics), Ok(true), "beyond the lateness: late, passed on");
    assert_eq!(metrics.len(), emitted, "a late trade revises no final candle");
    assert_eq!(send(5, T0 + 500_000, "98", &mut metrics), Err(RejectReason::Duplicate), "late trades are deduplicated");
    assert_eq!(send(6, T0 + 1_000_000, "98", &mut metrics), Ok(false), "exactly at watermark - lateness is on time");
}

#[test]
fn a_quiet_instruments_window_closes_by_the_streams_progress_or_a_heartbeat() {
    let config = ProcessorConfig { idle_timeout_us: 5 * SECOND, ..one_second_windows(0) };
    let mut processor = processor(config.clone());
    let mut metrics = Vec::new();
    processor.process(&bytes(&trade_on("ETH-USDT", "ETHUSDT", 1, T0, "2000", "1")), &mut metrics).expect("accepted");
    let eth_final = |metrics: &[Metric]| candles(metrics).iter().any(|c| &*c.instrument_id == "ETH-USDT" && c.is_final);
    for step in 1..=5 {
        processor.process(&bytes(&trade(step, T0 + step as i64 * SECOND, "100", "1")), &mut metrics).expect("accepted");
    }
    assert!(!eth_final(&metrics), "the stream is only 5 s ahead: ETH-USDT may still be catching up");
    processor.process(&bytes(&trade(6, T0 + 6 * SECOND, "100", "1")), &mut metrics).expect("accepted");
    assert!(eth_final(&metrics), "6 s later the stream closes the quiet window");

    let mut alone = crate::support::processor(config);
    let mut metrics = Vec::new();
    alone.process(&bytes(&trade(1, T0, "100", "1")), &mut metrics).expect("accepted");
    alone.advance_stream_time(T0 + 5 * SECOND, &mut metrics);
    assert!(candles(&metrics).is_empty());
    alone.advance_stream_time(T0 + 6 * SECOND, &mut metrics);
    assert_eq!(candles(&metrics).len(), 1, "a heartbeat closes it on an idle stream");
    let late = alone.process_trade(trade(2, T0 + 500_000, "100", "1"), &mut metrics).expect("passed on");
    assert!(late.is_late, "a closed window takes no more trades: the trade is marked late");
    assert_eq!(candles(&metrics).len(), 1);
}

#[test]
fn rejections_name_their_reason_and_leave_no_trace() {
    let mut processor = processor(one_second_windows(0));
    let mut metrics = Vec::new();
    let mut reason = |payload: Vec<u8>| processor.process(&payload, &mut metrics).err().map(|r| r.reason);
    assert_eq!(reason(bytes(&trade(1, T0, "100", "1"))), None);
    assert_eq!(reason(bytes(&trade(1, T0, "100", "1"))), Some(RejectReason::Duplicate));
    assert_eq!(reason(bytes(&trade(2, T0, "0", "1"))), Some(RejectReason::InvalidPrice));
    assert_eq!(reason(bytes(&trade(3, T0, "-5", "1"))), Some(RejectReason::InvalidPrice));
    assert_eq!(reason(bytes(&trade(4, T0, "100", "0"))), Some(RejectReason::InvalidSize));
    assert_eq!(reason(bytes(&trade_on("NOPE", "NOPE", 5, T0, "1", "1"))), Some(RejectReason::UnknownSymbol));
    let mut skewed = trade(6, T0 + 60 * SECOND, "100", "1");
    skewed.receive_time_us = T0;
    assert_eq!(reason(bytes(&skewed)), Some(RejectReason::ClockSkew));
    assert_eq!(reason(b"{\"price\":".to_vec()), Some(RejectReason::ParseError));
    assert_eq!(reason(b"{\"price\":\"1\"}".to_vec()), Some(RejectReason::SchemaError));
    assert_eq!(reason(vec![b' '; 20_000]), Some(RejectReason::TooLarge));
    let text = String::from_utf8(bytes(&trade(7, T0, "100", "1"))).expect("utf-8").replace("\"100\"", "\"1e12\"");
    assert_eq!(reason(text.into_bytes()), Some(RejectReason::InvalidPrice));
    // The skewed trade 60 s ahead did not move the watermark: T0 + 1 ms is still on time.
    assert_eq!(reason(bytes(&trade(8, T0 + 1_000, "100", "1"))), None);
}

#[test]
fn price_only_updates_are_forwarded_but_never_counted_as_volume() {
    let mut processor = processor(one_second_windows(0));
    let mut metrics = Vec::new();
    processor.process(&bytes(&trade(1, T0, "100", "2")), &mut metrics).expect("trade");
    let mut update = trade(2, T0 + 10, "150", "0");
    update.price_only = true;
    let enriched = processor.process_trade(update, &mut metrics).expect("price-only update");
    assert_eq!(enriched.price_change.map(|c| c.to_string()), Some("50".into()));
    processor.finish(&mut metrics);
    let candle = candles(&metrics)[0].clone();
    assert_eq!((candle.trade_count, candle.high.to_string(), candle.volume.to_string()), (1, "100".into(), "2".into()));
}

#[test]
fn enrichment_adds_reference_data_session_and_change() {
    let mut processor = processor(ProcessorConfig::default());
    let mut metrics = Vec::new();
    // 2024-01-10T15:00:00Z is 10:00 in New York, a Wednesday.
    let at = 1_704_898_800_000_000;
    let mut aapl = trade_on("AAPL", "AAPL", 1, at, "185.5", "10");
    aapl.venue = tickflow_core::contract::Venue::Finnhub;
    let first = processor.process_trade(aapl, &mut metrics).expect("accepted");
    assert_eq!((first.session, &*first.exchange, &*first.quote_currency), (Session::Regular, "NASDAQ", "USD"));
    assert_eq!((first.trade_value.to_string(), first.price_change), ("1855".into(), None));
    let second = processor.process_trade(trade_on("AAPL", "AAPL", 2, at + 1, "185.6", "1"), &mut metrics).expect("ok");
    assert_eq!(second.price_change.map(|c| c.to_string()), Some("0.1".into()));
    let bps = second.price_change_bps.expect("bps");
    assert!((bps - 0.1 / 185.5 * 10_000.0).abs() < 1e-9, "{bps}");
    let btc = processor.process_trade(trade(3, at, "42000", "0.5"), &mut metrics).expect("ok");
    assert_eq!(btc.session, Session::Continuous);
}

fn anomaly_config() -> ProcessorConfig {
    ProcessorConfig {
        windows_us: vec![SECOND],
        allowed_lateness_us: 0,
        anomaly: AnomalyConfig { lookback_windows: 10, volume_spike_factor: 3.0, price_jump_z: 4.0 },
        ..ProcessorConfig::default()
    }
}

#[test]
fn a_volume_spike_is_reported_with_its_evidence() {
    let mut processor = processor(anomaly_config());
    let mut metrics = Vec::new();
    for second in 0..12 {
        let size = if second == 11 {
            "40"
        } else if second % 2 == 0 {
            "9"
        } else {
            "11"
        };
        processor.process(&bytes(&trade(second as u64, T0 + second * SECOND, "100", size)), &mut metrics).expect("ok");
    }
    processor.finish(&mut metrics);
    let anomalies: Vec<_> =
        metrics.iter().filter_map(|m| if let Metric::Anomaly(a) = m { Some(a) } else { None }).collect();
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    let spike = anomalies[0];
    assert_eq!(
        (spike.kind, spike.window_start_us, spike.lookback_windows),
        (AnomalyKind::VolumeSpike, T0 + 11 * SECOND, 10)
    );
    assert_eq!((spike.observed, spike.baseline_mean, spike.baseline_std, spike.score), (40.0, 10.0, 1.0, 4.0));
}

#[test]
fn a_price_jump_is_reported_with_its_z_score() {
    let mut processor = processor(anomaly_config());
    let mut metrics = Vec::new();
    let mut price = 100.0f64;
    for second in 0..13i64 {
        price *= if second == 12 {
            1.05
        } else if second % 2 == 0 {
            1.001
        } else {
            0.999
        };
        let text = format!("{price:.8}");
        processor.process(&bytes(&trade(second as u64, T0 + second * SECOND, &text, "10")), &mut metrics).expect("ok");
    }
    processor.finish(&mut metrics);
    let jumps: Vec<_> = metrics
        .iter()
        .filter_map(|m| if let Metric::Anomaly(a) = m { Some(a) } else { None })
        .filter(|a| a.kind == AnomalyKind::PriceJump)
        .collect();
    assert_eq!(jumps.len(), 1, "{jumps:?}");
    assert_eq!(jumps[0].window_start_us, T0 + 12 * SECOND);
    assert!((jumps[0].observed - 1.05f64.ln()).abs() < 1e-6 && jumps[0].score > 4.0, "{:?}", jumps[0]);
}

#[test]
fn dedup_and_window_state_stay_bounded_on_a_long_stream() {
    let mut processor = processor(ProcessorConfig::default());
    let mut metrics = Vec::new();
    for id in 0..200_000u64 {
        let time = T0 + id as i64 * 1_000; // 1 000 trades per second for 200 s
        processor.process(&bytes(&trade(id, time, "100", "1")), &mut metrics).expect("ok");
        metrics.clear();
    }
    let (identities, windows) = processor.state_size();
    // Two generations of at most lateness (2 s) × rate (1 000/s) identities each, not 200 000.
    assert!(identities <= 4_100, "remembers about lateness × rate identities, not all: {identities}");
    assert!(windows <= 6, "{windows}");
}

/// A Coinbase BTC-USD trade: another venue, so another source.
fn coinbase(id: u64, time: i64) -> tickflow_core::contract::Trade<'static> {
    let mut trade = trade_on("BTC-USD", "BTC-USD", id, time, "100", "1");
    trade.venue = tickflow_core::contract::Venue::Coinbase;
    trade.trade_key = format!("coinbase:BTC-USD:{id}").into();
    trade
}

fn hold(venue: tickflow_core::contract::Venue, at: i64, held: bool) -> tickflow_core::contract::Watermark {
    tickflow_core::contract::Watermark { watermark_us: at, venue: Some(venue), held }
}

fn finals_of<'m>(metrics: &'m [Metric], instrument: &str) -> Vec<&'m tickflow_core::contract::Candle> {
    candles(metrics).into_iter().filter(|c| &*c.instrument_id == instrument && c.is_final).collect()
}

#[test]
fn a_held_source_keeps_its_windows_open_while_other_venues_trade_until_it_recovers() {
    use tickflow_core::contract::Venue;
    let config =
        ProcessorConfig { idle_timeout_us: 5 * SECOND, max_hold_us: 120 * SECOND, ..one_second_windows(2 * SECOND) };
    let mut processor = processor(config.clone());
    let mut metrics = Vec::new();
    processor.process_trade(trade(1, T0, "100", "1"), &mut metrics).expect("binance trade");
    // Binance's connection drops: the source is complete up to T0.
    processor.watermark(&hold(Venue::Binance, T0, true), &mut metrics);
    for step in 1..=60 {
        processor.process_trade(coinbase(step, T0 + step as i64 * SECOND), &mut metrics).expect("coinbase trade");
    }
    assert!(finals_of(&metrics, "BTC-USDT").is_empty(), "60 s of Coinbase trades do not close a held source's windows");
    assert_eq!(finals_of(&metrics, "BTC-USD").len(), 57, "Coinbase's own windows close as they always do");
    let status: Vec<_> = processor.sources().filter(|(_, s)| s.held_at_us.is_some()).collect();
    assert_eq!(status.len(), 1, "{status:?}");

    // Part way through the recovery the processor restarts from a snapshot: nothing changes.
    let saved = serde_json::to_string(&processor.snapshot()).expect("snapshot");
    let mut processor = tickflow_core::processor::StreamProcessor::restore(
        config,
        crate::support::reference(),
        serde_json::from_str(&saved).expect("snapshot reads"),
    )
    .expect("restores");
    // The backfill brings what was traded during the outage: none of it is late.
    for step in 1..=50 {
        let enriched = processor.process_trade(trade(1 + step, T0 + step as i64 * SECOND, "101", "2"), &mut metrics);
        assert!(!enriched.expect("backfilled trade").is_late, "trade {step} of the outage is on time");
    }
    processor.watermark(&hold(Venue::Binance, T0 + 50 * SECOND, false), &mut metrics);
    let finals = finals_of(&metrics, "BTC-USDT");
    assert_eq!(finals.len(), 51, "the release closes every window up to the stream's horizon");
    assert_eq!(finals.iter().map(|c| c.trade_count).sum::<u64>(), 51, "every trade in its candle");
    assert!(metrics.iter().all(|m| !matches!(m, Metric::FeedGap(_))), "nothing was lost");
}

#[test]
fn a_hold_beyond_the_bound_declares_the_source_lost_and_later_trades_are_late() {
    use tickflow_core::contract::{GapReason, Venue};
    let config = ProcessorConfig { idle_timeout_us: 5 * SECOND, max_hold_us: 30 * SECOND, ..one_second_windows(0) };
    let mut processor = processor(config);
    let mut metrics = Vec::new();
    processor.process_trade(trade(1, T0, "100", "1"), &mut metrics).expect("binance trade");
    processor.watermark(&hold(Venue::Binance, T0 + 200_000, true), &mut metrics);
    for step in 1..=30 {
        processor.process_trade(coinbase(step, T0 + step as i64 * SECOND), &mut metrics).expect("coinbase trade");
    }
    assert!(finals_of(&metrics, "BTC-USDT").is_empty(), "within the bound");
    processor.process_trade(coinbase(31, T0 + 31 * SECOND), &mut metrics).expect("coinbase trade");
    let gaps: Vec<_> = metrics.iter().filter_map(|m| if let Metric::FeedGap(g) = m { Some(g) } else { None }).collect();
    assert_eq!(gaps.len(), 1, "one gap for the one instrument of the lost source");
    let gap = gaps[0];
    assert_eq!((&*gap.instrument_id, &*gap.venue_symbol, gap.reason), ("BTC-USDT", "BTCUSDT", GapReason::SourceLost));
    assert_eq!((gap.from_us, gap.to_us, gap.missing_trades), (T0 + 200_000, T0 + 31 * SECOND, None));
    assert_eq!(gap.gap_key, format!("binance:BTCUSDT:{}:{}", T0 + 200_000, T0 + 31 * SECOND));
    assert_eq!(finals_of(&metrics, "BTC-USDT").len(), 1, "the lost source's window closes with the stream");

    // Trades the source delivers afterwards are late: passed on, in no candle.
    let emitted = metrics.len();
    let late = processor.process_trade(trade(2, T0 + 5 * SECOND, "100", "1"), &mut metrics).expect("passed on");
    assert!(late.is_late);
    assert_eq!(metrics.len(), emitted);
    // Held again while lost: still lost, no second gap; a release makes it a source like any other.
    processor.watermark(&hold(Venue::Binance, T0 + 6 * SECOND, true), &mut metrics);
    processor.watermark(&hold(Venue::Binance, T0 + 31 * SECOND, false), &mut metrics);
    assert!(processor.sources().all(|(_, s)| s.held_at_us.is_none() && !s.lost));
    assert_eq!(metrics.iter().filter(|m| matches!(m, Metric::FeedGap(_))).count(), 1);
}

#[test]
fn windows_closed_before_a_hold_arrives_stay_closed() {
    use tickflow_core::contract::Venue;
    let config = ProcessorConfig { idle_timeout_us: SECOND, ..one_second_windows(0) };
    let mut processor = processor(config);
    let mut metrics = Vec::new();
    processor.process_trade(trade(1, T0, "100", "1"), &mut metrics).expect("binance trade");
    processor.process_trade(coinbase(1, T0 + 10 * SECOND), &mut metrics).expect("coinbase trade");
    assert_eq!(finals_of(&metrics, "BTC-USDT").len(), 1, "idle: closed by the stream");
    // The hold comes late (a stall noticed by the watchdog): it cannot reopen a final window.
    processor.watermark(&hold(Venue::Binance, T0, true), &mut metrics);
    let late = processor.process_trade(trade(2, T0 + 500_000, "100", "1"), &mut metrics).expect("passed on");
    assert!(late.is_late, "its window was final before the hold");
    let on_time = processor.process_trade(trade(3, T0 + 9 * SECOND + 1, "100", "1"), &mut metrics).expect("ok");
    assert!(!on_time.is_late);
    assert_eq!(finals_of(&metrics, "BTC-USDT").len(), 1, "no window emitted twice");
}
