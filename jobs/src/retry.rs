//! When to try again: exponential backoff with full jitter, never sooner than
//! the peer asked for (`Retry-After`), never later than the cap; and whether
//! a failed attempt is tried again at all ([`RetryPolicy::after_failure`]),
//! which the engine asks for every failure it records.

use std::time::Duration;

use crate::connectors::ErrorClass;

/// What becomes of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after this long.
    RetryIn(Duration),
    /// Give up: the record goes to the dead letters with its reason.
    GiveUp,
}

/// A pair's retry rules: the backoff, and how many attempts a record gets.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// After attempt number `attempts` (1-based) failed with `class`: a
    /// transient failure is retried until `max_attempts` are spent, a
    /// permanent one never; a deferred call spent no attempt and comes back
    /// when the limiter said. `roll` in [0, 1) picks the jitter.
    pub fn after_failure(&self, class: ErrorClass, attempts: u32, roll: f64) -> Verdict {
        match class {
            ErrorClass::Transient { retry_after } if attempts < self.max_attempts => {
                Verdict::RetryIn(self.backoff.delay(attempts, retry_after, roll))
            }
            ErrorClass::Deferred { wait } => Verdict::RetryIn(wait),
            ErrorClass::Transient { .. } | ErrorClass::Permanent => Verdict::GiveUp,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The delay before attempt `attempt + 1`, after `attempt` failed (1-based).
    /// `roll` in [0, 1) picks the jittered point; pass `rand::random()`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, roll: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
        let ceiling = exp.min(self.cap);
        // "Equal jitter": half fixed, half random, so retries spread out but a
        // delay never collapses to zero.
        let half = ceiling / 2;
        let jittered = half + half.mul_f64(roll.clamp(0.0, 1.0));
        match retry_after {
            Some(hint) => jittered.max(hint.min(self.cap)),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
    };

    #[test]
    fn transient_failures_are_retried_until_the_attempts_are_spent_permanent_never() {
        let p = RetryPolicy {
            backoff: B,
            max_attempts: 3,
        };
        let transient = ErrorClass::Transient { retry_after: None };
        assert_eq!(
            p.after_failure(transient, 1, 1.0),
            Verdict::RetryIn(Duration::from_secs(1))
        );
        assert_eq!(
            p.after_failure(transient, 2, 1.0),
            Verdict::RetryIn(Duration::from_secs(2))
        );
        assert_eq!(p.after_failure(transient, 3, 1.0), Verdict::GiveUp);
        assert_eq!(
            p.after_failure(ErrorClass::Permanent, 1, 1.0),
            Verdict::GiveUp
        );
        let hinted = ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            p.after_failure(hinted, 1, 0.0),
            Verdict::RetryIn(Duration::from_secs(30))
        );
        let deferred = ErrorClass::Deferred {
            wait: Duration::from_millis(250),
        };
        assert_eq!(
            p.after_failure(deferred, 3, 0.0),
            Verdict::RetryIn(Duration::from_millis(250)),
            "a deferred call spent no attempt"
        );
    }

    #[test]
    fn delays_double_until_the_cap() {
        assert_eq!(B.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(B.delay(2, None, 1.0), Duration::from_secs(2));
        assert_eq!(B.delay(4, None, 1.0), Duration::from_secs(8));
        assert_eq!(B.delay(30, None, 1.0), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        for roll in [0.0, 0.3, 0.99] {
            let d = B.delay(3, None, roll);
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_secs(4),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        assert_eq!(
            B.delay(1, Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        assert_eq!(
            B.delay(1, Some(Duration::from_secs(7200)), 0.0),
            Duration::from_secs(60)
        );
    }
}
