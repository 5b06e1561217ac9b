//! Every window form, in UTC and in named zones across daylight saving changes, as the run
//! resolves it (the summary's `window`) and as the report then holds it.

use crate::config::scenario_sim;
use crate::scenario::NOW;
use crate::util::*;

/// The `[from, to)` a `fetch` used, read from its JSON summary.
fn window(sim: &Sim, db: &std::path::Path, args: &[&str]) -> (String, String) {
    let dir = TestDir::new();
    let summary = dir.path("s.json");
    let mut cmd = against(sim);
    cmd.args(["fetch", "--db"])
        .arg(db)
        .args(args)
        .arg("--summary-json")
        .arg(&summary);
    run(&mut cmd, 0);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let w = &json["window"];
    (
        w["from"].as_str().unwrap().to_owned(),
        w["to"].as_str().unwrap().to_owned(),
    )
}

fn pair(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

#[test]
fn every_window_form_in_utc_and_in_a_named_zone() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    // NOW is 2026-03-11T06:00:00Z.
    let w = |args: &[&str]| {
        let mut all = vec!["--now", NOW];
        all.extend_from_slice(args);
        window(&sim, &db, &all)
    };
    assert_eq!(
        w(&["--window", "yesterday"]),
        pair("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z")
    );
    assert_eq!(
        w(&["--window", "today"]),
        pair("2026-03-11T00:00:00Z", "2026-03-11T06:00:00Z")
    );
    assert_eq!(
        w(&["--window", "last-24h"]),
        pair("2026-03-10T06:00:00Z", "2026-03-11T06:00:00Z")
    );
    assert_eq!(
        w(&["--window", "2026-03-10"]),
        pair("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z")
    );
    assert_eq!(
        w(&[
            "--from",
            "2026-03-10T08:00:00Z",
            "--to",
            "2026-03-10T20:00:00Z"
        ]),
        pair("2026-03-10T08:00:00Z", "2026-03-10T20:00:00Z")
    );
    // New York is on daylight time (UTC-4) since 2026-03-08: at 02:00 local "yesterday" is
    // the 10th from local midnight to local midnight.
    assert_eq!(
        w(&["--window", "yesterday", "--tz", "America/New_York"]),
        pair("2026-03-10T04:00:00Z", "2026-03-11T04:00:00Z")
    );
    assert_eq!(
        w(&["--window", "today", "--tz", "Asia/Tokyo"]),
        pair("2026-03-10T15:00:00Z", "2026-03-11T06:00:00Z")
    );
    assert_eq!(
        w(&["--window", "last-24h", "--tz", "Asia/Tokyo"]),
        pair("2026-03-10T06:00:00Z", "2026-03-11T06:00:00Z"),
        "the last 24 hours are the same everywhere"
    );
}

#[test]
fn a_local_day_is_23_or_25_hours_when_the_clocks_change() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let w = |day: &str, now: &str| {
        window(
            &sim,
            &db,
            &["--window", day, "--tz", "Europe/Berlin", "--now", now],
        )
    };
    let hours = |(from, to): (String, String)| {
        let t = |s: &str| callrecon::timefmt::parse_bound(s).unwrap();
        (t(&to) - t(&from)).num_hours()
    };
    let spring = w("2026-03-29", "2026-04-01T00:00:00Z");
    assert_eq!(spring, pair("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"));
    assert_eq!(hours(spring), 23);
    let autumn = w("2026-10-25", "2026-10-27T00:00:00Z");
    assert_eq!(autumn, pair("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"));
    assert_eq!(hours(autumn), 25);
    // "yesterday" seen from Berlin half an hour after local midnight, the day after the
    // spring change, is the 23-hour day.
    assert_eq!(
        w("yesterday", "2026-03-29T22:30:00Z"),
        pair("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")
    );
}

/// The report holds exactly the rows of the local day: the 23:59:59Z row of the 9th is the
/// 10th in Berlin (UTC+1), the 23:59:58Z row of the 10th is the 11th there.
#[test]
fn a_report_over_a_local_day_holds_that_days_rows() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let out = dir.path("r.csv");
    let mut cmd = against(&sim);
    cmd.args(["run", "--db"])
        .arg(&db)
        .args([
            "--window",
            "2026-03-10",
            "--tz",
            "Europe/Berlin",
            "--now",
            NOW,
        ])
        .args(["--include-completed", "--no-write-back", "--out"])
        .arg(&out);
    run(&mut cmd, 0);
    let rows = by_id(&read_report(&out));
    assert!(
        rows.contains_key("15"),
        "2026-03-09T23:59:59Z is in Berlin's 10th"
    );
    assert!(rows.contains_key("16"));
    assert!(
        !rows.contains_key("17"),
        "2026-03-10T23:59:58Z is Berlin's 11th"
    );
    assert!(!rows.contains_key("13"));
}

#[test]
fn a_named_window_and_bounds_exclude_each_other() {
    let out = run(
        callrecon().args([
            "report",
            "--db",
            "x.db",
            "--window",
            "yesterday",
            "--from",
            "2026-03-10T00:00:00Z",
            "--to",
            "2026-03-11T00:00:00Z",
            "--out",
            "-",
        ]),
        2,
    );
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    let out = run(
        callrecon().args([
            "report", "--db", "x.db", "--window", "tomorrow", "--out", "-",
        ]),
        2,
    );
    assert!(
        stderr(&out).contains("use yesterday, today, last-24h or a day like"),
        "{}",
        stderr(&out)
    );
}
