//! What is wrong with reference data.

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference data is not valid CSV: {0}")]
    Csv(csv::Error),
    #[error("instrument {instrument}: unknown calendar {calendar}")]
    UnknownCalendar { instrument: String, calendar: String },
    #[error("calendar {calendar}: {problem}")]
    BadCalendar { calendar: String, problem: String },
    #[error("instrument {0} is listed twice")]
    DuplicateInstrument(String),
    #[error("{venue} symbol {symbol} maps to two instruments")]
    DuplicateVenueSymbol { venue: &'static str, symbol: String },
}

// The cause is part of the message, not a `source`, so a chain of causes prints it once.
impl From<csv::Error> for ReferenceError {
    fn from(cause: csv::Error) -> Self {
        ReferenceError::Csv(cause)
    }
}
