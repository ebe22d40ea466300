use std::time::Duration;

/// Capped exponential backoff with full jitter: before attempt `n` (0-based) wait a uniformly
/// random time in `[0, min(cap, base * 2^n)]`, so clients that lost the same venue do not come
/// back at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The wait before attempt `attempt`, for a random draw `unit` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.base.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX)).min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_the_draw_scales_it() {
        let backoff = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(5) };
        assert_eq!(backoff.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(backoff.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(backoff.delay(10, 1.0), Duration::from_secs(5));
        assert_eq!(backoff.delay(200, 0.5), Duration::from_millis(2500));
        assert_eq!(backoff.delay(3, 0.0), Duration::ZERO);
    }
}
