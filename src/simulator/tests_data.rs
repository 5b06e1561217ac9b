//! The generated dataset as a whole, across the modules that build it (`data`, `agents`,
//! `errors`, `ledger_rows`, `timeline`): the calls a seed gave before error codes and agent
//! calls existed, the error-code mix callrecon must handle, the child legs and their ledger
//! rows, unpriced calls and disagreeing webhooks.

use super::{Dataset, SimConfig};
use crate::codes;
use crate::timefmt::{parse_intended_at, parse_rfc2822};
use crate::twilio::model::{Alert, Call, Notification, is_final};
use chrono::{DateTime, NaiveDate};
use std::collections::{HashMap, HashSet};

fn config(calls: usize, seed: u64, days: u32) -> SimConfig {
    SimConfig::new(
        calls,
        seed,
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        days,
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The calls `Dataset::generate` made before agent calls existed: all but the child legs
/// and their parents.
fn direct_calls(data: &Dataset) -> Vec<&Call> {
    let parents: HashSet<&str> = data
        .calls
        .iter()
        .filter_map(|c| c.parent_call_sid.as_deref())
        .collect();
    data.calls
        .iter()
        .filter(|c| c.parent_call_sid.is_none() && !parents.contains(c.sid.as_str()))
        .collect()
}

/// GUARD: adding alerts, notifications, agent calls and unpriced calls must not change the
/// calls a seed gave before them. The hashes were taken from the simulator as it was just
/// before those were added: of every call's JSON with `price` cleared, and of the full JSON
/// of every call except the completed ones that ended in the last 30 minutes (whose price
/// is now null, as the fields test checks).
#[test]
fn the_calls_a_seed_gave_before_error_codes_existed_are_unchanged() {
    let cases = [
        (
            config(2000, 1, 1),
            0,
            0xdebb_6509_b0a2_d4be_u64,
            0xa9c5_4e22_22ea_81d3_u64,
            14,
        ),
        (
            config(500, 3, 2),
            6,
            0xb818_62d1_8a05_44a6,
            0xefd2_c772_abf5_dde0,
            4,
        ),
    ];
    for (mut cfg, hours_back, unpriced_hash, priced_hash, recent) in cases {
        cfg.now -= chrono::Duration::hours(hours_back);
        let data = Dataset::generate(&cfg);
        let direct = direct_calls(&data);
        assert_eq!(direct.len(), cfg.calls);
        let cut = data.now - chrono::Duration::minutes(30);
        let ended_recently = |c: &&Call| {
            c.status == "completed" && parse_rfc2822(c.end_time.as_deref().unwrap()).unwrap() > cut
        };
        let no_price: Vec<Call> = direct
            .iter()
            .map(|&c| Call {
                price: None,
                ..c.clone()
            })
            .collect();
        let priced: Vec<&Call> = direct
            .iter()
            .copied()
            .filter(|c| !ended_recently(c))
            .collect();
        let no_price = serde_json::to_string(&no_price).unwrap();
        let priced_json = serde_json::to_string(&priced).unwrap();
        assert_eq!(fnv1a(no_price.as_bytes()), unpriced_hash);
        assert_eq!(fnv1a(priced_json.as_bytes()), priced_hash);
        assert_eq!(direct.len() - priced.len(), recent);
    }
    let data = Dataset::generate(&config(2000, 1, 1));
    let first: Vec<&str> = direct_calls(&data)[..3]
        .iter()
        .map(|c| c.sid.as_str())
        .collect();
    assert_eq!(
        first,
        [
            "CAdc377881abe70c124a4e2f1b52b3805a",
            "CAa877141ad4f5115fa5af97b2e5a5704c",
            "CA7de6cb569c3efd6a6f82412252cd8fc4"
        ]
    );
}

#[test]
fn the_same_seed_gives_identical_alerts_and_notifications() {
    let a = Dataset::generate(&config(800, 5, 1));
    let b = Dataset::generate(&config(800, 5, 1));
    let c = Dataset::generate(&config(800, 6, 1));
    assert!(!a.alerts.is_empty() && !a.notifications.is_empty());
    assert_eq!(a.alerts, b.alerts);
    assert_eq!(a.notifications, b.notifications);
    assert_ne!(a.alerts, c.alerts);
}

/// The codes one call has in each source, by whether they are about the call itself.
#[derive(Default)]
struct Logged {
    alert: Vec<(String, String)>,
    notification: Vec<(String, String)>,
}

fn is_app_code(code: &str) -> bool {
    code.parse().is_ok_and(codes::is_about_webhook)
}

fn real(codes: &[(String, String)]) -> Vec<&str> {
    codes
        .iter()
        .map(|(code, _)| code.as_str())
        .filter(|c| c.parse::<i64>().is_ok() && !is_app_code(c))
        .collect()
}

#[test]
fn failed_calls_carry_codes_in_every_mix_callrecon_must_handle() {
    let data = Dataset::generate(&config(4000, 2, 1));
    let mut by_call: HashMap<&str, Logged> = HashMap::new();
    for a in &data.alerts {
        check_alert(a, &data);
        let level = a.log_level.clone().unwrap();
        let entry = by_call
            .entry(a.resource_sid.as_deref().unwrap())
            .or_default();
        entry.alert.push((a.error_code.clone().unwrap(), level));
    }
    for (sid, list) in &data.notifications {
        for n in list {
            check_notification(n, sid, &data);
            let level = if n.log.as_deref() == Some("0") {
                "error"
            } else {
                "warning"
            };
            let entry = by_call.entry(sid.as_str()).or_default();
            entry
                .notification
                .push((n.error_code.clone().unwrap(), level.to_owned()));
        }
    }
    let failed: Vec<&Call> = data.calls.iter().filter(|c| c.status == "failed").collect();
    let empty = Logged::default();
    let mut mix: HashMap<&str, usize> = HashMap::new();
    for call in &failed {
        let logged = by_call.get(call.sid.as_str()).unwrap_or(&empty);
        let (alert, notification) = (real(&logged.alert), real(&logged.notification));
        // An alert with a code outside the categories file may sit beside a call's own code,
        // so "both" means the same code in both places.
        let shared = alert.iter().any(|c| notification.contains(c));
        let kind = match (alert.is_empty(), notification.is_empty()) {
            _ if shared => "both",
            (false, true) => "alert only",
            (true, false) => "notification only",
            (false, false) => "different codes",
            (true, true) if logged.alert.is_empty() && logged.notification.is_empty() => "neither",
            (true, true) => "only the application's webhook",
        };
        *mix.entry(kind).or_default() += 1;
        let all = logged.alert.iter().chain(&logged.notification);
        if all.clone().any(|(c, _)| c == "15003") && !(alert.is_empty() && notification.is_empty())
        {
            *mix.entry("15003 beside a real code").or_default() += 1;
        }
        if all.clone().any(|(c, l)| l == "warning" && !is_app_code(c)) {
            *mix.entry("warning-level code").or_default() += 1;
        }
    }
    let share = |kind: &str| mix.get(kind).copied().unwrap_or(0) as f64 / failed.len() as f64;
    assert!(failed.len() > 200, "{} failed calls", failed.len());
    for (kind, lo, hi) in [
        ("alert only", 0.25, 0.45),
        ("notification only", 0.17, 0.33),
        ("both", 0.08, 0.22),
        ("neither", 0.08, 0.24),
        ("only the application's webhook", 0.03, 0.14),
        ("15003 beside a real code", 0.03, 0.14),
        ("warning-level code", 0.15, 0.60),
    ] {
        assert!((lo..=hi).contains(&share(kind)), "{kind}: {mix:?}");
    }
    // Alerts a join on resource_sid must skip or survive.
    let count = |f: &dyn Fn(&Alert) -> bool| data.alerts.iter().filter(|a| f(a)).count();
    assert!(count(&|a| a.resource_sid.as_deref().unwrap().starts_with("PN")) >= 1);
    assert!(count(&|a| a.error_code.as_deref() == Some("")) >= 1);
    assert!(count(&|a| a.error_code.as_deref().unwrap().parse::<i64>().is_err()) >= 2);
    let unknown = |a: &Alert| {
        a.error_code
            .as_deref()
            .unwrap()
            .parse()
            .is_ok_and(|code: i64| {
                !codes::is_about_webhook(code) && codes::lookup(code).category == codes::UNKNOWN
            })
    };
    assert!(count(&unknown) >= 2);
    // SIP-style warnings on busy and no-answer calls, in notifications.
    for (status, wanted) in [
        ("busy", &["31486"][..]),
        ("no-answer", &["31487", "31408"][..]),
    ] {
        let with = data
            .calls
            .iter()
            .filter(|c| c.status == status)
            .filter_map(|c| by_call.get(c.sid.as_str()))
            .filter(|l| {
                l.notification
                    .iter()
                    .any(|(c, lvl)| wanted.contains(&c.as_str()) && lvl == "warning")
            })
            .count();
        assert!(with >= 5, "{status}: {with}");
    }
}

fn check_alert(a: &Alert, data: &Dataset) {
    let sid = a.sid.as_deref().unwrap();
    assert!(sid.len() == 34 && sid.starts_with("NO"), "{sid}");
    let generated = a.date_generated.as_deref().unwrap();
    let at = DateTime::parse_from_rfc3339(generated).unwrap();
    assert_eq!(generated.len(), 20, "{generated}");
    assert!(at <= data.now && a.date_created.as_deref().unwrap() >= generated);
    assert!(["error", "warning"].contains(&a.log_level.as_deref().unwrap()));
    assert_eq!(
        a.url.as_deref().unwrap(),
        format!("https://monitor.twilio.com/v1/Alerts/{sid}")
    );
    assert_eq!(a.account_sid.as_deref(), Some(data.account_sid.as_str()));
    let text = a.alert_text.as_deref().unwrap();
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    assert!(
        pairs.contains_key("Msg") && pairs.contains_key("LogLevel"),
        "{text}"
    );
    if let Ok(code) = a.error_code.as_deref().unwrap().parse::<i64>() {
        assert_eq!(pairs["ErrorCode"], code.to_string());
        let more = format!("https://www.twilio.com/docs/errors/{code}");
        assert_eq!(a.more_info.as_deref(), Some(more.as_str()));
    }
}

fn check_notification(n: &Notification, call_sid: &str, data: &Dataset) {
    let sid = n.sid.as_deref().unwrap();
    assert!(sid.len() == 34 && sid.starts_with("NO"), "{sid}");
    assert_eq!(n.call_sid.as_deref(), Some(call_sid));
    let at = parse_rfc2822(n.message_date.as_deref().unwrap()).unwrap();
    assert!(at <= data.now);
    assert!(["0", "1"].contains(&n.log.as_deref().unwrap()));
    let uri = format!(
        "/2010-04-01/Accounts/{}/Calls/{call_sid}/Notifications/{sid}.json",
        data.account_sid
    );
    assert_eq!(n.uri.as_deref(), Some(uri.as_str()));
    let code = n.error_code.as_deref().unwrap();
    assert!(
        n.message_text
            .as_deref()
            .unwrap()
            .contains(&format!("ErrorCode={code}"))
    );
}

#[test]
fn agent_calls_have_a_dial_child_leg_and_the_ledger_names_the_parent_and_the_customer() {
    let data = Dataset::generate(&config(3000, 4, 1));
    let by_sid: HashMap<&str, &Call> = data.calls.iter().map(|c| (c.sid.as_str(), c)).collect();
    let rows: HashMap<&str, &crate::ledger::LedgerRow> = data
        .ledger
        .iter()
        .filter_map(|r| Some((r.call_sid.as_deref()?, r)))
        .collect();
    let children: Vec<&Call> = data
        .calls
        .iter()
        .filter(|c| c.direction.as_deref() == Some("outbound-dial"))
        .collect();
    assert!(children.len() > 80, "{}", children.len());
    let mut statuses = HashSet::new();
    let mut parents_completed = 0;
    for child in &children {
        let parent = by_sid[child.parent_call_sid.as_deref().unwrap()];
        assert_eq!(parent.direction.as_deref(), Some("outbound-api"));
        assert_eq!(parent.from, child.from);
        let agent = parent.to.as_deref().unwrap();
        assert!(
            agent.starts_with("client:agent") || agent.starts_with("+1415"),
            "{agent}"
        );
        let created = |c: &Call| parse_rfc2822(c.date_created.as_deref().unwrap()).unwrap();
        let gap = (created(child) - created(parent)).num_seconds();
        assert!((5..=14).contains(&gap), "{gap}");
        let row = rows[parent.sid.as_str()];
        assert_eq!(digits(&row.to_number), digits(child.to.as_deref().unwrap()));
        let intended = parse_intended_at(&row.intended_at).unwrap();
        assert!((created(parent) - intended).num_seconds() <= 3);
        statuses.insert(child.status.as_str());
        parents_completed += usize::from(parent.status == "completed");
    }
    for status in ["completed", "busy", "no-answer", "failed"] {
        assert!(statuses.contains(status), "{statuses:?}");
    }
    assert!(parents_completed * 10 >= children.len() * 9);
}

/// A NANP number's ten digits, however it is written.
fn digits(number: &str) -> String {
    let all: String = number.chars().filter(char::is_ascii_digit).collect();
    all.strip_prefix('1')
        .filter(|d| d.len() == 10)
        .unwrap_or(&all)
        .to_owned()
}

#[test]
fn some_completed_calls_are_not_priced_yet_at_now() {
    let data = Dataset::generate(&config(2000, 1, 1));
    let unpriced = data
        .calls
        .iter()
        .filter(|c| c.status == "completed" && c.price.is_none())
        .count();
    assert!(unpriced >= 5, "{unpriced}");
}

#[test]
fn a_few_final_webhooks_disagree_with_twilio() {
    let data = Dataset::generate(&config(4000, 3, 1));
    let status: HashMap<&str, &str> = data
        .calls
        .iter()
        .map(|c| (c.sid.as_str(), c.status.as_str()))
        .collect();
    let disagree = data
        .ledger
        .iter()
        .filter(|r| {
            let twilio = r.call_sid.as_deref().and_then(|s| status.get(s));
            let webhook = r.webhook_status.as_deref().filter(|w| is_final(w));
            matches!((twilio, webhook), (Some(t), Some(w)) if is_final(t) && *t != w)
        })
        .count();
    let share = disagree as f64 / data.ledger.len() as f64;
    assert!(
        (0.005..0.03).contains(&share),
        "{disagree} of {}",
        data.ledger.len()
    );
}
