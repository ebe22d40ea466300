//! A frame's trades as `raw_trades` records, encoded by the live client that read the frame: the
//! client normalizes each frame once, tracks trade ids from what it normalized, and hands on the
//! records with the frame, so the publisher sends them without reading the frame again.

use tickflow_core::contract::{Rejection, Trade};

/// The `raw_trades` records of one frame's trades: each trade's key (its instrument id) and
/// payload, back to back in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradeRecords {
    bytes: Vec<u8>,
    /// Per trade: where its key ends and where its payload ends in `bytes`, and its event time.
    spans: Vec<(usize, usize, i64)>,
}

/// One trade's record, borrowed from [`TradeRecords`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeRecord<'a> {
    pub key: &'a [u8],
    pub payload: &'a [u8],
    pub event_time_us: i64,
}

impl TradeRecords {
    /// The records of a frame's `trades`; `None` if any of them was rejected (such a frame goes
    /// on as it came, and the publisher dead-letters it with its original bytes).
    pub fn encode(trades: &[Result<Trade<'_>, Rejection>]) -> Option<Self> {
        let mut records = TradeRecords { bytes: Vec::with_capacity(320 * trades.len()), spans: Vec::new() };
        records.spans.reserve_exact(trades.len());
        for trade in trades {
            let trade = trade.as_ref().ok()?;
            records.bytes.extend_from_slice(trade.instrument_id.as_bytes());
            let key_end = records.bytes.len();
            trade.write_json(&mut records.bytes);
            records.spans.push((key_end, records.bytes.len(), trade.event_time_us));
        }
        Some(records)
    }

    /// The records, in the frame's order.
    pub fn iter(&self) -> impl Iterator<Item = TradeRecord<'_>> {
        let starts = std::iter::once(0).chain(self.spans.iter().map(|&(_, end, _)| end));
        starts.zip(&self.spans).map(|(start, &(key_end, end, event_time_us))| TradeRecord {
            key: &self.bytes[start..key_end],
            payload: &self.bytes[key_end..end],
            event_time_us,
        })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_core::reference::ReferenceData;
    use tickflow_core::validate::ValidationRules;
    use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};

    fn trades<'a>(frame: &'a str, context: &NormalizeContext<'a>) -> Vec<Result<Trade<'a>, Rejection>> {
        match normalize(tickflow_core::contract::Venue::Finnhub, frame.as_bytes(), context) {
            Ok(VenueFrame::Trades { trades, .. }) => trades,
            other => panic!("not trades: {other:?}"),
        }
    }

    #[test]
    fn each_trade_is_its_instrument_key_and_the_record_the_publisher_would_write() {
        let (reference, rules) = (ReferenceData::bundled().expect("reference data"), ValidationRules::default());
        let context = NormalizeContext { reference: &reference, rules: &rules, receive_time_us: 1_700_000_000_000_000 };
        let frame = r#"{"type":"trade","data":[{"s":"AAPL","p":189.5,"t":1700000000000,"v":3},{"s":"MSFT","p":370.25,"t":1700000000001,"v":0,"c":["1"]}]}"#;
        let trades = trades(frame, &context);
        let records = TradeRecords::encode(&trades).expect("all accepted");
        assert_eq!(records.len(), 2);
        for (record, trade) in records.iter().zip(&trades) {
            let trade = trade.as_ref().expect("accepted");
            let mut expected = Vec::new();
            trade.write_json(&mut expected);
            assert_eq!(record.key, trade.instrument_id.as_bytes());
            assert_eq!(record.payload, expected.as_slice());
            assert_eq!(record.event_time_us, trade.event_time_us);
        }
    }

    #[test]
    fn a_frame_with_a_rejected_trade_has_no_records() {
        let (reference, rules) = (ReferenceData::bundled().expect("reference data"), ValidationRules::default());
        let context = NormalizeContext { reference: &reference, rules: &rules, receive_time_us: 1_700_000_000_000_000 };
        let frame = r#"{"type":"trade","data":[{"s":"AAPL","p":189.5,"t":1700000000000,"v":3},{"s":"NOPE","p":1,"t":1700000000000,"v":1}]}"#;
        let trades = trades(frame, &context);
        assert!(trades[1].is_err(), "an unknown symbol is rejected");
        assert_eq!(TradeRecords::encode(&trades), None);
    }
}
