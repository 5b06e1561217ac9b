//! The simulator's fault and speed knobs, and the counters that make them deterministic.
//!
//! Faults are keyed to request counters rather than drawn at random: a client that sends the
//! same requests in the same order meets the same 429s and 503s, so retry tests assert exact
//! behaviour and a benchmark run can be repeated. The counters are also what
//! `/__simulator/stats` reports, so a test can check what the client really sent. The share
//! knobs (`--rate-*`) are no exception: they are decided from a seeded hash of the request
//! number (`chaos`), never from a thread RNG.

use super::chaos::{Fault, Refusal};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How the `StartTime*` / `EndTime*` filters read their value.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFilter {
    /// Only the date part counts, as Twilio documents ("Specify a date as YYYY-MM-DD").
    #[default]
    Day,
    /// A full RFC 3339 value is honoured to the second; a bare date still means its midnight.
    Second,
}

/// `LEN/EVERY`: of every EVERY API requests, the first LEN are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    pub len: u64,
    pub every: u64,
}

impl Burst {
    /// Reads `LEN/EVERY` with 1 ≤ LEN ≤ EVERY.
    pub fn parse(text: &str) -> Result<Burst, String> {
        let bad = || format!("'{text}' is not LEN/EVERY with 1 <= LEN <= EVERY, e.g. 3/10");
        let (len, every) = text.trim().split_once('/').ok_or_else(bad)?;
        let len: u64 = len.trim().parse().map_err(|_| bad())?;
        let every: u64 = every.trim().parse().map_err(|_| bad())?;
        if len == 0 || len > every {
            return Err(bad());
        }
        Ok(Burst { len, every })
    }

    /// True when the n-th request (1-based) falls in a burst, with the period shifted by
    /// `offset` requests.
    pub fn hits(&self, n: u64, offset: u64) -> bool {
        (n - 1 + offset) % self.every < self.len
    }
}

/// Fault and speed knobs; all off by default. Shares are percentages (0 to 100, fractions
/// allowed) and are applied in the order of `chaos`'s `Faults::fault`.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Pages K, 2K, … of a listing (by its `Page` index + 1) hold half of `PageSize`.
    pub short_page_every: Option<u32>,
    pub burst_429: Option<Burst>,
    /// `Retry-After` seconds sent with the 429s of `burst_429` and `max_concurrent`
    /// (`rate_429` has its own `retry_after_share`).
    pub retry_after: Option<u64>,
    /// 503 bursts, shifted by half a period against the 429 bursts so the two kinds of
    /// fault do not always land on the same requests.
    pub burst_503: Option<Burst>,
    /// Added to every API response.
    pub latency: Duration,
    /// Added per record (call, alert, notification) in a response, so big pages are slower
    /// than small ones.
    pub per_record: Duration,
    /// Requests in flight beyond this get 429 / 20429, like Twilio's concurrency limit.
    pub max_concurrent: Option<usize>,
    pub time_filter: TimeFilter,
    /// `/v1/Alerts` answers 403 / 20003 to valid credentials: an API key without Monitor
    /// permission, which callrecon must survive with a warning (design.md).
    pub monitor_forbidden: bool,
    /// Seeds the hash that decides the share knobs below (1 by default, as `--fault-seed`).
    pub fault_seed: u64,
    /// Share of requests answered 429 / 20429.
    pub rate_429: f64,
    /// Share of the `rate_429` refusals that carry `Retry-After: 1`; the rest carry none,
    /// since whether Twilio sends it is unverified (notes §4.1).
    pub retry_after_share: f64,
    /// Share of requests answered 500, 502 or 503, in turn.
    pub rate_5xx: f64,
    /// Bursts of 500, 502 and 503 in turn, in phase with the 429 bursts (which win a request
    /// both hit).
    pub burst_5xx: Option<Burst>,
    /// Share of requests whose connection is cut halfway through the body.
    pub rate_reset: f64,
    /// Share of requests whose body is cut in half, with a matching `Content-Length`.
    pub rate_truncated: f64,
    /// Share of requests answered `slow` late.
    pub rate_slow: f64,
    pub slow: Duration,
    /// After this many API requests, every call still queued, ringing or in progress ends
    /// (completed, priced): calls that change status while a client pages.
    pub settle_after: Option<u64>,
    /// Share of requests answered 200 with a captive proxy's HTML page.
    pub rate_html: f64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            short_page_every: None,
            burst_429: None,
            retry_after: None,
            burst_503: None,
            latency: Duration::ZERO,
            per_record: Duration::ZERO,
            max_concurrent: None,
            time_filter: TimeFilter::default(),
            monitor_forbidden: false,
            // The same defaults as the flags, so a test's config meets what the CLI would.
            fault_seed: 1,
            rate_429: 0.0,
            retry_after_share: 0.0,
            rate_5xx: 0.0,
            burst_5xx: None,
            rate_reset: 0.0,
            rate_truncated: 0.0,
            rate_slow: 0.0,
            slow: Duration::from_millis(5000),
            rate_html: 0.0,
            settle_after: None,
        }
    }
}

impl Faults {
    /// The status forced on the n-th API request by a burst, if any: 503 first, as a
    /// proxy in front of the API answers before the API can.
    pub fn burst_status(&self, n: u64) -> Option<u16> {
        if let Some(b) = self.burst_503
            && b.hits(n, b.every / 2)
        {
            return Some(503);
        }
        if let Some(b) = self.burst_429
            && b.hits(n, 0)
        {
            return Some(429);
        }
        None
    }

    /// Whether page `page` (0-based, as echoed in `Page`) of a listing is cut short.
    pub fn short_page(&self, page: u64) -> bool {
        self.short_page_every
            .is_some_and(|k| (page + 1).is_multiple_of(u64::from(k)))
    }
}

/// A snapshot of the counters, served as JSON by `GET /__simulator/stats`. The `responses_*`
/// count the status line sent, also when a fault then cut the body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Requests to the Twilio API paths (everything but `/__simulator/…`).
    pub requests: u64,
    pub responses_2xx: u64,
    /// 400s: malformed filters, bad `PageSize`, unknown `PageToken`.
    pub responses_400: u64,
    pub responses_401: u64,
    /// Valid credentials refused by a product (`--monitor-forbidden`).
    pub responses_403: u64,
    /// Unknown resources, and Call Notifications asked for a call too new to be seen.
    pub responses_404: u64,
    pub responses_429: u64,
    pub responses_5xx: u64,
    /// Successful list pages served, of calls, alerts and notifications together.
    pub pages_served: u64,
    /// Call records served, by listings and fetches together.
    pub calls_served: u64,
    /// Monitor alert records served, by listings and fetches together.
    pub alerts_served: u64,
    /// Requests for a call's Notifications that passed the front door (faults and auth),
    /// whatever they were answered: callrecon bounds these lookups, so tests count them.
    pub notification_requests: u64,
    /// Most API requests that were in flight at once.
    pub max_in_flight: u64,
    /// Requests that met a burst or share fault (not `--max-concurrent` or
    /// `--monitor-forbidden`, which are the API's own answers); the kinds follow.
    pub faults_injected: u64,
    /// 429s from `--burst-429` and `--rate-429`.
    pub injected_429: u64,
    /// 5xx from `--burst-503`, `--burst-5xx` and `--rate-5xx`.
    pub injected_5xx: u64,
    /// Connections cut mid-body. The route still counted the records it answered.
    pub resets: u64,
    /// Bodies cut with a matching length. The route still counted the records it answered.
    pub truncated: u64,
    /// Responses delayed by `--rate-slow`.
    pub slow: u64,
    /// 200s carrying a captive proxy's HTML page.
    pub html: u64,
}

/// What kind of record a response carried, for the per-kind counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    Calls,
    Alerts,
    Notifications,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub requests: AtomicU64,
    pub responses_2xx: AtomicU64,
    pub responses_400: AtomicU64,
    pub responses_401: AtomicU64,
    pub responses_403: AtomicU64,
    pub responses_404: AtomicU64,
    pub responses_429: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub pages_served: AtomicU64,
    pub calls_served: AtomicU64,
    pub alerts_served: AtomicU64,
    pub notification_requests: AtomicU64,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub faults_injected: AtomicU64,
    pub injected_429: AtomicU64,
    pub injected_5xx: AtomicU64,
    pub resets: AtomicU64,
    pub truncated: AtomicU64,
    pub slow: AtomicU64,
    pub html: AtomicU64,
    /// Position in the 500 → 502 → 503 cycle of `--rate-5xx` and `--burst-5xx`.
    pub server_error_cycle: AtomicU64,
}

impl Counters {
    /// Counts a request in; returns its 1-based number and how many are now in flight.
    /// The caller must decrement `in_flight` when the request ends.
    pub fn enter(&self) -> (u64, usize) {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        (n, in_flight)
    }

    /// Counts a response by class; the in-flight count is released by the caller's guard,
    /// which also runs when the client hangs up and no response is ever made.
    pub fn leave(&self, status: u16) {
        let class = match status {
            200..=299 => &self.responses_2xx,
            400 => &self.responses_400,
            401 => &self.responses_401,
            403 => &self.responses_403,
            404 => &self.responses_404,
            429 => &self.responses_429,
            500..=599 => &self.responses_5xx,
            _ => return,
        };
        class.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts `records` served of one kind, and a list page when `page`.
    pub fn served(&self, kind: Served, records: usize, page: bool) {
        let counter = match kind {
            Served::Calls => Some(&self.calls_served),
            Served::Alerts => Some(&self.alerts_served),
            Served::Notifications => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(records as u64, Ordering::SeqCst);
        }
        if page {
            self.pages_served.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Counts a fault met by a request, overall and by kind.
    pub fn injected(&self, fault: Fault) {
        let kind = match fault {
            Fault::Refuse(Refusal::TooMany { .. }) => &self.injected_429,
            Fault::Refuse(Refusal::ProxyUnavailable | Refusal::ServerError) => &self.injected_5xx,
            Fault::Refuse(Refusal::Html) => &self.html,
            Fault::Slow => &self.slow,
            Fault::Reset => &self.resets,
            Fault::Truncated => &self.truncated,
        };
        kind.fetch_add(1, Ordering::SeqCst);
        self.faults_injected.fetch_add(1, Ordering::SeqCst);
    }

    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        Stats {
            requests: get(&self.requests),
            responses_2xx: get(&self.responses_2xx),
            responses_400: get(&self.responses_400),
            responses_401: get(&self.responses_401),
            responses_403: get(&self.responses_403),
            responses_404: get(&self.responses_404),
            responses_429: get(&self.responses_429),
            responses_5xx: get(&self.responses_5xx),
            pages_served: get(&self.pages_served),
            calls_served: get(&self.calls_served),
            alerts_served: get(&self.alerts_served),
            notification_requests: get(&self.notification_requests),
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst) as u64,
            faults_injected: get(&self.faults_injected),
            injected_429: get(&self.injected_429),
            injected_5xx: get(&self.injected_5xx),
            resets: get(&self.resets),
            truncated: get(&self.truncated),
            slow: get(&self.slow),
            html: get(&self.html),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_refuse_the_first_len_of_every_period() {
        let faults = Faults {
            burst_429: Some(Burst::parse("3/10").unwrap()),
            ..Faults::default()
        };
        let hit: Vec<u64> = (1..=25)
            .filter(|&n| faults.burst_status(n).is_some())
            .collect();
        assert_eq!(hit, [1, 2, 3, 11, 12, 13, 21, 22, 23]);
    }

    #[test]
    fn five_hundred_bursts_are_shifted_by_half_a_period() {
        let faults = Faults {
            burst_503: Some(Burst::parse("2/10").unwrap()),
            ..Faults::default()
        };
        let hit: Vec<u64> = (1..=20)
            .filter(|&n| faults.burst_status(n) == Some(503))
            .collect();
        assert_eq!(hit, [6, 7, 16, 17]);
    }

    #[test]
    fn burst_text_must_be_len_over_every() {
        assert_eq!(Burst::parse("1/1"), Ok(Burst { len: 1, every: 1 }));
        for bad in ["", "3", "0/10", "11/10", "a/b", "3/0"] {
            assert!(Burst::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_kth_page_is_short() {
        let faults = Faults {
            short_page_every: Some(3),
            ..Faults::default()
        };
        let short: Vec<u64> = (0..9).filter(|&p| faults.short_page(p)).collect();
        assert_eq!(short, [2, 5, 8]);
    }
}
