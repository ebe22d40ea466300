//! The trade contract (`schemas/trade.schema.json`): what the producer writes to `raw_trades`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::json::{JsonObject, key};
use crate::decimal::Decimal;

/// The venue a trade was reported by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    Finnhub,
    Binance,
    Coinbase,
}

impl Venue {
    pub const ALL: [Venue; 3] = [Venue::Finnhub, Venue::Binance, Venue::Coinbase];

    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Finnhub => "finnhub",
            Venue::Binance => "binance",
            Venue::Coinbase => "coinbase",
        }
    }
}

/// The aggressor (taker) side. `Unknown` where the venue does not say; never guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
    Unknown,
}

/// One trade as reported by a venue, normalized. Borrows from the bytes it was parsed from.
///
/// Times are microseconds since the Unix epoch, UTC. `event_time_us` is the venue's time of the
/// trade; `receive_time_us` is when tickflow received the frame. A missing exchange time is
/// never replaced by the receive time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trade<'a> {
    /// Deterministic identity: `venue:venue_symbol:trade_id`, or a content hash where the venue
    /// has no trade id (Finnhub). Two deliveries of one trade carry the same key.
    pub trade_key: Cow<'a, str>,
    pub venue: Venue,
    pub venue_symbol: Cow<'a, str>,
    pub instrument_id: Cow<'a, str>,
    pub trade_id: Option<Cow<'a, str>>,
    pub price: Decimal,
    pub size: Decimal,
    pub side: Side,
    pub conditions: Vec<Cow<'a, str>>,
    /// A price update from a venue that does not stream trades (Finnhub `v = 0`): not a trade,
    /// so it never counts towards volume or candles.
    pub price_only: bool,
    pub event_time_us: i64,
    pub receive_time_us: i64,
}

/// A watermark record on `raw_trades` (`schemas/watermark.schema.json`): how far a source (a
/// venue's feed, or with `venue = None` every source of the producer) is complete in event
/// time. `held = true` says the source cannot promise more (its connection is down, or it is
/// recovering what it missed): its instruments' windows close no further than `watermark_us`
/// until a record with `held = false` for the venue releases it. It travels in the input, so a
/// replay sees it at the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watermark {
    pub watermark_us: i64,
    pub venue: Option<Venue>,
    pub held: bool,
}

impl Watermark {
    /// Every source has reached `watermark_us`.
    pub fn all(watermark_us: i64) -> Self {
        Watermark { watermark_us, venue: None, held: false }
    }
}

/// Writes the trade contract's fields of `$trade` (a [`Trade`], or an enriched trade, which
/// carries them first under the same names) into the [`JsonObject`] `$object`, in order.
macro_rules! write_trade_fields {
    ($object:expr, $trade:expr) => {
        $object.str(key!("trade_key"), &$trade.trade_key);
        $object.name(key!("venue"), $trade.venue.as_str());
        $object.str(key!("venue_symbol"), &$trade.venue_symbol);
        $object.str(key!("instrument_id"), &$trade.instrument_id);
        $object.opt_str(key!("trade_id"), $trade.trade_id.as_deref());
        $object.decimal(key!("price"), $trade.price);
        $object.decimal(key!("size"), $trade.size);
        $object.name(key!("side"), $trade.side.as_str());
        $object.str_array(key!("conditions"), $trade.conditions.iter().map(|c| c.as_ref()));
        $object.bool(key!("price_only"), $trade.price_only);
        $object.i64(key!("event_time_us"), $trade.event_time_us);
        $object.i64(key!("receive_time_us"), $trade.receive_time_us);
    };
}
pub(crate) use write_trade_fields;

impl Side {
    pub const ALL: [Side; 3] = [Side::Buy, Side::Sell, Side::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
            Side::Unknown => "unknown",
        }
    }
}

/// Room reserved for a `raw_trades` record: a typical one is about 250 bytes.
const RECORD_LEN: usize = 320;

impl Trade<'_> {
    /// Appends the `raw_trades` record of this trade to `out`: the bytes `serde_json` makes of
    /// it, written directly.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut object = JsonObject::begin(out, RECORD_LEN);
        write_trade_fields!(object, self);
        object.end();
    }

    /// A copy that owns all its text, free of the input buffer's lifetime.
    pub fn into_owned(self) -> Trade<'static> {
        Trade {
            trade_key: Cow::Owned(self.trade_key.into_owned()),
            venue: self.venue,
            venue_symbol: Cow::Owned(self.venue_symbol.into_owned()),
            instrument_id: Cow::Owned(self.instrument_id.into_owned()),
            trade_id: self.trade_id.map(|id| Cow::Owned(id.into_owned())),
            price: self.price,
            size: self.size,
            side: self.side,
            conditions: self.conditions.into_iter().map(|c| Cow::Owned(c.into_owned())).collect(),
            price_only: self.price_only,
            event_time_us: self.event_time_us,
            receive_time_us: self.receive_time_us,
        }
    }
}
