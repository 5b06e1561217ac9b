//! Error codes from every source, each winning in its turn (design.md, "Error codes"), on a
//! hand-made day whose alerts and notifications are placed on purpose.

use crate::scenario::{call, row, sid};
use crate::util::*;
use callrecon::ledger::LedgerRow;
use callrecon::simulator::{Dataset, SimConfig};
use callrecon::timefmt::{format_rfc2822, parse_bound, parse_day};
use callrecon::twilio::model::{Alert, Notification};

const FROM: &str = "2026-04-07T00:00:00Z";
const TO: &str = "2026-04-08T00:00:00Z";
const NOW: &str = "2026-04-08T06:00:00Z";

fn number(n: u32) -> String {
    format!("+1201555{:04}", 200 + n)
}

fn alert(n: u32, call: &str, code: &str, level: &str, at: &str, text: &str) -> Alert {
    Alert {
        sid: Some(format!("NO{:032x}", 0xa000 + n)),
        account_sid: Some(callrecon::simulator::DEFAULT_ACCOUNT_SID.into()),
        resource_sid: Some(call.into()),
        error_code: Some(code.into()),
        log_level: Some(level.into()),
        date_generated: Some(at.into()),
        date_created: Some(at.into()),
        date_updated: Some(at.into()),
        alert_text: Some(text.into()),
        ..Alert::default()
    }
}

fn notification(n: u32, call: &str, code: &str, log: &str, at: &str) -> Notification {
    Notification {
        sid: Some(format!("NO{:032x}", 0xb000 + n)),
        call_sid: Some(call.into()),
        error_code: Some(code.into()),
        log: Some(log.into()),
        message_date: Some(format_rfc2822(parse_bound(at).unwrap())),
        message_text: Some(format!("ErrorCode={code}&Msg=Twilio+text+{code}")),
        ..Notification::default()
    }
}

/// One failed (or busy) call per case, each with a ledger row carrying its SID.
fn dataset(now: &str) -> (SimConfig, Dataset) {
    let cases: [(u32, &str); 13] = [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
        (4, "failed"),
        (5, "failed"),
        (6, "failed"),
        (7, "failed"),
        (8, "busy"),
        (9, "failed"),
        (11, "failed"),
        (12, "failed"),
        (13, "failed"),
        (14, "no-answer"),
    ];
    let mut calls = Vec::new();
    let mut ledger = Vec::new();
    for (n, status) in cases {
        let at = format!("2026-04-07T{:02}:00:00Z", n);
        calls.push(call(100 + n, &number(n), status, &at));
        ledger.push(row(n as i64, &number(n), &at, Some(100 + n)));
    }
    // A row whose create request failed: no call at all.
    ledger.push(LedgerRow {
        create_error_code: Some(21214),
        ..row(10, &number(10), "2026-04-07T10:00:00Z", None)
    });
    ledger[0].webhook_error_code = Some(32009);
    ledger[1].webhook_sip_code = Some(480);
    ledger.sort_by_key(|r| r.id);
    let s = |n: u32| sid(100 + n);
    let alerts = vec![
        alert(
            1,
            &s(1),
            "13224",
            "error",
            "2026-04-07T01:00:05Z",
            "Msg=Dial+failed",
        ),
        alert(2, &s(2), "32016", "error", "2026-04-07T02:00:05Z", ""),
        alert(3, &s(3), "32016", "error", "2026-04-07T03:00:05Z", ""),
        alert(4, &s(3), "13224", "warning", "2026-04-07T03:00:09Z", ""),
        alert(5, &s(4), "13224", "warning", "2026-04-07T04:00:05Z", ""),
        alert(
            6,
            &s(5),
            "15003",
            "warning",
            "2026-04-07T05:00:05Z",
            "Msg=Got+HTTP+502",
        ),
        alert(7, &s(6), "15003", "warning", "2026-04-07T06:00:05Z", ""),
        alert(8, &s(6), "UNKNOWN", "error", "2026-04-07T06:00:06Z", ""),
        alert(
            9,
            &s(9),
            "64199",
            "error",
            "2026-04-07T09:00:05Z",
            "ErrorCode=64199&Msg=Carrier+said+no",
        ),
        alert(
            10,
            "PN0000000000000000000000000000abcd",
            "11200",
            "error",
            "2026-04-07T09:30:00Z",
            "",
        ),
        alert(11, &s(11), "31005", "error", "2026-04-07T11:00:05Z", ""),
        alert(12, &s(12), "32016", "error", "2026-04-07T12:00:05Z", ""),
        alert(13, &s(12), "31005", "error", "2026-04-07T12:00:09Z", ""),
    ];
    let notifications = vec![
        notification(5, &s(5), "32011", "0", "2026-04-07T05:00:06Z"),
        notification(6, &s(6), "11200", "0", "2026-04-07T06:00:07Z"),
        notification(7, &s(7), "32009", "1", "2026-04-07T07:00:06Z"),
        notification(8, &s(8), "31486", "1", "2026-04-07T08:00:06Z"),
        notification(11, &s(11), "32011", "0", "2026-04-07T11:00:06Z"),
    ];
    let cfg = SimConfig::new(0, 1, parse_day("2026-04-07").unwrap(), 1);
    let data = Dataset::from_parts(calls, ledger, parse_bound(now).unwrap())
        .with_alerts(alerts)
        .with_notifications(notifications);
    (cfg, data)
}

fn run_codes(sim: &Sim, dir: &TestDir, now: &str, want: i32) -> String {
    let mut cmd = over_window(sim, dir, "run", [FROM, TO, now]);
    cmd.arg("--out").arg(dir.path("report.csv"));
    stderr(&run(&mut cmd, want))
}

#[test]
fn each_source_wins_in_its_turn_and_webhook_codes_never_do() {
    let (cfg, data) = dataset(NOW);
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let said = run_codes(&sim, &dir, NOW, 0);
    let r = by_id(&read_report(&dir.path("report.csv")));
    let got = |id: &str| {
        let row = &r[id];
        (
            row["error_code"].as_str(),
            row["error_source"].as_str(),
            row["outcome"].as_str(),
        )
    };
    assert_eq!(got("10"), ("21214", "ledger", "unreachable"));
    assert_eq!(got("1"), ("32009", "webhook", "unreachable"));
    assert_eq!(got("2"), ("", "webhook-sip", "unreachable"));
    assert_eq!(r["2"]["sip_response_code"], "480");
    assert_eq!(
        got("3"),
        ("32016", "alert", "failed"),
        "ERROR before WARNING"
    );
    assert_eq!(
        got("4"),
        ("13224", "alert", "unreachable"),
        "a warning where no error exists"
    );
    assert_eq!(
        got("5"),
        ("32011", "notification", "failed"),
        "15003 is never the call's code"
    );
    assert_eq!(
        got("6"),
        ("", "", "failed"),
        "only webhook-endpoint and unreadable codes"
    );
    assert_eq!(got("7"), ("32009", "notification", "unreachable"));
    assert_eq!(got("8"), ("31486", "notification", "busy"));
    assert_eq!(r["8"]["error_category"], "busy");
    assert_eq!(got("9"), ("64199", "alert", "failed"));
    assert_eq!(r["9"]["error_category"], "unknown");
    assert_eq!(r["9"]["error_message"], "Carrier said no");
    assert_eq!(
        got("11"),
        ("31005", "alert", "failed"),
        "alerts before notifications"
    );
    assert_eq!(
        got("12"),
        ("31005", "alert", "failed"),
        "the latest of two errors"
    );
    for row in r.values() {
        let code: i64 = row["error_code"].parse().unwrap_or(0);
        assert!(code != 15003 && !(11200..11300).contains(&code), "{row:?}");
    }
    // Cheaply: notifications are read only for the calls no earlier source explained
    // (5, 6, 7, 8, 13 and the no-answer 14), never for 1–4, 9, 11, 12.
    assert_eq!(sim.sim.stats().notification_requests, 6, "{said}");
    assert!(
        said.contains(
            "error codes by source: ledger 1, webhook 1, webhook-sip 1, alert 5, notification 3"
        ),
        "{said}"
    );
    // The Twilio-side code is written back where the application had none.
    let db = dir.path("ledger.db");
    assert_eq!(
        count(
            &db,
            "SELECT webhook_error_code FROM intended_calls WHERE id = 5"
        ),
        32011
    );
    assert_eq!(
        count(
            &db,
            "SELECT webhook_error_code FROM intended_calls WHERE id = 1"
        ),
        32009
    );
    // A rerun reads nothing again and reports the same.
    let first = std::fs::read_to_string(dir.path("report.csv")).unwrap();
    run_codes(&sim, &dir, NOW, 0);
    assert_eq!(
        std::fs::read_to_string(dir.path("report.csv")).unwrap(),
        first
    );
    assert_eq!(sim.sim.stats().notification_requests, 6);
}

#[test]
fn a_key_without_monitor_permission_degrades_to_notifications() {
    let (mut cfg, data) = dataset(NOW);
    cfg.faults.monitor_forbidden = true;
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let said = run_codes(&sim, &dir, NOW, 0);
    assert!(said.contains("Monitor refused with HTTP 403"), "{said}");
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["11"]["error_source"], "notification");
    assert_eq!(r["3"]["error_source"], "");
}

#[test]
fn alerts_older_than_thirty_days_are_not_asked_for() {
    let later = "2026-05-20T00:00:00Z";
    let (cfg, data) = dataset(later);
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let said = run_codes(&sim, &dir, later, 0);
    assert!(said.contains("older than Monitor's 30 days"), "{said}");
    assert_eq!(sim.sim.stats().alerts_served, 0);
}

#[test]
fn notifications_of_a_call_too_new_are_read_on_the_next_run() {
    // The simulator's clock is a minute after call 7: its notifications (and those of the
    // calls after it) answer 404.
    let early = "2026-04-07T07:01:00Z";
    let (cfg, data) = dataset(early);
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let said = run_codes(&sim, &dir, early, 0);
    assert!(said.contains("7 not available yet"), "{said}");
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["7"]["error_source"], "");
    // Next run, later: Twilio has them.
    let (cfg, data) = dataset(NOW);
    let later = Sim::with_dataset(cfg, data);
    run_codes(&later, &dir, NOW, 0);
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["7"]["error_source"], "notification");
}
