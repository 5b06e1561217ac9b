//! Several accounts in one run, each named in the configuration file with its own secret,
//! and `callrecon check` on good and bad credentials. The simulator serves one account per
//! instance, so each account gets its own simulator through its `base_url`.

use crate::config::write;
use crate::util::*;
use callrecon::simulator::{DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, Dataset, SimConfig};
use std::path::Path;

const DAY: &str = "2026-11-27";
const NOW: &str = "2026-11-28T00:00:00Z";
const BETA_SID: &str = "ACbead0000000000000000000000000000";
const BETA_TOKEN: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
/// Beta's ledger ids start here, so the two generated ledgers share one table.
const BETA_IDS: i64 = 100_000;

fn day() -> chrono::NaiveDate {
    callrecon::timefmt::parse_day(DAY).unwrap()
}

/// Two simulators (alpha: the default account; beta: another, other calls) and one ledger
/// holding both applications' rows.
fn two_accounts(db: &Path) -> (Sim, Sim) {
    let alpha = SimConfig::new(300, 1, day(), 1);
    let mut beta = SimConfig::new(300, 2, day(), 1);
    beta.account_sid = BETA_SID.to_owned();
    beta.auth_token = BETA_TOKEN.to_owned();
    let alpha = Sim::start(alpha);
    let mut data: Dataset = Dataset::generate(&beta);
    let beta = Sim::with_dataset(beta, data.clone());
    callrecon::simulator::write_ledger(alpha.sim.dataset(), db).unwrap();
    for row in &mut data.ledger {
        row.id += BETA_IDS;
    }
    callrecon::simulator::write_ledger(&data, db).unwrap();
    (alpha, beta)
}

fn config(dir: &TestDir, alpha: &Sim, beta: &Sim) -> std::path::PathBuf {
    write(&dir.path("beta.token"), &format!("{BETA_TOKEN}\n"));
    write(
        &dir.path("callrecon.toml"),
        &format!(
            "db = \"ledger.db\"\nwindow = \"{DAY}\"\n\n\
             [accounts.alpha]\naccount_sid = \"{DEFAULT_ACCOUNT_SID}\"\n\
             auth_token_env = \"ALPHA_TWILIO_AUTH_TOKEN\"\nbase_url = \"{}\"\n\n\
             [accounts.beta]\naccount_sid = \"{}\"\nauth_token_file = \"beta.token\"\n\
             base_url = \"{}\"\n",
            alpha.url, BETA_SID, beta.url
        ),
    )
}

#[test]
fn two_accounts_are_fetched_in_turn_and_reported_together() {
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    let (alpha, beta) = two_accounts(&db);
    let config = config(&dir, &alpha, &beta);
    let out = dir.path("report.csv");
    let summary = dir.path("summary.json");
    let mut cmd = callrecon();
    cmd.env("ALPHA_TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
        .env("CALLRECON_RPS", "2000")
        .args(["run", "--config"])
        .arg(&config)
        .args([
            "--now",
            NOW,
            "--include-completed",
            "--no-write-back",
            "--out",
        ])
        .arg(&out)
        .arg("--summary-json")
        .arg(&summary);
    let output = run(&mut cmd, 0);
    let err = stderr(&output);
    assert!(err.contains("callrecon: account alpha: fetched"), "{err}");
    assert!(err.contains("callrecon: account beta: fetched"), "{err}");

    // Each row matched by SID is matched to its own account's call.
    let rows = read_report(&out);
    let mut seen = [0, 0];
    for row in rows.iter().filter(|r| r["matched_by"] == "sid") {
        let id: i64 = row["ledger_id"].parse().unwrap();
        let (want, slot) = if id >= BETA_IDS {
            (BETA_SID.to_owned(), 1)
        } else {
            (DEFAULT_ACCOUNT_SID.to_owned(), 0)
        };
        assert_eq!(row["account_sid"], want, "{row:?}");
        seen[slot] += 1;
    }
    assert!(seen[0] > 100 && seen[1] > 100, "{seen:?}");
    assert_eq!(
        count(&db, "SELECT count(DISTINCT account_sid) FROM recon_days"),
        2
    );

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let accounts = json["accounts"].as_array().unwrap();
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(accounts[1]["account_sid"], BETA_SID);
    let listed: u64 = accounts
        .iter()
        .map(|a| a["calls_listed"].as_u64().unwrap())
        .sum();
    assert_eq!(json["calls_listed"].as_u64(), Some(listed));
    assert!(alpha.sim.stats().requests > 0 && beta.sim.stats().requests > 0);

    // The environment's account replaces the file's accounts, with a warning.
    let (a0, b0) = (alpha.sim.stats().requests, beta.sim.stats().requests);
    let mut cmd = against(&alpha);
    cmd.args(["fetch", "--config"])
        .arg(&config)
        .args(["--now", NOW]);
    let err = stderr(&run(&mut cmd, 0));
    assert!(err.contains("replaces the 2 account(s)"), "{err}");
    assert!(alpha.sim.stats().requests > a0);
    assert_eq!(beta.sim.stats().requests, b0);
}

#[test]
fn a_missing_secret_on_any_account_stops_the_run_before_any_request() {
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    let (alpha, beta) = two_accounts(&db);
    let config = config(&dir, &alpha, &beta);
    std::fs::write(dir.path("beta.token"), "\n").unwrap();
    let mut cmd = callrecon();
    cmd.env("ALPHA_TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--now", NOW, "--out"])
        .arg(dir.path("r.csv"));
    let err = stderr(&run(&mut cmd, 2));
    assert!(err.contains("accounts.beta.auth_token_file in"), "{err}");
    assert_eq!(alpha.sim.stats().requests + beta.sim.stats().requests, 0);
    assert!(!dir.path("r.csv").exists());
}

fn check(sim: &Sim, db: &Path, token: &str) -> std::process::Output {
    let mut cmd = against(sim);
    cmd.env("TWILIO_AUTH_TOKEN", token)
        .args(["check", "--db"])
        .arg(db);
    cmd.output().unwrap()
}

#[test]
fn check_passes_on_good_credentials_and_says_what_failed_on_bad_ones() {
    let sim = Sim::start(SimConfig::new(50, 1, day(), 1));
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();

    let good = check(&sim, &db, DEFAULT_AUTH_TOKEN);
    let text = String::from_utf8_lossy(&good.stdout).into_owned();
    assert_eq!(good.status.code(), Some(0), "{text}{}", stderr(&good));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    // The simulator's ledger holds rows callrecon cannot read: a warning, not a failure.
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("ok      ") || l.starts_with("WARN    ledger rows")),
        "{text}"
    );
    assert!(text.contains("secret from env TWILIO_AUTH_TOKEN"), "{text}");
    assert!(!text.contains(DEFAULT_AUTH_TOKEN));

    let bad = check(&sim, &db, "not-the-token-at-all");
    let text = String::from_utf8_lossy(&bad.stdout).into_owned();
    assert_eq!(bad.status.code(), Some(3), "{text}");
    assert!(text.contains("FAILED  account default (ACc0ffee00c0ffee00c0ffee00c0ffee00) calls"));
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("ok      ledger"), "every check runs: {text}");
    assert!(stderr(&bad).contains("check(s) FAILED"), "{}", stderr(&bad));
    assert!(!text.contains("not-the-token-at-all") && !stderr(&bad).contains("not-the-token"));

    // A ledger without the contract's columns, and no database at all: exit 2.
    let thin = dir.path("thin.db");
    rusqlite::Connection::open(&thin)
        .unwrap()
        .execute_batch("CREATE TABLE intended_calls (id INTEGER PRIMARY KEY, to_number TEXT)")
        .unwrap();
    let out = check(&sim, &thin, DEFAULT_AUTH_TOKEN);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAILED  ledger: the intended_calls table")
    );
    let out = run(against(&sim).arg("check"), 2);
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED  ledger: no database given"));
}

#[test]
fn check_fails_when_the_key_may_not_read_monitor() {
    let mut cfg = SimConfig::new(50, 1, day(), 1);
    cfg.faults.monitor_forbidden = true;
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let out = check(&sim, &db, DEFAULT_AUTH_TOKEN);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("calls: credentials accepted"), "{text}");
    assert!(
        text.contains("monitor: give the key permission to read Monitor alerts"),
        "{text}"
    );
    assert!(text.contains("HTTP 403"), "{text}");
}

#[test]
fn check_covers_every_account_of_the_file() {
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    let (alpha, beta) = two_accounts(&db);
    let config = config(&dir, &alpha, &beta);
    std::fs::write(dir.path("beta.token"), "wrong-token\n").unwrap();
    let mut cmd = callrecon();
    cmd.env("ALPHA_TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
        .args(["check", "--config"])
        .arg(&config);
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("ok      config "), "{text}");
    assert!(text.contains("ok      account alpha"), "{text}");
    assert!(text.contains("FAILED  account beta"), "{text}");
    assert!(text.contains("(from file "), "{text}");
    assert!(text.contains("ok      ledger"), "{text}");
}
