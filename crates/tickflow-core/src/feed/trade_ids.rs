use rustc_hash::FxHashMap;

/// Missed ranges remembered per symbol; older ones are given up (see [`TradeIds::take_given_up`]).
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

/// Trade ids `from..=to` of a symbol not seen, and the time range they lie in: between the event
/// times of the trades seen just before (`after_us`) and just after (`before_us`) them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingIds {
    pub from: u64,
    pub to: u64,
    pub after_us: i64,
    pub before_us: i64,
}

impl MissingIds {
    pub fn count(&self) -> u64 {
        self.to - self.from + 1
    }
}

#[derive(Debug, Default, Clone)]
struct Seen {
    last: u64,
    last_time_us: i64,
    /// Ids not seen yet, oldest first.
    missing: Vec<MissingIds>,
}

/// The last trade id seen per symbol, and the ids gaps left out until they are filled or given up.
#[derive(Debug, Default, Clone)]
pub struct TradeIds {
    seen: FxHashMap<String, Seen>,
    given_up: Vec<(String, MissingIds)>,
}

impl TradeIds {
    /// Checks trade `id` of `symbol`, made at `time_us`.
    pub fn check(&mut self, symbol: &str, id: u64, time_us: i64) -> IdCheck {
        let Some(seen) = self.seen.get_mut(symbol) else {
            self.seen.insert(symbol.to_owned(), Seen { last: id, last_time_us: time_us, missing: Vec::new() });
            return IdCheck::First;
        };
        if id > seen.last {
            let previous = std::mem::replace(&mut seen.last, id);
            let previous_time_us = std::mem::replace(&mut seen.last_time_us, time_us);
            if id == previous + 1 {
                return IdCheck::Next;
            }
            let gap = MissingIds { from: previous + 1, to: id - 1, after_us: previous_time_us, before_us: time_us };
            seen.missing.push(gap);
            if seen.missing.len() > MAX_MISSING_RANGES {
                self.given_up.push((symbol.to_owned(), seen.missing.remove(0)));
            }
            return IdCheck::Gap { from: gap.from, to: gap.to };
        }
        let Some(at) = seen.missing.iter().position(|m| m.from <= id && id <= m.to) else {
            return IdCheck::Repeated;
        };
        let range = seen.missing.remove(at);
        let before = MissingIds { to: id.wrapping_sub(1), before_us: time_us, ..range };
        let after = MissingIds { from: id + 1, after_us: time_us, ..range };
        let rest = [before, after].into_iter().filter(|m| m.from <= m.to && m.to != u64::MAX);
        seen.missing.splice(at..at, rest);
        IdCheck::Filled
    }

    /// Whether `check` would call trade `id` of `symbol` repeated, without checking it.
    pub fn is_repeated(&self, symbol: &str, id: u64) -> bool {
        self.seen.get(symbol).is_some_and(|s| id <= s.last && !s.missing.iter().any(|m| m.from <= id && id <= m.to))
    }

    pub fn last(&self, symbol: &str) -> Option<u64> {
        self.seen.get(symbol).map(|s| s.last)
    }

    /// The event time of the newest trade seen of `symbol`.
    pub fn last_time_us(&self, symbol: &str) -> Option<i64> {
        self.seen.get(symbol).map(|s| s.last_time_us)
    }

    /// How many ids of `symbol` are still missing.
    pub fn missing(&self, symbol: &str) -> u64 {
        self.seen.get(symbol).map_or(0, |s| s.missing.iter().map(MissingIds::count).sum())
    }

    /// Stops waiting for the ids of `symbol` in `from..=to` that are still missing and returns them.
    pub fn give_up(&mut self, symbol: &str, from: u64, to: u64) -> Vec<MissingIds> {
        let Some(seen) = self.seen.get_mut(symbol) else { return Vec::new() };
        let mut given_up = Vec::new();
        let mut kept = Vec::with_capacity(seen.missing.len());
        for range in seen.missing.drain(..) {
            if range.to < from || range.from > to {
                kept.push(range);
                continue;
            }
            let inside = MissingIds { from: range.from.max(from), to: range.to.min(to), ..range };
            if range.from < inside.from {
                kept.push(MissingIds { to: inside.from - 1, ..range });
            }
            given_up.push(inside);
            if inside.to < range.to {
                kept.push(MissingIds { from: inside.to + 1, ..range });
            }
        }
        seen.missing = kept;
        given_up
    }

    /// The ranges given up because too many gaps were open at once, since the last call.
    pub fn take_given_up(&mut self) -> Vec<(String, MissingIds)> {
        std::mem::take(&mut self.given_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_order_repeats_gaps_and_fills_are_told_apart_per_symbol() {
        let mut ids = TradeIds::default();
        assert_eq!(ids.check("BTCUSDT", 10, 100), IdCheck::First);
        assert_eq!(ids.check("BTCUSDT", 11, 110), IdCheck::Next);
        assert_eq!(ids.check("ETHUSDT", 3, 105), IdCheck::First);
        assert_eq!(ids.check("BTCUSDT", 11, 110), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 9, 90), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 15, 150), IdCheck::Gap { from: 12, to: 14 });
        assert_eq!(ids.missing("BTCUSDT"), 3);
        assert!(ids.is_repeated("BTCUSDT", 11) && ids.is_repeated("BTCUSDT", 15));
        assert!(!ids.is_repeated("BTCUSDT", 13) && !ids.is_repeated("BTCUSDT", 16) && !ids.is_repeated("X", 1));
        assert_eq!(ids.check("BTCUSDT", 13, 130), IdCheck::Filled);
        assert_eq!(ids.check("BTCUSDT", 13, 130), IdCheck::Repeated);
        assert_eq!(ids.check("BTCUSDT", 12, 120), IdCheck::Filled);
        assert_eq!(ids.check("BTCUSDT", 14, 140), IdCheck::Filled);
        assert_eq!(ids.missing("BTCUSDT"), 0);
        assert_eq!(ids.check("BTCUSDT", 14, 140), IdCheck::Repeated);
        assert_eq!(ids.last("BTCUSDT"), Some(15));
        assert_eq!(ids.last_time_us("BTCUSDT"), Some(150));
        assert_eq!(ids.last("ETHUSDT"), Some(3));
    }

    #[test]
    fn what_is_given_up_is_exactly_what_is_still_missing_with_the_times_around_it() {
        let mut ids = TradeIds::default();
        ids.check("X", 1, 1_000);
        assert_eq!(ids.check("X", 10, 10_000), IdCheck::Gap { from: 2, to: 9 });
        assert_eq!(ids.check("X", 5, 5_000), IdCheck::Filled);
        assert_eq!(ids.check("X", 20, 20_000), IdCheck::Gap { from: 11, to: 19 });
        // 2..=4 lie between trades 1 and 5, 6..=9 between 5 and 10; only 2..=7 are given up.
        let given_up = ids.give_up("X", 0, 7);
        assert_eq!(
            given_up,
            vec![
                MissingIds { from: 2, to: 4, after_us: 1_000, before_us: 5_000 },
                MissingIds { from: 6, to: 7, after_us: 5_000, before_us: 10_000 },
            ]
        );
        assert_eq!(ids.missing("X"), 2 + 9);
        assert_eq!(ids.check("X", 3, 3_000), IdCheck::Repeated, "given up means no longer expected");
        assert_eq!(ids.check("X", 8, 8_000), IdCheck::Filled);
        assert_eq!(ids.give_up("X", 0, u64::MAX).iter().map(MissingIds::count).sum::<u64>(), 1 + 9);
        assert_eq!(ids.missing("X"), 0);
        assert!(ids.give_up("unknown", 0, 10).is_empty());
    }

    #[test]
    fn only_so_many_gaps_are_remembered_and_the_oldest_is_given_up() {
        let mut ids = TradeIds::default();
        ids.check("X", 0, 0);
        for n in 1..=(MAX_MISSING_RANGES as u64 + 1) {
            ids.check("X", n * 2, n as i64 * 20);
        }
        assert_eq!(
            ids.take_given_up(),
            vec![("X".to_owned(), MissingIds { from: 1, to: 1, after_us: 0, before_us: 20 })]
        );
        assert!(ids.take_given_up().is_empty());
        assert_eq!(ids.check("X", 1, 10), IdCheck::Repeated);
        assert_eq!(ids.check("X", 3, 30), IdCheck::Filled);
    }
}
