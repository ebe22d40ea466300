use std::sync::Arc;

use smol_str::SmolStr;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::calendar::{Calendar, CalendarRow};
use super::error::ReferenceError;
use crate::contract::{AssetClass, Venue};

/// Index of an instrument in its [`ReferenceData`]: dense, so per-instrument state is a `Vec`.
pub type InstrumentIx = u32;

#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    pub id: SmolStr,
    pub asset_class: AssetClass,
    pub exchange: SmolStr,
    pub base_asset: SmolStr,
    pub quote_currency: SmolStr,
    /// Index into [`ReferenceData::calendars`].
    pub calendar: usize,
    /// How each venue spells this instrument, where it is listed there.
    pub venue_symbols: Vec<(Venue, SmolStr)>,
}

/// The catalogue of instruments and calendars, indexed for lookups on the hot path. Read-only
/// once built, and shared: a clone (one per partition the stream-processor owns) is a reference
/// count, not a copy of the catalogue.
#[derive(Debug, Clone)]
pub struct ReferenceData(Arc<Catalogue>);

#[derive(Debug)]
struct Catalogue {
    instruments: Vec<Instrument>,
    calendars: Vec<Calendar>,
    by_id: FxHashMap<SmolStr, InstrumentIx>,
    /// One map per venue, indexed by `Venue as usize`.
    by_venue_symbol: [FxHashMap<SmolStr, InstrumentIx>; 3],
}

#[derive(Debug, Deserialize)]
struct InstrumentRow {
    instrument_id: String,
    asset_class: AssetClass,
    exchange: String,
    base_asset: String,
    quote_currency: String,
    calendar: String,
    finnhub_symbol: Option<String>,
    binance_symbol: Option<String>,
    coinbase_product: Option<String>,
}

const BUNDLED_INSTRUMENTS: &str = include_str!("../../../../schemas/reference/instruments.csv");
const BUNDLED_CALENDARS: &str = include_str!("../../../../schemas/reference/calendars.csv");

impl ReferenceData {
    /// The catalogue shipped in `schemas/reference/`.
    pub fn bundled() -> Result<Self, ReferenceError> {
        Self::from_csv(BUNDLED_INSTRUMENTS, BUNDLED_CALENDARS)
    }

    pub fn from_csv(instruments_csv: &str, calendars_csv: &str) -> Result<Self, ReferenceError> {
        let calendars = csv::Reader::from_reader(calendars_csv.as_bytes())
            .deserialize::<CalendarRow>()
            .map(|row| Calendar::try_from(row?))
            .collect::<Result<Vec<_>, _>>()?;
        let mut reader = csv::Reader::from_reader(instruments_csv.as_bytes());
        let mut instruments = Vec::new();
        for row in reader.deserialize::<InstrumentRow>() {
            let row = row?;
            let calendar = calendars.iter().position(|c| c.name == row.calendar).ok_or_else(|| {
                ReferenceError::UnknownCalendar {
                    instrument: row.instrument_id.clone(),
                    calendar: row.calendar.clone(),
                }
            })?;
            let venue_symbols = [
                (Venue::Finnhub, row.finnhub_symbol),
                (Venue::Binance, row.binance_symbol),
                (Venue::Coinbase, row.coinbase_product),
            ]
            .into_iter()
            .filter_map(|(venue, symbol)| symbol.filter(|s| !s.is_empty()).map(|s| (venue, SmolStr::from(s))))
            .collect();
            instruments.push(Instrument {
                id: row.instrument_id.into(),
                asset_class: row.asset_class,
                exchange: row.exchange.into(),
                base_asset: row.base_asset.into(),
                quote_currency: row.quote_currency.into(),
                calendar,
                venue_symbols,
            });
        }
        Self::new(instruments, calendars)
    }

    pub fn new(instruments: Vec<Instrument>, calendars: Vec<Calendar>) -> Result<Self, ReferenceError> {
        let mut by_id = FxHashMap::default();
        let mut by_venue_symbol: [FxHashMap<SmolStr, InstrumentIx>; 3] = Default::default();
        for (ix, instrument) in instruments.iter().enumerate() {
            let ix = InstrumentIx::try_from(ix).unwrap_or(InstrumentIx::MAX);
            if by_id.insert(instrument.id.clone(), ix).is_some() {
                return Err(ReferenceError::DuplicateInstrument(instrument.id.to_string()));
            }
            for (venue, symbol) in &instrument.venue_symbols {
                if by_venue_symbol[*venue as usize].insert(symbol.clone(), ix).is_some() {
                    return Err(ReferenceError::DuplicateVenueSymbol {
                        venue: venue.as_str(),
                        symbol: symbol.to_string(),
                    });
                }
            }
        }
        Ok(ReferenceData(Arc::new(Catalogue { instruments, calendars, by_id, by_venue_symbol })))
    }

    pub fn instruments(&self) -> &[Instrument] {
        &self.0.instruments
    }

    /// The instruments as the CSV [`ReferenceData::from_csv`] reads (with the calendars' CSV), for a
    /// catalogue built in code, such as [`crate::synthetic::synthetic_reference`], to be handed
    /// to the services through `TICKFLOW_REFERENCE_DIR`.
    pub fn instruments_csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let header = ["instrument_id", "asset_class", "exchange", "base_asset", "quote_currency", "calendar"];
        let venues = ["finnhub_symbol", "binance_symbol", "coinbase_product"];
        let _ = writer.write_record(header.iter().chain(&venues));
        for instrument in &self.0.instruments {
            let symbol = |venue: Venue| {
                instrument.venue_symbols.iter().find(|(v, _)| *v == venue).map_or("", |(_, s)| s.as_str())
            };
            let asset_class = match instrument.asset_class {
                AssetClass::Equity => "equity",
                AssetClass::Crypto => "crypto",
            };
            let _ = writer.write_record([
                instrument.id.as_str(),
                asset_class,
                &instrument.exchange,
                &instrument.base_asset,
                &instrument.quote_currency,
                &self.0.calendars[instrument.calendar].name,
                symbol(Venue::Finnhub),
                symbol(Venue::Binance),
                symbol(Venue::Coinbase),
            ]);
        }
        String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    pub fn calendars(&self) -> &[Calendar] {
        &self.0.calendars
    }

    pub fn lookup(&self, instrument_id: &str) -> Option<InstrumentIx> {
        self.0.by_id.get(instrument_id).copied()
    }

    pub fn instrument(&self, ix: InstrumentIx) -> &Instrument {
        &self.0.instruments[ix as usize]
    }

    /// The unified instrument for a venue's symbol, if the catalogue lists it.
    pub fn by_venue_symbol(&self, venue: Venue, symbol: &str) -> Option<&Instrument> {
        self.0.by_venue_symbol[venue as usize].get(symbol).map(|&ix| self.instrument(ix))
    }
}
