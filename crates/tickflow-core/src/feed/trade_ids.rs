use std::collections::HashMap;

/// Missed ranges remembered per symbol; older ones are given up (reported by `check`).
const MAX_MISSING_RANGES: usize = 64;

/// What a trade's id says, given the ids seen before on the same symbol (ids increase by one per
/// trade and symbol, as Binance's and Coinbase's do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdCheck {
    /// The first trade seen of the symbol.
    First,
    /// The next id: nothing missed.
    Next,
    /// Seen already (a duplicated frame, or the overlap after a reconnect): drop it.
    Repeated,
    /// One of the trades an earlier gap missed, recovered now (a backfill, a snapshot): keep it.
    Filled,
    /// Trades `from..=to` were missed; this trade comes after them.
    Gap { from: u64, to: u64 },
}

#[derive(Debug, Default, Clone)]
struct Seen {
    last: u64,
    /// Inclusive ranges of ids not seen yet, oldest first.
    missing: Vec<(u64, u64)>,
}

/// The last trade id seen per symbol, and the ids gaps left out until they are filled.
#[derive(Debug, Default, Clone)]
pub struct TradeIds {
    seen: HashMap<String, Seen>,
    given_up: u64,
}

impl TradeIds {
    pub fn check(&mut self, symbol: &str, id: u64) -> IdCheck {
        let Some(seen) = self.seen.get_mut(symbol) else {
            self.seen.insert(symbol.to_owned(), Seen { last: id, missing: Vec::new() });
            return IdCheck::First;
        };
        if id > seen.last {
            let previous = std::mem::replace(&mut seen.last, id);
            if id == previous + 1 {
                return IdCheck::Next;
            }
            seen.missing.push((previous + 1, id - 1));
            if seen.missing.len() > MAX_MISSING_RANGES {
                let (from, to) = seen.missing.remove(0);
                self.given_up += to - from + 1;
            }
            return IdCheck::Gap { from: previous + 1, to: id - 1 };
        }
        let Some(at) = seen.missing.iter().position(|&(from, to)| from <= id && id <= to) else {
            return IdCheck::Repeated;
        };
        let (from, to) = seen.missing.remove(at);
        let rest: Vec<(u64, u64)> =
            [(from, id.wrapping_sub(1)), (id + 1, to)].into_iter().filter(|&(a, b)| a <= b && b != u64::MAX).collect();
        seen.missing.splice(at..at, rest);
        IdCheck::Filled
    }

    pub fn last(&self, symbol: &str) -> Option<u64> {
        self.seen.get(symbol).map(|s| s.last)
    }

    /// How many ids of `symbol` are still missing.
    pub fn missing(&self, symbol: &str) -> u64 {
        self.seen.get(symbol).map_or(0, |s| s.missing.iter().map(|(from, to)| to - from + 1).sum())
    }

    /// How many missing ids were given up because too many gaps were open at once.
    pub fn given_up(&self) -> u64 {
        self.given_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_order_repeats_gaps_and_fills_are_told_apart_per_symbol() {
        let mut ids = TradeIds::default();
        assert_eq!(ids.check("BTCUSDT", 10), IdCheck::First);
        assert_eq!(ids.check("BTCUSDT", 11), IdCheck::Next);
        assert_eq!(ids.check("ETHUSDT", 3), IdCheck::First);
        assert_eq!(ids.check("BTCUSDT", 11), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 9), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 15), IdCheck::Gap { from: 12, to: 14 });
        assert_eq!(ids.missing("BTCUSDT"), 3);
        assert_eq!(ids.check("BTCUSDT", 13), IdCheck::Filled);
        assert_eq!(ids.check("BTCUSDT", 13), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 12), IdCheck::Filled);
        assert_eq!(ids.check("BTCUSDT", 14), IdCheck::Filled);
        assert_eq!(ids.missing("BTCUSDT"), 0);
        assert_eq!(ids.check("BTCUSDT", 14), IdCheck::Repeated);
        assert_eq!(ids.last("BTCUSDT"), Some(15));
        assert_eq!(ids.last("ETHUSDT"), Some(3));
    }

    #[test]
    fn only_so_many_gaps_are_remembered() {
        let mut ids = TradeIds::default();
        ids.check("X", 0);
        for n in 1..=(MAX_MISSING_RANGES as u64 + 1) {
            ids.check("X", n * 2);
        }
        assert_eq!(ids.given_up(), 1);
        assert_eq!(ids.check("X", 1), IdCheck::Repeated);
        assert_eq!(ids.check("X", 3), IdCheck::Filled);
    }
}
