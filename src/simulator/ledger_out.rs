//! Writes the generated ledger where the demo and the tests expect the application's:
//! a SQLite database with the contract's `intended_calls` table, or a CSV that
//! `callrecon ledger import` reads.
//!
//! Writing is idempotent: rows go in with `ledger::insert_if_absent`, so pointing a second
//! run at the same database adds nothing, and the table is created with the ledger module's
//! own schema so the contract has one definition.

use super::Dataset;
use crate::ledger::{COLUMNS, create_table, insert_if_absent};
use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::Path;

/// Writes `dataset.ledger` to `path`: CSV (header = the contract's columns) when the path
/// ends in `.csv`, otherwise a SQLite database, created if missing, filled in one
/// transaction.
pub fn write_ledger(dataset: &Dataset, path: &Path) -> Result<()> {
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        write_csv(dataset, path).with_context(|| format!("writing ledger CSV {}", path.display()))
    } else {
        write_sqlite(dataset, path)
            .with_context(|| format!("writing ledger database {}", path.display()))
    }
}

fn write_csv(dataset: &Dataset, path: &Path) -> Result<()> {
    let mut out = csv::Writer::from_path(path)?;
    out.write_record(COLUMNS)?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let int = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for row in &dataset.ledger {
        out.write_record([
            row.id.to_string(),
            text(&row.external_ref),
            row.to_number.clone(),
            text(&row.from_number),
            row.intended_at.clone(),
            text(&row.call_sid),
            int(row.create_error_code),
            text(&row.webhook_status),
            int(row.webhook_error_code),
            int(row.webhook_sip_code),
        ])?;
    }
    out.flush()?;
    Ok(())
}

fn write_sqlite(dataset: &Dataset, path: &Path) -> Result<()> {
    let mut conn = Connection::open(path)?;
    create_table(&conn)?;
    let tx = conn.transaction()?;
    for row in &dataset.ledger {
        insert_if_absent(&tx, row)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimConfig;
    use chrono::NaiveDate;

    fn dataset() -> Dataset {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        Dataset::generate(&SimConfig::new(300, 5, day, 1))
    }

    #[test]
    fn a_database_gets_every_row_once_even_when_written_twice() {
        let data = dataset();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        write_ledger(&data, &db).unwrap();
        write_ledger(&data, &db).unwrap();
        let conn = Connection::open(&db).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM intended_calls", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, data.ledger.len());
        let last = data.ledger.last().unwrap();
        assert_eq!(
            crate::ledger::get(&conn, last.id).unwrap().as_ref(),
            Some(last)
        );
    }

    #[test]
    fn a_csv_path_gets_the_contract_header_and_every_row() {
        let data = dataset();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.csv");
        write_ledger(&data, &path).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, COLUMNS);
        assert_eq!(reader.records().count(), data.ledger.len());
    }
}
