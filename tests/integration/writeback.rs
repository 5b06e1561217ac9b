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

/// The ledger ids a clean run of the hand-made day wrote a status back to.
fn backfilled_ids(sim: &Sim) -> Vec<i64> {
    let dir = TestDir::new();
    run_day(sim, &dir, &[]);
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT ledger_id FROM recon_audit WHERE column = 'webhook_status' ORDER BY 1")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Waits (a minute at most) until a run stopped at a `wait=` failpoint has made its file.
fn wait_for(gate: &std::path::Path) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !gate.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(gate.exists(), "the run never reached its write-back");
}

fn set_status(dir: &TestDir, id: i64, status: &str) {
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute(
        "UPDATE intended_calls SET webhook_status = ?2 WHERE id = ?1",
        rusqlite::params![id, status],
    )
    .unwrap();
}

/// A final status the application spelled its own way is final; a value callrecon does not
/// know is left alone and noted; a transient one in any spelling is filled.
#[test]
fn a_final_status_however_spelled_is_never_overwritten() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let ids = backfilled_ids(&sim);
    let spellings = [
        "Completed",
        "FAILED",
        "no_answer",
        "cancelled",
        "Busy",
        "answered",
        "In_Progress",
    ];
    assert!(ids.len() >= spellings.len(), "{ids:?}");
    let dir = TestDir::new();
    callrecon::simulator::write_ledger(sim.sim.dataset(), &dir.path("ledger.db")).unwrap();
    for (id, status) in ids.iter().zip(spellings) {
        set_status(&dir, *id, status);
    }
    run_day(&sim, &dir, &["--include-completed"]);
    let after = ledger_dump(&dir);
    let report = by_id(&read_report(&dir.path("report.csv")));
    for (id, status) in ids.iter().zip(spellings) {
        let row = after.iter().find(|r| r.id == *id).unwrap();
        if status == "In_Progress" {
            assert_ne!(row.webhook_status.as_deref(), Some(status), "row {id}");
            assert_eq!(report[&id.to_string()]["backfilled"], "true");
        } else {
            assert_eq!(row.webhook_status.as_deref(), Some(status), "row {id}");
            assert_eq!(report[&id.to_string()]["backfilled"], "false");
        }
    }
    let odd = &report[&ids[5].to_string()]["error_message"];
    assert!(odd.contains("\"answered\" is no status"), "{odd}");
    // `Completed` and `completed` agree: no "the webhook said" note for a same status.
    for r in report.values() {
        let m = &r["error_message"];
        if let Some(rest) = m.strip_prefix("the webhook said ") {
            let (hook, twilio) = rest.split_once(", Twilio says ").unwrap();
            assert_ne!(
                hook.to_lowercase(),
                twilio.split(';').next().unwrap(),
                "{m}"
            );
        }
    }
}

/// The application writes rows between the report's read and the write-back: those rows keep
/// its values, the report does not claim them as backfilled, and the summary says what
/// committed.
#[test]
fn rows_the_application_wrote_meanwhile_are_not_claimed_as_backfilled() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let ids = backfilled_ids(&sim);
    assert!(ids.len() >= 3, "{ids:?}");
    let dir = TestDir::new();
    let gate = dir.path("gate");
    let mut cmd = scenario::command(&sim, &dir, "run");
    cmd.arg("--out")
        .arg(dir.path("report.csv"))
        .args(["--include-completed", "--summary-json"])
        .arg(dir.path("s.json"))
        .env(
            "CALLRECON_FAILPOINT",
            format!("writeback.start:1:wait={}", gate.display()),
        )
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    wait_for(&gate);
    assert!(
        !dir.path("report.csv").exists(),
        "the report came before the write-back"
    );
    let raced = [ids[0], ids[1]];
    for id in raced {
        set_status(&dir, id, "queued");
    }
    std::fs::remove_file(&gate).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 row(s) changed by the application"),
        "{}",
        stderr(&out)
    );
    let after = ledger_dump(&dir);
    let report = by_id(&read_report(&dir.path("report.csv")));
    for id in raced {
        let row = after.iter().find(|r| r.id == id).unwrap();
        assert_eq!(row.webhook_status.as_deref(), Some("queued"), "row {id}");
        assert_eq!(report[&id.to_string()]["backfilled"], "false", "row {id}");
    }
    // Every row the report calls backfilled has its audit row, and the summary counts those.
    let db = dir.path("ledger.db");
    let claimed: Vec<&String> = report
        .iter()
        .filter(|(_, r)| r["backfilled"] == "true")
        .map(|(id, _)| id)
        .collect();
    for id in &claimed {
        let audited = count(
            &db,
            &format!(
                "SELECT count(*) FROM recon_audit WHERE ledger_id = {id} AND column = 'webhook_status'"
            ),
        );
        assert_eq!(audited, 1, "row {id} claims a write-back that is not there");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("s.json")).unwrap()).unwrap();
    assert_eq!(
        summary["write_backs"].as_i64().unwrap(),
        count(
            &db,
            "SELECT count(*) FROM recon_audit WHERE column = 'webhook_status'"
        )
    );
}

/// On stdout (written in place, never renamed) no row is shown before the write-back behind
/// it has committed.
#[test]
fn on_stdout_the_write_back_commits_before_the_first_row() {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
    let sim = Sim::start(callrecon::simulator::SimConfig::new(1500, 5, day, 1));
    let dir = TestDir::new();
    let gate = dir.path("gate");
    let now = sim_now(&sim);
    let window = ["2026-02-03T00:00:00Z", "2026-02-04T00:00:00Z", now.as_str()];
    let mut cmd = over_window(&sim, &dir, "run", window);
    cmd.args(["--out", "-", "--include-completed"])
        .env(
            "CALLRECON_FAILPOINT",
            format!("writeback.start:1:wait={}", gate.display()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            counter.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        }
        all
    });
    wait_for(&gate);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "rows before the write-back"
    );
    std::fs::remove_file(&gate).unwrap();
    assert!(child.wait().unwrap().success());
    let text = String::from_utf8(reader.join().unwrap()).unwrap();
    assert!(
        text.lines().count() > 1000,
        "{} lines",
        text.lines().count()
    );
}

/// A row whose SID names a call to another number: the report says so, and numbers.csv keeps
/// the ledger's number with Twilio's in `twilio_to`.
#[test]
fn a_ledger_number_twilio_did_not_dial_is_flagged() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let clean = TestDir::new();
    run_day(&sim, &clean, &[]);
    let report = read_report(&clean.path("report.csv"));
    let row = report
        .iter()
        .find(|r| {
            r["matched_by"] == "sid"
                && ["failed", "busy", "no-answer"].contains(&r["outcome"].as_str())
        })
        .expect("a failed row matched by SID");
    let (id, dialled) = (row["ledger_id"].clone(), row["to"].clone());
    let dir = TestDir::new();
    callrecon::simulator::write_ledger(sim.sim.dataset(), &dir.path("ledger.db")).unwrap();
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    conn.execute(
        "UPDATE intended_calls SET to_number = '+12015550999' WHERE id = ?1",
        [&id],
    )
    .unwrap();
    drop(conn);
    run_day(
        &sim,
        &dir,
        &["--numbers-out", dir.path("n.csv").to_str().unwrap()],
    );
    let report = by_id(&read_report(&dir.path("report.csv")));
    let message = &report[&id]["error_message"];
    assert!(
        message.contains("Twilio dialled")
            && message.contains(
                &*dialled
                    .trim_start_matches('+')
                    .chars()
                    .take(4)
                    .collect::<String>()
            ),
        "{message}"
    );
    assert_eq!(report[&id]["to"], "+12015550999");
    let numbers = read_report(&dir.path("n.csv"));
    let n = numbers
        .iter()
        .find(|n| n["number"] == "+12015550999")
        .expect("the ledger's number is in numbers.csv");
    assert!(!n["twilio_to"].is_empty(), "{n:?}");
    assert!(
        numbers
            .iter()
            .filter(|n| n["number"] != "+12015550999")
            .all(|n| n["twilio_to"].is_empty())
    );
}

/// A lock held longer than the busy timeout during the write-back ends the run with exit 1,
/// naming the step and the file; the rerun completes it.
#[test]
fn a_lock_held_too_long_names_the_step_and_the_file() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let gate = dir.path("gate");
    let mut cmd = scenario::command(&sim, &dir, "run");
    cmd.arg("--out")
        .arg(dir.path("report.csv"))
        .env("CALLRECON_BUSY_TIMEOUT_MS", "300")
        .env(
            "CALLRECON_FAILPOINT",
            format!("writeback.start:1:wait={}", gate.display()),
        )
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    wait_for(&gate);
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    std::fs::remove_file(&gate).unwrap();
    let out = child.wait_with_output().unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("writing back the missed webhooks in")
            && err.contains("ledger.db: another program held a lock"),
        "{err}"
    );
    assert!(
        !dir.path("report.csv").exists(),
        "a report whose write-back did not commit"
    );
    let mut cmd = scenario::command(&sim, &dir, "run");
    cmd.arg("--out").arg(dir.path("report.csv"));
    run(&mut cmd, 0);
}
