//! When to try a request again, and how long to wait first: a pure function of the error, the
//! attempt and the time already spent waiting, so that the schedule is testable to the
//! millisecond and the caller does the sleeping (the shape of cargo's `util/network/retry.rs`).
//!
//! | answer                                   | what happens                                   |
//! |------------------------------------------|------------------------------------------------|
//! | 429 (Twilio's 20429: too many concurrent) | retried; `Retry-After` honoured up to 60 s      |
//! | 5xx, with any body (HTML from a proxy)    | retried; `Retry-After` honoured up to 60 s      |
//! | connect/reset/timeout, undecodable 2xx    | retried                                        |
//! | 401/403, 404, other 4xx                   | never retried: the caller decides (exit 3/2, skip) |
//!
//! Without `Retry-After` the wait is exponential from `base`, capped at `cap`, with "equal
//! jitter" (half fixed, half random) so that concurrent partitions do not retry in lockstep
//! and no wait collapses to zero. Two budgets bound a request: `max_attempts` in all, and
//! `max_total_wait` of sleeping; past either the request fails with exit 4.

use super::error::ApiError;
use std::time::Duration;

/// `Retry-After` values above this are cut down: a confused proxy must not park a nightly job
/// for an hour on one request. The total-wait budget still applies on top.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// First backoff step; doubles per attempt.
    pub base: Duration,
    /// Largest single backoff step.
    pub cap: Duration,
    /// Total sleeping allowed for one request across all its retries.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    /// Eight attempts spread over up to two minutes ride out a typical burst of 429s or a
    /// proxy restart without hiding a real outage from the morning's report for long.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(10),
            max_total_wait: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sleep this long, then try again.
    Retry(Duration),
    /// Stop: the error is final, or a budget is spent.
    GiveUp,
}

impl RetryPolicy {
    /// `attempts` is how many attempts were made so far (≥ 1), `waited` the sleeping already
    /// done for this request, `jitter` a number in `[0, 1)` from the caller's RNG.
    pub fn decide(&self, err: &ApiError, attempts: u32, waited: Duration, jitter: f64) -> Decision {
        if !err.is_transient() || attempts >= self.max_attempts {
            return Decision::GiveUp;
        }
        let delay = match err {
            ApiError::Status {
                retry_after: Some(after),
                ..
            } => (*after).min(MAX_RETRY_AFTER),
            _ => {
                let exp = self
                    .base
                    .saturating_mul(1u32 << (attempts - 1).min(20))
                    .min(self.cap);
                let half = exp / 2;
                half + half.mul_f64(jitter.clamp(0.0, 1.0))
            }
        };
        if waited + delay > self.max_total_wait {
            return Decision::GiveUp;
        }
        Decision::Retry(delay)
    }
}

/// Reads a `Retry-After` header: delta-seconds, or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> ApiError {
        ApiError::Status {
            status: code,
            code: None,
            message: None,
            retry_after: retry_after.map(Duration::from_secs),
            url: "/x".into(),
        }
    }

    #[test]
    fn backs_off_exponentially_with_equal_jitter_and_a_cap() {
        let p = RetryPolicy::default();
        let e = status(503, None);
        let ms = |attempts, jitter| match p.decide(&e, attempts, Duration::ZERO, jitter) {
            Decision::Retry(d) => d.as_millis(),
            Decision::GiveUp => panic!("gave up"),
        };
        assert_eq!(ms(1, 0.0), 125);
        assert_eq!(ms(1, 0.999_999), 249);
        assert_eq!(ms(2, 0.0), 250);
        assert_eq!(ms(3, 0.5), 750);
        assert_eq!(ms(7, 0.0), 5_000); // 16 s capped at 10 s, half of it fixed
    }

    #[test]
    fn honours_retry_after_but_caps_it() {
        let p = RetryPolicy::default();
        let d = p.decide(&status(429, Some(3)), 1, Duration::ZERO, 0.9);
        assert_eq!(d, Decision::Retry(Duration::from_secs(3)));
        let d = p.decide(&status(429, Some(3600)), 1, Duration::ZERO, 0.9);
        assert_eq!(d, Decision::Retry(MAX_RETRY_AFTER));
    }

    #[test]
    fn never_retries_what_a_retry_cannot_fix() {
        let p = RetryPolicy::default();
        for code in [400, 401, 403, 404, 409] {
            assert_eq!(
                p.decide(&status(code, None), 1, Duration::ZERO, 0.5),
                Decision::GiveUp
            );
        }
        let decode = ApiError::Decode {
            url: "/x".into(),
            reason: "eof".into(),
        };
        assert!(matches!(
            p.decide(&decode, 1, Duration::ZERO, 0.5),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn stops_when_either_budget_is_spent() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let e = status(500, None);
        assert!(matches!(
            p.decide(&e, 2, Duration::ZERO, 0.0),
            Decision::Retry(_)
        ));
        assert_eq!(p.decide(&e, 3, Duration::ZERO, 0.0), Decision::GiveUp);
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(&e, 1, Duration::from_secs(120), 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn reads_both_retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:00:05 +0000", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
