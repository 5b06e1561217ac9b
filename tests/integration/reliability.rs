//! Never lose a night: crashes at any point, signals, deadlines, a second command on the same
//! database, an application writing to the ledger throughout, secrets that must not leak.

use crate::util::*;
use callrecon::simulator::SimConfig;
use callrecon::timefmt::parse_day;
use std::process::Command;

const DAY: &str = "2026-05-05";
const FROM: &str = "2026-05-05T00:00:00Z";
const TO: &str = "2026-05-06T00:00:00Z";

fn config(calls: usize) -> SimConfig {
    SimConfig::new(calls, 5, parse_day(DAY).unwrap(), 1)
}

/// `callrecon run` over the day, with the simulator's clock and small pages (many page
/// boundaries to stop at).
fn run_cmd(sim: &Sim, dir: &TestDir) -> Command {
    let now = sim_now(sim);
    let mut cmd = over_window(sim, dir, "run", [FROM, TO, now.as_str()]);
    cmd.args(["--page-size", "100", "--retry-base-ms", "1"])
        .arg("--out")
        .arg(dir.path("report.csv"))
        .arg("--numbers-out")
        .arg(dir.path("numbers.csv"));
    cmd
}

/// The application's table as text, for comparing ledger states.
fn ledger_state(dir: &TestDir) -> String {
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT quote(id), quote(to_number), quote(intended_at), quote(call_sid), quote(create_error_code), quote(webhook_status), quote(webhook_error_code), quote(webhook_sip_code) FROM intended_calls ORDER BY id")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            (0..8)
                .map(|i| r.get::<_, String>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
        .map(|r| r.unwrap().join("|"))
        .collect();
    rows.join("\n")
}

fn outputs(dir: &TestDir) -> (String, String, String) {
    (
        std::fs::read_to_string(dir.path("report.csv")).unwrap(),
        std::fs::read_to_string(dir.path("numbers.csv")).unwrap(),
        ledger_state(dir),
    )
}

#[test]
fn a_kill_at_any_point_then_a_rerun_ends_as_an_uninterrupted_run() {
    let sim = Sim::start(config(1500));
    let clean = TestDir::new();
    run(&mut run_cmd(&sim, &clean), 0);
    let want = outputs(&clean);
    let points = [
        "land.before-progress:1",
        "land.before-progress:6",
        "land.before-progress:14",
        "fetch.page:1",
        "fetch.page:4",
        "fetch.page:9",
        "fetch.page:15",
        "fetch.sid:1",
        "fetch.sid:3",
        "fetch.alerts-page:1",
        "fetch.notification:1",
        "fetch.notification:40",
        "fetch.notification:150",
        "report.before-rename:1",
        "report.renamed:1",
        "writeback.before-commit:1",
        "writeback.before-commit:2",
        "writeback.committed:1",
        "writeback.committed:2",
        "writeback.before-commit:3",
        "followups.before-commit:1",
    ];
    let mut crashed = 0;
    for point in points {
        let dir = TestDir::new();
        let out = run_cmd(&sim, &dir)
            .env("CALLRECON_FAILPOINT", point)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        if out.status.signal() == Some(9) {
            crashed += 1;
        } else {
            assert_eq!(out.status.code(), Some(0), "{point}: {}", stderr(&out));
        }
        run(&mut run_cmd(&sim, &dir), 0);
        assert!(
            outputs(&dir) == want,
            "{point}: the rerun differs from an uninterrupted run"
        );
    }
    assert!(crashed >= 20, "only {crashed} of the points were reached");
}

#[test]
fn sigterm_stops_at_a_page_boundary_and_the_next_run_resumes() {
    let sim = Sim::start(config(1500));
    let clean = TestDir::new();
    run(&mut run_cmd(&sim, &clean), 0);
    let full_requests = sim.sim.stats().requests;

    let sim = Sim::start(config(1500));
    let dir = TestDir::new();
    let out = run(
        run_cmd(&sim, &dir).env("CALLRECON_FAILPOINT", "fetch.page:5:term"),
        143,
    );
    assert!(
        stderr(&out).contains("terminated (SIGTERM)"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path("report.csv").exists());
    let before = sim.sim.stats().requests;
    let out = run(&mut run_cmd(&sim, &dir), 0);
    assert!(stderr(&out).contains("resumed: "), "{}", stderr(&out));
    // The pages landed before the stop (five, or six if the signal arrived while the sixth
    // was under way) were not asked for again.
    let resumed_requests = sim.sim.stats().requests - before;
    assert!(
        resumed_requests <= full_requests - 5,
        "{resumed_requests} of {full_requests}"
    );
    assert!(outputs(&dir) == outputs(&clean));
}

#[test]
fn max_runtime_stops_with_exit_6_and_the_next_run_finishes() {
    let mut cfg = config(600);
    cfg.faults.latency = std::time::Duration::from_millis(150);
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let out = run(run_cmd(&sim, &dir).args(["--max-runtime", "1s"]), 6);
    assert!(stderr(&out).contains("--max-runtime"), "{}", stderr(&out));
    assert!(!dir.path("report.csv").exists());
    run(&mut run_cmd(&sim, &dir), 0);
    let clean = TestDir::new();
    run(&mut run_cmd(&sim, &clean), 0);
    assert!(outputs(&dir) == outputs(&clean));
}

#[test]
fn a_second_command_on_the_same_database_exits_75_at_once() {
    let sim = Sim::start(config(50));
    let dir = TestDir::new();
    callrecon::simulator::write_ledger(sim.sim.dataset(), &dir.path("ledger.db")).unwrap();
    let held = callrecon::lock::acquire(&dir.path("ledger.db")).unwrap();
    let out = run(&mut run_cmd(&sim, &dir), 75);
    assert!(
        stderr(&out).contains("another callrecon command"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sim.sim.stats().requests, 0, "nothing was asked of Twilio");
    drop(held);
    run(&mut run_cmd(&sim, &dir), 0);
}

#[test]
fn a_lock_left_by_a_killed_run_does_not_block_the_next() {
    let sim = Sim::start(config(300));
    let dir = TestDir::new();
    let out = run_cmd(&sim, &dir)
        .env("CALLRECON_FAILPOINT", "fetch.page:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed by SIGKILL");
    run(&mut run_cmd(&sim, &dir), 0);
}

#[test]
fn the_application_keeps_writing_throughout_a_run_without_errors_or_loss() {
    let mut cfg = config(1500);
    cfg.faults.latency = std::time::Duration::from_millis(20);
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            // The application: its own connection, a busy timeout, short transactions.
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .unwrap();
            let (mut inserted, mut errors) = (0i64, Vec::new());
            let mut id = 1_000_000i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || inserted < 200 {
                id += 1;
                let result = conn.execute(
                    "INSERT INTO intended_calls (id, to_number, intended_at, webhook_status) VALUES (?1, '+12125550100', '2026-05-05T12:00:00Z', 'queued')",
                    [id],
                ).and_then(|_| conn.execute("UPDATE intended_calls SET webhook_status = 'ringing' WHERE id = ?1", [id]));
                match result {
                    Ok(_) => inserted += 1,
                    Err(e) => errors.push(e.to_string()),
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            (inserted, errors)
        })
    };
    run(&mut run_cmd(&sim, &dir), 0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (inserted, errors) = writer.join().unwrap();
    assert!(
        errors.is_empty(),
        "the application saw: {:?}",
        &errors[..errors.len().min(3)]
    );
    assert!(inserted >= 200, "{inserted}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM intended_calls WHERE id > 1000000"
        ),
        inserted
    );
    // Rows callrecon never matched are exactly as the application left them.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM intended_calls WHERE id > 1000000 AND webhook_status <> 'ringing'"
        ),
        0
    );
}

#[test]
fn the_auth_token_never_appears_in_any_output() {
    const TOKEN: &str = "tok3n-NEVER-print-me-7f3a9c";
    let mut cfg = config(200);
    cfg.auth_token = TOKEN.into();
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let mut outputs = Vec::new();
    // A verbose successful run, from the environment.
    let mut cmd = run_cmd(&sim, &dir);
    cmd.env("TWILIO_AUTH_TOKEN", TOKEN)
        .args(["-vv", "--orphans-out"])
        .arg(dir.path("orphans.csv"));
    outputs.push(run(&mut cmd, 0));
    // From a token file.
    std::fs::write(dir.path("token"), format!("{TOKEN}\n")).unwrap();
    let mut cmd = run_cmd(&sim, &dir);
    cmd.env_remove("TWILIO_AUTH_TOKEN")
        .arg("--auth-token-file")
        .arg(dir.path("token"))
        .arg("-vv");
    outputs.push(run(&mut cmd, 0));
    // A refused one: the simulator expects another token.
    let other = Sim::start(config(10));
    let other_dir = TestDir::new();
    let mut cmd = run_cmd(&other, &other_dir);
    cmd.env("TWILIO_AUTH_TOKEN", TOKEN).arg("-vv");
    outputs.push(run(&mut cmd, 3));
    outputs.push(run(
        callrecon()
            .args(["run", "--help"])
            .env("TWILIO_AUTH_TOKEN", TOKEN),
        0,
    ));
    for out in &outputs {
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(text).contains(TOKEN),
                "the token leaked"
            );
        }
    }
    for file in ["report.csv", "orphans.csv", "numbers.csv", "ledger.db"] {
        let bytes = std::fs::read(dir.path(file)).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in {file}"
        );
    }
}

#[test]
fn reports_are_private_and_excel_safe_on_request() {
    let (cfg, mut data) = crate::scenario::dataset();
    data.ledger
        .iter_mut()
        .find(|r| r.id == 2)
        .unwrap()
        .external_ref = Some("=HYPERLINK(\"http://evil\")".into());
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let mut cmd = crate::scenario::command(&sim, &dir, "run");
    cmd.args(["--excel-safe", "--out"])
        .arg(dir.path("report.csv"));
    run(&mut cmd, 0);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.path("report.csv"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["2"]["external_ref"], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(
        r["2"]["to"],
        crate::scenario::B,
        "E.164 numbers are not mangled"
    );
    assert_eq!(r["7"]["price"], "0.00000");
}

#[test]
fn a_local_io_error_exits_1_and_an_alarm_exits_5_after_writing() {
    let (cfg, data) = crate::scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    // A missing folder is the user's to fix (exit 2, README "Exit codes by failure kind");
    // a full disk is local I/O (exit 1): a device like /dev/full, made in the test's folder.
    let mut cmd = crate::scenario::command(&sim, &dir, "run");
    cmd.arg("--out").arg(dir.path("no/such/folder/r.csv"));
    let out = run(&mut cmd, 2);
    assert!(stderr(&out).contains("no/such/folder"), "{}", stderr(&out));
    let full = dir.path("full");
    let c = std::ffi::CString::new(full.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a plain system call on a NUL-terminated path; (1, 7) is /dev/full.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 7)) } == 0 {
        let mut cmd = crate::scenario::command(&sim, &dir, "run");
        cmd.arg("--out").arg(&full);
        let out = run(&mut cmd, 1);
        assert!(stderr(&out).contains("No space left"), "{}", stderr(&out));
        // The numbers file failing after the report is in place names the numbers file.
        let mut cmd = crate::scenario::command(&sim, &dir, "run");
        cmd.arg("--out")
            .arg(dir.path("ok.csv"))
            .arg("--numbers-out")
            .arg(&full);
        let out = run(&mut cmd, 1);
        let err = stderr(&out);
        assert!(err.contains("writing the numbers file"), "{err}");
        assert!(!err.contains("writing the report"), "{err}");
    }
    // Most of the day's final statuses were never delivered by a webhook: exit 5, but the
    // report and write-back are done.
    let mut cmd = crate::scenario::command(&sim, &dir, "run");
    cmd.arg("--out")
        .arg(dir.path("r.csv"))
        .args(["--fail-if-missed-webhooks", "10"]);
    let out = run(&mut cmd, 5);
    assert!(
        stderr(&out).contains("had to be backfilled"),
        "{}",
        stderr(&out)
    );
    assert!(dir.path("r.csv").exists());
}

/// Retention is dated by the data, not the clock alone: old windows are refused and pruned
/// once newer calls have landed, never because `--now` says so.
#[test]
fn windows_past_the_retention_are_refused_and_old_data_is_pruned() {
    let (cfg, data) = crate::scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    let mut cmd = crate::scenario::command(&sim, &dir, "run");
    cmd.arg("--out").arg(dir.path("r.csv"));
    run(&mut cmd, 0);
    assert!(count(&db, "SELECT count(*) FROM recon_calls") > 0);
    // Ninety days on, the nights in between have landed newer calls.
    let june = Sim::start(callrecon::simulator::SimConfig::new(
        40,
        3,
        chrono::NaiveDate::from_ymd_opt(2026, 6, 8).unwrap(),
        1,
    ));
    let later = [
        "--from",
        "2026-06-08T00:00:00Z",
        "--to",
        "2026-06-09T00:00:00Z",
        "--now",
        "2026-06-09T06:00:00Z",
    ];
    let mut cmd = against(&june);
    cmd.args(["fetch", "--db"])
        .arg(&db)
        .args(later)
        .arg("--all-callers");
    run(&mut cmd, 0);
    // A 30-day retention now refuses the old window, and a new run prunes it.
    let mut cmd = against(&sim);
    cmd.args(["report", "--db"])
        .arg(&db)
        .args([
            "--from",
            crate::scenario::FROM,
            "--to",
            crate::scenario::TO,
            "--now",
            "2026-06-09T06:00:00Z",
            "--retain-days",
            "30",
        ])
        .arg("--out")
        .arg(dir.path("old.csv"));
    let out = run(&mut cmd, 2);
    assert!(stderr(&out).contains("retention"), "{}", stderr(&out));
    let mut cmd = against(&june);
    cmd.args(["run", "--db"])
        .arg(&db)
        .args(later)
        .args(["--retain-days", "30", "--all-callers"])
        .arg("--out")
        .arg(dir.path("new.csv"));
    let out = run(&mut cmd, 0);
    assert!(
        stderr(&out).contains("retention: pruned") && stderr(&out).contains("recon_calls "),
        "a prune is shown at the default level: {}",
        stderr(&out)
    );
    let old = "SELECT count(*) FROM recon_calls WHERE call_time < 1775000000";
    assert_eq!(count(&db, old), 0);
    assert!(
        count(&db, "SELECT count(*) FROM recon_calls") > 0,
        "June's calls stay"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM recon_audit"), 0);
    assert!(
        count(&db, "SELECT count(*) FROM intended_calls") > 0,
        "the ledger is never pruned"
    );
}

/// A clock set a year ahead prunes nothing and refuses nothing; the stored horizon never
/// moves back; and the real window's rerun is byte-identical to its first report.
#[test]
fn a_skewed_clock_cannot_erase_the_audit_trail() {
    let (cfg, data) = crate::scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    let mut cmd = crate::scenario::command(&sim, &dir, "run");
    cmd.arg("--out").arg(dir.path("first.csv"));
    run(&mut cmd, 0);
    let audit = count(&db, "SELECT count(*) FROM recon_audit");
    let calls = count(&db, "SELECT count(*) FROM recon_calls");
    assert!(audit > 0 && calls > 0);
    let mut cmd = against(&sim);
    cmd.args(["run", "--db"])
        .arg(&db)
        .args(["--window", "yesterday", "--now", "2027-06-01T00:00:00Z"])
        .arg("--out")
        .arg(dir.path("skewed.csv"));
    let out = run(&mut cmd, 0);
    assert!(!stderr(&out).contains("pruned"), "{}", stderr(&out));
    assert_eq!(count(&db, "SELECT count(*) FROM recon_audit"), audit);
    assert_eq!(count(&db, "SELECT count(*) FROM recon_calls"), calls);
    // An earlier, later horizon (2026-02-01, after the 60 days before the newest call but
    // before the window) stays when a prune computes an earlier one.
    let set = rusqlite::Connection::open(&db).unwrap();
    set.execute(
        "INSERT INTO recon_meta (key, value) VALUES ('retention_horizon', '1769904000') \
         ON CONFLICT(key) DO UPDATE SET value = '1769904000'",
        [],
    )
    .unwrap();
    drop(set);
    let mut cmd = crate::scenario::command(&sim, &dir, "report");
    cmd.arg("--out").arg(dir.path("again.csv"));
    run(&mut cmd, 0);
    let horizon = count(
        &db,
        "SELECT CAST(value AS INTEGER) FROM recon_meta WHERE key = 'retention_horizon'",
    );
    assert_eq!(horizon, 1769904000, "the stored horizon moved back");
    assert_eq!(
        std::fs::read(dir.path("again.csv")).unwrap(),
        std::fs::read(dir.path("first.csv")).unwrap()
    );
}

/// The soak of `scripts/soak.sh`, small enough for CI: every fault at once at realistic
/// rates, and the run still ends with exactly the clean run's calls, report and ledger.
#[test]
fn under_every_fault_at_once_a_run_lands_every_call_once_and_reports_the_same() {
    let clean_sim = Sim::start(config(800));
    let clean = TestDir::new();
    run(&mut run_cmd(&clean_sim, &clean), 0);

    let mut cfg = config(800);
    cfg.faults = callrecon::simulator::Faults {
        // Retry-After is honoured (a second each): keep its share small so CI stays quick.
        retry_after_share: 5.0,
        slow: std::time::Duration::from_millis(1500),
        fault_seed: 42,
        ..callrecon::simulator::Faults::chaos()
    };
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let out = run(
        run_cmd(&sim, &dir).args(["--timeout", "1", "--max-attempts", "10"]),
        0,
    );
    let stats = sim.sim.stats();
    assert!(
        stats.injected_429 > 0
            && stats.injected_5xx > 0
            && stats.resets + stats.truncated + stats.html + stats.slow > 0,
        "{stats:?}"
    );
    assert!(stderr(&out).contains("retried"), "{}", stderr(&out));
    let landed = count(&dir.path("ledger.db"), "SELECT count(*) FROM recon_calls");
    assert_eq!(
        landed,
        count(&clean.path("ledger.db"), "SELECT count(*) FROM recon_calls")
    );
    assert!(
        outputs(&dir) == outputs(&clean),
        "faults changed the result"
    );
}
