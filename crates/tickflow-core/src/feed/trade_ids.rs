use std::collections::HashMap;

/// What a trade's id says, given the ids seen before on the same symbol (ids increase by one per
/// trade and symbol, as Binance's do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdCheck {
    /// The first trade seen of the symbol.
    First,
    /// The next id: nothing missed.
    Next,
    /// Seen already (a duplicated frame, or the overlap after a reconnect): drop it.
    Repeated,
    /// Trades `from..=to` were missed; this trade comes after them.
    Gap { from: u64, to: u64 },
}

/// The last trade id seen per symbol.
#[derive(Debug, Default, Clone)]
pub struct TradeIds {
    last: HashMap<String, u64>,
}

impl TradeIds {
    pub fn check(&mut self, symbol: &str, id: u64) -> IdCheck {
        let Some(last) = self.last.get_mut(symbol) else {
            self.last.insert(symbol.to_owned(), id);
            return IdCheck::First;
        };
        if id <= *last {
            return IdCheck::Repeated;
        }
        let previous = std::mem::replace(last, id);
        if id == previous + 1 { IdCheck::Next } else { IdCheck::Gap { from: previous + 1, to: id - 1 } }
    }

    pub fn last(&self, symbol: &str) -> Option<u64> {
        self.last.get(symbol).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_order_repeats_and_gaps_are_told_apart_per_symbol() {
        let mut ids = TradeIds::default();
        assert_eq!(ids.check("BTCUSDT", 10), IdCheck::First);
        assert_eq!(ids.check("BTCUSDT", 11), IdCheck::Next);
        assert_eq!(ids.check("ETHUSDT", 3), IdCheck::First);
        assert_eq!(ids.check("BTCUSDT", 11), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 9), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 15), IdCheck::Gap { from: 12, to: 14 });
        assert_eq!(ids.check("BTCUSDT", 13), IdCheck::Repeated);
        assert_eq!(ids.last("BTCUSDT"), Some(15));
        assert_eq!(ids.last("ETHUSDT"), Some(3));
    }
}
