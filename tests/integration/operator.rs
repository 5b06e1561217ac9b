//! The operator's tools besides the run itself: `--dry-run`, the summary file, the manual
//! pages and completions, and the examples in every `--help`.

use crate::config::scenario_sim;
use crate::scenario::{FROM, NOW, TO};
use crate::util::*;
use clap::CommandFactory;
use std::collections::BTreeMap;

fn ledger_rows(db: &std::path::Path) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT * FROM intended_calls ORDER BY id")
        .unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn a_dry_run_lands_twilios_data_but_leaves_the_ledger_and_follow_ups_alone() {
    let sim = scenario_sim();
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let before = ledger_rows(&db);
    let mut cmd = against(&sim);
    cmd.args(["run", "--db"]).arg(&db).args([
        "--from",
        FROM,
        "--to",
        TO,
        "--now",
        NOW,
        "--dry-run",
    ]);
    let out = run(&mut cmd, 0);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.starts_with("ledger_id,external_ref,"),
        "the report on stdout: {report}"
    );
    assert!(report.lines().count() > 5);
    assert!(stderr(&out).contains("dry run: the ledger was not changed"));
    assert_eq!(ledger_rows(&db), before, "no write-back");
    assert_eq!(count(&db, "SELECT count(*) FROM recon_audit"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM recon_followups"), 0);
    assert!(
        count(&db, "SELECT count(*) FROM recon_calls") > 0,
        "Twilio's data landed"
    );

    // With --out the report goes there; the real run afterwards does write back.
    let preview = dir.path("preview.csv");
    let mut cmd = callrecon();
    cmd.args(["report", "--db"])
        .arg(&db)
        .args([
            "--from",
            FROM,
            "--to",
            TO,
            "--now",
            NOW,
            "--dry-run",
            "--out",
        ])
        .arg(&preview);
    let out = run(&mut cmd, 0);
    assert!(out.stdout.is_empty());
    let mut cmd = callrecon();
    cmd.args(["report", "--db"])
        .arg(&db)
        .args(["--from", FROM, "--to", TO, "--now", NOW, "--out"])
        .arg(dir.path("report.csv"));
    run(&mut cmd, 0);
    // The dry run showed what the real run reports, but for what it did not write back.
    let without_backfilled = |path: &std::path::Path| {
        let mut rows = read_report(path);
        for row in &mut rows {
            row.remove("backfilled");
        }
        rows
    };
    let real = dir.path("report.csv");
    assert_eq!(without_backfilled(&preview), without_backfilled(&real));
    assert!(read_report(&real).iter().any(|r| r["backfilled"] == "true"));
    assert!(
        read_report(&preview)
            .iter()
            .all(|r| r["backfilled"] == "false")
    );
    assert!(count(&db, "SELECT count(*) FROM recon_audit") > 0);
    assert_ne!(ledger_rows(&db), before);
}

/// Twilio's price text summed as decimal: units of 10^-5 (Twilio's five places).
fn units(price: &str) -> i64 {
    let (int, frac) = price.split_once('.').unwrap_or((price, ""));
    let negative = int.starts_with('-');
    let int: i64 = int.trim_start_matches('-').parse().unwrap_or(0);
    let frac: i64 = format!("{frac:0<5}")[..5].parse().unwrap();
    let v = int * 100_000 + frac;
    if negative { -v } else { v }
}

#[test]
fn the_summary_file_has_the_counts_and_the_exact_spend_and_is_written_on_failure_too() {
    let sim = Sim::start(callrecon::simulator::SimConfig::new(
        600,
        4,
        callrecon::timefmt::parse_day("2026-11-27").unwrap(),
        1,
    ));
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let out = dir.path("r.csv");
    let summary = dir.path("status/summary.json");
    std::fs::create_dir_all(dir.path("status")).unwrap();
    let mut cmd = against(&sim);
    cmd.args(["run", "--db"])
        .arg(&db)
        .args(["--window", "2026-11-27", "--now", "2026-11-28T00:00:00Z"])
        .args(["--include-completed", "--out"])
        .arg(&out)
        .arg("--summary-json")
        .arg(&summary);
    run(&mut cmd, 0);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        (json["status"].as_str(), json["exit_code"].as_u64()),
        (Some("ok"), Some(0))
    );
    // Outcome counts and spend agree with the report, row for row.
    let rows = read_report(&out);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut spend: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &rows {
        let outcome = r["outcome"].clone();
        if outcome.is_empty() {
            continue;
        }
        *outcomes.entry(outcome.clone()).or_default() += 1;
        if !r["price"].is_empty() && r["error_message"].find("resolved by this run").is_none() {
            *spend.entry((outcome, r["price_unit"].clone())).or_default() += units(&r["price"]);
        }
    }
    for (outcome, n) in &outcomes {
        assert_eq!(json["outcomes"][outcome].as_u64(), Some(*n), "{outcome}");
    }
    let listed: BTreeMap<(String, String), i64> = json["spend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let key = (
                s["outcome"].as_str().unwrap().to_owned(),
                s["price_unit"].as_str().unwrap().to_owned(),
            );
            (key, units(s["total"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(listed, spend);
    assert!(
        spend[&("completed".to_owned(), "USD".to_owned())] < 0,
        "charges are negative"
    );

    // A failed run still leaves its summary, with the error and exit code.
    let mut cmd = against(&sim);
    cmd.env("TWILIO_AUTH_TOKEN", "wrong")
        .args(["fetch", "--db"])
        .arg(&db)
        .args([
            "--window",
            "2026-11-27",
            "--now",
            "2026-11-28T00:00:00Z",
            "--summary-json",
        ])
        .arg(&summary);
    run(&mut cmd, 3);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["exit_code"], 3);
    assert!(json["error"].as_str().unwrap().contains("401"), "{json}");
    let leftovers = std::fs::read_dir(dir.path("status")).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left beside the summary");
}

#[test]
fn the_committed_manual_pages_are_up_to_date() {
    let dir = TestDir::new();
    run(callrecon().args(["man", "--dir"]).arg(dir.path("man")), 0);
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let generated = names(&dir.path("man"));
    assert_eq!(
        names(&repo),
        generated,
        "regenerate with `cargo run -- man --dir man`"
    );
    for name in &generated {
        assert_eq!(
            std::fs::read_to_string(repo.join(name)).unwrap(),
            std::fs::read_to_string(dir.path("man").join(name)).unwrap(),
            "man/{name} is out of date: regenerate with `cargo run -- man --dir man`"
        );
    }
    // Every page, subcommands included, says which version it documents (issue 11).
    let version = concat!(" ", env!("CARGO_PKG_VERSION"), "\"");
    for name in &generated {
        let page = std::fs::read_to_string(repo.join(name)).unwrap();
        let th = page.lines().find(|l| l.starts_with(".TH ")).unwrap();
        assert!(th.contains(version), "man/{name}: {th}");
    }
    let out = run(callrecon().arg("man"), 0);
    assert_eq!(out.stdout, std::fs::read(repo.join("callrecon.1")).unwrap());
    let out = run(callrecon().args(["man", "run"]), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\\-\\-dry\\-run"));
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(callrecon().args(["completions", shell]), 0);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("callrecon") && text.contains("dry-run"),
            "{shell}"
        );
    }
    run(callrecon().args(["completions", "tcsh"]), 2);
}

#[test]
fn every_subcommand_has_an_example_in_its_help() {
    fn walk(cmd: &clap::Command, path: Vec<String>, all: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_owned());
            all.push(p.clone());
            walk(sub, p, all);
        }
    }
    let mut all = Vec::new();
    walk(&callrecon::cli::Cli::command(), Vec::new(), &mut all);
    assert!(all.len() >= 11, "{all:?}");
    for path in all {
        let out = run(callrecon().args(&path).arg("--help"), 0);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("Example:") || help.contains("Examples:"),
            "`callrecon {} --help` has no example:\n{help}",
            path.join(" ")
        );
        assert!(help.contains("callrecon "), "{help}");
    }
}
