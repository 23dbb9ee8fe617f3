//! When to try again: exponential backoff with full jitter, never sooner than
//! the peer asked for (`Retry-After`), never later than the cap.

use std::time::Duration;

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
