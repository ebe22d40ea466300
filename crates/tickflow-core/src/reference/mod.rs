//! Instrument reference data: what an instrument is, where it trades, how each venue spells it,
//! and its trading calendar. The bundled catalogue is `schemas/reference/*.csv`; a deployment
//! may load its own files with [`ReferenceData::from_csv`].

mod calendar;
mod error;
mod instruments;

pub use calendar::{Calendar, CalendarHours, SessionClock};
pub use error::ReferenceError;
pub use instruments::{Instrument, InstrumentIx, ReferenceData};
