//! Deduplication by trade identity with bounded state.
//!
//! A trade older than its instrument's watermark minus the allowed lateness is rejected as
//! late before it gets here, so dedup only has to remember the identities of trades inside
//! that horizon. Each instrument keeps two generations of identities: the current one takes
//! new identities; when the watermark has moved a full horizon past the start of the current
//! generation, the previous generation is dropped whole and the current one becomes the
//! previous. Everything dropped is older than the horizon, so memory follows the trade rate
//! times the lateness, not the number of trades ever seen, and no identity is ever removed
//! one by one.

use rustc_hash::FxHashSet;
use xxhash_rust::xxh3::xxh3_128;

use crate::contract::Trade;

/// The 128-bit identity of a trade: a hash of venue and trade key. The chance of two distinct
/// trades colliding among the few thousand remembered per instrument is below 1e-30.
pub fn trade_identity(trade: &Trade<'_>) -> u128 {
    xxh3_128(trade.trade_key.as_bytes()) ^ u128::from(trade.venue as u8)
}

/// The identities seen for one instrument within the lateness horizon.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct RecentIdentities {
    current: FxHashSet<u128>,
    previous: FxHashSet<u128>,
    /// The watermark when the current generation started.
    current_since_us: Option<i64>,
}

impl RecentIdentities {
    /// Records an identity; `false` if it was already there (a duplicate).
    pub fn insert(&mut self, identity: u128) -> bool {
        !self.previous.contains(&identity) && self.current.insert(identity)
    }

    /// Called as the watermark advances: once it is `horizon_us` past the start of the
    /// current generation, every identity of the previous generation belongs to a trade older
    /// than `watermark - horizon` (it was accepted before the current generation began, when
    /// the watermark was lower), so it can be dropped.
    pub fn advance(&mut self, watermark_us: i64, horizon_us: i64) {
        let since = *self.current_since_us.get_or_insert(watermark_us);
        if watermark_us.saturating_sub(since) > horizon_us {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
            // Sized for what the last generation needed, not for the busiest one ever: after a
            // burst an instrument's memory follows its trade rate back down.
            self.current.shrink_to(self.previous.len());
            self.current_since_us = Some(watermark_us);
        }
    }

    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_horizon_and_forgets_after() {
        let mut recent = RecentIdentities::default();
        recent.advance(100, 50);
        assert!(recent.insert(1));
        recent.advance(140, 50);
        assert!(recent.insert(2));
        assert!(!recent.insert(1), "second delivery within the horizon is a duplicate");
        recent.advance(160, 50); // a new generation: 1 and 2 move to the previous one
        assert!(!recent.insert(1) && !recent.insert(2), "still remembered one generation on");
        assert!(recent.insert(3));
        recent.advance(220, 50); // 1 and 2 are now older than 220 - 50 and are dropped
        assert_eq!(recent.len(), 1);
        assert!(recent.insert(1), "forgotten once past the horizon");
    }

    #[test]
    fn state_stays_bounded_on_an_endless_stream() {
        let mut recent = RecentIdentities::default();
        for i in 0..100_000u128 {
            recent.advance(i as i64, 1_000);
            assert!(recent.insert(i));
        }
        assert!(recent.len() <= 2_002, "kept {}", recent.len());
    }

    #[test]
    fn memory_follows_the_rate_back_down_after_a_burst() {
        let mut recent = RecentIdentities::default();
        recent.advance(0, 50);
        for i in 0..10_000u128 {
            assert!(recent.insert(i));
        }
        let burst = recent.current.capacity();
        for (generation, watermark) in [100i64, 200, 300].into_iter().enumerate() {
            recent.advance(watermark, 50);
            for i in 0..10u128 {
                assert!(recent.insert(1_000_000 * (generation as u128 + 1) + i));
            }
        }
        let quiet = recent.current.capacity() + recent.previous.capacity();
        assert!(burst >= 10_000 && quiet < 100, "capacity {burst} during the burst, {quiet} after it");
    }
}
