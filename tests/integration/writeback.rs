//! Write-back of missed webhooks, follow-ups of pending and unpriced rows, the orphans and
//! numbers files — on the hand-made day of `scenario`.

use crate::scenario::{self, sid};
use crate::util::*;
use callrecon::ledger;

fn run_window(sim: &Sim, dir: &TestDir, from: &str, to: &str, now: &str, extra: &[&str]) -> String {
    let mut cmd = over_window(sim, dir, "run", [from, to, now]);
    cmd.arg("--out").arg(dir.path("report.csv")).args(extra);
    stderr(&run(&mut cmd, 0))
}

fn run_day(sim: &Sim, dir: &TestDir, extra: &[&str]) -> String {
    let mut cmd = scenario::command(sim, dir, "run");
    cmd.arg("--out").arg(dir.path("report.csv")).args(extra);
    stderr(&run(&mut cmd, 0))
}

fn ledger_dump(dir: &TestDir) -> Vec<ledger::LedgerRow> {
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM intended_calls ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids.into_iter()
        .map(|id| ledger::get(&conn, id).unwrap().unwrap())
        .collect()
}

#[test]
fn write_back_fills_only_what_it_may_audits_it_and_a_rerun_changes_nothing() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    callrecon::simulator::write_ledger(sim.sim.dataset(), &dir.path("ledger.db")).unwrap();
    let before = ledger_dump(&dir);
    let said = run_day(&sim, &dir, &[]);
    let after = ledger_dump(&dir);
    let row =
        |rows: &[ledger::LedgerRow], id: i64| rows.iter().find(|r| r.id == id).unwrap().clone();
    // Row 2 had no SID and no webhook: Twilio's final status and the heuristic's SID are filled.
    assert_eq!(row(&after, 2).webhook_status.as_deref(), Some("busy"));
    assert_eq!(row(&after, 2).call_sid, Some(sid(2)));
    // Row 5's webhook was stale (ringing): now final.
    assert_eq!(row(&after, 5).webhook_status.as_deref(), Some("failed"));
    // Row 6's final status was the application's (busy, while Twilio says no-answer): untouched.
    assert_eq!(row(&after, 6), row(&before, 6));
    // Row 21 matched a child leg: call_sid stays the parent the application had.
    assert_eq!(row(&after, 21).call_sid, Some(sid(21)));
    assert_eq!(row(&after, 21).webhook_status.as_deref(), Some("no-answer"));
    // Pending (in progress), unmatched and unreadable rows are not touched.
    for id in [8, 9, 10, 11, 19, 20, 23] {
        assert_eq!(row(&after, id), row(&before, id), "row {id}");
    }
    // Every change has its audit row, and only changes have one.
    let db = dir.path("ledger.db");
    let changed_cells: usize = before
        .iter()
        .zip(&after)
        .map(|(b, a)| {
            (b.webhook_status != a.webhook_status) as usize
                + (b.webhook_error_code != a.webhook_error_code) as usize
                + (b.call_sid != a.call_sid) as usize
        })
        .sum();
    assert!(changed_cells > 5);
    assert_eq!(
        count(&db, "SELECT count(*) FROM recon_audit") as usize,
        changed_cells
    );
    assert!(said.contains("disagree with Twilio"), "{said}");
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["2"]["backfilled"], "true");
    assert_eq!(r["2"]["matched_by"], "heuristic");
    assert_eq!(r["6"]["backfilled"], "false");
    let first = std::fs::read_to_string(dir.path("report.csv")).unwrap();

    // The rerun: same report byte for byte (matched_by, error_source, backfilled from
    // callrecon's records), no further change to the ledger, no new audit row.
    run_day(&sim, &dir, &[]);
    assert_eq!(
        std::fs::read_to_string(dir.path("report.csv")).unwrap(),
        first
    );
    assert_eq!(ledger_dump(&dir), after);
    assert_eq!(
        count(&db, "SELECT count(*) FROM recon_audit") as usize,
        changed_cells
    );
}

#[test]
fn no_write_back_leaves_the_ledger_as_it_was() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    callrecon::simulator::write_ledger(sim.sim.dataset(), &dir.path("ledger.db")).unwrap();
    let before = ledger_dump(&dir);
    run_day(&sim, &dir, &["--no-write-back"]);
    assert_eq!(ledger_dump(&dir), before);
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["2"]["backfilled"], "false");
}

#[test]
fn pending_and_unpriced_rows_come_back_once_resolved() {
    // Night one: call 8 is still in progress and call 1 completed without a price yet.
    let (cfg, mut data) = scenario::dataset();
    data.calls
        .iter_mut()
        .find(|c| c.sid == sid(1))
        .unwrap()
        .price = None;
    let night_one = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    run_day(&night_one, &dir, &[]);
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["8"]["outcome"], "pending");
    assert!(!r.contains_key("1"), "completed rows are not in the report");

    // Night two: Twilio has settled both. The next window's report carries them, flagged.
    let (cfg, mut data) = scenario::dataset();
    let settled = data.calls.iter_mut().find(|c| c.sid == sid(8)).unwrap();
    settled.status = "completed".into();
    settled.duration = Some("1200".into());
    settled.price = Some("-0.26000".into());
    let night_two = Sim::with_dataset(cfg, data);
    let next = (
        "2026-03-11T00:00:00Z",
        "2026-03-12T00:00:00Z",
        "2026-03-12T06:00:00Z",
    );
    run_window(&night_two, &dir, next.0, next.1, next.2, &[]);
    let report = std::fs::read_to_string(dir.path("report.csv")).unwrap();
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["8"]["outcome"], "completed");
    assert_eq!(r["8"]["price"], "-0.26000");
    assert!(r["8"]["error_message"].starts_with("resolved by this run; was pending in the report for [2026-03-10T00:00:00Z, 2026-03-11T00:00:00Z)"), "{:?}", r["8"]);
    assert_eq!(r["1"]["price"], "-0.01300");
    assert!(
        r["1"]["error_message"].contains("was unpriced"),
        "{:?}",
        r["1"]
    );

    // The same window again: the same report. A later window: they are not repeated.
    run_window(&night_two, &dir, next.0, next.1, next.2, &[]);
    assert_eq!(
        std::fs::read_to_string(dir.path("report.csv")).unwrap(),
        report
    );
    run_window(
        &night_two,
        &dir,
        "2026-03-12T00:00:00Z",
        "2026-03-13T00:00:00Z",
        "2026-03-13T06:00:00Z",
        &[],
    );
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert!(!r.contains_key("8") && !r.contains_key("1"), "{r:?}");
}

#[test]
fn orphans_and_numbers_files() {
    let (cfg, mut data) = scenario::dataset();
    // A duplicate call nobody intended, and an inbound call (never an orphan).
    data.calls.push(scenario::call(
        40,
        scenario::A,
        "completed",
        "2026-03-10T10:02:00Z",
    ));
    let data = callrecon::simulator::Dataset::from_parts(data.calls, data.ledger, data.now);
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let (orphans, numbers) = (dir.path("orphans.csv"), dir.path("numbers.csv"));
    run_day(
        &sim,
        &dir,
        &[
            "--orphans-out",
            orphans.to_str().unwrap(),
            "--numbers-out",
            numbers.to_str().unwrap(),
        ],
    );
    let o = read_report(&orphans);
    let sids: Vec<&str> = o.iter().map(|r| r["call_sid"].as_str()).collect();
    assert_eq!(sids, [sid(40).as_str()]);
    assert_eq!(o[0]["ledger_id"], "");
    assert_eq!(o[0]["to"], scenario::A);
    assert_eq!(o[0]["outcome"], "completed");

    let report = read_report(&dir.path("report.csv"));
    let four = ["unreachable", "failed", "busy", "no-answer"];
    let failing = report
        .iter()
        .filter(|r| four.contains(&r["outcome"].as_str()))
        .count();
    let n = read_report(&numbers);
    let total: usize = n
        .iter()
        .map(|r| {
            ["unreachable", "failed", "busy", "no_answer"]
                .iter()
                .map(|c| r[*c].parse::<usize>().unwrap())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(total, failing, "the numbers file adds up to the report");
    let d = n.iter().find(|r| r["number"] == scenario::D).unwrap();
    assert_eq!(
        (d["failed"].as_str(), d["unreachable"].as_str()),
        ("2", "1")
    );
    assert_eq!(d["attempts"], "3");
    assert_eq!(d["last_outcome"], "failed");
    assert_eq!(d["external_refs"], "ref-16;ref-17;ref-5");
    let bad = n.iter().find(|r| r["number"] == "+1201555").unwrap();
    assert_eq!(bad["action"], "remove");
    let actions: Vec<&str> = n.iter().map(|r| r["action"].as_str()).collect();
    let mut sorted = actions.clone();
    sorted.sort();
    assert_eq!(actions, sorted, "sorted by action");
}
