//! Venue frames, in the shapes the venues really send, normalized into trades.

use std::sync::OnceLock;

use tickflow_core::contract::{RejectReason, Side, Trade, Venue};
use tickflow_core::reference::ReferenceData;
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};

use crate::support::reference;

const RECEIVED: i64 = 1_672_515_782_200_000;

/// The reference data and rules every frame here is normalized with, made once: the trades
/// borrow from them for the rest of the test.
fn context() -> NormalizeContext<'static> {
    static REFERENCE: OnceLock<ReferenceData> = OnceLock::new();
    static RULES: OnceLock<ValidationRules> = OnceLock::new();
    NormalizeContext {
        reference: REFERENCE.get_or_init(reference),
        rules: RULES.get_or_init(|| ValidationRules { max_past_skew_us: i64::MAX / 4, ..ValidationRules::default() }),
        receive_time_us: RECEIVED,
    }
}

fn frame(venue: Venue, text: &str) -> Result<VenueFrame<'static>, RejectReason> {
    let context = context();
    let bytes: &'static [u8] = Box::leak(text.as_bytes().to_vec().into_boxed_slice());
    normalize(venue, bytes, &context).map_err(|r| r.reason)
}

fn trades(venue: Venue, text: &str) -> Vec<Result<Trade<'static>, RejectReason>> {
    match frame(venue, text) {
        Ok(VenueFrame::Trades { trades, .. }) => trades.into_iter().map(|t| t.map_err(|r| r.reason)).collect(),
        other => panic!("expected trades, got {other:?}"),
    }
}

#[test]
fn finnhub_trade_batches_keep_exact_prices_and_flag_price_only_updates() {
    let text = r#"{"type":"trade","data":[
        {"s":"AAPL","p":129.58,"t":1672348887666,"v":1,"c":["1","24","12"]},
        {"s":"BINANCE:BTCUSDT","p":16600.01,"t":1672348887667,"v":0.00123,"c":null},
        {"s":"MSFT","p":240.1,"t":1672348887668,"v":0}]}"#;
    let out = trades(Venue::Finnhub, text);
    let aapl = out[0].as_ref().expect("valid");
    assert_eq!((aapl.instrument_id.as_ref(), aapl.price.to_string().as_str()), ("AAPL", "129.58"));
    assert_eq!(aapl.conditions, vec!["1", "24", "12"]);
    assert_eq!((aapl.side, aapl.trade_id.as_ref(), aapl.price_only), (Side::Unknown, None, false));
    assert_eq!(aapl.event_time_us, 1_672_348_887_666_000);
    let btc = out[1].as_ref().expect("valid");
    assert_eq!((btc.instrument_id.as_ref(), btc.size.to_string().as_str()), ("BTC-USDT", "0.00123"));
    assert!(btc.conditions.is_empty(), "null conditions read as none");
    let msft = out[2].as_ref().expect("a price-only update is valid");
    assert!(msft.price_only && msft.size.units() == 0);
}

#[test]
fn finnhub_identity_drops_a_repeated_frame_and_keeps_every_distinct_trade() {
    let one = r#"{"type":"trade","data":[{"s":"AAPL","p":129.58,"t":1672348887666,"v":1}]}"#;
    let two = r#"{"type":"trade","data":[{"s":"AAPL","p":129.5,"t":1672348887600,"v":3},{"s":"AAPL","p":129.58,"t":1672348887666,"v":1},{"s":"AAPL","p":129.58,"t":1672348887666,"v":1}]}"#;
    let key = |t: &Result<Trade<'_>, RejectReason>| t.as_ref().expect("valid").trade_key.to_string();
    let keys = |frame| trades(Venue::Finnhub, frame).iter().map(key).collect::<Vec<_>>();
    assert_eq!(keys(one), keys(one), "a frame sent again repeats its trades' identities");
    assert_ne!(keys(one)[0], keys(two)[1], "an equal trade in another frame is another trade");
    assert_ne!(keys(two)[1], keys(two)[2], "two identical trades in one frame are two trades");
    assert!(keys(one)[0].starts_with("finnhub:AAPL:1672348887666:"));
}

#[test]
fn finnhub_control_frames_and_bad_trades() {
    assert_eq!(frame(Venue::Finnhub, r#"{"type":"ping"}"#), Ok(VenueFrame::Ping));
    assert_eq!(
        frame(Venue::Finnhub, r#"{"type":"error","msg":"Subscribing to too many symbols"}"#),
        Ok(VenueFrame::VenueError { message: "Subscribing to too many symbols".into() })
    );
    assert_eq!(frame(Venue::Finnhub, r#"{"type":"news","data":[]}"#), Ok(VenueFrame::Ignored));
    let out = trades(
        Venue::Finnhub,
        r#"{"type":"trade","data":[{"s":"AAPL","p":-1,"t":1672348887666,"v":1},{"s":"ZZZZ","p":1,"t":1672348887666,"v":1},{"s":"AAPL","p":1e12,"t":1672348887666,"v":1},{"s":"AAPL","t":1},{"s":"AAPL","p":1.5,"t":1672348887666,"v":-2}]}"#,
    );
    assert_eq!(
        out.into_iter().map(|t| t.err()).collect::<Vec<_>>(),
        vec![
            Some(RejectReason::InvalidPrice),
            Some(RejectReason::UnknownSymbol),
            Some(RejectReason::InvalidPrice),
            Some(RejectReason::SchemaError),
            Some(RejectReason::InvalidSize)
        ]
    );
    assert_eq!(frame(Venue::Finnhub, r#"{"type":"trade","data":[{"s":"AAPL""#), Err(RejectReason::ParseError));
}

#[test]
fn binance_raw_and_combined_streams_map_the_maker_flag_to_the_aggressor() {
    let raw = r#"{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":12345,"p":"16500.10","q":"0.0100","T":1672515782134,"m":true,"M":true}"#;
    let combined = r#"{"stream":"ethusdt@trade","data":{"e":"trade","E":1672515782136,"s":"ETHUSDT","t":777,"p":"1200.5","q":"2","T":1672515782135,"m":false,"M":true}}"#;
    let sell = trades(Venue::Binance, raw).remove(0).expect("valid");
    assert_eq!(
        (sell.side, sell.trade_key.as_ref(), sell.trade_id.as_deref()),
        (Side::Sell, "binance:BTCUSDT:12345", Some("12345"))
    );
    assert_eq!(
        (sell.price.to_string(), sell.size.to_string(), sell.event_time_us),
        ("16500.1".into(), "0.01".into(), 1_672_515_782_134_000)
    );
    let buy = trades(Venue::Binance, combined).remove(0).expect("valid");
    assert_eq!((buy.side, buy.instrument_id.as_ref()), (Side::Buy, "ETH-USDT"));
    assert_eq!(frame(Venue::Binance, r#"{"result":null,"id":1}"#), Ok(VenueFrame::Subscribed));
    assert_eq!(frame(Venue::Binance, r#"{"e":"serverShutdown","E":1672515782136}"#), Ok(VenueFrame::ServerShutdown));
    assert_eq!(
        frame(Venue::Binance, r#"{"error":{"code":2,"msg":"Invalid request"},"id":1}"#),
        Ok(VenueFrame::VenueError { message: "Invalid request".into() })
    );
    let bad = r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"NaN","q":"1","T":1672515782134,"m":true}"#;
    assert_eq!(trades(Venue::Binance, bad).remove(0).err(), Some(RejectReason::InvalidPrice));
    let no_time = r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"1","q":"1","m":true}"#;
    assert_eq!(
        trades(Venue::Binance, no_time).remove(0).err(),
        Some(RejectReason::SchemaError),
        "no guessing the time"
    );
}

#[test]
fn coinbase_market_trades_snapshot_update_and_heartbeats() {
    let snapshot = r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","trades":[
        {"trade_id":"12345","product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"},
        {"trade_id":"12346","product_id":"ETH-USD","price":"1260.02","size":"0.00000001","side":"SELL","time":"2019-08-14T20:42:27.265123456Z"}]}]}"#;
    match frame(Venue::Coinbase, snapshot) {
        Ok(VenueFrame::Trades { trades, sequence, snapshot }) => {
            assert_eq!((sequence, snapshot), (Some(0), true));
            let first = trades[0].as_ref().expect("valid");
            // `side` is the resting order's: a reported BUY is a sell by the aggressor.
            assert_eq!((first.side, first.trade_key.as_ref()), (Side::Sell, "coinbase:ETH-USD:12345"));
            assert_eq!(first.event_time_us, 1_565_815_347_265_000);
            let second = trades[1].as_ref().expect("valid");
            assert_eq!(
                (second.side, second.event_time_us),
                (Side::Buy, 1_565_815_347_265_123),
                "kept to the microsecond"
            );
        }
        other => panic!("expected trades, got {other:?}"),
    }
    let heartbeat = r#"{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":7,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105","heartbeat_counter":"3049"}]}"#;
    assert_eq!(frame(Venue::Coinbase, heartbeat), Ok(VenueFrame::Heartbeat { sequence: Some(7) }));
    assert_eq!(
        frame(Venue::Coinbase, r#"{"type":"error","message":"failure to subscribe"}"#),
        Ok(VenueFrame::VenueError { message: "failure to subscribe".into() })
    );
    let bad_time = r#"{"channel":"market_trades","sequence_num":1,"events":[{"type":"update","trades":[{"trade_id":"1","product_id":"ETH-USD","price":"1","size":"1","side":"BUY","time":"yesterday"}]}]}"#;
    assert_eq!(trades(Venue::Coinbase, bad_time).remove(0).err(), Some(RejectReason::SchemaError));
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let huge = format!(r#"{{"type":"trade","data":[{}]}}"#, vec![r#"{"s":"AAPL","p":1,"t":1,"v":1}"#; 2_000].join(","));
    assert_eq!(frame(Venue::Finnhub, &huge), Err(RejectReason::TooLarge));
}

#[test]
fn the_synthetic_feed_renders_valid_frames_with_distinct_identities_at_high_rates() {
    use std::collections::HashSet;
    use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket, venue_frame};

    // 50 000 trades/s puts well over 1 000 trades a second on the busiest equities, which carry
    // only millisecond times and no trade ids on Finnhub.
    let reference = tickflow_core::reference::ReferenceData::bundled().expect("bundled reference data");
    let config = SyntheticConfig { trades_per_second: 50_000.0, ..SyntheticConfig::default() };
    let mut market = SyntheticMarket::new(&reference, config);
    let rules = ValidationRules::default();
    let mut keys = HashSet::new();
    for sequence in 0..100_000 {
        let trade = market.next_trade();
        let text = venue_frame(&trade, sequence);
        let context = NormalizeContext { reference: &reference, rules: &rules, receive_time_us: trade.receive_time_us };
        let Ok(VenueFrame::Trades { trades, .. }) = normalize(trade.venue, text.as_bytes(), &context) else {
            panic!("frame {sequence} was not a trade frame: {text}");
        };
        for normalized in trades {
            let normalized = normalized.unwrap_or_else(|r| panic!("frame {sequence} rejected: {r:?}: {text}"));
            assert_eq!(normalized.event_time_us, trade.event_time_us);
            assert!(keys.insert(normalized.trade_key.into_owned()), "frame {sequence} repeats an identity: {text}");
        }
    }
}

#[test]
fn what_a_client_reads_of_a_normalized_frame_is_what_it_reads_of_the_frame() {
    use tickflow_core::venue::{BinanceEvent, binance_event, finnhub_message, finnhub_message_of};
    let binance = [
        r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":17,"p":"42000.5","q":"0.01","T":1672515782136,"m":true}}"#,
        r#"{"e":"trade","E":1,"s":"ETHUSDT","t":9,"p":"2200","q":"1","T":1672515782136,"m":false}"#,
        // Rejected trades are still trades to track by id.
        r#"{"e":"trade","E":1,"s":"BTCUSDT","t":18,"p":"-1","q":"0.01","T":1672515782136,"m":true}"#,
        r#"{"e":"trade","E":1,"s":"NOSUCH","t":3,"p":"1","q":"1","T":1672515782136,"m":true}"#,
        r#"{"e":"trade","s":"BTCUSDT","t":19}"#,
        r#"{"e":"serverShutdown","E":1}"#,
        r#"{"result":null,"id":1}"#,
        r#"{"error":{"code":2,"msg":"Invalid request"}}"#,
        r#"{"e":"trade","#,
    ];
    for text in binance {
        let normalized =
            frame(Venue::Binance, text).map_err(|reason| tickflow_core::contract::Rejection::new(reason, ""));
        assert_eq!(BinanceEvent::of(text.as_bytes(), &normalized), binance_event(text.as_bytes()), "{text}");
    }
    let finnhub = [
        r#"{"type":"trade","data":[{"s":"AAPL","p":129.58,"t":1672515782136,"v":1,"c":["1"]},{"s":"MSFT","p":2,"t":1672515782137,"v":0}]}"#,
        r#"{"type":"trade","data":[{"s":"AAPL","p":-1,"t":1672515782136,"v":1},{"s":"MSFT","p":2,"t":1672515782137,"v":1}]}"#,
        r#"{"type":"trade","data":[{"s":"AAPL","p":1,"v":1}]}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"error","msg":"Subscribing to too many symbols"}"#,
        r#"{"type":"news"}"#,
        r#"{"type":"trade""#,
    ];
    for text in finnhub {
        let normalized =
            frame(Venue::Finnhub, text).map_err(|reason| tickflow_core::contract::Rejection::new(reason, ""));
        let (mut once, mut again) = (Vec::new(), Vec::new());
        let read_once = finnhub_message_of(text.as_bytes(), &normalized, |s, t| once.push((s.to_owned(), t)));
        let read_again = finnhub_message(text.as_bytes(), |s, t| again.push((s.to_owned(), t)));
        assert_eq!((read_once, once), (read_again, again), "{text}");
    }
}
