//! A reader that leaves (issue 11, case 2): every subcommand with its stdout, then its
//! stderr, closed before it writes. Never a panic (exit 101), the documented exit code, and
//! nothing skipped that does not need the pipe: the other files, the write-back and the
//! summary JSON.

use super::outputs::{run_cmd, sim};
use crate::util::*;
use std::process::{Command, ExitStatus, Stdio};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Closed {
    Stdout,
    Stderr,
}

/// Runs `cmd` with one stream's reading end closed at once; the other is kept and returned.
fn with_closed(cmd: &mut Command, closed: Closed) -> (ExitStatus, String) {
    match closed {
        Closed::Stdout => cmd.stdout(Stdio::piped()).stderr(Stdio::piped()),
        Closed::Stderr => cmd.stderr(Stdio::piped()).stdout(Stdio::piped()),
    };
    let mut child = cmd.spawn().unwrap();
    let (gone, kept) = match closed {
        Closed::Stdout => (
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ),
        Closed::Stderr => (
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ),
    };
    drop(gone);
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut kept) = kept {
            let _ = std::io::Read::read_to_string(&mut kept, &mut text);
        }
        text
    });
    let status = child.wait().unwrap();
    (status, reader.join().unwrap())
}

fn assert_code(status: ExitStatus, want: i32, what: &str, other: &str) {
    assert_eq!(
        status.code(),
        Some(want),
        "{what}: {status:?}; other stream:\n{other}"
    );
    assert!(!other.contains("panicked"), "{what}: {other}");
}

#[test]
fn a_closed_stdout_skips_nothing_but_the_rows_it_would_have_shown() {
    let sim = sim(400);
    let dir = TestDir::new();
    let mut cmd = run_cmd(&sim, &dir, "run");
    cmd.args(["--out", "-", "-v"])
        .arg("--numbers-out")
        .arg(dir.path("n.csv"))
        .arg("--orphans-out")
        .arg(dir.path("o.csv"))
        .arg("--summary-json")
        .arg(dir.path("s.json"));
    let (status, err) = with_closed(&mut cmd, Closed::Stdout);
    assert_code(status, 0, "run --out -", &err);
    assert!(
        dir.path("n.csv").exists() && dir.path("o.csv").exists(),
        "{err}"
    );
    let audit = count(&dir.path("ledger.db"), "SELECT count(*) FROM recon_audit");
    assert!(audit > 0, "the write-back was skipped");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("s.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "ok");
    assert!(
        summary["outcomes"]["failed"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(summary["write_backs"].as_u64().unwrap() > 0, "{summary}");
}

#[test]
fn a_closed_stderr_is_no_panic_and_the_summary_is_still_written() {
    let sim = sim(400);
    let dir = TestDir::new();
    let mut cmd = run_cmd(&sim, &dir, "run");
    cmd.args(["-vv", "--out"])
        .arg(dir.path("r.csv"))
        .arg("--summary-json")
        .arg(dir.path("s.json"));
    let (status, out) = with_closed(&mut cmd, Closed::Stderr);
    assert_code(status, 0, "run 2>closed", &out);
    assert!(dir.path("r.csv").exists());
    assert!(
        std::fs::read_to_string(dir.path("s.json"))
            .unwrap()
            .contains("\"ok\"")
    );
}

/// Every subcommand, each stream in turn.
#[test]
fn every_subcommand_survives_either_stream_closed() {
    let sim = sim(200);
    for closed in [Closed::Stdout, Closed::Stderr] {
        let dir = TestDir::new();
        let db = dir.path("ledger.db");
        let csv = dir.path("rows.csv");
        std::fs::write(
            &csv,
            "id,to_number,intended_at\n999001,+14155550100,2026-06-02T10:00:00Z\n",
        )
        .unwrap();
        let now = sim_now(&sim);
        let window = [
            "--from",
            super::outputs::FROM,
            "--to",
            super::outputs::TO,
            "--now",
            &now,
        ];
        let mut cases: Vec<(&str, Command, i32)> = Vec::new();
        let mut fetch = run_cmd(&sim, &dir, "fetch");
        fetch.arg("-vv");
        cases.push(("fetch", fetch, 0));
        let mut report = against(&sim);
        report
            .args(["report", "--db"])
            .arg(&db)
            .args(window)
            .args(["--out", "-", "-v"]);
        cases.push(("report", report, 0));
        let mut run_ = run_cmd(&sim, &dir, "run");
        run_.args(["--out", "-", "-vv"]);
        cases.push(("run", run_, 0));
        let mut check = against(&sim);
        check.args(["check", "--db"]).arg(&db);
        cases.push(("check", check, 0));
        let mut init = callrecon();
        init.args(["ledger", "init", "--db"])
            .arg(dir.path("new.db"));
        cases.push(("ledger init", init, 0));
        let mut import = callrecon();
        import.args(["ledger", "import", "--db"]).arg(&db).arg(&csv);
        cases.push(("ledger import", import, 0));
        let mut completions = callrecon();
        completions.args(["completions", "bash"]);
        cases.push(("completions", completions, 0));
        let mut man = callrecon();
        man.arg("man");
        cases.push(("man", man, 0));
        let mut help = callrecon();
        help.args(["run", "--help"]);
        cases.push(("run --help", help, 0));
        let mut demo = callrecon();
        demo.args(["demo", "--out"]).arg(dir.path("demo"));
        cases.push(("demo", demo, 0));
        let mut bad = callrecon();
        bad.args(["report", "--db"])
            .arg(dir.path("nope.db"))
            .args(window)
            .args(["--out", "-"]);
        cases.push(("report of a missing database", bad, 2));
        for (what, mut cmd, want) in cases {
            let (status, other) = with_closed(&mut cmd, closed);
            assert_code(
                status,
                want,
                &format!("{what} with {closed:?} closed"),
                &other,
            );
        }
        assert!(dir.path("demo/report.csv").exists());
        // The simulator keeps serving when its reader left.
        let mut simulate = callrecon();
        simulate.args(["simulate", "--calls", "10", "--listen", "127.0.0.1:0"]);
        match closed {
            Closed::Stdout => simulate.stdout(Stdio::piped()).stderr(Stdio::null()),
            Closed::Stderr => simulate.stderr(Stdio::piped()).stdout(Stdio::null()),
        };
        let mut child = simulate.spawn().unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "simulate stopped: {closed:?}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
