//! How a client retries a venue's REST call: rate limits (HTTP 429, and 418 for an IP banned
//! for a while) wait as long as the venue's `Retry-After` says, server errors and unreachable
//! hosts back off exponentially, refusals (401, 403) and other client errors are final, and
//! all the waiting of one call stays within a budget, after which the caller gives up (and
//! reports what it could not fetch).

use std::time::Duration;

use super::Backoff;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestStep {
    Retry(Duration),
    GiveUp,
}

/// The retries of one REST call.
#[derive(Debug, Clone)]
pub struct RestRetries {
    budget: Duration,
    waited: Duration,
    attempt: u32,
    backoff: Backoff,
}

/// At most this many retries of one call, however short the waits.
const MAX_ATTEMPTS: u32 = 10;

/// A rate-limit answer without `Retry-After` waits this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

impl RestRetries {
    /// Retries that wait at most `budget` in all.
    pub fn new(budget: Duration) -> Self {
        let backoff = Backoff { base: Duration::from_millis(250), cap: Duration::from_secs(4) };
        RestRetries { budget, waited: Duration::ZERO, attempt: 0, backoff }
    }

    /// After an answer with HTTP `status` (`None`: no answer, the host was unreachable or timed
    /// out) and its `Retry-After` seconds; `unit` in `[0, 1)` jitters the backoff.
    pub fn after(&mut self, status: Option<u16>, retry_after_s: Option<u64>, unit: f64) -> RestStep {
        let wait = match status {
            Some(429 | 418) => retry_after_s.map_or(DEFAULT_RETRY_AFTER, Duration::from_secs),
            None | Some(500..=599) => self.backoff.delay(self.attempt, unit),
            Some(_) => return RestStep::GiveUp,
        };
        if self.attempt >= MAX_ATTEMPTS || self.budget.is_zero() || self.waited + wait > self.budget {
            return RestStep::GiveUp;
        }
        self.waited += wait;
        self.attempt = self.attempt.saturating_add(1);
        RestStep::Retry(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_wait_as_told_within_the_budget_and_refusals_are_final() {
        let mut retries = RestRetries::new(Duration::from_secs(10));
        assert_eq!(retries.after(Some(429), Some(2), 0.5), RestStep::Retry(Duration::from_secs(2)));
        assert_eq!(retries.after(Some(418), Some(3), 0.5), RestStep::Retry(Duration::from_secs(3)));
        assert_eq!(retries.after(Some(429), None, 0.5), RestStep::Retry(Duration::from_secs(1)));
        assert_eq!(
            retries.after(Some(503), None, 1.0),
            RestStep::Retry(Duration::from_secs(2)),
            "backoff 250 ms * 2^3"
        );
        assert_eq!(retries.after(Some(429), Some(5), 0.5), RestStep::GiveUp, "8 s waited; 5 more is over the budget");
        let mut refused = RestRetries::new(Duration::from_secs(10));
        for status in [401, 403, 400, 404] {
            assert_eq!(refused.after(Some(status), Some(1), 0.5), RestStep::GiveUp, "{status}");
        }
        let mut none = RestRetries::new(Duration::ZERO);
        assert_eq!(none.after(None, None, 0.5), RestStep::GiveUp, "no budget: no retry");
        assert_eq!(none.after(Some(503), None, 0.0), RestStep::GiveUp, "not even a zero wait");
        let mut short = RestRetries::new(Duration::from_secs(60));
        let steps: Vec<_> = (0..12).map(|_| short.after(Some(503), None, 0.0)).collect();
        assert_eq!(steps.iter().filter(|s| **s != RestStep::GiveUp).count(), 10, "at most 10 retries");
    }
}
