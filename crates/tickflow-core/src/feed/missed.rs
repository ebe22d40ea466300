//! Trades a venue client knows it missed and gave up on ([`MissedTrades`]), and the feed-gap
//! record ([`FeedGap`]) they become once the instrument is known; [`check_gap`] is what the
//! stream-processor asks of a gap record before passing it on.

use serde::{Deserialize, Serialize};
use smol_str::{SmolStr, ToSmolStr};

use super::MissingIds;
use crate::contract::{FeedGap, GapReason, Metric, RejectReason, Rejection, Venue};
use crate::reference::ReferenceData;
use crate::validate::json_rejection;

/// What a venue client reports when it gives up on missed trades of one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedTrades {
    pub venue: Venue,
    pub venue_symbol: String,
    pub reason: GapReason,
    pub from_us: i64,
    pub to_us: i64,
    /// The first and last missing trade id, where the venue numbers its trades.
    pub ids: Option<(u64, u64)>,
    pub detected_at_us: i64,
}

impl MissedTrades {
    /// Missing ids of a venue that numbers its trades.
    pub fn ids(venue: Venue, symbol: &str, reason: GapReason, missing: MissingIds, detected_at_us: i64) -> Self {
        MissedTrades {
            venue,
            venue_symbol: symbol.to_owned(),
            reason,
            from_us: missing.after_us,
            to_us: missing.before_us.max(missing.after_us),
            ids: Some((missing.from, missing.to)),
            detected_at_us,
        }
    }

    /// A time range in which trades may be missing, nobody can tell which or how many.
    pub fn span(venue: Venue, symbol: &str, reason: GapReason, from_us: i64, to_us: i64, detected_at_us: i64) -> Self {
        MissedTrades { venue, venue_symbol: symbol.to_owned(), reason, from_us, to_us, ids: None, detected_at_us }
    }

    /// The feed-gap record, keyed by the instrument the venue symbol maps to.
    pub fn to_gap(&self, reference: &ReferenceData) -> Result<FeedGap, Rejection> {
        let instrument = reference
            .by_venue_symbol(self.venue, &self.venue_symbol)
            .ok_or(Rejection::new(RejectReason::UnknownSymbol, "the gap's symbol is not in the reference data"))?;
        let (from_us, to_us) = (self.from_us, self.to_us.max(self.from_us));
        Ok(FeedGap {
            gap_key: FeedGap::key(self.venue, &self.venue_symbol, from_us, to_us),
            venue: self.venue,
            venue_symbol: self.venue_symbol.to_smolstr(),
            instrument_id: instrument.id.clone(),
            reason: self.reason,
            from_us,
            to_us,
            first_missing_trade_id: self.ids.map(|(first, _)| first.to_smolstr()),
            last_missing_trade_id: self.ids.map(|(_, last)| last.to_smolstr()),
            missing_trades: self.ids.map(|(first, last)| last - first + 1),
            detected_at_us: self.detected_at_us,
        })
    }
}

/// A `raw_trades` gap record, checked: the contract's shape, a known instrument that the venue
/// symbol maps to, a time range that does not run backwards, the key its fields give, and ids
/// that agree with the count.
pub fn check_gap(bytes: &[u8], reference: &ReferenceData) -> Result<FeedGap, Rejection> {
    let schema = |detail| Rejection::new(RejectReason::SchemaError, detail);
    let gap = match serde_json::from_slice::<Metric>(bytes) {
        Ok(Metric::FeedGap(gap)) => gap,
        Ok(_) => return Err(schema("a gap record must have metric = feed_gap")),
        Err(_) => return Err(json_rejection(bytes)),
    };
    let instrument = reference
        .by_venue_symbol(gap.venue, &gap.venue_symbol)
        .ok_or(Rejection::new(RejectReason::UnknownSymbol, "the gap's symbol is not in the reference data"))?;
    if instrument.id != gap.instrument_id {
        return Err(schema("the gap's instrument_id is not the one its venue symbol maps to"));
    }
    if gap.to_us < gap.from_us {
        return Err(schema("the gap ends before it starts"));
    }
    if gap.gap_key != FeedGap::key(gap.venue, &gap.venue_symbol, gap.from_us, gap.to_us) {
        return Err(schema("gap_key is not venue:venue_symbol:from_us:to_us"));
    }
    let id = |text: &Option<SmolStr>| text.as_ref().map(|t| t.parse::<u64>());
    let ids_agree = match (id(&gap.first_missing_trade_id), id(&gap.last_missing_trade_id), gap.missing_trades) {
        (Some(Ok(first)), Some(Ok(last)), Some(count)) => first <= last && last - first + 1 == count,
        (None, None, None) => true,
        (None, Some(Ok(_)), None) => true, // the trades before a known id, their number unknown
        _ => false,
    };
    if !ids_agree {
        return Err(schema("the gap's missing trade ids and count do not agree"));
    }
    Ok(gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> ReferenceData {
        ReferenceData::bundled().expect("bundled reference data")
    }

    fn missed() -> MissedTrades {
        let missing = MissingIds { from: 101, to: 140, after_us: 1_000, before_us: 9_000 };
        MissedTrades::ids(Venue::Binance, "BTCUSDT", GapReason::BackfillFailed, missing, 10_000)
    }

    #[test]
    fn a_client_report_becomes_a_gap_record_the_processor_accepts() {
        let gap = missed().to_gap(&reference()).expect("known symbol");
        assert_eq!(gap.gap_key, "binance:BTCUSDT:1000:9000");
        assert_eq!(gap.instrument_id, "BTC-USDT");
        assert_eq!((gap.first_missing_trade_id.as_deref(), gap.missing_trades), (Some("101"), Some(40)));
        let bytes = serde_json::to_vec(&Metric::FeedGap(gap.clone())).expect("encodes");
        assert_eq!(check_gap(&bytes, &reference()), Ok(gap));
    }

    #[test]
    fn gap_records_that_do_not_hold_together_are_rejected_with_a_reason() {
        let reference = reference();
        let unknown = MissedTrades { venue_symbol: "NOPE".into(), ..missed() };
        assert_eq!(unknown.to_gap(&reference).map_err(|r| r.reason), Err(RejectReason::UnknownSymbol));
        let good = missed().to_gap(&reference).expect("known symbol");
        let reject = |gap: FeedGap| {
            let bytes = serde_json::to_vec(&Metric::FeedGap(gap)).expect("encodes");
            check_gap(&bytes, &reference).map_err(|r| r.reason)
        };
        assert_eq!(
            reject(FeedGap { instrument_id: "ETH-USDT".into(), ..good.clone() }),
            Err(RejectReason::SchemaError)
        );
        assert_eq!(reject(FeedGap { to_us: 0, ..good.clone() }), Err(RejectReason::SchemaError));
        assert_eq!(reject(FeedGap { missing_trades: Some(39), ..good.clone() }), Err(RejectReason::SchemaError));
        assert_eq!(reject(FeedGap { gap_key: "x".into(), ..good.clone() }), Err(RejectReason::SchemaError));
        assert_eq!(check_gap(b"{\"metric\":", &reference).map_err(|r| r.reason), Err(RejectReason::ParseError));
    }
}
