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
        match_sid   TEXT,
        matched_by  TEXT
    );
";

/// The rows that can matter to a window, found through indexes (a nightly run must not read
/// a ledger that grows for years): those whose `intended_at` starts with a date near the
/// window (every accepted form does; an offset moves the instant a day at most), those whose
/// `intended_at` does not start like a date at all (unreadable: reported in every window; one
/// that starts like a date but is not one, `2026-13-45`, is reported in that date's windows),
/// and the rows still followed up or resolved by this window. callrecon's own write-backs
/// are joined through the audit trail's index.
pub(crate) const READ: &str = "
    WITH ids(id) AS (
        SELECT id FROM intended_calls WHERE substr(intended_at, 1, 10) BETWEEN ?3 AND ?4
        UNION SELECT id FROM intended_calls
              WHERE (intended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*') = 0
        UNION SELECT id FROM intended_calls WHERE substr(intended_at, 1, 10) IS NULL
        UNION SELECT ledger_id FROM recon_followups
              WHERE (resolved_from IS NULL AND expired_at IS NULL)
                 OR (resolved_from = ?1 AND resolved_to = ?2)
    )
    SELECT i.id, i.to_number, i.from_number, i.intended_at, i.call_sid, i.create_error_code,
           i.webhook_status, i.webhook_error_code, i.webhook_sip_code,
           s.ledger_id IS NOT NULL, s.old_value, s.new_value,
           h.ledger_id IS NOT NULL, h.old_value, h.new_value,
           c.ledger_id IS NOT NULL, c.old_value, c.new_value,
           f.ledger_id IS NOT NULL
             AND ((f.resolved_from IS NULL AND f.expired_at IS NULL)
                  OR (f.resolved_from = ?1 AND f.resolved_to = ?2))
    FROM ids
    JOIN intended_calls i ON i.id = ids.id
    LEFT JOIN recon_audit s ON s.audit_id = (SELECT max(audit_id) FROM recon_audit
                                             WHERE ledger_id = i.id AND column = 'call_sid')
    LEFT JOIN recon_audit h ON h.audit_id = (SELECT max(audit_id) FROM recon_audit
                                             WHERE ledger_id = i.id AND column = 'webhook_status')
    LEFT JOIN recon_audit c ON c.audit_id = (SELECT max(audit_id) FROM recon_audit
                                             WHERE ledger_id = i.id AND column = 'webhook_error_code')
    LEFT JOIN recon_followups f ON f.ledger_id = i.id";

/// What the scan found.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanStats {
    pub rows_in_window: u64,
    pub unreadable: u64,
}

/// A column's value as the application left it: the current value, unless callrecon wrote it
/// and it is unchanged since, in which case the value before callrecon's write.
fn application_value(current: Value, written: &Option<(Option<String>, Option<String>)>) -> Value {
    match written {
        Some((old, new)) if value_text(&current) == *new => {
            old.clone().map_or(Value::Null, Value::Text)
        }
        _ => current,
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s.clone()),
        Value::Integer(n) => Some(n.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Null | Value::Blob(_) => None,
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
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO w_rows (ledger_id, ts, in_window, to_key, to_valid, from_key, sid,
             create_code, hook_status, hook_code, sip_code, backfilled, problem, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
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
    let earliest = window.from - lookback;
    let mut stats = ScanStats::default();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let text =
            |i: usize| -> Result<Option<String>> { Ok(value_text(&row.get::<_, Value>(i)?)) };
        let audit = |i: usize| -> Result<Option<(Option<String>, Option<String>)>> {
            Ok(if row.get::<_, bool>(i)? {
                Some((row.get(i + 1)?, row.get(i + 2)?))
            } else {
                None
            })
        };
        let followed_up: bool = row.get(18)?;
        let intended_at = text(3)?.unwrap_or_default();
        let ts = parse_intended_at(&intended_at);
        let in_window = match ts {
            Some(t) if window.contains(t) => IN_WINDOW,
            Some(_) if followed_up => FOLLOWUP,
            Some(t) if earliest <= t && t < window.from => LOOKBACK,
            Some(_) => continue,
            None => IN_WINDOW,
        };
        let mut problems = Vec::new();
        if ts.is_none() {
            problems.push(format!(
                "intended_at '{intended_at}' is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS); \
                 this row belongs to no window until the application fixes it"
            ));
        }
        let mut int = |column: &str, value: Value| match ledger::int_value(value) {
            Ok(v) => v,
            Err(bad) => {
                problems.push(format!("{column} '{bad}' is not an integer"));
                None
            }
        };
        let create_code = int("create_error_code", row.get(5)?);
        let hook_value = application_value(row.get(7)?, &audit(15)?);
        let hook_code = int("webhook_error_code", hook_value);
        let sip_code = int("webhook_sip_code", row.get(8)?);
        let hook_audit = audit(12)?;
        let backfilled = hook_audit.is_some();
        let hook_status = value_text(&application_value(row.get(6)?, &hook_audit));
        let to_number = text(1)?.unwrap_or_default();
        // (key, valid): validity of an E.164-shaped number is left open (NULL) and asked
        // only for the rows whose outcome it can change.
        let to: Option<(String, Option<bool>)> = if to_number.trim().is_empty() {
            problems.push("to_number is empty".to_owned());
            None
        } else if crate::phone::is_e164_shaped(to_number.trim()) {
            Some((to_number.trim().to_owned(), None))
        } else {
            let n = numbers.normalize(&to_number);
            Some((n.key, Some(n.valid)))
        };
        let from_key = text(2)?
            .filter(|s| !s.trim().is_empty())
            .map(|s| numbers.key(&s));
        let mut note = None;
        let sid_value = value_text(&application_value(row.get(4)?, &audit(9)?));
        let sid = match sid_value
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
        if in_window == IN_WINDOW {
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
            to.as_ref().map(|(key, _)| key.clone()),
            to.as_ref().map_or(Some(true), |(_, valid)| *valid),
            from_key,
            sid,
            create_code,
            hook_status,
            hook_code,
            sip_code,
            backfilled,
            problem,
            note,
        ])?;
    }
    conn.execute_batch("CREATE INDEX temp.w_rows_ts ON w_rows (ts, ledger_id)")?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callrecons_own_writes_are_read_as_what_was_there_before() {
        let wrote = Some((None, Some("completed".to_owned())));
        assert_eq!(
            application_value(Value::Text("completed".into()), &wrote),
            Value::Null
        );
        // The application changed it since: its value counts.
        assert_eq!(
            application_value(Value::Text("busy".into()), &wrote),
            Value::Text("busy".into())
        );
        assert_eq!(
            application_value(Value::Integer(7), &None),
            Value::Integer(7)
        );
    }

    #[test]
    fn call_sids_are_ca_and_32_hex_digits() {
        assert!(is_call_sid("CA0123456789abcdef0123456789ABCDEF"));
        assert!(!is_call_sid("CA0123"));
        assert!(!is_call_sid("XX0123456789abcdef0123456789abcdef"));
    }
}
