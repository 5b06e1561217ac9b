//! The share fault knobs (`--rate-429`, `--rate-5xx`, `--rate-reset`, `--rate-truncated`,
//! `--rate-slow`, `--rate-html`, the `--chaos` soak preset) and the per-request decision of
//! which fault, if any, a request meets.
//!
//! A soak run must be repeatable ("never lose a night" is only testable if a failing night can
//! be replayed), so a share is never drawn from a thread RNG: request number n meets a fault
//! when a hash of (`--fault-seed`, n) falls in that fault's slice of [0, 100 %). The slices are
//! laid end to end in a fixed order, so a request meets one fault at most and each knob gets
//! exactly its share. The HTTP side of each fault is in `inject`.

use super::{Burst, Faults};
use crate::error::UsageError;
use anyhow::Result;
use std::time::Duration;

/// Shares are compared in parts per million: 0.5 % is exact, and no float reaches the hash.
const PPM: u64 = 1_000_000;

/// What one request meets, in the order the knobs are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Answered in place of the API, before credentials are checked.
    Refuse(Refusal),
    /// The API answers, `Faults::slow` late.
    Slow,
    /// The API's answer is sent with its full `Content-Length`, then the connection is cut
    /// halfway through the body.
    Reset,
    /// The API's answer is cut in half, with a `Content-Length` that matches the cut: the
    /// transport succeeds and the JSON does not decode.
    Truncated,
}

/// Answers that stand in for the API's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// 429 / 20429, with `Retry-After: SECS` or without one.
    TooMany { retry_after: Option<u64> },
    /// `--burst-503`: a proxy's 503 HTML page, as before the share knobs existed.
    ProxyUnavailable,
    /// The next of 500 (Twilio JSON), 502 and 503 (proxy HTML), in turn.
    ServerError,
    /// A 200 with a captive proxy's HTML page.
    Html,
}

impl Faults {
    /// The soak preset (`--chaos`): rough rates of what a night against the real API and the
    /// networks in between can bring, all at once.
    pub fn chaos() -> Faults {
        Faults {
            rate_429: 20.0,
            retry_after_share: 50.0,
            rate_5xx: 5.0,
            rate_reset: 1.0,
            rate_truncated: 1.0,
            rate_html: 1.0,
            rate_slow: 0.5,
            slow: Duration::from_millis(5000),
            ..Faults::default()
        }
    }

    /// The fault the n-th API request (1-based) meets: the bursts first (503, 429, then
    /// 5xx), then the shares in the order 429, 5xx, reset, truncated, slow, HTML.
    pub(super) fn fault(&self, n: u64) -> Option<Fault> {
        match self.burst_status(n) {
            Some(503) => return Some(Fault::Refuse(Refusal::ProxyUnavailable)),
            Some(_) => {
                let retry_after = self.retry_after;
                return Some(Fault::Refuse(Refusal::TooMany { retry_after }));
            }
            None => {}
        }
        if self.burst_5xx.is_some_and(|b| b.hits(n, 0)) {
            return Some(Fault::Refuse(Refusal::ServerError));
        }
        let draw = hash(self.fault_seed, n, 0) % PPM;
        let slices = [
            (
                self.rate_429,
                Fault::Refuse(Refusal::TooMany { retry_after: None }),
            ),
            (self.rate_5xx, Fault::Refuse(Refusal::ServerError)),
            (self.rate_reset, Fault::Reset),
            (self.rate_truncated, Fault::Truncated),
            (self.rate_slow, Fault::Slow),
            (self.rate_html, Fault::Refuse(Refusal::Html)),
        ];
        let mut end = 0;
        for (share, fault) in slices {
            end += ppm(share);
            if draw < end {
                return Some(match fault {
                    Fault::Refuse(Refusal::TooMany { .. }) => {
                        // Drawn apart from the fault itself, so the Retry-After share holds
                        // within the 429s whatever the other knobs are.
                        let with = hash(self.fault_seed, n, 1) % PPM < ppm(self.retry_after_share);
                        let retry_after = with.then_some(1);
                        Fault::Refuse(Refusal::TooMany { retry_after })
                    }
                    other => other,
                });
            }
        }
        None
    }
}

/// A percentage as parts per million; out-of-range values are clamped (the flags refuse them).
fn ppm(percent: f64) -> u64 {
    (percent.clamp(0.0, 100.0) * (PPM / 100) as f64).round() as u64
}

/// SplitMix64 over (seed, stream, n): cheap, well mixed, and the same on every platform.
fn hash(seed: u64, n: u64, stream: u64) -> u64 {
    let mut z =
        seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The share fault flags of `callrecon simulate`, flattened into [`super::SimArgs`].
#[derive(clap::Args, Debug, Clone)]
pub struct ChaosArgs {
    /// Seed of the --rate-* knobs: the same seed and the same requests in the same order meet
    /// the same faults, so a soak run can be replayed.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub fault_seed: u64,

    /// Answer this share of API requests (percent, e.g. 20 or 0.5) with 429 / code 20429.
    /// Like every --rate-* knob it is decided per request from --fault-seed, after the bursts
    /// and before credentials are checked; a request meets one fault at most.
    #[arg(long = "rate-429", value_name = "PCT", value_parser = parse_percent)]
    pub rate_429: Option<f64>,

    /// Of the --rate-429 refusals, the share (percent) that carry `Retry-After: 1`; the
    /// others carry none [default: 0].
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub retry_after_share: Option<f64>,

    /// Answer this share of API requests with 500 (Twilio JSON, code 20500), 502 or 503
    /// (a proxy's HTML page), in turn.
    #[arg(long = "rate-5xx", value_name = "PCT", value_parser = parse_percent)]
    pub rate_5xx: Option<f64>,

    /// Answer LEN of every EVERY API requests with 500, 502 or 503, in turn, e.g. 3/10;
    /// after --burst-503 and --burst-429, which win a request they also hit.
    #[arg(long = "burst-5xx", value_name = "LEN/EVERY", value_parser = Burst::parse)]
    pub burst_5xx: Option<Burst>,

    /// Cut the connection of this share of API requests halfway through the body, after
    /// headers that announce the full Content-Length.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub rate_reset: Option<f64>,

    /// Cut this share of API answers in half, with a matching Content-Length: the transport
    /// succeeds but the JSON does not decode.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub rate_truncated: Option<f64>,

    /// Delay this share of API responses by --slow-ms, to outlast a client's timeout.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub rate_slow: Option<f64>,

    /// The delay of --rate-slow.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub slow_ms: u64,

    /// Answer this share of API requests with a 200 whose body is a captive proxy's HTML
    /// page (content-type text/html).
    #[arg(long = "rate-html", value_name = "PCT", value_parser = parse_percent)]
    pub rate_html: Option<f64>,

    /// The soak preset: 20% 429 (half with Retry-After), 5% 5xx, 1% resets, 1% truncated
    /// bodies, 1% HTML, 0.5% slow (by --slow-ms). A --rate-* or --retry-after-share flag
    /// given as well overrides its part of the preset.
    #[arg(long)]
    pub chaos: bool,
}

impl ChaosArgs {
    /// Sets the share knobs of `faults` (the --chaos preset under the flags given); refuses
    /// shares that add up to more than 100 %, which could not all be honoured.
    pub(super) fn apply(&self, faults: &mut Faults) -> Result<()> {
        let base = if self.chaos {
            Faults::chaos()
        } else {
            Faults::default()
        };
        faults.fault_seed = self.fault_seed;
        faults.rate_429 = self.rate_429.unwrap_or(base.rate_429);
        faults.retry_after_share = self.retry_after_share.unwrap_or(base.retry_after_share);
        faults.rate_5xx = self.rate_5xx.unwrap_or(base.rate_5xx);
        faults.burst_5xx = self.burst_5xx;
        faults.rate_reset = self.rate_reset.unwrap_or(base.rate_reset);
        faults.rate_truncated = self.rate_truncated.unwrap_or(base.rate_truncated);
        faults.rate_slow = self.rate_slow.unwrap_or(base.rate_slow);
        faults.slow = Duration::from_millis(self.slow_ms);
        faults.rate_html = self.rate_html.unwrap_or(base.rate_html);
        let total: u64 = [
            faults.rate_429,
            faults.rate_5xx,
            faults.rate_reset,
            faults.rate_truncated,
            faults.rate_slow,
            faults.rate_html,
        ]
        .into_iter()
        .map(ppm)
        .sum();
        if total > PPM {
            return Err(UsageError::new(format!(
                "the --rate-* shares add up to {}%; a request meets one fault at most, so \
                 they can add up to 100% at most",
                total as f64 / (PPM / 100) as f64
            )));
        }
        Ok(())
    }
}

/// Reads a percentage from 0 to 100; fractions are allowed (0.5).
fn parse_percent(text: &str) -> Result<f64, String> {
    text.trim()
        .trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("'{text}' is not a percentage from 0 to 100, e.g. 20 or 0.5"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults_over(faults: &Faults, requests: u64) -> Vec<Option<Fault>> {
        (1..=requests).map(|n| faults.fault(n)).collect()
    }

    #[test]
    fn each_knob_at_100_percent_is_its_fault_on_every_request() {
        let all = |set: fn(&mut Faults)| {
            let mut faults = Faults::default();
            set(&mut faults);
            faults
        };
        let refuse = |r| Some(Fault::Refuse(r));
        let cases = [
            (
                all(|f| f.rate_429 = 100.0),
                refuse(Refusal::TooMany { retry_after: None }),
            ),
            (all(|f| f.rate_5xx = 100.0), refuse(Refusal::ServerError)),
            (all(|f| f.rate_reset = 100.0), Some(Fault::Reset)),
            (all(|f| f.rate_truncated = 100.0), Some(Fault::Truncated)),
            (all(|f| f.rate_slow = 100.0), Some(Fault::Slow)),
            (all(|f| f.rate_html = 100.0), refuse(Refusal::Html)),
        ];
        for (faults, want) in cases {
            let got = faults_over(&faults, 500);
            assert!(got.iter().all(|f| *f == want), "{want:?}");
        }
    }

    #[test]
    fn no_knob_means_no_fault() {
        assert!(
            faults_over(&Faults::default(), 2000)
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn shares_hold_and_the_retry_after_share_splits_the_429s() {
        let faults = Faults::chaos();
        let all = faults_over(&faults, 100_000);
        let count =
            |want: &dyn Fn(&Fault) -> bool| all.iter().flatten().filter(|f| want(f)).count();
        let too_many = count(&|f| matches!(f, Fault::Refuse(Refusal::TooMany { .. })));
        let with_retry = count(&|f| {
            matches!(
                f,
                Fault::Refuse(Refusal::TooMany {
                    retry_after: Some(1)
                })
            )
        });
        let html = count(&|f| *f == Fault::Refuse(Refusal::Html));
        let slow = count(&|f| *f == Fault::Slow);
        assert!((19_000..21_000).contains(&too_many), "{too_many}");
        assert!((too_many * 45 / 100..too_many * 55 / 100).contains(&with_retry));
        assert!((800..1200).contains(&html), "{html}");
        assert!((350..650).contains(&slow), "{slow}");
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_another_seed_others() {
        let seeded = |seed| Faults {
            fault_seed: seed,
            ..Faults::chaos()
        };
        assert_eq!(faults_over(&seeded(7), 3000), faults_over(&seeded(7), 3000));
        assert_ne!(faults_over(&seeded(7), 3000), faults_over(&seeded(8), 3000));
    }

    #[test]
    fn bursts_come_before_the_shares_and_cycle_5xx() {
        let faults = Faults {
            burst_5xx: Some(Burst::parse("2/5").unwrap()),
            rate_html: 100.0,
            ..Faults::default()
        };
        let server_error = Some(Fault::Refuse(Refusal::ServerError));
        let html = Some(Fault::Refuse(Refusal::Html));
        let want = [server_error, server_error, html, html, html, server_error];
        assert_eq!(faults_over(&faults, 6), want);
    }

    #[test]
    fn percentages_are_read_from_0_to_100() {
        assert_eq!(parse_percent("0.5"), Ok(0.5));
        assert_eq!(parse_percent("20%"), Ok(20.0));
        for bad in ["", "-1", "100.1", "NaN", "x"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
        assert_eq!(ppm(0.5), 5_000);
    }
}
