//! The direct JSON writers of trades and enriched trades give exactly the bytes `serde_json`
//! makes of the same values (the serde derives define the wire form): any text, escapes and
//! non-ASCII included, any decimal, missing and non-finite values.

use std::borrow::Cow;

use proptest::prelude::*;
use smol_str::SmolStr;
use tickflow_core::contract::{AssetClass, EnrichedTrade, Enrichment, Session, Side, Trade, Venue};
use tickflow_core::decimal::{Decimal, Notional};

/// Text as venues and the reference data may carry it: mostly plain, sometimes quotes,
/// backslashes, control characters or non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[A-Z0-9:._-]{0,24}", 1 => any::<String>(), 1 => "[a\"\\\\\n\t\u{1}\u{7f}é€😀]{0,8}"]
}

prop_compose! {
    fn trade()(
        key in text(), symbol in text(), instrument in text(), id in prop::option::of(text()),
        price in any::<i64>(), size in any::<i64>(), side in 0..3u8, venue in 0..3usize,
        conditions in prop::collection::vec(text(), 0..3), price_only in any::<bool>(),
        event in any::<i64>(), receive in any::<i64>(),
    ) -> Trade<'static> {
        Trade {
            trade_key: Cow::Owned(key),
            venue: Venue::ALL[venue],
            venue_symbol: Cow::Owned(symbol),
            instrument_id: Cow::Owned(instrument),
            trade_id: id.map(Cow::Owned),
            price: Decimal::from_units(price),
            size: Decimal::from_units(size),
            side: [Side::Buy, Side::Sell, Side::Unknown][usize::from(side)],
            conditions: conditions.into_iter().map(Cow::Owned).collect(),
            price_only,
            event_time_us: event,
            receive_time_us: receive,
        }
    }
}

fn bps() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => prop::option::of(any::<f64>()),
        1 => prop::sample::select(vec![Some(f64::NAN), Some(f64::INFINITY), Some(0.0), Some(-0.0), Some(1.0), Some(1e21), Some(1e-7)]),
    ]
}

prop_compose! {
    fn enrichment()(
        asset in any::<bool>(), exchange in text(), quote in text(), session in 0..4usize,
        value in any::<i128>(), change in prop::option::of(any::<i64>()), bps in bps(), late in any::<bool>(),
    ) -> Enrichment {
        Enrichment {
            asset_class: if asset { AssetClass::Crypto } else { AssetClass::Equity },
            exchange: SmolStr::new(exchange),
            quote_currency: SmolStr::new(quote),
            session: [Session::Regular, Session::Extended, Session::Closed, Session::Continuous][session],
            trade_value: Notional::from_units(value),
            price_change: change.map(Decimal::from_units),
            price_change_bps: bps,
            is_late: late,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    #[test]
    fn a_trade_is_written_as_serde_json_writes_it(trade in trade()) {
        let mut written = b"before".to_vec();
        trade.write_json(&mut written);
        let expected = [b"before".to_vec(), serde_json::to_vec(&trade).expect("encodes")].concat();
        prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
    }

    #[test]
    fn an_enriched_trade_is_written_as_serde_json_writes_it(trade in trade(), enrichment in enrichment()) {
        let enriched = EnrichedTrade::new(trade, enrichment);
        let mut written = Vec::new();
        enriched.write_json(&mut written);
        let expected = serde_json::to_vec(&enriched).expect("encodes");
        prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&expected));
    }
}
