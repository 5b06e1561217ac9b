//! The report's queries use indexes: none reads a whole big table (the ledger, the landed
//! calls, alerts, notifications or the audit trail), so a report costs what its window holds,
//! not what the database has gathered over the months.

use crate::phone::Normalizer;
use crate::store::{OpenMode, Store};
use crate::window::Window;
use chrono::{Duration, TimeZone, Utc};

const BIG: [&str; 6] = [
    "intended_calls",
    "recon_calls",
    "recon_alerts",
    "recon_notifications",
    "recon_audit",
    "recon_followups",
];

fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let n = stmt.parameter_count();
    let params: Vec<rusqlite::types::Value> =
        (0..n).map(|_| rusqlite::types::Value::Integer(1)).collect();
    stmt.query_map(rusqlite::params_from_iter(params), |r| {
        r.get::<_, String>(3)
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn no_report_query_scans_a_big_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("l.db"), OpenMode::CreateIfMissing).unwrap();
    let window = Window::new(
        Utc.with_ymd_and_hms(2026, 1, 14, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap(),
    )
    .unwrap();
    let tx = store.conn.transaction().unwrap();
    super::prepare(
        &tx,
        &mut Normalizer::new(Some("US")).unwrap(),
        window,
        Duration::hours(1),
    )
    .unwrap();
    tx.execute_batch(super::WORK_TABLES).unwrap();
    let queries = [
        ("scan", super::scan::READ),
        ("rows", super::stream::ROWS),
        ("call", super::stream::CALL),
        ("landed", super::landed::ROWID),
        ("kept", super::landed::KEPT),
        ("heuristic", super::matching::CANDIDATES),
        ("alerts", super::twilio_codes::ALERT),
        ("notifications", super::twilio_codes::NOTIFICATION),
        ("any codes", super::twilio_codes::ANY),
        ("orphans", crate::report::orphans::ORPHANS),
        ("notification lookups", crate::fetch::codes::CANDIDATES),
    ];
    for (name, sql) in queries {
        let steps = plan(&tx, sql);
        for step in &steps {
            for table in BIG {
                let scans = step.starts_with(&format!("SCAN {table}"))
                    || step.starts_with(&format!("SCAN {} ", &table[..1])) && step.contains(table);
                assert!(!scans, "the {name} query scans {table}: {steps:#?}");
            }
        }
    }
}
