//! Error codes for the generated calls, logged where Twilio logs them: Monitor alerts and the
//! call's Notifications. The Call resource itself has no error field (notes §1.6).
//!
//! The mix is what callrecon's error-code sources (design.md, "Error codes") must cope with.
//! A failed call's code is in an alert only (~35%), in its notifications only (~25%), in
//! both (~15%, the same code) or nowhere (~17%); ~8% have only a code about the
//! application's own webhook (15003, 11200), and ~10% of those with a code also have a 15003
//! beside it, which callrecon must never pick. `<Dial>` and SIP-domain codes are filed as
//! warnings (notes §6). Some busy and no-answer calls have a SIP-style warning notification
//! (31486; 31487 or 31408). Then come a few alerts that a join on `resource_sid` must skip or
//! survive: alerts about a phone number (`PN…`), with an empty or non-numeric `error_code`, or
//! with a code the categories file does not have.
//!
//! Everything is drawn from stream 2 of the seed once the calls exist, so the calls never
//! change; the records use the wire types callrecon decodes.

use super::data::instant;
use super::numbers::{sid, weighted};
use crate::codes;
use crate::timefmt::{format_rfc2822, format_utc, parse_rfc2822};
use crate::twilio::model::{Alert, Call, Notification};
use chrono::DateTime;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};

/// Codes of failed calls and how often each is seen. 64199 is deliberately no Twilio code:
/// it stands for codes newer than callrecon's tables (category `unknown`, no known text).
const FAILED_CODES: [(i64, u32); 13] = [
    (13224, 14),
    (32009, 8),
    (13225, 6),
    (13227, 6),
    (13223, 3),
    (32016, 10),
    (32011, 8),
    (31003, 6),
    (31005, 6),
    (31480, 9),
    (31404, 8),
    (32017, 6),
    (UNLISTED_CODE, 2),
];

const UNLISTED_CODE: i64 = 64199;

/// `<Dial>` and SIP-domain codes Twilio files as warnings (notes §6); the rest are errors.
const WARNING_CODES: [i64; 5] = [13223, 13224, 13225, 13227, 32009];

/// Where a failed call's code is logged, in percent: alert only, notifications only, both,
/// nowhere, and only a code about the application's webhook.
const PLACES: [u32; 5] = [35, 25, 15, 17, 8];

/// Share of failed calls with a code that also get a 15003 beside it.
const BESIDE_15003: f64 = 0.10;

/// Codes outside the categories file that a few alerts carry, with their level; Twilio's
/// dictionary has their text.
const UNCATEGORISED: [(i64, bool); 3] = [(32021, true), (13214, true), (31920, false)];

/// The application's endpoints (example.com is reserved, so nothing real is named).
const STATUS_CALLBACK_URL: &str = "https://app.example.com/twilio/status";
const VOICE_URL: &str = "https://app.example.com/twilio/voice";

/// One thing Twilio logged about a resource.
struct Entry {
    resource: String,
    code: String,
    warning: bool,
    at: i64,
    text: String,
    /// The request the alert is about (a webhook or TwiML fetch), if any.
    request: Option<&'static str>,
}

/// Where an entry is logged.
#[derive(Clone, Copy)]
struct Places {
    alert: bool,
    notification: bool,
}

const ALERT: Places = Places {
    alert: true,
    notification: false,
};
const NOTIFICATION: Places = Places {
    alert: false,
    notification: true,
};

/// The alerts (newest first) and the notifications by call SID (each newest first) of
/// `calls`, given with their `date_created` in seconds, in a fixed order.
pub(super) fn generate(
    seed: u64,
    account: &str,
    now: i64,
    calls: &[(i64, Call)],
) -> (Vec<Alert>, BTreeMap<String, Vec<Notification>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2);
    let mut log = Log {
        rng,
        account,
        now,
        sids: HashSet::new(),
        alerts: Vec::new(),
        notifications: BTreeMap::new(),
    };
    let mut failed = Vec::new();
    for (created, call) in calls {
        match call.status.as_str() {
            "failed" => {
                failed.push((*created, call));
                log.failed_call(*created, call);
            }
            "busy" if log.rng.random_bool(0.3) => {
                let entry = log.code_entry(&call.sid, 31486, true, *created);
                log.record(&entry, NOTIFICATION);
            }
            "no-answer" if log.rng.random_bool(0.25) => {
                let code = if log.rng.random_bool(0.6) {
                    31487
                } else {
                    31408
                };
                let entry = log.code_entry(&call.sid, code, true, *created);
                log.record(&entry, NOTIFICATION);
            }
            _ => {}
        }
    }
    log.oddities(calls, &failed);
    let Log {
        mut alerts,
        mut notifications,
        ..
    } = log;
    sort_alerts(&mut alerts);
    notifications
        .values_mut()
        .for_each(|list| sort_notifications(list));
    (alerts, notifications)
}

/// Newest `date_generated` first, ties by SID descending: the order `/v1/Alerts` pages in.
/// An alert whose date does not parse sorts last.
pub(super) fn sort_alerts(alerts: &mut [Alert]) {
    alerts.sort_by_cached_key(|a| Reverse((alert_time(a), a.sid.clone())));
}

/// Newest `message_date` first, ties by SID descending.
pub(super) fn sort_notifications(notifications: &mut [Notification]) {
    notifications.sort_by_cached_key(|n| {
        let at = n.message_date.as_deref().and_then(parse_rfc2822);
        Reverse((at.map(|t| t.timestamp()), n.sid.clone()))
    });
}

/// An alert's `date_generated` in Unix seconds (ISO 8601 in the Monitor API).
pub(super) fn alert_time(alert: &Alert) -> Option<i64> {
    let text = alert.date_generated.as_deref()?;
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp())
}

struct Log<'a> {
    rng: ChaCha8Rng,
    account: &'a str,
    now: i64,
    sids: HashSet<String>,
    alerts: Vec<Alert>,
    notifications: BTreeMap<String, Vec<Notification>>,
}

impl Log<'_> {
    fn failed_call(&mut self, created: i64, call: &Call) {
        let code = FAILED_CODES[weighted(&mut self.rng, &FAILED_CODES.map(|(_, w)| w))].0;
        let place = weighted(&mut self.rng, &PLACES);
        let places = match place {
            0 => ALERT,
            1 => NOTIFICATION,
            2 => Places {
                alert: true,
                notification: true,
            },
            3 => return,
            _ => {
                let entry = if self.rng.random_bool(0.5) {
                    self.webhook_warning(&call.sid, created)
                } else {
                    self.fetch_failure(&call.sid, created)
                };
                let places = if self.rng.random_bool(0.5) {
                    ALERT
                } else {
                    NOTIFICATION
                };
                self.record(&entry, places);
                return;
            }
        };
        let entry = self.code_entry(&call.sid, code, WARNING_CODES.contains(&code), created);
        self.record(&entry, places);
        if self.rng.random_bool(BESIDE_15003) {
            // Twilio posts the final StatusCallback after the error, and the application's
            // endpoint answered it badly.
            let warning = self.webhook_warning(&call.sid, entry.at);
            self.record(&warning, places);
        }
    }

    /// Alerts a join on `resource_sid` must skip or survive, a few per dataset.
    fn oddities(&mut self, calls: &[(i64, Call)], failed: &[(i64, &Call)]) {
        if !calls.is_empty() {
            // An incoming-call webhook that failed: the alert is about the number, not a call.
            for _ in 0..(failed.len() / 40).max(1) {
                let (created, call) = &calls[self.rng.random_range(0..calls.len())];
                if let Some(pn) = &call.phone_number_sid {
                    let entry = self.fetch_failure(pn, *created);
                    self.record(&entry, ALERT);
                }
            }
        }
        if failed.is_empty() {
            return;
        }
        for code in ["", "UNKNOWN"] {
            let (created, call) = failed[self.rng.random_range(0..failed.len())];
            let mut text = url::form_urlencoded::Serializer::new(String::new());
            text.append_pair("Msg", "Call failed")
                .append_pair("LogLevel", "ERROR");
            let entry = Entry {
                resource: call.sid.clone(),
                code: code.to_owned(),
                warning: false,
                at: self.after(created, 2..=12),
                text: text.finish(),
                request: None,
            };
            self.record(&entry, ALERT);
        }
        for _ in 0..(failed.len() / 50).max(2) {
            let (created, call) = failed[self.rng.random_range(0..failed.len())];
            let (code, warning) = UNCATEGORISED[self.rng.random_range(0..UNCATEGORISED.len())];
            let entry = self.code_entry(&call.sid, code, warning, created);
            self.record(&entry, ALERT);
        }
    }

    /// `code` about call `call_sid`, logged a few seconds after the call was created.
    fn code_entry(&mut self, call_sid: &str, code: i64, warning: bool, created: i64) -> Entry {
        let msg = codes::lookup(code)
            .message
            .unwrap_or_else(|| "An unexpected error occurred".to_owned());
        let mut text = url::form_urlencoded::Serializer::new(String::new());
        text.append_pair("Msg", &msg)
            .append_pair("ErrorCode", &code.to_string())
            .append_pair("LogLevel", if warning { "WARN" } else { "ERROR" });
        Entry {
            resource: call_sid.to_owned(),
            code: code.to_string(),
            warning,
            at: self.after(created, 2..=12),
            text: text.finish(),
            // A `<Dial>` error is about the TwiML that held the `<Dial>`.
            request: (13200..13300).contains(&code).then_some(VOICE_URL),
        }
    }

    /// 15003: the application's StatusCallback endpoint answered with an HTTP error.
    fn webhook_warning(&mut self, call_sid: &str, after: i64) -> Entry {
        let status = [404, 500, 502, 503][self.rng.random_range(0..4)];
        let mut text = url::form_urlencoded::Serializer::new(String::new());
        text.append_pair("statusCallback", STATUS_CALLBACK_URL)
            .append_pair("ErrorCode", "15003")
            .append_pair("LogLevel", "WARN")
            .append_pair(
                "Msg",
                &format!("Got HTTP {status} response to {STATUS_CALLBACK_URL}"),
            );
        Entry {
            resource: call_sid.to_owned(),
            code: "15003".to_owned(),
            warning: true,
            at: self.after(after, 1..=5),
            text: text.finish(),
            request: Some(STATUS_CALLBACK_URL),
        }
    }

    /// 11200: fetching the application's TwiML failed.
    fn fetch_failure(&mut self, resource: &str, after: i64) -> Entry {
        let status = [500, 502, 503, 504][self.rng.random_range(0..4)];
        let mut text = url::form_urlencoded::Serializer::new(String::new());
        text.append_pair(
            "Msg",
            &format!(
                "An attempt to retrieve content from {VOICE_URL} returned the HTTP status code {status}"
            ),
        )
        .append_pair("ErrorCode", "11200")
        .append_pair("httpResponse", &status.to_string())
        .append_pair("url", VOICE_URL)
        .append_pair("LogLevel", "ERROR");
        Entry {
            resource: resource.to_owned(),
            code: "11200".to_owned(),
            warning: false,
            at: self.after(after, 1..=3),
            text: text.finish(),
            request: Some(VOICE_URL),
        }
    }

    /// An instant `delay` seconds after `t` (which is not after the clock), never past the
    /// clock.
    fn after(&mut self, t: i64, delay: std::ops::RangeInclusive<i64>) -> i64 {
        (t + self.rng.random_range(delay)).min(self.now)
    }

    fn new_sid(&mut self) -> String {
        loop {
            let candidate = sid(&mut self.rng, "NO");
            if self.sids.insert(candidate.clone()) {
                return candidate;
            }
        }
    }

    fn record(&mut self, entry: &Entry, places: Places) {
        let more_info = entry
            .code
            .parse::<i64>()
            .ok()
            .map(|code| format!("https://www.twilio.com/docs/errors/{code}"));
        // Twilio stores the record a moment after the event.
        let stored = self.after(entry.at, 0..=1);
        if places.alert {
            let sid = self.new_sid();
            self.alerts.push(Alert {
                account_sid: Some(self.account.to_owned()),
                alert_text: Some(entry.text.clone()),
                api_version: Some("2010-04-01".to_owned()),
                date_created: Some(format_utc(instant(stored))),
                date_generated: Some(format_utc(instant(entry.at))),
                date_updated: Some(format_utc(instant(stored))),
                error_code: Some(entry.code.clone()),
                log_level: Some(if entry.warning { "warning" } else { "error" }.to_owned()),
                more_info: more_info.clone(),
                request_method: entry.request.map(|_| "POST".to_owned()),
                request_url: entry.request.map(str::to_owned),
                resource_sid: Some(entry.resource.clone()),
                url: Some(format!("https://monitor.twilio.com/v1/Alerts/{sid}")),
                sid: Some(sid),
                service_sid: None,
            });
        }
        if places.notification {
            let sid = self.new_sid();
            let uri = format!(
                "/2010-04-01/Accounts/{}/Calls/{}/Notifications/{sid}.json",
                self.account, entry.resource
            );
            self.notifications
                .entry(entry.resource.clone())
                .or_default()
                .push(Notification {
                    account_sid: Some(self.account.to_owned()),
                    api_version: Some("2010-04-01".to_owned()),
                    call_sid: Some(entry.resource.clone()),
                    date_created: Some(format_rfc2822(instant(stored))),
                    date_updated: Some(format_rfc2822(instant(stored))),
                    error_code: Some(entry.code.clone()),
                    log: Some(if entry.warning { "1" } else { "0" }.to_owned()),
                    message_date: Some(format_rfc2822(instant(entry.at))),
                    message_text: Some(entry.text.clone()),
                    more_info,
                    request_method: entry.request.map(|_| "POST".to_owned()),
                    request_url: entry.request.map(str::to_owned),
                    sid: Some(sid),
                    uri: Some(uri),
                });
        }
    }
}
