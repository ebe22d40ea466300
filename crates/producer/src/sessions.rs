//! Whether each live venue is in a trading session, as `tickflow_venue_in_session{venue}`: the
//! "venue silent during its session" alert reads it beside the venue's frame counter, so a
//! stock feed that is quiet at night does not page anyone.

use prometheus_client::metrics::gauge::Gauge;
use tickflow_core::contract::{Session, Venue};
use tickflow_core::reference::{ReferenceData, SessionClock};
use tickflow_service::metrics::ServiceMetrics;

#[derive(Debug)]
pub struct VenueSessions {
    clock: SessionClock,
    /// Each venue's gauge and the calendars of the instruments it follows.
    venues: Vec<(Gauge, Vec<usize>)>,
}

impl VenueSessions {
    pub fn new(reference: &ReferenceData, followed: &[(Venue, Vec<String>)], metrics: &ServiceMetrics) -> Self {
        let venues = followed
            .iter()
            .map(|(venue, symbols)| {
                let mut calendars: Vec<usize> = symbols
                    .iter()
                    .filter_map(|symbol| reference.by_venue_symbol(*venue, symbol))
                    .map(|instrument| instrument.calendar)
                    .collect();
                calendars.sort_unstable();
                calendars.dedup();
                (ServiceMetrics::venue(&metrics.venue_in_session, venue.as_str()), calendars)
            })
            .collect();
        VenueSessions { clock: SessionClock::new(reference.calendars().to_vec()), venues }
    }

    /// Sets each venue's gauge for the instant `now_us`.
    pub fn update(&mut self, now_us: i64) {
        for (gauge, calendars) in &self.venues {
            let open = calendars.iter().any(|&c| self.clock.session(c, now_us) != Session::Closed);
            gauge.set(i64::from(open));
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;

    fn at(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).expect("a time").timestamp_micros()
    }

    #[test]
    fn a_stock_venue_is_in_session_on_weekdays_and_crypto_always() {
        let reference = ReferenceData::bundled().expect("the bundled reference data");
        let has_hours = |i: &&tickflow_core::reference::Instrument| reference.calendars()[i.calendar].hours.is_some();
        let stock = reference.instruments().iter().filter(has_hours).find_map(|i| {
            i.venue_symbols.iter().find(|(v, _)| *v == Venue::Finnhub).map(|(_, symbol)| symbol.to_string())
        });
        let symbol = stock.expect("a Finnhub instrument with trading hours");
        let metrics = ServiceMetrics::register(&mut Registry::default());
        let followed = [(Venue::Finnhub, vec![symbol]), (Venue::Binance, vec!["BTCUSDT".to_owned()])];
        let mut sessions = VenueSessions::new(&reference, &followed, &metrics);
        let gauge = |venue: &str| ServiceMetrics::venue(&metrics.venue_in_session, venue).get();
        sessions.update(at("2026-12-05T15:00:00Z")); // a Saturday
        assert_eq!((gauge("finnhub"), gauge("binance")), (0, 1));
        sessions.update(at("2026-12-02T15:00:00Z")); // a Wednesday, 10:00 in New York
        assert_eq!((gauge("finnhub"), gauge("binance")), (1, 1));
    }
}
