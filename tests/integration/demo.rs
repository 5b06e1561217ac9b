//! The demo: the main job on its embedded default. Same report every time, every outcome, and
//! every failed call's code found where the simulator put it.

use crate::util::*;
use callrecon::codes;
use callrecon::demo::{DEMO_CALLS, DEMO_DAY, DEMO_SEED};
use callrecon::simulator::{Dataset, SimConfig};
use callrecon::timefmt::parse_day;

/// What design.md's order of sources says a call's code comes from, computed straight from
/// the simulator's data: the oracle the report is held to.
fn expected_source(data: &Dataset, ledger_id: i64, call_sid: &str) -> &'static str {
    let row = data.ledger.iter().find(|r| r.id == ledger_id).unwrap();
    let usable = |c: Option<i64>| c.is_some_and(|c| !codes::is_about_webhook(c));
    if usable(row.create_error_code) {
        return "ledger";
    }
    if usable(row.webhook_error_code) {
        return "webhook";
    }
    if row.webhook_sip_code.is_some_and(|s| s >= 300) {
        return "webhook-sip";
    }
    let parent = data
        .calls
        .iter()
        .find(|c| c.sid == call_sid)
        .and_then(|c| c.parent_call_sid.clone());
    let ours = |sid: &Option<String>| {
        sid.as_deref() == Some(call_sid) || (parent.is_some() && *sid == parent)
    };
    let numeric = |code: &Option<String>| {
        code.as_deref()
            .and_then(|c| c.parse::<i64>().ok())
            .filter(|c| !codes::is_about_webhook(*c))
    };
    if data.alerts.iter().any(|a| {
        ours(&a.resource_sid)
            && numeric(&a.error_code).is_some()
            && matches!(a.log_level.as_deref(), Some("error" | "warning"))
    }) {
        return "alert";
    }
    let in_notifications = [Some(call_sid.to_owned()), parent.clone()]
        .iter()
        .flatten()
        .any(|sid| {
            data.notifications.get(sid).is_some_and(|list| {
                list.iter().any(|n| {
                    numeric(&n.error_code).is_some() && matches!(n.log.as_deref(), Some("0" | "1"))
                })
            })
        });
    if in_notifications { "notification" } else { "" }
}

#[test]
fn the_demo_is_the_same_every_time_and_finds_every_failed_calls_code() {
    let dir = TestDir::new();
    let out_dir = dir.path("demo");
    let out = run(callrecon().args(["demo", "--out"]).arg(&out_dir), 0);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("report.csv"), "{said}");
    assert!(said.contains("error codes by source: ledger "), "{said}");
    let first = std::fs::read_to_string(out_dir.join("report.csv")).unwrap();
    assert!(first.starts_with(&callrecon::report::COLUMNS.join(",")));
    run(callrecon().args(["demo", "--out"]).arg(&out_dir), 0);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("report.csv")).unwrap(),
        first
    );

    let rows = read_report(&out_dir.join("report.csv"));
    assert_every_outcome(&rows);
    let data = Dataset::generate(&SimConfig::new(
        DEMO_CALLS,
        DEMO_SEED,
        parse_day(DEMO_DAY).unwrap(),
        1,
    ));
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r["twilio_status"] == "failed")
        .collect();
    assert!(failed.len() > 100);
    let mut by_source = std::collections::BTreeMap::new();
    for r in &failed {
        let want = expected_source(&data, r["ledger_id"].parse().unwrap(), &r["call_sid"]);
        assert_eq!(r["error_source"], want, "{r:?}");
        *by_source.entry(want).or_insert(0) += 1;
    }
    for source in ["alert", "notification", "webhook-sip"] {
        assert!(
            by_source.get(source).copied().unwrap_or(0) > 0,
            "no failed call's code came from {source}: {by_source:?}"
        );
    }
    for file in ["orphans.csv", "numbers.csv"] {
        assert!(out_dir.join(file).exists(), "{file}");
    }
}
