//! The configuration file under the environment and the flags: which layer wins, and every
//! bad setting refused before any request with a message that names it.

use crate::scenario::{self, CALLER, NOW};
use crate::util::*;
use callrecon::ledger::LedgerRow;
use callrecon::simulator::{DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, Dataset};
use std::path::{Path, PathBuf};

pub fn scenario_sim() -> Sim {
    let (cfg, data) = scenario::dataset();
    Sim::with_dataset(cfg, data)
}

pub fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_owned()
}

/// `callrecon` with the simulator's credentials in the environment, nothing else.
fn with_credentials() -> std::process::Command {
    let mut cmd = callrecon();
    cmd.env("TWILIO_ACCOUNT_SID", DEFAULT_ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
        .env("CALLRECON_RPS", "2000");
    cmd
}

fn requests(sim: &Sim) -> u64 {
    sim.sim.stats().requests
}

#[test]
fn the_environment_overrides_the_file_and_flags_override_both() {
    let (file_sim, env_sim, flag_sim) = (scenario_sim(), scenario_sim(), scenario_sim());
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(file_sim.sim.dataset(), &db).unwrap();
    let config = write(
        &dir.path("callrecon.toml"),
        &format!(
            "db = {db:?}\nwindow = \"2026-03-10\"\nlog_format = \"json\"\n\
             [twilio]\nbase_url = \"{}\"\n",
            file_sim.url
        ),
    );
    let fetch = || {
        let mut cmd = with_credentials();
        cmd.args(["fetch", "--config"])
            .arg(&config)
            .args(["--now", NOW]);
        cmd
    };
    // The file alone: its origin, its window, its log format.
    let summary = dir.path("s.json");
    let out = run(fetch().arg("--summary-json").arg(&summary), 0);
    assert!(requests(&file_sim) > 0);
    assert_eq!((requests(&env_sim), requests(&flag_sim)), (0, 0));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["window"]["from"], "2026-03-10T00:00:00Z");
    for line in stderr(&out).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("the file asked for JSON logs");
    }
    // The environment over the file.
    let before = requests(&file_sim);
    let out = run(
        fetch()
            .env("CALLRECON_BASE_URL", &env_sim.url)
            .env("CALLRECON_LOG_FORMAT", "text"),
        0,
    );
    assert!(requests(&env_sim) > 0);
    assert_eq!((requests(&file_sim), requests(&flag_sim)), (before, 0));
    assert!(stderr(&out).starts_with("callrecon: "), "{}", stderr(&out));
    // Flags over both; a window on the command line replaces the file's.
    let env_before = requests(&env_sim);
    let out = run(
        fetch()
            .env("CALLRECON_BASE_URL", &env_sim.url)
            .env("CALLRECON_LOG_FORMAT", "text")
            .args(["--base-url", &flag_sim.url, "--log-format", "json"])
            .args([
                "--from",
                "2026-03-10T06:00:00Z",
                "--to",
                "2026-03-10T18:00:00Z",
            ])
            .arg("--summary-json")
            .arg(&summary),
        0,
    );
    assert!(requests(&flag_sim) > 0);
    assert_eq!(requests(&env_sim), env_before);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["window"]["from"], "2026-03-10T06:00:00Z");
    assert!(stderr(&out).lines().all(|l| l.starts_with('{')));
}

/// A ledger number in national format matches Twilio's E.164 number once the file (or the
/// flag, which wins over it) says which country it is in.
#[test]
fn a_national_gb_number_matches_with_the_default_region_from_the_file_or_a_flag() {
    let mut call = scenario::call(1, "+442079460958", "completed", "2026-03-10T10:00:05Z");
    call.from = Some(CALLER.into());
    let row = LedgerRow {
        id: 1,
        to_number: "020 7946 0958".into(),
        from_number: Some(CALLER.into()),
        intended_at: "2026-03-10T10:00:00Z".into(),
        ..LedgerRow::default()
    };
    let (cfg, _) = scenario::dataset();
    let data = Dataset::from_parts(
        vec![call],
        vec![row],
        callrecon::timefmt::parse_bound(NOW).unwrap(),
    );
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let config = write(&dir.path("c.toml"), "default_region = \"GB\"\n");
    let report = |extra: &[&str]| {
        let out = dir.path("r.csv");
        let mut cmd = against(&sim);
        cmd.args(["run", "--config"])
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .args([
                "--window",
                "2026-03-10",
                "--now",
                NOW,
                "--include-completed",
                "--out",
            ])
            .arg(&out)
            .args(extra);
        run(&mut cmd, 0);
        read_report(&out).remove(0)
    };
    let gb = report(&[]);
    assert_eq!(
        (
            gb["outcome"].as_str(),
            gb["matched_by"].as_str(),
            gb["call_sid"].as_str()
        ),
        ("completed", "heuristic", scenario::sid(1).as_str())
    );
    let us = report(&["--default-region", "US"]);
    assert_eq!(
        us["matched_by"], "",
        "read as a US number it is another number: {us:?}"
    );
}

/// Each refusal: exit 2, a one-line message naming the setting, no request sent.
fn refused(sim: &Sim, cmd: &mut std::process::Command, needle: &str) {
    let out = run(cmd, 2);
    let err = stderr(&out);
    assert!(err.contains(needle), "wanted '{needle}' in: {err}");
    assert!(err.starts_with("callrecon: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(requests(sim), 0, "refused before any request: {err}");
}

#[test]
fn bad_settings_are_refused_before_any_request_naming_the_setting() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let sid = DEFAULT_ACCOUNT_SID;
    let fetch_with = |config: &str| {
        let path = write(&dir.path("bad.toml"), config);
        let mut cmd = callrecon();
        cmd.env("CALLRECON_BASE_URL", &sim.url)
            .args(["fetch", "--db"])
            .arg(&db)
            .args(["--now", NOW, "--config"])
            .arg(path);
        cmd
    };
    let account = format!("[accounts.main]\naccount_sid = \"{sid}\"\n");
    for (config, needle) in [
        (
            "[twilio]\nrsp = 5\n".to_owned(),
            "twilio.rsp: unknown field `rsp`",
        ),
        (
            "window = 20261127\n".to_owned(),
            "window: invalid type: integer",
        ),
        (
            "[twilio]\nrps = \"many\"\n".to_owned(),
            "twilio.rps: invalid type: string",
        ),
        (
            "window = \"yesterday\"\ntz = \"Europe/Atlantis\"\n".to_owned(),
            "tz: 'Europe/Atlantis' is not a time zone",
        ),
        ("window = \"2099-01-01\"\n".to_owned(), "window in "),
        (
            format!("window = \"2026-03-10\"\n{account}"),
            "accounts.main: account ACc0ffee00c0ffee00c0ffee00c0ffee00 has no credentials",
        ),
        (
            format!("window = \"2026-03-10\"\n{account}auth_token = \"{DEFAULT_AUTH_TOKEN}\"\n"),
            "accounts.main.auth_token: a configuration file never holds a secret",
        ),
        (
            format!("window = \"2026-03-10\"\n{account}auth_token_env = \"NO_SUCH_TOKEN_VAR\"\n"),
            "accounts.main.auth_token_env in",
        ),
    ] {
        refused(&sim, &mut fetch_with(&config), needle);
    }
    refused(
        &sim,
        fetch_with("window = \"2026-03-10\"\n[twilio]\nregion = \"jp1\"\n")
            .env("TWILIO_ACCOUNT_SID", sid)
            .env("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
            .env_remove("CALLRECON_BASE_URL"),
        "twilio.region in",
    );
    // The secret is never echoed, even in the refusal.
    let out = run(
        &mut fetch_with(&format!("{account}auth_token = \"{DEFAULT_AUTH_TOKEN}\"\n")),
        2,
    );
    assert!(!stderr(&out).contains(DEFAULT_AUTH_TOKEN));

    // From the environment and flags.
    let fetch = || {
        let mut cmd = callrecon();
        cmd.args(["fetch", "--db"]).arg(&db).args(["--now", NOW]);
        cmd
    };
    refused(
        &sim,
        fetch()
            .env("TWILIO_ACCOUNT_SID", sid)
            .env("CALLRECON_BASE_URL", &sim.url)
            .args(["--window", "2026-03-10"]),
        "no secret for account",
    );
    refused(
        &sim,
        fetch()
            .env("TWILIO_ACCOUNT_SID", sid)
            .env("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
            .env("TWILIO_REGION", "jp1")
            .args(["--window", "2026-03-10"]),
        "TWILIO_REGION (or --region) is 'jp1', a region without a known default edge",
    );
    for (args, needle) in [
        (
            vec!["--window", "2026-03-10", "--tz", "Mars/Olympus"],
            "--tz: 'Mars/Olympus' is not a time zone",
        ),
        (
            vec!["--window", "2026-03-12"],
            "--window: 2026-03-12 in UTC: the window starts",
        ),
        (
            vec![
                "--from",
                "2026-03-12T00:00:00Z",
                "--to",
                "2026-03-13T00:00:00Z",
            ],
            "--from 2026-03-12T00:00:00Z is not before now",
        ),
        (vec![], "no window: give --window"),
    ] {
        let mut cmd = fetch();
        cmd.env("TWILIO_ACCOUNT_SID", sid)
            .env("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
            .env("CALLRECON_BASE_URL", &sim.url)
            .args(&args);
        refused(&sim, &mut cmd, needle);
    }
    // A region with a base URL is no error: the base URL wins.
    let mut cmd = fetch();
    cmd.env("TWILIO_ACCOUNT_SID", sid)
        .env("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
        .env("TWILIO_REGION", "jp1")
        .env("CALLRECON_BASE_URL", &sim.url)
        .args(["--window", "2026-03-10"]);
    run(&mut cmd, 0);
    assert!(requests(&sim) > 0);
}
