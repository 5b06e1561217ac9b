//! Deterministic generation of the simulator's calls, and the [`Dataset`] that gathers them
//! with the ledger (`ledger_rows`), the agent calls and their `<Dial>` legs (`agents`), and
//! the alerts and notifications that carry error codes (`errors`).
//!
//! The data has to look like a real account to exercise callrecon honestly: a handful of
//! caller IDs, repeat destinations, Twilio's status mix and field types, recent calls still in
//! progress at `now`, and a clock that is never crossed. It also has to be reproducible, so
//! everything is drawn from ChaCha streams seeded by `--seed` (never the wall clock), in a
//! fixed order; the numbers and SIDs come from `numbers`. The direct calls use stream 0, and
//! each later addition its own stream, so adding a kind of data never changes the calls a
//! seed already gave.

use super::numbers::{CALLER_IDS, destination_pool, national, random_number, sid, weighted};
use super::timeline::{RECENT_S, Timeline, timeline};
use super::{SimConfig, agents, errors};
use crate::ledger::LedgerRow;
use crate::timefmt::format_rfc2822;
use crate::twilio::model::{Alert, Call, Notification};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashSet};

/// Share of calls that are outbound-api, in percent (the rest are inbound).
const OUTBOUND_PCT: u32 = 88;

/// Relative call volume per UTC hour: quiet nights, busy office hours.
const HOUR_WEIGHT: [u32; 24] = [
    1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 6, 6, 6, 6, 6, 5, 4, 3, 2, 2, 1, 1,
];

/// What the simulator serves and the ledger that goes with it.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Newest first by `date_created`, ties by `sid` descending: the order listings use.
    /// Agent calls' `<Dial>` child legs (`outbound-dial`) are among them.
    pub calls: Vec<Call>,
    /// The application's `intended_calls`, ids 1..n in `intended_at` order.
    pub ledger: Vec<LedgerRow>,
    /// Monitor alerts, newest `date_generated` first, ties by `sid` descending: the order
    /// `/v1/Alerts` pages in.
    pub alerts: Vec<Alert>,
    /// Each call's notifications by call SID, newest `message_date` first; a call without
    /// any has no entry.
    pub notifications: BTreeMap<String, Vec<Notification>>,
    /// The simulator's clock.
    pub now: DateTime<Utc>,
    pub account_sid: String,
    pub start_day: NaiveDate,
    pub days: u32,
}

/// An outbound call as the ledger generator needs it, in generation order.
pub(super) struct Placed {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub created: i64,
    pub status: &'static str,
    pub customer: usize,
}

impl Dataset {
    /// A dataset from given parts, for scenarios built by hand, with no alerts or
    /// notifications (add them with [`Dataset::with_alerts`] and
    /// [`Dataset::with_notifications`]). Calls are put in listing order (newest
    /// `date_created` first, ties by `sid` descending).
    pub fn from_parts(mut calls: Vec<Call>, ledger: Vec<LedgerRow>, now: DateTime<Utc>) -> Dataset {
        let created = |c: &Call| {
            c.date_created
                .as_deref()
                .and_then(crate::timefmt::parse_rfc2822)
        };
        calls.sort_by(|a, b| created(b).cmp(&created(a)).then_with(|| b.sid.cmp(&a.sid)));
        let account_sid = calls
            .iter()
            .find_map(|c| c.account_sid.clone())
            .unwrap_or_else(|| super::DEFAULT_ACCOUNT_SID.to_owned());
        let start_day = calls
            .iter()
            .filter_map(created)
            .min()
            .unwrap_or(now)
            .date_naive();
        let days = ((now.date_naive() - start_day).num_days() + 1).max(1) as u32;
        Dataset {
            calls,
            ledger,
            alerts: Vec::new(),
            notifications: BTreeMap::new(),
            now,
            account_sid,
            start_day,
            days,
        }
    }

    /// Adds Monitor alerts to a hand-made dataset, put in listing order (newest
    /// `date_generated` first). An alert needs a `sid` to be paged past and a parseable
    /// `date_generated` to fall in any `/v1/Alerts` date range.
    pub fn with_alerts(mut self, alerts: Vec<Alert>) -> Dataset {
        self.alerts.extend(alerts);
        errors::sort_alerts(&mut self.alerts);
        self
    }

    /// Adds call notifications to a hand-made dataset, filed under their `call_sid` (one
    /// without a `call_sid` belongs to no call and is dropped) and put newest first.
    pub fn with_notifications(
        mut self,
        notifications: impl IntoIterator<Item = Notification>,
    ) -> Dataset {
        for n in notifications {
            if let Some(call) = n.call_sid.clone() {
                self.notifications.entry(call).or_default().push(n);
            }
        }
        self.notifications
            .values_mut()
            .for_each(|list| errors::sort_notifications(list));
        self
    }

    /// Generates the dataset of `cfg`; the same config always gives identical data.
    pub fn generate(cfg: &SimConfig) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let (span_start, span_end) = cfg.generated_span();
        let (from, to) = (span_start.timestamp(), span_end.timestamp());
        let now = cfg.now.timestamp();
        let callers: Vec<(String, String)> = CALLER_IDS
            .iter()
            .map(|(n, _)| (n.to_string(), sid(&mut rng, "PN")))
            .collect();
        let pool = destination_pool(&mut rng, cfg.calls);
        let mut sids = HashSet::new();
        let mut generated: Vec<(i64, Call)> = Vec::with_capacity(cfg.calls);
        let mut placed = Vec::new();
        // A few calls land in the last minutes before the clock, so every dataset shows
        // calls still in progress, as a real nightly run sees them.
        let tail = if to - from > RECENT_S {
            (cfg.calls / 100).clamp(3, 50)
        } else {
            0
        };
        // A clock at the very start of the days leaves no time for any call.
        let count = if to > from { cfg.calls } else { 0 };
        for i in 0..count {
            let created = if i < tail {
                rng.random_range(to - RECENT_S..to)
            } else {
                sample_instant(&mut rng, from, to)
            };
            let outbound = rng.random_range(0..100) < OUTBOUND_PCT;
            let caller = if outbound {
                weighted(&mut rng, &CALLER_IDS.map(|(_, w)| w))
            } else {
                rng.random_range(0..callers.len())
            };
            let (caller_number, pn) = &callers[caller];
            let (to_number, from_number, customer) = if outbound {
                let c = rng.random_range(0..pool.len());
                (pool[c].clone(), caller_number.clone(), c)
            } else {
                (caller_number.clone(), random_number(&mut rng), 0)
            };
            let mut call_sid = sid(&mut rng, "CA");
            while !sids.insert(call_sid.clone()) {
                call_sid = sid(&mut rng, "CA");
            }
            let t = timeline(&mut rng, created, now, outbound);
            if outbound {
                placed.push(Placed {
                    sid: call_sid.clone(),
                    to: to_number.clone(),
                    from: from_number.clone(),
                    created,
                    status: t.status,
                    customer,
                });
            }
            let call = build_call(
                &cfg.account_sid,
                call_sid,
                created,
                outbound,
                (to_number, from_number),
                pn,
                &t,
            );
            generated.push((created, call));
        }
        let agents = agents::generate(cfg, placed.len(), &callers, &pool, &mut sids);
        generated.extend(agents.calls);
        generated.sort_by(|(a, ca), (b, cb)| b.cmp(a).then_with(|| cb.sid.cmp(&ca.sid)));
        let ledger = super::ledger_rows::generate(cfg, &placed, &agents.placed, &pool, &sids);
        let (alerts, notifications) = errors::generate(cfg.seed, &cfg.account_sid, now, &generated);
        Dataset {
            calls: generated.into_iter().map(|(_, c)| c).collect(),
            ledger,
            alerts,
            notifications,
            now: cfg.now,
            account_sid: cfg.account_sid.clone(),
            start_day: cfg.start_day,
            days: cfg.days,
        }
    }
}

pub(super) fn build_call(
    account: &str,
    sid: String,
    created: i64,
    outbound: bool,
    (to, from): (String, String),
    phone_number_sid: &str,
    t: &Timeline,
) -> Call {
    let base = format!("/2010-04-01/Accounts/{account}/Calls/{sid}");
    let subresource_uris: BTreeMap<String, String> = [
        ("notifications", "Notifications"),
        ("recordings", "Recordings"),
        ("payments", "Payments"),
        ("events", "Events"),
        ("siprec", "Siprec"),
        ("streams", "Streams"),
        ("transcriptions", "Transcriptions"),
        (
            "user_defined_message_subscriptions",
            "UserDefinedMessageSubscriptions",
        ),
        ("user_defined_messages", "UserDefinedMessages"),
    ]
    .into_iter()
    .map(|(key, name)| (key.to_owned(), format!("{base}/{name}.json")))
    .collect();
    Call {
        account_sid: Some(account.to_owned()),
        answered_by: t.answered_by.map(str::to_owned),
        api_version: Some("2010-04-01".to_owned()),
        caller_name: None,
        date_created: Some(rfc2822(created)),
        date_updated: Some(rfc2822(t.updated)),
        direction: Some(if outbound { "outbound-api" } else { "inbound" }.to_owned()),
        duration: t.duration.map(|d| d.to_string()),
        end_time: t.end.map(rfc2822),
        forwarded_from: None,
        from_formatted: Some(national(&from)),
        from: Some(from),
        group_sid: None,
        parent_call_sid: None,
        phone_number_sid: Some(phone_number_sid.to_owned()),
        price: t.price.map(format_price),
        price_unit: Some("USD".to_owned()),
        start_time: t.start.map(rfc2822),
        status: t.status.to_owned(),
        subresource_uris: Some(subresource_uris),
        to_formatted: Some(national(&to)),
        to: Some(to),
        trunk_sid: None,
        uri: Some(format!("{base}.json")),
        queue_time: Some(t.queue_ms.to_string()),
        sid,
    }
}

/// Twilio's price text: negative, five decimals; zero is written without a sign.
fn format_price(cost: i64) -> String {
    if cost == 0 {
        "0.00000".to_owned()
    } else {
        format!("-{}.{:05}", cost / 100_000, cost % 100_000)
    }
}

pub(super) fn instant(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .expect("generated times lie within chrono's range")
}

fn rfc2822(secs: i64) -> String {
    format_rfc2822(instant(secs))
}

/// An instant in [from, to), denser in office hours (rejection sampling keeps it exact).
pub(super) fn sample_instant(rng: &mut ChaCha8Rng, from: i64, to: i64) -> i64 {
    loop {
        let t = rng.random_range(from..to);
        let hour = (t.rem_euclid(86_400) / 3600) as usize;
        if rng.random_range(0..6) < HOUR_WEIGHT[hour] {
            return t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::timeline::UNPRICED_S;
    use crate::timefmt::parse_rfc2822;
    use crate::twilio::model::{FINAL_STATUSES, TRANSIENT_STATUSES};

    pub(crate) fn config(calls: usize, seed: u64) -> SimConfig {
        SimConfig::new(
            calls,
            seed,
            NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            1,
        )
    }

    #[test]
    fn the_same_seed_gives_identical_data_and_another_seed_does_not() {
        let a = Dataset::generate(&config(500, 3));
        let b = Dataset::generate(&config(500, 3));
        let c = Dataset::generate(&config(500, 4));
        let json = |d: &Dataset| serde_json::to_string(&d.calls).unwrap();
        assert_eq!(json(&a), json(&b));
        assert_eq!(a.ledger, b.ledger);
        assert_ne!(json(&a), json(&c));
        assert_ne!(a.ledger, c.ledger);
    }

    #[test]
    fn the_mix_has_every_final_status_and_calls_still_going_at_now() {
        let data = Dataset::generate(&config(2000, 1));
        // Agent calls and their child legs come on top of the 2000 direct calls.
        let children = data
            .calls
            .iter()
            .filter(|c| c.parent_call_sid.is_some())
            .count();
        assert!(children > 50, "{children} child legs");
        assert_eq!(data.calls.len(), 2000 + 2 * children);
        let count = |s: &str| data.calls.iter().filter(|c| c.status == s).count();
        for status in FINAL_STATUSES {
            assert!(count(status) > 10, "{status}: {}", count(status));
        }
        let transient: usize = TRANSIENT_STATUSES.iter().map(|s| count(s)).sum();
        assert!(transient >= 3, "{transient} calls in progress");
        let outbound = data
            .calls
            .iter()
            .filter(|c| c.direction.as_deref() == Some("outbound-api"))
            .count();
        assert!(
            (1700..1820).contains(&(outbound - children)),
            "{outbound} outbound"
        );
        let completed = count("completed") as f64 / data.calls.len() as f64;
        assert!((0.55..0.75).contains(&completed), "{completed} completed");
    }

    #[test]
    fn no_call_has_a_time_after_now_and_the_order_is_newest_first() {
        let mut cfg = config(1000, 2);
        cfg.now -= chrono::Duration::hours(6);
        let data = Dataset::generate(&cfg);
        let at = |t: &Option<String>| t.as_deref().map(|t| parse_rfc2822(t).unwrap());
        let mut previous: Option<(DateTime<Utc>, &str)> = None;
        for call in &data.calls {
            let created = at(&call.date_created).unwrap();
            for t in [
                &call.date_created,
                &call.start_time,
                &call.end_time,
                &call.date_updated,
            ] {
                assert!(
                    at(t).is_none_or(|t| t <= cfg.now && t >= created),
                    "{call:?}"
                );
            }
            assert!(at(&call.date_updated) >= at(&call.end_time), "{call:?}");
            if let Some(prev) = previous {
                assert!(prev > (created, call.sid.as_str()), "order at {}", call.sid);
            }
            previous = Some((created, &call.sid));
        }
    }

    #[test]
    fn fields_have_twilios_types_for_each_status() {
        let data = Dataset::generate(&config(2000, 9));
        for call in &data.calls {
            assert!(
                call.sid.len() == 34 && call.sid.starts_with("CA"),
                "{}",
                call.sid
            );
            assert_eq!(call.api_version.as_deref(), Some("2010-04-01"));
            let subresources = call.subresource_uris.as_ref().unwrap();
            assert_eq!(subresources.len(), 9);
            match call.status.as_str() {
                "completed" => {
                    let duration: i64 = call.duration.as_deref().unwrap().parse().unwrap();
                    let end = parse_rfc2822(call.end_time.as_deref().unwrap()).unwrap();
                    // The price is posted a while after the call ends (notes §1.6).
                    let recent = (data.now - end).num_seconds() < UNPRICED_S;
                    assert_eq!(call.price.is_none(), recent, "{call:?}");
                    if let Some(price) = call.price.as_deref() {
                        assert!(price.starts_with('-') && price.len() == 8, "{price}");
                    }
                    assert!(duration > 0);
                }
                "busy" | "failed" | "no-answer" => {
                    assert_eq!(call.price.as_deref(), Some("0.00000"));
                    assert!(call.end_time.is_none() && call.duration.is_none());
                    assert!(call.start_time.is_some());
                }
                "canceled" => {
                    assert_eq!(call.end_time.is_some(), call.start_time.is_some());
                }
                _ => {
                    assert!(call.price.is_none() && call.end_time.is_none());
                    assert!(call.duration.is_none() && call.answered_by.is_none());
                    assert_eq!(call.status == "queued", call.start_time.is_none());
                }
            }
        }
    }
}
