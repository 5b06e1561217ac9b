//! What a run says on stderr: JSON lines that parse, no progress bar unless a person is
//! watching a terminal, and a summary that adds up.

use crate::config::scenario_sim;
use crate::scenario::{FROM, NOW, TO};
use crate::util::*;

fn run_cmd(sim: &Sim, db: &std::path::Path, out: &std::path::Path) -> std::process::Command {
    let mut cmd = against(sim);
    cmd.args(["run", "--db"])
        .arg(db)
        .args(["--from", FROM, "--to", TO, "--now", NOW, "--out"])
        .arg(out);
    cmd
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}\n--- all:\n{text}"))
        })
        .collect()
}

#[test]
fn json_logs_are_one_json_object_per_line_errors_and_summary_included() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    // -vv: every debug event too, and the summary lines.
    let out = run(
        run_cmd(&sim, &db, &dir.path("r.csv")).args(["--log-format", "json", "-vv"]),
        0,
    );
    let lines = json_lines(&stderr(&out));
    assert!(lines.len() > 10, "{}", stderr(&out));
    for line in &lines {
        assert!(
            line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"));
    let summary = lines
        .iter()
        .find(|l| l["fields"]["message"] == "summary")
        .expect("the summary as one record");
    let s = &summary["fields"]["summary"];
    assert_eq!(s["status"], "ok");
    for outcome in callrecon::reconcile::classify::OUTCOMES {
        assert!(s["outcomes"][outcome].is_u64(), "{outcome} in {s}");
    }
    assert!(s["calls_listed"].as_u64().unwrap() > 0);
    assert!(!stderr(&out).contains('\u{1b}'), "no colours in a pipe");

    // An error: still one JSON object, with its exit code.
    let mut cmd = callrecon();
    cmd.args(["report", "--db"])
        .arg(dir.path("missing.db"))
        .args(["--window", "2026-03-10", "--now", NOW, "--out", "-"])
        .env("CALLRECON_LOG_FORMAT", "json");
    let out = run(&mut cmd, 2);
    let lines = json_lines(&stderr(&out));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["exit_code"], 2);
    // A command line clap refuses, too.
    let out = run(
        callrecon().args(["report", "--log-format", "json", "--window", "nope"]),
        2,
    );
    assert_eq!(json_lines(&stderr(&out))[0]["fields"]["exit_code"], 2);
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let out = run(&mut run_cmd(&sim, &db, &dir.path("r.csv")), 0);
    let err = stderr(&out);
    for noise in ['\r', '\u{1b}'] {
        assert!(!err.contains(noise), "{noise:?} in: {err:?}");
    }
    assert!(!err.contains("call(s) landed"), "no bar line: {err}");
    assert!(err.lines().all(|l| l.starts_with("callrecon: ")), "{err}");
}

/// Under a pseudo-terminal (util-linux `script`), the bars are drawn. Skipped where
/// `script` is missing.
#[test]
fn a_progress_bar_is_drawn_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    }
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let line = format!(
        "{} fetch --db {} --from {FROM} --to {TO} --now {NOW}",
        env!("CARGO_BIN_EXE_callrecon"),
        db.display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env(
            "TWILIO_ACCOUNT_SID",
            callrecon::simulator::DEFAULT_ACCOUNT_SID,
        )
        .env(
            "TWILIO_AUTH_TOKEN",
            callrecon::simulator::DEFAULT_AUTH_TOKEN,
        )
        .env("CALLRECON_BASE_URL", &sim.url)
        .env("CALLRECON_RPS", "2000")
        .env_remove("CALLRECON_LOG_FORMAT")
        .env_remove("RUST_LOG");
    let out = run(&mut cmd, 0);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("call(s) landed"), "{screen}");
}

#[test]
fn quiet_is_silent_on_success_and_still_says_why_it_failed() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let out = run(run_cmd(&sim, &db, &dir.path("r.csv")).arg("-q"), 0);
    assert_eq!(stderr(&out), "", "-q: only errors on stderr");
    assert!(dir.path("r.csv").exists());
    // A failure still names its cause.
    let out = run(
        run_cmd(&sim, &dir.path("missing.db"), &dir.path("r2.csv")).arg("-q"),
        2,
    );
    assert!(stderr(&out).contains("missing.db"), "{}", stderr(&out));
}
