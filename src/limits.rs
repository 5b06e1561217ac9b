//! The range of every numeric flag and configuration key, in one table that the command line
//! (at parse time) and the configuration file both check against, so that no value, however
//! extreme, reaches arithmetic that could overflow, panic or silently turn a feature off.
//!
//! The bounds are generous (a hundred years of retention, an hour per attempt): they exist to
//! refuse nonsense with a clear message, not to second-guess an operator.

/// One numeric setting: its flag, its inclusive range, and what the upper bound means.
#[derive(Debug)]
pub struct Limit {
    pub flag: &'static str,
    pub lo: u64,
    pub hi: u64,
    pub why: &'static str,
}

pub const RETAIN_DAYS: Limit = Limit {
    flag: "retain-days",
    lo: 1,
    hi: 36_500,
    why: "a hundred years",
};
pub const RPS: Limit = Limit {
    flag: "rps",
    lo: 1,
    hi: 100_000,
    why: "far above any Twilio account's limit",
};
pub const MAX_IN_FLIGHT: Limit = Limit {
    flag: "max-in-flight",
    lo: 1,
    hi: 1_000,
    why: "far above any Twilio account's concurrency",
};
pub const MAX_ATTEMPTS: Limit = Limit {
    flag: "max-attempts",
    lo: 1,
    hi: 100,
    why: "a hundred tries of one request",
};
pub const MAX_RETRY_WAIT: Limit = Limit {
    flag: "max-retry-wait",
    lo: 0,
    hi: 86_400,
    why: "a day of waiting for one request",
};
pub const RETRY_BASE_MS: Limit = Limit {
    flag: "retry-base-ms",
    lo: 1,
    hi: 600_000,
    why: "ten minutes",
};
pub const TIMEOUT: Limit = Limit {
    flag: "timeout",
    lo: 1,
    hi: 3_600,
    why: "an hour per attempt",
};
pub const PAGE_SIZE: Limit = Limit {
    flag: "page-size",
    lo: 1,
    hi: 1_000,
    why: "Twilio's maximum",
};
pub const MAX_BODY_MIB: Limit = Limit {
    flag: "max-body-mib",
    lo: 1,
    hi: 4_096,
    why: "4 GiB",
};
pub const LOOKUPS: Limit = Limit {
    flag: "max-notification-lookups / --max-sid-lookups",
    lo: 0,
    hi: 100_000_000,
    why: "a hundred million requests",
};
/// Durations (`--match-delay`, `--followup-max-age`, `--max-runtime`), in days.
pub const DURATION_DAYS: i64 = 3_650;

impl Limit {
    /// `n`, or a message naming the flag and the range.
    pub fn check(&self, n: u64) -> Result<u64, String> {
        if (self.lo..=self.hi).contains(&n) {
            Ok(n)
        } else {
            Err(self.message(&n.to_string()))
        }
    }

    /// Parses a whole number in range; anything else (negative, fractional, `1e9`, too big
    /// for 64 bits) gets the same message.
    pub fn parse(&self, text: &str) -> Result<u64, String> {
        text.trim()
            .parse::<u64>()
            .map_err(|_| self.message(text))
            .and_then(|n| self.check(n))
    }

    fn message(&self, given: &str) -> String {
        format!(
            "'{given}' is not a whole number from {} to {} (at most {}) for --{}",
            self.lo, self.hi, self.why, self.flag
        )
    }
}

/// The command line's parsers, one per flag type.
pub mod flag {
    use super::*;

    pub fn retain_days(text: &str) -> Result<u32, String> {
        RETAIN_DAYS.parse(text).map(|n| n as u32)
    }
    pub fn rps(text: &str) -> Result<u32, String> {
        RPS.parse(text).map(|n| n as u32)
    }
    pub fn max_in_flight(text: &str) -> Result<usize, String> {
        MAX_IN_FLIGHT.parse(text).map(|n| n as usize)
    }
    pub fn max_attempts(text: &str) -> Result<u32, String> {
        MAX_ATTEMPTS.parse(text).map(|n| n as u32)
    }
    pub fn max_retry_wait(text: &str) -> Result<u64, String> {
        MAX_RETRY_WAIT.parse(text)
    }
    pub fn retry_base_ms(text: &str) -> Result<u64, String> {
        RETRY_BASE_MS.parse(text)
    }
    pub fn timeout(text: &str) -> Result<u64, String> {
        TIMEOUT.parse(text)
    }
    pub fn page_size(text: &str) -> Result<u32, String> {
        PAGE_SIZE.parse(text).map(|n| n as u32)
    }
    pub fn max_body_mib(text: &str) -> Result<u64, String> {
        MAX_BODY_MIB.parse(text)
    }
    pub fn lookups(text: &str) -> Result<usize, String> {
        LOOKUPS.parse(text).map(|n| n as usize)
    }

    /// A percentage from 0 to 100; NaN and infinities are not percentages.
    pub fn percent(text: &str) -> Result<f64, String> {
        match text.trim().parse::<f64>() {
            Ok(p) if p.is_finite() && (0.0..=100.0).contains(&p) => Ok(p),
            _ => Err(format!("'{text}' is not a percentage from 0 to 100")),
        }
    }

    /// A duration as text (it is read again with the configuration's layers), checked now.
    pub fn duration(text: &str) -> Result<String, String> {
        crate::cli::parse_duration(text).map(|_| text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_what_would_overflow_or_mean_nothing() {
        assert_eq!(flag::retain_days("60"), Ok(60));
        for bad in [
            "0",
            "-1",
            "200000000",
            "1e9",
            "18446744073709551616",
            "",
            " x",
        ] {
            assert!(flag::retain_days(bad).is_err(), "{bad:?}");
        }
        assert!(flag::timeout("1e9").is_err() && flag::timeout("1000000000").is_err());
        assert_eq!(flag::percent("12.5"), Ok(12.5));
        for bad in ["NaN", "inf", "-0.1", "100.1", "1e400"] {
            assert!(flag::percent(bad).is_err(), "{bad:?}");
        }
        assert!(flag::duration("9999999999d").is_err());
        assert!(flag::duration("3650d").is_ok());
    }
}
