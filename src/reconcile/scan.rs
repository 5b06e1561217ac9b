//! Reads the ledger into a working table: which rows fall in the window, their parsed time,
//! normalised numbers, and what is wrong with the ones callrecon cannot read.
//!
//! `intended_at` comes in several text forms (RFC 3339 with any offset, SQLite's own), so the
//! window cannot be an SQL range over the text; every ledger row is read once, streamed, and
//! the rows that matter land in `temp.w_rows`, indexed for matching. Nothing is held in memory
//! but the current row.

use crate::ledger;
use crate::phone::Normalizer;
use crate::timefmt::parse_intended_at;
use crate::window::Window;
use anyhow::{Context, Result};
use chrono::Duration;
use rusqlite::types::Value;
use rusqlite::{Connection, params};

/// A Twilio Call SID: `CA` and 32 hex digits.
pub fn is_call_sid(text: &str) -> bool {
    text.len() == 34 && text.starts_with("CA") && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

const CREATE: &str = "
    DROP TABLE IF EXISTS temp.w_rows;
    CREATE TEMP TABLE w_rows (
        ledger_id  INTEGER PRIMARY KEY,
        ts         INTEGER,       -- intended_at as Unix seconds; NULL when unreadable
        in_window  INTEGER NOT NULL,
        to_key     TEXT,          -- normalised to_number
        to_valid   INTEGER NOT NULL,
        from_key   TEXT,
        sid        TEXT,          -- the row's call_sid when it is a well-formed SID
        problem    TEXT,          -- why callrecon cannot read the row (reported, not fatal)
        note       TEXT,          -- remarks for error_message
        match_sid  TEXT,
        matched_by TEXT
    );";

/// What the scan found.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanStats {
    pub rows_in_window: u64,
    pub unreadable: u64,
}

/// Fills `temp.w_rows` with the rows of `window` (`in_window = 1`), the rows of the
/// `lookback` before it (they claim calls first, so that a call is never matched twice across
/// adjacent windows), and every row whose `intended_at` cannot be read (reported always).
pub fn scan_ledger(
    conn: &Connection,
    window: Window,
    lookback: Duration,
    numbers: &mut Normalizer,
) -> Result<ScanStats> {
    conn.execute_batch(CREATE)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO w_rows (ledger_id, ts, in_window, to_key, to_valid, from_key, sid, problem, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut read = conn.prepare(
        "SELECT id, to_number, from_number, intended_at, call_sid, create_error_code,
                webhook_error_code, webhook_sip_code
         FROM intended_calls",
    )?;
    let mut rows = read.query([]).context("reading intended_calls")?;
    let earliest = window.from - lookback;
    let mut stats = ScanStats::default();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let text = |i: usize| -> Result<Option<String>> {
            Ok(match row.get::<_, Value>(i)? {
                Value::Text(s) => Some(s),
                Value::Integer(n) => Some(n.to_string()),
                Value::Real(f) => Some(f.to_string()),
                Value::Null | Value::Blob(_) => None,
            })
        };
        let intended_at = text(3)?.unwrap_or_default();
        let ts = parse_intended_at(&intended_at);
        let in_window = match ts {
            Some(t) if window.contains(t) => true,
            Some(t) if earliest <= t && t < window.from => false,
            Some(_) => continue,
            None => true,
        };
        let mut problems = Vec::new();
        if ts.is_none() {
            problems.push(format!(
                "intended_at '{intended_at}' is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS); \
                 this row belongs to no window until the application fixes it"
            ));
        }
        for (i, column) in [
            (5, "create_error_code"),
            (6, "webhook_error_code"),
            (7, "webhook_sip_code"),
        ] {
            if let Err(bad) = ledger::int_value(row.get::<_, Value>(i)?) {
                problems.push(format!("{column} '{bad}' is not an integer"));
            }
        }
        let to_number = text(1)?.unwrap_or_default();
        let to = if to_number.trim().is_empty() {
            problems.push("to_number is empty".to_owned());
            None
        } else {
            Some(numbers.normalize(&to_number))
        };
        let from_key = text(2)?
            .filter(|s| !s.trim().is_empty())
            .map(|s| numbers.normalize(&s).key);
        let mut note = None;
        let sid = match text(4)?
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            Some(s) if is_call_sid(&s) => Some(s),
            Some(s) => {
                note = Some(format!(
                    "call_sid '{s}' is not a Twilio call SID (CA + 32 hex digits)"
                ));
                None
            }
            None => None,
        };
        if in_window {
            stats.rows_in_window += 1;
            if !problems.is_empty() {
                stats.unreadable += 1;
            }
        }
        let problem = (!problems.is_empty()).then(|| problems.join("; "));
        insert.execute(params![
            id,
            ts.map(|t| t.timestamp()),
            in_window,
            to.as_ref().map(|n| n.key.clone()),
            to.as_ref().is_none_or(|n| n.valid),
            from_key,
            sid,
            problem,
            note,
        ])?;
    }
    conn.execute_batch("CREATE INDEX temp.w_rows_ts ON w_rows (ts, ledger_id)")?;
    Ok(stats)
}
