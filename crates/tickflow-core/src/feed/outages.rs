use rustc_hash::FxHashMap;

/// The time ranges a feed without trade ids (Finnhub) may have lost trades in, per symbol.
///
/// A reconnect opens a gap for every symbol, from the event time of the symbol's latest delivered
/// trade (or the first subscription, if it never traded). The gap closes at the symbol's first
/// trade after the reconnect: a venue sends a symbol's trades in time order, so anything missed
/// lies between the two. Event times have the venue's granularity, so the range ends at the end
/// of that trade's time unit. A gap still open when the client stops ends at the stop.
#[derive(Debug, Clone)]
pub struct Outages {
    granularity_us: i64,
    first_subscribed_us: Option<i64>,
    latest_us: FxHashMap<String, i64>,
    open: FxHashMap<String, i64>,
}

impl Outages {
    /// For a venue whose event times come in units of `granularity_us` (1 000 for milliseconds).
    pub fn new(granularity_us: i64) -> Self {
        Outages {
            granularity_us: granularity_us.max(1),
            first_subscribed_us: None,
            latest_us: FxHashMap::default(),
            open: FxHashMap::default(),
        }
    }

    /// The symbols were (re)subscribed at `now_us`; after the first time, each may have missed trades.
    pub fn subscribed(&mut self, symbols: &[String], now_us: i64) {
        if self.first_subscribed_us.is_none() {
            self.first_subscribed_us = Some(now_us);
            return;
        }
        self.disconnected(symbols);
    }

    /// A previous run of the client delivered each symbol's trades up to `latest` (symbol, event
    /// time) and anything at all until `since_us`: the first subscription is then a reconnect.
    pub fn resumed(&mut self, latest: impl IntoIterator<Item = (String, i64)>, since_us: i64) {
        self.first_subscribed_us = Some(since_us);
        for (symbol, time_us) in latest {
            let known = self.latest_us.entry(symbol).or_insert(time_us);
            *known = (*known).max(time_us);
        }
    }

    /// The connection ended: after a first subscription, every symbol may miss trades from its
    /// latest delivered one on, until its next trade (or the stop) closes the gap.
    pub fn disconnected(&mut self, symbols: &[String]) {
        let Some(first) = self.first_subscribed_us else { return };
        for symbol in symbols {
            if !self.open.contains_key(symbol) {
                let from = self.latest_us.get(symbol).copied().unwrap_or(first);
                self.open.insert(symbol.clone(), from);
            }
        }
    }

    /// A delivered trade; returns the gap `(from_us, to_us)` it closes, if one was open.
    pub fn trade(&mut self, symbol: &str, time_us: i64) -> Option<(i64, i64)> {
        match self.latest_us.get_mut(symbol) {
            Some(latest) => *latest = (*latest).max(time_us),
            None => {
                self.latest_us.insert(symbol.to_owned(), time_us);
            }
        }
        if self.open.is_empty() {
            return None;
        }
        let from = self.open.remove(symbol)?;
        Some((from, (time_us + self.granularity_us - 1).max(from)))
    }

    /// Closes every open gap at `now_us` (the client stops), symbols in name order.
    pub fn close_all(&mut self, now_us: i64) -> Vec<(String, i64, i64)> {
        let mut closed: Vec<_> = self.open.drain().map(|(symbol, from)| (symbol, from, now_us.max(from))).collect();
        closed.sort();
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_opens_a_gap_per_symbol_that_its_next_trade_closes() {
        let symbols = vec!["AAPL".to_owned(), "MSFT".to_owned()];
        let mut outages = Outages::new(1_000);
        outages.subscribed(&symbols, 1_000_000);
        assert_eq!(outages.trade("AAPL", 1_500_000), None, "nothing is open before a reconnect");
        outages.subscribed(&symbols, 3_000_000);
        assert_eq!(outages.trade("AAPL", 3_200_000), Some((1_500_000, 3_200_999)));
        assert_eq!(outages.trade("AAPL", 3_300_000), None);
        // MSFT never traded: its gap starts at the first subscription and stays open over another
        // reconnect, as one gap.
        outages.subscribed(&symbols, 4_000_000);
        assert_eq!(outages.trade("MSFT", 4_100_000), Some((1_000_000, 4_100_999)));
        assert_eq!(outages.close_all(5_000_000), vec![("AAPL".to_owned(), 3_300_000, 5_000_000)]);
        assert!(outages.close_all(6_000_000).is_empty());
    }

    #[test]
    fn a_resumed_client_reports_from_the_previous_runs_last_trades() {
        let symbols = vec!["AAPL".to_owned(), "MSFT".to_owned()];
        let mut outages = Outages::new(1_000);
        outages.resumed([("AAPL".to_owned(), 1_500_000)], 2_000_000);
        outages.subscribed(&symbols, 9_000_000); // the restarted client's first connection
        assert_eq!(outages.trade("AAPL", 9_100_000), Some((1_500_000, 9_100_999)));
        assert_eq!(outages.trade("MSFT", 9_200_000), Some((2_000_000, 9_200_999)), "no last trade: from the stop");
    }
}
