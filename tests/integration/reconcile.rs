//! The hand-made scenario end to end through the binary: every matching rule, every outcome,
//! the window's edges, and reruns.

use crate::scenario::{self, sid};
use crate::util::*;

fn run_scenario(dir: &TestDir, sim: &Sim, extra: &[&str]) -> std::process::Output {
    let mut cmd = scenario::command(sim, dir, "run");
    cmd.arg("--out").arg(dir.path("report.csv")).args(extra);
    run(&mut cmd, 0)
}

#[test]
fn every_rule_of_the_contract_on_one_hand_made_day() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    run_scenario(&dir, &sim, &[]);
    let rows = read_report(&dir.path("report.csv"));
    let ids: Vec<&str> = rows.iter().map(|r| r["ledger_id"].as_str()).collect();
    // Unreadable intended_at first, then by instant; completed rows and rows outside
    // [from, to) are not reported.
    assert_eq!(
        ids,
        [
            "20", "16", "2", "3", "4", "5", "6", "7", "8", "21", "9", "10", "11", "19", "23", "17",
            "13"
        ]
    );
    let r = by_id(&rows);
    let check = |id: &str, col: &str, want: &str| {
        assert_eq!(r[id][col], want, "row {id} column {col}: {:?}", r[id]);
    };
    // Heuristic matching, including two rows to one number in (intended_at, id) order and a
    // national-format number with an offset intended_at.
    check("2", "matched_by", "heuristic");
    check("2", "call_sid", &sid(2));
    check("2", "outcome", "busy");
    check("2", "intended_at", "2026-03-10T11:00:00Z");
    check("3", "call_sid", &sid(3));
    check("3", "outcome", "no-answer");
    check("4", "call_sid", &sid(4));
    check("4", "intended_at", "2026-03-10T12:01:00Z");
    check("4", "to", "(201) 555-0133");
    // SID matching with the webhook's SIP code deciding the category.
    check("5", "matched_by", "sid");
    check("5", "outcome", "unreachable");
    check("5", "error_source", "webhook-sip");
    check("5", "error_category", "invalid_number");
    check("5", "sip_response_code", "404");
    check("5", "twilio_status", "failed");
    // Null RFC 2822 fields stay empty; a disagreeing webhook is said.
    check("6", "outcome", "no-answer");
    check("6", "start_time", "");
    check("6", "duration_s", "");
    check("6", "price", "");
    check(
        "6",
        "error_message",
        "the webhook said busy, Twilio says no-answer",
    );
    check("7", "outcome", "canceled");
    check("7", "start_time", "2026-03-10T14:30:02Z");
    check("7", "price", "0.00000");
    check("8", "outcome", "pending");
    check("21", "matched_by", "child-leg");
    check("21", "call_sid", &sid(22));
    check("21", "outcome", "no-answer");
    check("21", "direction", "outbound-dial");
    check("9", "outcome", "unreachable");
    check("9", "error_code", "21211");
    check("9", "error_source", "ledger");
    check("9", "matched_by", "");
    check("10", "outcome", "not-placed");
    check("10", "error_category", "blocked_permission");
    check("11", "outcome", "not-placed");
    check("19", "outcome", "");
    check("19", "error_source", "callrecon");
    check("20", "outcome", "");
    assert!(
        r["20"]["error_message"].contains("intended_at 'garbage'"),
        "{:?}",
        r["20"]
    );
    check("23", "outcome", "not-placed");
    assert!(
        r["23"]["error_message"].contains("does not know"),
        "{:?}",
        r["23"]
    );
    // The window's edges: at `from` is in, just before `to` is in, and a row at the last
    // second matches a call created after midnight (the next day was listed).
    check("16", "outcome", "failed");
    check("17", "outcome", "failed");
    check("13", "matched_by", "heuristic");
    check("13", "call_sid", &sid(13));
    check("13", "outcome", "failed");
    check(
        "13",
        "account_sid",
        callrecon::simulator::DEFAULT_ACCOUNT_SID,
    );
    // Row 16 had no webhook status: Twilio's final one was written back.
    check("16", "backfilled", "true");
    check("6", "backfilled", "false");
}

#[test]
fn include_completed_adds_the_completed_rows() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    run_scenario(&dir, &sim, &["--include-completed"]);
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["1"]["outcome"], "completed");
    assert_eq!(r["1"]["duration_s"], "58");
    assert_eq!(r["1"]["price"], "-0.01300");
    assert_eq!(r["1"]["end_time"], "2026-03-10T10:01:02Z");
    assert_eq!(r.len(), 18);
}

#[test]
fn a_row_without_a_call_is_pending_while_young() {
    let (cfg, data) = scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    let mut cmd = against(&sim);
    cmd.args(["run", "--db"]).arg(&db).args([
        "--from",
        "2026-03-10T17:00:00Z",
        "--to",
        "2026-03-10T18:30:00Z",
        "--now",
        "2026-03-10T18:30:00Z",
        "--out",
    ]);
    cmd.arg(dir.path("report.csv"));
    run(&mut cmd, 0);
    let r = by_id(&read_report(&dir.path("report.csv")));
    assert_eq!(r["11"]["outcome"], "pending", "{:?}", r["11"]);
    assert_eq!(r["10"]["outcome"], "not-placed");
}

#[test]
fn a_rerun_gives_the_same_report_byte_for_byte_and_lands_nothing_twice() {
    let (cfg, data) = scenario::dataset();
    let calls = data.calls.len() as i64;
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    run_scenario(&dir, &sim, &[]);
    let first = std::fs::read(dir.path("report.csv")).unwrap();
    run_scenario(&dir, &sim, &[]);
    let second = std::fs::read(dir.path("report.csv")).unwrap();
    assert_eq!(
        String::from_utf8(first).unwrap(),
        String::from_utf8(second).unwrap()
    );
    let db = dir.path("ledger.db");
    // Every call once (a day this small fits one page: listed whole, inbound calls too).
    assert_eq!(count(&db, "SELECT count(*) FROM recon_calls"), calls);
    let one = format!("SELECT count(*) FROM recon_calls WHERE sid = '{}'", sid(15));
    assert_eq!(count(&db, &one), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM intended_calls"), 20);
}
