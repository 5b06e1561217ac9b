//! The numbers file (`--numbers-out`): one row per destination number whose ledger rows in the
//! window ended `unreachable`, `failed`, `busy` or `no-answer` — the list the CRM team acts on.
//!
//! `action` says what to do with the number: `remove` when the last error says it is invalid
//! or badly formatted, `check-config` when the call was blocked or not permitted (a setting
//! on the account, not the number), `retry-later` otherwise. `attempts` counts every ledger
//! row of the window to the number, whatever its outcome; the four outcome columns add up to
//! the report's rows with those outcomes.

use super::Writer;
use crate::timefmt::format_utc;
use anyhow::Result;
use chrono::{TimeZone, Utc};
use rusqlite::Connection;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

pub const COLUMNS: [&str; 13] = [
    "number",
    "action",
    "last_outcome",
    "last_error_code",
    "last_error_category",
    "attempts",
    "unreachable",
    "failed",
    "busy",
    "no_answer",
    "last_attempt_at",
    "external_refs",
    "twilio_to",
];

#[derive(Debug, Default, Serialize)]
struct NumberRow {
    number: String,
    action: &'static str,
    last_outcome: String,
    last_error_code: Option<i64>,
    last_error_category: Option<String>,
    attempts: i64,
    unreachable: u64,
    failed: u64,
    busy: u64,
    no_answer: u64,
    last_attempt_at: Option<String>,
    external_refs: String,
    /// The number Twilio dialled for this number's last row whose SID named a call to
    /// another number; empty when they agree.
    twilio_to: Option<String>,
}

/// What the CRM team should do, from the number's last error category.
pub fn action(category: Option<&str>) -> &'static str {
    match category {
        Some("invalid_number" | "invalid_format") => "remove",
        Some("blocked_permission") => "check-config",
        _ => "retry-later",
    }
}

/// The actions, in the file's order.
const ACTIONS: [&str; 3] = ["check-config", "remove", "retry-later"];

const ROWS: &str = "SELECT o.to_key, o.outcome, o.error_code, o.category, o.ts, o.external_ref,
        (SELECT count(*) FROM w_rows w WHERE w.to_key = o.to_key AND w.in_window = 1), o.twilio_to
    FROM w_outcomes o WHERE o.to_key IS NOT NULL
    ORDER BY o.to_key, o.ts, o.ledger_id";

/// Writes the file from the report's working tables (`temp.w_outcomes`, `temp.w_rows`),
/// sorted by action, then number. A number's action comes from its last row, so the rows are
/// read once per action, each time in number order, and a number is written in the pass of
/// its action: memory stays one number deep however many numbers the window holds.
pub fn write(conn: &Connection, dest: &Path, excel_safe: bool) -> Result<u64> {
    conn.execute_batch("CREATE INDEX IF NOT EXISTS temp.w_rows_to ON w_rows (to_key, in_window)")?;
    let mut writer = Writer::with_header(dest, &COLUMNS)?.excel_safe(excel_safe);
    for wanted in ACTIONS {
        let mut stmt = conn.prepare_cached(ROWS)?;
        let mut rows = stmt.query([])?;
        let mut current: Option<NumberRow> = None;
        let mut refs: BTreeSet<String> = BTreeSet::new();
        while let Some(r) = rows.next()? {
            let number: String = r.get(0)?;
            if current.as_ref().is_none_or(|n| n.number != number) {
                if let Some(done) = current.take() {
                    finish(done, &mut refs, wanted, &mut writer)?;
                }
                current = Some(NumberRow {
                    number,
                    attempts: r.get(6)?,
                    ..NumberRow::default()
                });
            }
            let n = current.as_mut().expect("set above");
            let outcome: String = r.get(1)?;
            match outcome.as_str() {
                "unreachable" => n.unreachable += 1,
                "failed" => n.failed += 1,
                "busy" => n.busy += 1,
                _ => n.no_answer += 1,
            }
            // Rows come oldest first: the last one seen is the last attempt.
            n.last_outcome = outcome;
            n.last_error_code = r.get(2)?;
            n.last_error_category = r.get(3)?;
            n.last_attempt_at = r
                .get::<_, Option<i64>>(4)?
                .and_then(|t| Utc.timestamp_opt(t, 0).single())
                .map(format_utc);
            if let Some(reference) = r.get::<_, Option<String>>(5)? {
                refs.insert(reference);
            }
            if let Some(dialled) = r.get::<_, Option<String>>(7)? {
                n.twilio_to = Some(dialled);
            }
        }
        if let Some(done) = current.take() {
            finish(done, &mut refs, wanted, &mut writer)?;
        }
    }
    let written = writer.rows;
    writer.finish()?;
    Ok(written)
}

/// A number whose rows are all read: written when its action is this pass's.
fn finish(
    mut n: NumberRow,
    refs: &mut BTreeSet<String>,
    wanted: &str,
    writer: &mut Writer,
) -> Result<()> {
    let refs = std::mem::take(refs);
    n.action = action(n.last_error_category.as_deref());
    if n.action == wanted {
        n.external_refs = refs.into_iter().collect::<Vec<_>>().join(";");
        writer.write(&n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{ACTIONS, action};

    #[test]
    fn actions_are_listed_in_the_files_order() {
        assert!(ACTIONS.windows(2).all(|w| w[0] < w[1]));
        for category in [Some("invalid_number"), Some("blocked_permission"), None] {
            assert!(ACTIONS.contains(&action(category)));
        }
    }

    #[test]
    fn actions_follow_the_last_category() {
        assert_eq!(action(Some("invalid_number")), "remove");
        assert_eq!(action(Some("invalid_format")), "remove");
        assert_eq!(action(Some("blocked_permission")), "check-config");
        assert_eq!(action(Some("carrier_network")), "retry-later");
        assert_eq!(action(None), "retry-later");
    }
}
