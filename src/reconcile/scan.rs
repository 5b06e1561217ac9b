//! Reads the ledger into a working table: which rows fall in the window, their parsed time,
//! normalised numbers, the application's own values, and what is wrong with the rows
//! callrecon cannot read.
//!
//! `intended_at` comes in several text forms (RFC 3339 with any offset, SQLite's own), so the
//! window cannot be an SQL range over the text; every ledger row is read once, streamed, and
//! the rows that matter land in `temp.w_rows`, indexed for matching. Nothing is held in memory
//! but the current row.
//!
//! Values callrecon wrote back never count as the application's (design.md, "Write-back"):
//! where the audit trail shows that callrecon set a column and the column still holds what it
//! set, the row is read with the value it had before. So a rerun matches and classifies every
//! row exactly as the first run did.

use crate::ledger::{Cell, cell};
use crate::phone::Normalizer;
use crate::timefmt::parse_intended_at;
use crate::window::Window;
use anyhow::{Context, Result};
use chrono::Duration;
use rusqlite::{Connection, params};
use std::borrow::Cow;

/// A Twilio Call SID: `CA` and 32 hex digits.
pub fn is_call_sid(text: &str) -> bool {
    text.len() == 34 && text.starts_with("CA") && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `w_rows.in_window`: why a row is in the working table.
pub const LOOKBACK: i64 = 0;
pub const IN_WINDOW: i64 = 1;
pub const FOLLOWUP: i64 = 2;

const CREATE: &str = "
    DROP TABLE IF EXISTS temp.w_rows;
    CREATE TEMP TABLE w_rows (
        ledger_id   INTEGER PRIMARY KEY,
        ts          INTEGER,       -- intended_at as Unix seconds; NULL when unreadable
        in_window   INTEGER NOT NULL, -- 0 lookback, 1 in the window, 2 follow-up of an earlier window
        to_key      TEXT,          -- normalised to_number
        to_valid    INTEGER,          -- NULL: E.164-shaped, validity not asked yet
        from_key    TEXT,
        sid         TEXT,          -- the application's call_sid, when a well-formed SID
        create_code INTEGER,
        hook_status TEXT,          -- the application's webhook values (not callrecon's)
        hook_code   INTEGER,
        sip_code    INTEGER,
        backfilled  INTEGER NOT NULL,
        problem     TEXT,          -- why callrecon cannot read the row (reported, not fatal)
        note        TEXT,          -- remarks for error_message
        ext_ref     TEXT,          -- the ledger's values as the report shows them (lossy
        to_text     TEXT,          -- where they are not text: see ledger::cell)
        from_text   TEXT,
        at_text     TEXT,
        cur_status  TEXT,          -- webhook_status and call_sid as they are now, for the
        cur_status_bad INTEGER,    -- (a status that is not text is never written over)
        cur_code_empty INTEGER,    -- write-back (which guards on them)
        cur_sid     TEXT,
        match_sid   TEXT,          -- the call matched; a readable row with a SID names its own
        matched_by  TEXT           -- call from the start (matching then checks it was landed)
    );
";

/// The rows that can matter to a window, found through indexes (a nightly run must not read
/// a ledger that grows for years): those whose `intended_at` starts with a date near the
/// window (every accepted form does; an offset moves the instant a day at most), those whose
/// `intended_at` does not start like a date at all (unreadable: reported in every window; one
/// that starts like a date but is not one, `2026-13-45`, is reported in that date's windows),
/// and the rows still followed up or resolved by this window. callrecon's own write-backs
/// are joined through the audit trail's index: a row comes once per audit entry (once when it
/// has none), and the latest entry of each column counts. One join, where a lookup of the
/// latest entry per column cost three subqueries a row, most of the read.
///
/// A row may come twice (a followed-up row of the window's days): `UNION ALL` streams the
/// branches one after the other, where `UNION` would first gather every id of the window in
/// a temporary index (tens of MB for a million rows); the second copy is ignored on insert.
pub(crate) const READ: &str = "
    WITH ids(id) AS (
        SELECT id FROM intended_calls WHERE substr(intended_at, 1, 10) BETWEEN ?3 AND ?4
        UNION ALL SELECT id FROM intended_calls
              WHERE (intended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*') = 0
        UNION ALL SELECT id FROM intended_calls WHERE substr(intended_at, 1, 10) IS NULL
        UNION ALL SELECT ledger_id FROM recon_followups
              WHERE (resolved_from IS NULL AND expired_at IS NULL)
                 OR (resolved_from = ?1 AND resolved_to = ?2)
    )
    SELECT i.id, i.to_number, i.from_number, i.intended_at, i.call_sid, i.create_error_code,
           i.webhook_status, i.webhook_error_code, i.webhook_sip_code,
           f.ledger_id IS NOT NULL
             AND ((f.resolved_from IS NULL AND f.expired_at IS NULL)
                  OR (f.resolved_from IS ?1 AND f.resolved_to IS ?2)),
           a.audit_id, a.column, a.old_value, a.new_value, i.external_ref
    FROM ids
    JOIN intended_calls i ON i.id = ids.id
    LEFT JOIN recon_followups f ON f.ledger_id = i.id
    LEFT JOIN recon_audit a ON a.ledger_id = i.id";

/// What the scan found.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanStats {
    pub rows_in_window: u64,
    pub unreadable: u64,
    /// Rows with no readable `intended_at` (in every window).
    pub undated: u64,
}

/// A column's value as the application left it: the current value, unless callrecon wrote it
/// and it is unchanged since, in which case the value before callrecon's write.
fn application_value<'a>(current: &'a Cell, written: &Option<Written>) -> Cow<'a, Cell> {
    match written {
        Some(w) if current.text_cow().as_deref() == w.new.as_deref() => {
            Cow::Owned(w.old.clone().map_or(Cell::Null, Cell::Text))
        }
        _ => Cow::Borrowed(current),
    }
}

/// callrecon's latest write to one column of a row, from the audit trail.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    audit_id: i64,
    old: Option<String>,
    new: Option<String>,
}

/// One ledger row as read, with callrecon's latest write to each column it writes back.
struct Read {
    id: i64,
    external_ref: Cell,
    to_number: Cell,
    from_number: Cell,
    intended_at: Cell,
    call_sid: Cell,
    create_code: Cell,
    hook_status: Cell,
    hook_code: Cell,
    sip_code: Cell,
    followed_up: bool,
    sid_written: Option<Written>,
    status_written: Option<Written>,
    code_written: Option<Written>,
}

impl Read {
    fn new(row: &rusqlite::Row) -> Result<Read> {
        // Every ledger value through the one reader: no value can fail the scan.
        let cell = |i| Cell::get(row, i);
        Ok(Read {
            id: row.get(0)?,
            external_ref: cell(14)?,
            to_number: cell(1)?,
            from_number: cell(2)?,
            intended_at: cell(3)?,
            call_sid: cell(4)?,
            create_code: cell(5)?,
            hook_status: cell(6)?,
            hook_code: cell(7)?,
            sip_code: cell(8)?,
            followed_up: row.get(9)?,
            sid_written: None,
            status_written: None,
            code_written: None,
        })
    }

    /// Keeps the row's audit entry (if the join found one) when it is its column's latest.
    fn audit(&mut self, row: &rusqlite::Row) -> Result<()> {
        let Some(audit_id) = row.get::<_, Option<i64>>(10)? else {
            return Ok(());
        };
        let column: String = row.get(11)?;
        let slot = match column.as_str() {
            "call_sid" => &mut self.sid_written,
            "webhook_status" => &mut self.status_written,
            "webhook_error_code" => &mut self.code_written,
            _ => return Ok(()),
        };
        if slot.as_ref().is_none_or(|w| w.audit_id < audit_id) {
            *slot = Some(Written {
                audit_id,
                old: row.get(12)?,
                new: row.get(13)?,
            });
        }
        Ok(())
    }
}

/// Fills `temp.w_rows` with the rows of `window` (`IN_WINDOW`), the rows of the `lookback`
/// before it (`LOOKBACK`: they claim calls first, so that a call is never matched twice across
/// adjacent windows), rows of earlier windows still followed up or resolved by this window
/// (`FOLLOWUP`), and every row whose `intended_at` cannot be read (reported always).
pub fn scan_ledger(
    conn: &Connection,
    window: Window,
    lookback: Duration,
    numbers: &mut Normalizer,
) -> Result<ScanStats> {
    conn.execute_batch(CREATE)?;
    let mut scan = Scan {
        insert: conn.prepare_cached(
            "INSERT OR IGNORE INTO w_rows (ledger_id, ts, in_window, to_key, to_valid, from_key,
                 sid, create_code, hook_status, hook_code, sip_code, backfilled, problem, note,
                 ext_ref, to_text, from_text, at_text, cur_status, cur_code_empty, cur_sid,
                 cur_status_bad, match_sid, matched_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                 ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                 CASE WHEN ?13 IS NULL THEN ?7 END,
                 CASE WHEN ?13 IS NULL AND ?7 IS NOT NULL THEN 'sid' END)",
        )?,
        window,
        earliest: window.from - lookback,
        numbers,
        stats: ScanStats::default(),
    };
    let mut read = conn.prepare(READ)?;
    let day = |t: chrono::DateTime<chrono::Utc>| t.date_naive().to_string();
    let lo = day(window.from - lookback - Duration::days(1));
    let hi = day(window.to + Duration::days(1));
    let mut rows = read
        .query(params![
            window.from.timestamp(),
            window.to.timestamp(),
            lo,
            hi
        ])
        .context("reading intended_calls")?;
    // A row's audit entries come one after the other: the row is done when the next begins.
    let mut current: Option<Read> = None;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        if current.as_ref().is_none_or(|c| c.id != id) {
            if let Some(done) = current.take() {
                scan.row(done)?;
            }
            current = Some(Read::new(row)?);
        }
        if let Some(read) = current.as_mut() {
            read.audit(row)?;
        }
    }
    if let Some(done) = current {
        scan.row(done)?;
    }
    conn.execute_batch("CREATE INDEX temp.w_rows_ts ON w_rows (ts, ledger_id)")?;
    Ok(scan.stats)
}

struct Scan<'a> {
    insert: rusqlite::CachedStatement<'a>,
    window: Window,
    earliest: chrono::DateTime<chrono::Utc>,
    numbers: &'a mut Normalizer,
    stats: ScanStats,
}

impl Scan<'_> {
    /// Reads one ledger row into `w_rows`, if it belongs there.
    fn row(&mut self, read: Read) -> Result<()> {
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let intended_at = cell::required("intended_at", &read.intended_at);
        let ts = intended_at.as_deref().ok().and_then(parse_intended_at);
        let in_window = match ts {
            Some(t) if self.window.contains(t) => IN_WINDOW,
            Some(_) if read.followed_up => FOLLOWUP,
            Some(t) if self.earliest <= t && t < self.window.from => LOOKBACK,
            Some(_) => return Ok(()),
            None => IN_WINDOW,
        };
        match &intended_at {
            Err(bad) => problems.push(format!(
                "{bad}; this row belongs to no window until the application fixes it"
            )),
            Ok(text) if ts.is_none() => problems.push(format!(
                "intended_at '{text}' is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS); \
                 this row belongs to no window until the application fixes it"
            )),
            Ok(_) => {}
        }
        let mut int = |column: &str, value: &Cell| match cell::integer(value) {
            Ok(v) => v,
            Err(bad) => {
                problems.push(format!("{column} '{bad}' is not an integer"));
                None
            }
        };
        let create_code = int("create_error_code", &read.create_code);
        let hook_value = application_value(&read.hook_code, &read.code_written);
        let hook_code = int("webhook_error_code", &hook_value);
        let sip_code = int("webhook_sip_code", &read.sip_code);
        let backfilled = read.status_written.is_some();
        let hook_value = application_value(&read.hook_status, &read.status_written);
        let hook_status = cell::lossy("webhook_status", &hook_value, &mut notes);
        // (key, valid): validity of an E.164-shaped number is left open (NULL) and asked
        // only for the rows whose outcome it can change.
        let to: Option<(String, Option<bool>)> = match cell::required("to_number", &read.to_number)
        {
            Err(bad) => {
                problems.push(bad);
                None
            }
            Ok(n) if n.trim().is_empty() => {
                problems.push("to_number is empty".to_owned());
                None
            }
            Ok(n) if crate::phone::is_e164_shaped(n.trim()) => Some((n.trim().to_owned(), None)),
            Ok(n) => {
                let n = self.numbers.normalize(&n);
                Some((n.key, Some(n.valid)))
            }
        };
        let external_ref = cell::lossy("external_ref", &read.external_ref, &mut notes);
        let from_text = cell::lossy("from_number", &read.from_number, &mut notes);
        // A garbled caller ID is no caller ID to match on.
        let from_key = read
            .from_number
            .text()
            .filter(|s| !s.trim().is_empty())
            .map(|s| self.numbers.key(&s));
        let sid_cell = application_value(&read.call_sid, &read.sid_written);
        let sid_text = sid_cell.text_cow();
        let sid = match (&*sid_cell, sid_text.as_deref().map(str::trim)) {
            (Cell::Bad { what, .. }, _) => {
                notes.push(format!("call_sid {what}; read as no SID"));
                None
            }
            (_, Some(s)) if is_call_sid(s) => Some(s),
            (_, Some(s)) if !s.is_empty() => {
                notes.push(format!(
                    "call_sid '{s}' is not a Twilio call SID (CA + 32 hex digits)"
                ));
                None
            }
            _ => None,
        };
        let problem = (!problems.is_empty()).then(|| problems.join("; "));
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        let (to_key, to_valid) = match to {
            Some((key, valid)) => (Some(key), valid),
            None => (None, Some(true)),
        };
        let at_text = read.intended_at.shown_cow();
        let inserted = self.insert.execute(params![
            read.id,
            ts.map(|t| t.timestamp()),
            in_window,
            to_key,
            to_valid,
            from_key,
            sid,
            create_code,
            hook_status,
            hook_code,
            sip_code,
            backfilled,
            problem,
            note,
            external_ref,
            read.to_number.shown_cow(),
            from_text,
            at_text,
            read.hook_status.shown_cow(),
            matches!(cell::integer(&read.hook_code), Ok(None)),
            read.call_sid.shown_cow(),
            matches!(read.hook_status, Cell::Bad { .. }),
        ])?;
        if inserted == 1 && in_window == IN_WINDOW {
            self.stats.rows_in_window += 1;
            self.stats.unreadable += problem.is_some() as u64;
            self.stats.undated += ts.is_none() as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callrecons_own_writes_are_read_as_what_was_there_before() {
        let wrote = Some(Written {
            audit_id: 1,
            old: None,
            new: Some("completed".to_owned()),
        });
        assert_eq!(
            *application_value(&Cell::Text("completed".into()), &wrote),
            Cell::Null
        );
        // The application changed it since: its value counts.
        assert_eq!(
            *application_value(&Cell::Text("busy".into()), &wrote),
            Cell::Text("busy".into())
        );
        assert_eq!(
            *application_value(&Cell::Integer(7), &None),
            Cell::Integer(7)
        );
    }

    #[test]
    fn call_sids_are_ca_and_32_hex_digits() {
        assert!(is_call_sid("CA0123456789abcdef0123456789ABCDEF"));
        assert!(!is_call_sid("CA0123"));
        assert!(!is_call_sid("XX0123456789abcdef0123456789abcdef"));
    }
}
