//! The smaller promises of issue 11 (case 8): help and messages that say what is true,
//! `ledger import` refusing a file that names an id twice, a warning for a token file others
//! can read, the demo's output.

use super::outputs::{run_cmd, sim};
use crate::util::*;

#[test]
fn report_help_claims_no_landing_and_names_the_safe_points() {
    let out = run(callrecon().args(["report", "--help"]), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(!help.contains("Land Twilio's data"), "{help}");
    assert!(help.contains("a batch while reporting"), "{help}");
    for sub in ["init", "import"] {
        let out = run(callrecon().args(["ledger", sub, "--help"]), 0);
        let help = String::from_utf8_lossy(&out.stdout);
        let db = help
            .lines()
            .find(|l| l.trim_start().starts_with("--db <PATH>"))
            .unwrap_or_default();
        assert!(db.contains("ledger database"), "ledger {sub}: {help}");
    }
}

#[test]
fn a_window_never_fetched_names_the_window_not_only_from_and_to() {
    let sim = sim(20);
    let dir = TestDir::new();
    run(&mut run_cmd(&sim, &dir, "fetch"), 0);
    let now = sim_now(&sim);
    let mut cmd = against(&sim);
    cmd.args(["report", "--db"])
        .arg(dir.path("ledger.db"))
        .args(["--window", "2026-05-20", "--now", &now, "--out"])
        .arg(dir.path("r.csv"));
    let out = run(&mut cmd, 2);
    let err = stderr(&out);
    assert!(
        err.contains("over the same window") && err.contains("--window"),
        "{err}"
    );
}

#[test]
fn a_missing_column_cites_the_readme_section_by_its_name() {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE intended_calls (id INTEGER PRIMARY KEY, to_number TEXT)")
        .unwrap();
    drop(conn);
    let csv = dir.path("x.csv");
    std::fs::write(&csv, "id,to_number,intended_at\n").unwrap();
    let out = import(&db, &csv, 2);
    assert!(
        stderr(&out).contains("(README, \"The ledger contract\")"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_id_twice_in_one_import_file_is_refused_naming_both_lines_and_nothing_is_imported() {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let csv = dir.path("rows.csv");
    std::fs::write(
        &csv,
        "id,to_number,intended_at\n\
         1,+14155550100,2026-06-02T10:00:00Z\n\
         2,+14155550101,2026-06-02T10:01:00Z\n\
         1,+14155550102,2026-06-02T10:02:00Z\n",
    )
    .unwrap();
    let out = import(&db, &csv, 2);
    assert!(
        stderr(&out).contains("lines 2 and 4 both have id 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&db, "SELECT count(*) FROM intended_calls"), 0);
}

#[test]
fn a_token_file_others_can_read_gets_the_same_warning_as_the_configurations() {
    use std::os::unix::fs::PermissionsExt;
    let sim = sim(20);
    let dir = TestDir::new();
    let token = dir.path("token");
    std::fs::write(
        &token,
        format!("{}\n", callrecon::simulator::DEFAULT_AUTH_TOKEN),
    )
    .unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = against(&sim);
    cmd.env_remove("TWILIO_AUTH_TOKEN")
        .args(["check", "--auth-token-file"])
        .arg(&token);
    let out = cmd.output().unwrap();
    assert!(
        stderr(&out).contains("others may read it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_window_without_rows_says_so_beside_the_undated_row() {
    let sim = sim(50);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let csv = dir.path("rows.csv");
    std::fs::write(
        &csv,
        "id,to_number,intended_at\n7,+14155550100,yesterday-ish\n",
    )
    .unwrap();
    import(&db, &csv, 0);
    run(&mut run_cmd(&sim, &dir, "fetch"), 0);
    let mut cmd = run_cmd(&sim, &dir, "report");
    cmd.arg("--out").arg(dir.path("r.csv"));
    let err = stderr(&run(&mut cmd, 0));
    assert!(
        err.contains("0 ledger row(s) in the window (and 1 undated row(s)"),
        "{err}"
    );
    assert_eq!(read_report(&dir.path("r.csv")).len(), 1);
}

#[test]
fn the_demo_starts_with_its_own_line_and_quiet_is_quiet() {
    let dir = TestDir::new();
    let out = run(callrecon().args(["demo", "--out"]).arg(dir.path("d")), 0);
    assert!(!stderr(&out).contains("WARN"), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("callrecon demo: simulator on "), "{said}");
    let out = run(
        callrecon().args(["-q", "demo", "--out"]).arg(dir.path("d")),
        0,
    );
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        stderr(&out)
    );
}
