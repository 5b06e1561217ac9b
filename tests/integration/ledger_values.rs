//! Any value in any ledger column (issue 11, case 1): the run completes and reports the row.
//! Only a bad `to_number` or `intended_at` makes a row unreadable; a bad `external_ref` or
//! `from_number` is shown with U+FFFD and a note; a bad `call_sid` counts as no SID; `check`
//! names the rows it cannot read.

use super::outputs::{FROM, TO, run_cmd, sim};
use crate::util::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use rusqlite::types::Value as SqlValue;
use std::collections::HashMap;

/// A value for a ledger column: anything SQLite stores, and text that is not UTF-8.
#[derive(Debug, Clone)]
enum Put {
    Value(SqlValue),
    BadText(Vec<u8>),
}

fn put(conn: &rusqlite::Connection, id: i64, column: &str, value: &Put) {
    match value {
        Put::Value(v) => conn.execute(
            &format!("UPDATE intended_calls SET {column} = ?2 WHERE id = ?1"),
            rusqlite::params![id, v],
        ),
        Put::BadText(bytes) => conn.execute(
            &format!("UPDATE intended_calls SET {column} = CAST(?2 AS TEXT) WHERE id = ?1"),
            rusqlite::params![id, bytes],
        ),
    }
    // NOT NULL columns (to_number, intended_at in `ledger init`'s table) refuse a NULL: the
    // value they had stays, and the case goes on with it.
    .map_or_else(
        |e| assert!(format!("{e}").contains("NOT NULL constraint failed"), "{e}"),
        |_| (),
    );
}

/// A fetched window, and the id of a row matched by SID whose webhook status is empty
/// (so the write-back reads and writes it).
fn fetched() -> (Sim, TestDir, i64) {
    let sim = sim(150);
    let dir = TestDir::new();
    run(&mut run_cmd(&sim, &dir, "fetch"), 0);
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    let id = conn
        .query_row(
            "SELECT id FROM intended_calls WHERE call_sid IS NOT NULL AND webhook_status IS NULL
             AND substr(intended_at, 1, 10) = '2026-06-02' ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (sim, dir, id)
}

fn report(sim: &Sim, dir: &TestDir) -> (std::process::Output, Vec<HashMap<String, String>>) {
    let out_path = dir.path("r.csv");
    let _ = std::fs::remove_file(&out_path);
    let mut cmd = run_cmd(sim, dir, "report");
    cmd.args(["--include-completed", "--out"]).arg(&out_path);
    let out = cmd.output().unwrap();
    let rows = if out_path.exists() {
        read_report(&out_path)
    } else {
        Vec::new()
    };
    (out, rows)
}

fn row(rows: &[HashMap<String, String>], id: i64) -> &HashMap<String, String> {
    rows.iter()
        .find(|r| r["ledger_id"] == id.to_string())
        .unwrap_or_else(|| panic!("ledger row {id} not in the report"))
}

#[test]
fn bad_bytes_in_each_column_are_reported_as_the_contract_says() {
    let (sim, dir, id) = fetched();
    let db = dir.path("ledger.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let others: Vec<i64> = conn
        .prepare(
            "SELECT id FROM intended_calls WHERE substr(intended_at, 1, 10) = '2026-06-02'
             AND id <> ?1 ORDER BY id LIMIT 4",
        )
        .unwrap()
        .query_map([id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let bad = Put::BadText(vec![0xc3, 0x28]);
    put(&conn, id, "from_number", &bad);
    put(&conn, id, "external_ref", &bad);
    put(
        &conn,
        others[0],
        "to_number",
        &Put::Value(SqlValue::Blob(vec![1, 2])),
    );
    put(&conn, others[1], "call_sid", &bad);
    put(&conn, others[2], "webhook_status", &bad);
    put(&conn, others[3], "intended_at", &bad);
    drop(conn);
    let (out, rows) = report(&sim, &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = row(&rows, id);
    assert_eq!(r["from"], "\u{fffd}(");
    assert_eq!(r["external_ref"], "\u{fffd}(");
    assert!(
        r["error_message"].contains("from_number is not valid UTF-8"),
        "{r:?}"
    );
    assert!(!r["outcome"].is_empty(), "still reconciled: {r:?}");
    let r = row(&rows, others[0]);
    assert_eq!(r["outcome"], "", "unreadable: {r:?}");
    assert!(r["error_message"].contains("to_number"), "{r:?}");
    assert_eq!(r["error_source"], "callrecon");
    let r = row(&rows, others[1]);
    assert!(
        r["error_message"].contains("call_sid is not valid UTF-8; read as no SID"),
        "{r:?}"
    );
    assert_ne!(r["matched_by"], "sid");
    let r = row(&rows, others[2]);
    assert!(!r["outcome"].is_empty(), "{r:?}");
    assert_eq!(
        r["backfilled"], "false",
        "a status that is not text is not written over"
    );
    let kept = count(
        &db,
        &format!(
            "SELECT hex(webhook_status) = 'C328' FROM intended_calls WHERE id = {}",
            others[2]
        ),
    );
    assert_eq!(kept, 1, "the application's bytes were replaced");
    let r = row(&rows, others[3]);
    assert_eq!(r["outcome"], "");
    assert!(r["error_message"].contains("intended_at"), "{r:?}");
    // check names what it cannot read.
    let out = run(against(&sim).args(["check", "--db"]).arg(&db), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("ok      ledger rows"), "{text}");
    assert!(text.contains("WARN    ledger rows: "), "{text}");
    assert!(text.contains("row(s) callrecon cannot read"), "{text}");
    assert!(
        text.contains(&format!("id {}: to_number", others[0])),
        "{text}"
    );
}

/// Arbitrary values in every column of one row, 24 cases: every run completes (exit 0) and
/// reports the row, unless its `intended_at` is a readable time outside the window.
#[test]
fn any_sqlite_value_in_any_ledger_column_never_stops_the_run() {
    let (sim, dir, id) = fetched();
    let db = dir.path("ledger.db");
    let value = || {
        prop_oneof![
            4 => super::properties::sql_value().prop_map(Put::Value),
            1 => vec(any::<u8>(), 0..6).prop_map(Put::BadText),
        ]
    };
    let time = prop_oneof![
        value(),
        Just(Put::Value(SqlValue::Text("2026-06-02T10:00:00Z".into()))),
    ];
    let number = prop_oneof![
        value(),
        Just(Put::Value(SqlValue::Text("+14155550100".into())))
    ];
    let columns = (
        value(),
        number,
        value(),
        time,
        value(),
        (value(), value(), value(), value()),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(
        &columns,
        |(ext, to, from, at, sid, (create, status, code, sip))| {
            let conn = rusqlite::Connection::open(&db).unwrap();
            for (column, v) in [
                ("external_ref", &ext),
                ("to_number", &to),
                ("from_number", &from),
                ("intended_at", &at),
                ("call_sid", &sid),
                ("create_error_code", &create),
                ("webhook_status", &status),
                ("webhook_error_code", &code),
                ("webhook_sip_code", &sip),
            ] {
                put(&conn, id, column, v);
            }
            let text: Option<String> = conn
                .query_row(
                    "SELECT CASE WHEN typeof(intended_at) = 'text' THEN intended_at END
                 FROM intended_calls WHERE id = ?1",
                    [id],
                    |r| {
                        r.get_ref(0)
                            .map(|v| v.as_str_or_null().ok().flatten().map(str::to_owned))
                    },
                )
                .unwrap();
            drop(conn);
            let (out, rows) = report(&sim, &dir);
            if out.status.code() != Some(0) || stderr(&out).contains("panicked") {
                return Err(TestCaseError::fail(format!(
                    "exit {:?}: {}",
                    out.status,
                    stderr(&out)
                )));
            }
            let from = callrecon::timefmt::parse_intended_at(FROM).unwrap();
            let to_ = callrecon::timefmt::parse_intended_at(TO).unwrap();
            let outside = text
                .as_deref()
                .and_then(callrecon::timefmt::parse_intended_at)
                .is_some_and(|t| t < from || t >= to_);
            let reported = rows.iter().any(|r| r["ledger_id"] == id.to_string());
            if !outside && !reported {
                return Err(TestCaseError::fail(format!("row {id} not reported")));
            }
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
