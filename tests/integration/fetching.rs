//! Fetching through HTTP: paging, short pages, 429 and 503 bursts, authentication, and the
//! generated volume landing exactly.

use crate::util::*;
use callrecon::simulator::SimConfig;
use callrecon::timefmt::parse_day;
use std::collections::BTreeSet;

const DAY: &str = "2026-02-03";

fn config(calls: usize) -> SimConfig {
    SimConfig::new(calls, 11, parse_day(DAY).unwrap(), 1)
}

/// `run` over the simulator's one day, with its clock.
fn run_day(sim: &Sim, dir: &TestDir, extra: &[&str], want: i32) -> std::process::Output {
    let now = sim_now(sim);
    let window = ["2026-02-03T00:00:00Z", "2026-02-04T00:00:00Z", now.as_str()];
    let mut cmd = over_window(sim, dir, "run", window);
    // Every call, inbound too: these tests hold the landing to the simulator's whole day.
    cmd.args(["--all-callers", "--retry-base-ms", "1", "--out"])
        .arg(dir.path("report.csv"))
        .args(extra);
    run(&mut cmd, want)
}

fn landed_sids(dir: &TestDir) -> BTreeSet<String> {
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    let mut stmt = conn.prepare("SELECT sid FROM recon_calls").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn all_sids(sim: &Sim) -> BTreeSet<String> {
    sim.sim
        .dataset()
        .calls
        .iter()
        .map(|c| c.sid.clone())
        .collect()
}

/// GUARD: a short page in the middle of a listing is not its end.
#[test]
fn pages_through_many_pages_with_a_short_one_in_the_middle() {
    let mut cfg = config(1200);
    cfg.faults.short_page_every = Some(3);
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let out = run_day(&sim, &dir, &["--page-size", "50"], 0);
    assert_eq!(landed_sids(&dir), all_sids(&sim));
    let stats = sim.sim.stats();
    assert!(stats.requests > 24, "{stats:?}");
    let listed = format!("fetched {} call(s)", sim.sim.dataset().calls.len());
    assert!(stderr(&out).contains(&listed), "{}", stderr(&out));
}

#[test]
fn rides_out_bursts_of_429_and_503_and_reports_the_same() {
    let clean = Sim::start(config(600));
    let clean_dir = TestDir::new();
    run_day(&clean, &clean_dir, &["--page-size", "100"], 0);

    let mut cfg = config(600);
    cfg.faults.burst_429 = Some(callrecon::simulator::Burst::parse("2/10").unwrap());
    cfg.faults.burst_503 = Some(callrecon::simulator::Burst::parse("2/10").unwrap());
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let out = run_day(&sim, &dir, &["--page-size", "100"], 0);
    let stats = sim.sim.stats();
    assert!(
        stats.responses_429 >= 3 && stats.responses_5xx >= 2,
        "{stats:?}"
    );
    assert!(stderr(&out).contains("throttled (429)"), "{}", stderr(&out));
    assert_eq!(landed_sids(&dir), all_sids(&sim));
    assert_eq!(
        std::fs::read_to_string(dir.path("report.csv")).unwrap(),
        std::fs::read_to_string(clean_dir.path("report.csv")).unwrap()
    );
}

#[test]
fn past_the_retry_budget_it_fails_with_exit_4_and_writes_no_report() {
    let mut cfg = config(100);
    cfg.faults.burst_503 = Some(callrecon::simulator::Burst::parse("50/50").unwrap());
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let out = run_day(&sim, &dir, &["--max-attempts", "3"], 4);
    assert!(
        stderr(&out).contains("gave up after 3 attempt(s)"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("HTTP 503"), "{}", stderr(&out));
    assert!(!dir.path("report.csv").exists());
}

#[test]
fn wrong_credentials_fail_at_once_with_exit_3() {
    let sim = Sim::start(config(10));
    let dir = TestDir::new();
    callrecon::simulator::write_ledger(sim.sim.dataset(), &dir.path("ledger.db")).unwrap();
    let mut cmd = against(&sim);
    cmd.env("TWILIO_AUTH_TOKEN", "wrong-token-0123456789");
    cmd.args(["fetch", "--db"])
        .arg(dir.path("ledger.db"))
        .args([
            "--from",
            "2026-02-03T00:00:00Z",
            "--to",
            "2026-02-04T00:00:00Z",
        ]);
    let out = run(&mut cmd, 3);
    let err = stderr(&out);
    assert!(err.contains("HTTP 401") && err.contains("20003"), "{err}");
    assert!(
        !err.contains("wrong-token-0123456789"),
        "the token leaked: {err}"
    );
    // The first round goes out at once (first pages, alerts): every one of its requests is
    // refused, none is retried, and nothing follows the first refusal.
    let stats = sim.sim.stats();
    assert_eq!(stats.requests, stats.responses_401, "{stats:?}");
    assert!(!err.contains("retrying"), "a 401 is not retried: {err}");
    assert!(
        stats.requests <= 8,
        "more than a round of requests (--max-in-flight 4, twice): {stats:?}"
    );
}

#[test]
fn a_generated_volume_lands_exactly_and_reports_every_row_not_completed() {
    let sim = Sim::start(config(20_000));
    let dir = TestDir::new();
    run_day(&sim, &dir, &[], 0);
    assert_eq!(landed_sids(&dir), all_sids(&sim));
    // Every ledger row of the window that did not complete is in the report, once.
    let reported = read_report(&dir.path("report.csv"));
    let now = callrecon::timefmt::format_utc(sim.sim.dataset().now);
    let mut cmd = callrecon();
    cmd.args(["report", "--db"])
        .arg(dir.path("ledger.db"))
        .args([
            "--from",
            "2026-02-03T00:00:00Z",
            "--to",
            "2026-02-04T00:00:00Z",
            "--now",
            &now,
            "--include-completed",
            "--out",
        ]);
    cmd.arg(dir.path("all.csv"));
    run(&mut cmd, 0);
    let all = read_report(&dir.path("all.csv"));
    let (from, to) = (
        callrecon::timefmt::parse_bound("2026-02-03T00:00:00Z").unwrap(),
        callrecon::timefmt::parse_bound("2026-02-04T00:00:00Z").unwrap(),
    );
    let in_window = sim
        .sim
        .dataset()
        .ledger
        .iter()
        .filter(
            |r| match callrecon::timefmt::parse_intended_at(&r.intended_at) {
                Some(t) => from <= t && t < to,
                None => true,
            },
        )
        .count();
    assert_eq!(
        all.len(),
        in_window,
        "every ledger row of the window is in the full report"
    );
    let not_completed: Vec<_> = all.iter().filter(|r| r["outcome"] != "completed").collect();
    assert_eq!(reported.len(), not_completed.len());
    assert_every_outcome(&reported);
}
