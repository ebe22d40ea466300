//! Deduplication by trade identity with bounded state.
//!
//! A trade older than its instrument's watermark minus the allowed lateness is rejected as
//! late before it gets here, so dedup only has to remember the identities of trades inside
//! that horizon. Each instrument keeps those identities in arrival order and forgets them as
//! the watermark moves on: memory follows the trade rate times the lateness, not the number
//! of trades ever seen.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;
use xxhash_rust::xxh3::xxh3_128;

use crate::contract::Trade;

/// The 128-bit identity of a trade: a hash of venue and trade key. The chance of two distinct
/// trades colliding among the few thousand remembered per instrument is below 1e-30.
pub fn trade_identity(trade: &Trade<'_>) -> u128 {
    xxh3_128(trade.trade_key.as_bytes()) ^ u128::from(trade.venue as u8)
}

/// The identities seen for one instrument within the lateness horizon.
#[derive(Debug, Default, Clone)]
pub struct RecentIdentities {
    seen: FxHashSet<u128>,
    by_arrival: VecDeque<(i64, u128)>,
}

impl RecentIdentities {
    /// Records an identity; `false` if it was already there (a duplicate).
    pub fn insert(&mut self, identity: u128, event_time_us: i64) -> bool {
        if !self.seen.insert(identity) {
            return false;
        }
        self.by_arrival.push_back((event_time_us, identity));
        true
    }

    /// Forgets identities of trades older than `horizon_us`, oldest arrivals first. A trade that
    /// arrived out of order stays until the trades before it have gone: a little longer than
    /// needed, never shorter.
    pub fn forget_before(&mut self, horizon_us: i64) {
        while let Some(&(event_time_us, identity)) = self.by_arrival.front() {
            if event_time_us >= horizon_us {
                break;
            }
            self.seen.remove(&identity);
            self.by_arrival.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.by_arrival.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_arrival.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_horizon_and_forgets_after() {
        let mut recent = RecentIdentities::default();
        assert!(recent.insert(1, 100));
        assert!(recent.insert(2, 200));
        assert!(!recent.insert(1, 100), "second delivery is a duplicate");
        recent.forget_before(150);
        assert_eq!(recent.len(), 1);
        assert!(recent.insert(1, 100), "forgotten once past the horizon");
        assert!(!recent.insert(2, 200));
    }

    #[test]
    fn state_stays_bounded_on_an_endless_stream() {
        let mut recent = RecentIdentities::default();
        for i in 0..100_000u128 {
            let time = i as i64;
            assert!(recent.insert(i, time));
            recent.forget_before(time - 1_000);
        }
        assert!(recent.len() <= 1_001, "kept {}", recent.len());
    }
}
