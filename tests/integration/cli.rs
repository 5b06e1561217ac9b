//! The command line's promises: bad input gets a one-line error naming the input and the
//! documented exit code, never a panic or a half-written file; the ledger commands; the demo.

use crate::util::*;

const WINDOW: [&str; 6] = [
    "--from",
    "2026-02-03T00:00:00Z",
    "--to",
    "2026-02-04T00:00:00Z",
    "--now",
    "2026-02-05T00:00:00Z",
];

fn report_cmd(db: &std::path::Path, out: &std::path::Path) -> std::process::Command {
    let mut cmd = callrecon();
    cmd.args(["report", "--db"])
        .arg(db)
        .args(WINDOW)
        .arg("--out")
        .arg(out);
    cmd
}

fn assert_clean_failure(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert!(err.contains(needle), "wanted '{needle}' in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.starts_with("callrecon: "),
        "one line prefixed with the program: {err}"
    );
}

#[test]
fn version_and_help_work() {
    let out = run(callrecon().arg("--version"), 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("callrecon "));
    let out = run(callrecon().arg("--help"), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Exit codes:") && help.contains("75"),
        "{help}"
    );
}

#[test]
fn malformed_or_reversed_bounds_are_usage_errors() {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let out = dir.path("r.csv");
    let mut cmd = callrecon();
    cmd.args(["report", "--db"])
        .arg(&db)
        .args([
            "--from",
            "2026-02-03",
            "--to",
            "2026-02-04T00:00:00Z",
            "--out",
        ])
        .arg(&out);
    assert_clean_failure(
        &run(&mut cmd, 2),
        "--from: '2026-02-03' is not an RFC 3339 time",
    );
    let mut cmd = callrecon();
    cmd.args(["report", "--db"])
        .arg(&db)
        .args([
            "--from",
            "2026-02-04T00:00:00Z",
            "--to",
            "2026-02-03T00:00:00Z",
            "--out",
        ])
        .arg(&out);
    assert_clean_failure(&run(&mut cmd, 2), "must be before --to");
    assert!(!out.exists());
}

#[test]
fn a_missing_database_is_not_created() {
    let dir = TestDir::new();
    let db = dir.path("nope.db");
    let out = run(&mut report_cmd(&db, &dir.path("r.csv")), 2);
    assert_clean_failure(&out, "does not exist");
    assert!(!db.exists());
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_untouched() {
    let dir = TestDir::new();
    let db = dir.path("notes.db");
    std::fs::write(&db, "these are my notes, not a database\n".repeat(200)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = run(&mut report_cmd(&db, &dir.path("r.csv")), 2);
    assert_clean_failure(&out, "is not a SQLite database");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn a_ledger_without_the_contract_columns_is_refused() {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE intended_calls (id INTEGER PRIMARY KEY, to_number TEXT, intended_at TEXT)",
    )
    .unwrap();
    drop(conn);
    let out = run(&mut report_cmd(&db, &dir.path("r.csv")), 2);
    assert_clean_failure(
        &out,
        "lacks the column(s) external_ref, from_number, call_sid",
    );
}

#[test]
fn a_window_never_fetched_is_refused_with_exit_2() {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let out = run(&mut report_cmd(&db, &dir.path("r.csv")), 2);
    assert_clean_failure(&out, "run `callrecon fetch`");
    assert!(!dir.path("r.csv").exists());
}

#[test]
fn missing_credentials_and_plain_http_are_refused_before_any_request() {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let mut cmd = callrecon();
    cmd.args(["fetch", "--db"])
        .arg(&db)
        .args(WINDOW)
        .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000");
    assert_clean_failure(&run(&mut cmd, 2), "TWILIO_AUTH_TOKEN");
    let mut cmd = callrecon();
    cmd.args(["fetch", "--db"])
        .arg(&db)
        .args(WINDOW)
        .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
        .env("TWILIO_AUTH_TOKEN", "x")
        .args(["--base-url", "http://api.example.com"]);
    assert_clean_failure(&run(&mut cmd, 2), "plain http");
}

#[test]
fn ledger_import_is_idempotent_on_id_and_all_or_nothing() {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let csv = dir.path("in.csv");
    std::fs::write(&csv, "id,to_number,intended_at,call_sid,create_error_code\n1,+12015550123,2026-02-03T10:00:00Z,,\n2,+12015550124,2026-02-03 11:00:00,,21211\n").unwrap();
    let out = import(&db, &csv, 0);
    assert!(
        stderr(&out).contains("imported 2 row(s)"),
        "{}",
        stderr(&out)
    );
    let out = import(&db, &csv, 0);
    assert!(
        stderr(&out).contains("imported 0 row(s)") && stderr(&out).contains("2 already present")
    );
    assert_eq!(count(&db, "SELECT count(*) FROM intended_calls"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT create_error_code FROM intended_calls WHERE id = 2"
        ),
        21211
    );
    let bad = dir.path("bad.csv");
    std::fs::write(&bad, "id,to_number,intended_at,create_error_code\n3,+12015550125,2026-02-03T10:00:00Z,\n4,+12015550126,2026-02-03T10:00:00Z,oops\n").unwrap();
    let out = import(&db, &bad, 2);
    assert_clean_failure(&out, "line 3: column create_error_code is 'oops'");
    assert_eq!(
        count(&db, "SELECT count(*) FROM intended_calls"),
        2,
        "nothing of a bad file is imported"
    );
    let nocol = dir.path("nocol.csv");
    std::fs::write(&nocol, "id,number\n1,+1\n").unwrap();
    assert_clean_failure(&import(&db, &nocol, 2), "no column 'to_number'");
}

#[test]
fn a_closed_stdout_pipe_is_not_an_error() {
    let (cfg, data) = crate::scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    run(&mut crate::scenario::command(&sim, &dir, "fetch"), 0);
    let mut child = crate::scenario::command(&sim, &dir, "report")
        .args(["--include-completed", "--out", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
