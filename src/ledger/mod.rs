//! The application's ledger: the `intended_calls` table, whose contract is in design.md.
//!
//! The application owns this table and writes to it while callrecon runs; callrecon creates
//! it when asked (`ledger init`), fills it from a CSV (`ledger import`), checks that it has the
//! contract's columns, and otherwise only reads it (write-back is the one audited exception).
//! Values are read leniently, every one through [`cell`]: an application may store text in
//! an INTEGER column, or bytes that are not UTF-8 in a TEXT one, and such a row must be
//! reported, not crash the run.

pub mod cell;

pub use cell::Cell;

use crate::error::UsageError;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// The contract's columns, in order.
pub const COLUMNS: [&str; 10] = [
    "id",
    "external_ref",
    "to_number",
    "from_number",
    "intended_at",
    "call_sid",
    "create_error_code",
    "webhook_status",
    "webhook_error_code",
    "webhook_sip_code",
];

/// Columns an imported CSV must have; the rest may be missing (read as empty).
pub const REQUIRED_CSV_COLUMNS: [&str; 3] = ["id", "to_number", "intended_at"];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS intended_calls (
    id                 INTEGER PRIMARY KEY,
    external_ref       TEXT,
    to_number          TEXT NOT NULL,
    from_number        TEXT,
    intended_at        TEXT NOT NULL,
    call_sid           TEXT,
    create_error_code  INTEGER,
    webhook_status     TEXT,
    webhook_error_code INTEGER,
    webhook_sip_code   INTEGER
)";

/// One ledger row as the application wrote it. Integer columns are `Option<i64>`; a value
/// that is not an integer (which SQLite allows) is kept in `unreadable` instead of failing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerRow {
    pub id: i64,
    pub external_ref: Option<String>,
    pub to_number: String,
    pub from_number: Option<String>,
    pub intended_at: String,
    pub call_sid: Option<String>,
    pub create_error_code: Option<i64>,
    pub webhook_status: Option<String>,
    pub webhook_error_code: Option<i64>,
    pub webhook_sip_code: Option<i64>,
}

/// Creates `intended_calls` when it is missing; leaves an existing one alone.
pub fn create_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(CREATE_TABLE)
        .context("creating the intended_calls table")?;
    Ok(())
}

/// Refuses (exit 2) a database whose `intended_calls` lacks a column of the contract.
pub fn check_columns(conn: &Connection, db: &Path) -> Result<()> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('intended_calls')")?;
    let present: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if present.is_empty() {
        return Err(UsageError::new(format!(
            "{} has no intended_calls table; create it with `callrecon ledger init --db {}` \
             or point --db at the application's ledger",
            db.display(),
            db.display()
        )));
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
        .collect();
    if !missing.is_empty() {
        return Err(UsageError::new(format!(
            "the intended_calls table in {} lacks the column(s) {}; the ledger contract \
             (README, \"The ledger contract\") lists every column it must have",
            db.display(),
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Inserts a row unless a row with its `id` exists; returns whether it was inserted.
pub fn insert_if_absent(conn: &Connection, row: &LedgerRow) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO intended_calls (id, external_ref, to_number, from_number, intended_at,
                 call_sid, create_error_code, webhook_status, webhook_error_code, webhook_sip_code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(id) DO NOTHING",
        )?
        .execute(params![
            row.id,
            row.external_ref,
            row.to_number,
            row.from_number,
            row.intended_at,
            row.call_sid,
            row.create_error_code,
            row.webhook_status,
            row.webhook_error_code,
            row.webhook_sip_code,
        ])?;
    Ok(n == 1)
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    pub inserted: u64,
    pub already_present: u64,
}

/// Imports a CSV whose header names are the contract's column names, in one transaction:
/// a bad row aborts the import and leaves the table as it was. Rows whose `id` is already in
/// the table are left untouched, so importing the same file twice changes nothing.
pub fn import_csv(conn: &mut Connection, csv_path: &Path) -> Result<ImportStats> {
    let file = std::fs::File::open(csv_path)
        .map_err(|e| UsageError::new(format!("cannot read {}: {e}", csv_path.display())))?;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| UsageError::new(format!("{}: bad CSV header: {e}", csv_path.display())))?
        .clone();
    let position = |name: &str| headers.iter().position(|h| h.trim() == name);
    if let Some(missing) = REQUIRED_CSV_COLUMNS.iter().find(|c| position(c).is_none()) {
        return Err(UsageError::new(format!(
            "{}: the header has no column '{missing}'; an import needs at least {} \
             (names as in the ledger contract)",
            csv_path.display(),
            REQUIRED_CSV_COLUMNS.join(", ")
        )));
    }
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(&h.trim())) {
        return Err(UsageError::new(format!(
            "{}: unknown column '{unknown}'; the ledger's columns are {}",
            csv_path.display(),
            COLUMNS.join(", ")
        )));
    }
    let idx: Vec<Option<usize>> = COLUMNS.iter().map(|c| position(c)).collect();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut stats = ImportStats::default();
    // A second row with an id seen earlier in the same file is a mistake in the file, not
    // a row "already present": refused, naming both lines.
    let mut seen: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = record
            .map_err(|e| UsageError::new(format!("{} line {line}: {e}", csv_path.display())))?;
        let text = |i: usize| -> Option<String> {
            idx[i]
                .and_then(|p| record.get(p))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let int = |i: usize| -> Result<Option<i64>> {
            match text(i) {
                None => Ok(None),
                Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                    UsageError::new(format!(
                        "{} line {line}: column {} is '{v}', not an integer; fix the file and \
                         import again (nothing was imported)",
                        csv_path.display(),
                        COLUMNS[i]
                    ))
                }),
            }
        };
        let id = int(0)?.ok_or_else(|| {
            UsageError::new(format!(
                "{} line {line}: empty id; every row needs the application's ledger id \
                 (nothing was imported)",
                csv_path.display()
            ))
        })?;
        if let Some(first) = seen.insert(id, line) {
            return Err(UsageError::new(format!(
                "{} lines {first} and {line} both have id {id}; each row needs its own id. Fix \
                 the file and import again (nothing was imported)",
                csv_path.display()
            )));
        }
        let row = LedgerRow {
            id,
            external_ref: text(1),
            to_number: text(2).unwrap_or_default(),
            from_number: text(3),
            intended_at: text(4).unwrap_or_default(),
            call_sid: text(5),
            create_error_code: int(6)?,
            webhook_status: text(7),
            webhook_error_code: int(8)?,
            webhook_sip_code: int(9)?,
        };
        if insert_if_absent(&tx, &row)? {
            stats.inserted += 1;
        } else {
            stats.already_present += 1;
        }
    }
    tx.commit()?;
    Ok(stats)
}

/// Reads an INTEGER column leniently ([`cell::integer`]): SQLite lets an application
/// store any text there. Empty text counts as empty; other text is returned as the error,
/// for the report to quote.
pub fn int_value(value: rusqlite::types::Value) -> Result<Option<i64>, String> {
    use rusqlite::types::ValueRef;
    cell::integer(&Cell::from_ref(ValueRef::from(&value)))
}

/// Reads one ledger row by id (tests and tools), through [`cell`] like every ledger read:
/// text that is not text is shown lossily, an integer column that holds no integer is empty.
pub fn get(conn: &Connection, id: i64) -> Result<Option<LedgerRow>> {
    Ok(conn
        .query_row(
            "SELECT id, external_ref, to_number, from_number, intended_at, call_sid,
                    create_error_code, webhook_status, webhook_error_code, webhook_sip_code
             FROM intended_calls WHERE id = ?1",
            [id],
            |r| {
                let c = |i| Cell::get(r, i);
                let int = |i| c(i).map(|v| cell::integer(&v).ok().flatten());
                Ok(LedgerRow {
                    id: r.get(0)?,
                    external_ref: c(1)?.shown(),
                    to_number: c(2)?.shown().unwrap_or_default(),
                    from_number: c(3)?.shown(),
                    intended_at: c(4)?.shown().unwrap_or_default(),
                    call_sid: c(5)?.shown(),
                    create_error_code: int(6)?,
                    webhook_status: c(7)?.shown(),
                    webhook_error_code: int(8)?,
                    webhook_sip_code: int(9)?,
                })
            },
        )
        .optional()?)
}
