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

/// How long a client waits before its next connection attempt: the backoff grows with each
/// session that failed to deliver anything and starts over after one that delivered frames, so
/// the first retry after a healthy connection drops comes within the base delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retries {
    failed: u32,
}

impl Retries {
    /// The wait after a session ended; `healthy`: it delivered frames after its handshake.
    pub fn after_session(&mut self, healthy: bool, backoff: &Backoff, unit: f64) -> Duration {
        if healthy {
            self.failed = 0;
        }
        let wait = backoff.delay(self.failed, unit);
        self.failed = self.failed.saturating_add(1);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_connection_starts_the_backoff_over() {
        let backoff = Backoff { base: Duration::from_millis(250), cap: Duration::from_secs(30) };
        let mut retries = Retries::default();
        let failing: Vec<_> = (0..6).map(|_| retries.after_session(false, &backoff, 1.0)).collect();
        assert_eq!(failing.last(), Some(&Duration::from_secs(8)), "failed attempts back off: {failing:?}");
        assert_eq!(retries.after_session(true, &backoff, 1.0), Duration::from_millis(250), "at most the base");
        assert_eq!(retries.after_session(false, &backoff, 1.0), Duration::from_millis(500));
        assert_eq!(retries.after_session(true, &backoff, 0.3), Duration::from_millis(75), "jittered");
    }

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
