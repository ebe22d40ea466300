//! The enriched trade contract (`schemas/enriched_trade.schema.json`): what the
//! stream-processor writes to `enriched_trades`. Every trade field is carried unchanged.

use smol_str::SmolStr;
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::json::{JsonObject, key};
use super::trade::{Side, Trade, Venue, write_trade_fields};
use crate::decimal::{Decimal, Notional};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetClass {
    Equity,
    Crypto,
}

/// The trading session the trade happened in, from the instrument's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Session {
    /// Regular hours of an exchange-traded instrument.
    Regular,
    /// Pre-market or after-hours.
    Extended,
    /// Outside every session (weekends, overnight).
    Closed,
    /// Instruments that trade around the clock (crypto).
    Continuous,
}

/// A validated, deduplicated trade with reference data and derived values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedTrade<'a> {
    #[serde(borrow)]
    pub trade_key: Cow<'a, str>,
    pub venue: Venue,
    #[serde(borrow)]
    pub venue_symbol: Cow<'a, str>,
    #[serde(borrow)]
    pub instrument_id: Cow<'a, str>,
    #[serde(borrow)]
    pub trade_id: Option<Cow<'a, str>>,
    pub price: Decimal,
    pub size: Decimal,
    pub side: Side,
    pub conditions: Vec<Cow<'a, str>>,
    pub price_only: bool,
    pub event_time_us: i64,
    pub receive_time_us: i64,
    pub asset_class: AssetClass,
    pub exchange: SmolStr,
    pub quote_currency: SmolStr,
    pub session: Session,
    /// price × size, exact.
    pub trade_value: Notional,
    /// Price minus the previous accepted trade's price of the instrument; null for the first.
    pub price_change: Option<Decimal>,
    /// The same change in basis points of the previous price.
    pub price_change_bps: Option<f64>,
    /// Arrived after every window it belongs to was final: in the lake and the marts, not in
    /// the realtime candles already emitted.
    pub is_late: bool,
}

/// What enrichment adds to a trade.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    pub asset_class: AssetClass,
    pub exchange: SmolStr,
    pub quote_currency: SmolStr,
    pub session: Session,
    pub trade_value: Notional,
    pub price_change: Option<Decimal>,
    pub price_change_bps: Option<f64>,
    pub is_late: bool,
}

impl AssetClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Equity => "equity",
            AssetClass::Crypto => "crypto",
        }
    }
}

impl Session {
    pub fn as_str(self) -> &'static str {
        match self {
            Session::Regular => "regular",
            Session::Extended => "extended",
            Session::Closed => "closed",
            Session::Continuous => "continuous",
        }
    }
}

/// Room reserved for an `enriched_trades` record: a typical one is about 400 bytes.
const RECORD_LEN: usize = 512;

impl EnrichedTrade<'_> {
    /// Appends the `enriched_trades` record of this trade to `out`: the bytes `serde_json`
    /// makes of it, written directly.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut object = JsonObject::begin(out, RECORD_LEN);
        write_trade_fields!(object, self);
        object.name(key!("asset_class"), self.asset_class.as_str());
        object.str(key!("exchange"), &self.exchange);
        object.str(key!("quote_currency"), &self.quote_currency);
        object.name(key!("session"), self.session.as_str());
        object.wide(key!("trade_value"), self.trade_value);
        object.opt_decimal(key!("price_change"), self.price_change);
        object.opt_f64(key!("price_change_bps"), self.price_change_bps);
        object.bool(key!("is_late"), self.is_late);
        object.end();
    }
}

impl<'a> EnrichedTrade<'a> {
    pub fn new(trade: Trade<'a>, enrichment: Enrichment) -> Self {
        EnrichedTrade {
            trade_key: trade.trade_key,
            venue: trade.venue,
            venue_symbol: trade.venue_symbol,
            instrument_id: trade.instrument_id,
            trade_id: trade.trade_id,
            price: trade.price,
            size: trade.size,
            side: trade.side,
            conditions: trade.conditions,
            price_only: trade.price_only,
            event_time_us: trade.event_time_us,
            receive_time_us: trade.receive_time_us,
            asset_class: enrichment.asset_class,
            exchange: enrichment.exchange,
            quote_currency: enrichment.quote_currency,
            session: enrichment.session,
            trade_value: enrichment.trade_value,
            price_change: enrichment.price_change,
            price_change_bps: enrichment.price_change_bps,
            is_late: enrichment.is_late,
        }
    }
}
