//! The orphans file (`--orphans-out`): outbound calls in the window that no ledger row
//! accounts for — duplicates and runaway retries cost money. Same columns as the report, with
//! the ledger's columns empty and Twilio's `to`/`from`, sorted by call time then SID.
//!
//! A call is accounted for when any ledger row names it in `call_sid` (in any window) or this
//! run matched it (SID, child leg, heuristic, including the look-back rows). Child legs are
//! never orphans by themselves: their parent is the call someone placed.

use super::{Row, Writer};
use crate::reconcile::classify::{Facts, classify};
use crate::reconcile::twilio_codes::Finder;
use crate::timefmt::format_utc;
use crate::window::Window;
use anyhow::Result;
use chrono::{TimeZone, Utc};
use rusqlite::{Connection, params};
use std::path::Path;

/// The window's outbound calls that nothing accounts for (through the `call_time` index).
pub(crate) const ORPHANS: &str = "SELECT c.sid, c.to_raw, c.from_raw, c.status, c.start_time,
        c.end_time, c.duration, c.price, c.price_unit, c.direction, c.answered_by,
        c.account_sid, c.date_created
    FROM recon_calls c
    WHERE c.direction = 'outbound-api' AND c.call_time >= ?1 AND c.call_time < ?2
      AND NOT EXISTS (SELECT 1 FROM intended_calls i WHERE i.call_sid = c.sid)
      AND NOT EXISTS (SELECT 1 FROM w_rows w WHERE w.match_sid = c.sid)
    ORDER BY c.call_time, c.sid";

/// Writes the file from the landed calls and the report's working tables (`temp.w_rows`).
pub fn write(conn: &Connection, window: Window, dest: &Path, excel_safe: bool) -> Result<u64> {
    conn.execute_batch("CREATE INDEX IF NOT EXISTS temp.w_rows_match ON w_rows (match_sid)")?;
    let mut finder = Finder::new(conn)?;
    let mut stmt = conn.prepare(ORPHANS)?;
    let mut rows = stmt.query(params![window.from.timestamp(), window.to.timestamp()])?;
    let time = |secs: Option<i64>| {
        secs.and_then(|s| Utc.timestamp_opt(s, 0).single())
            .map(format_utc)
    };
    let mut writer = Writer::create(dest)?.excel_safe(excel_safe);
    while let Some(r) = rows.next()? {
        let sid: String = r.get(0)?;
        let status: String = r.get(3)?;
        let (alert, notification) = finder.best(&sid, None)?;
        let verdict = classify(&Facts {
            to_valid: true,
            call_status: Some(&status),
            alert,
            notification,
            ..Facts::default()
        });
        writer.write(&Row {
            to: r.get(1)?,
            from: r.get(2)?,
            intended_at: None,
            call_sid: Some(sid),
            outcome: verdict.outcome.to_owned(),
            twilio_status: Some(status.clone()),
            error_code: verdict.error_code,
            error_category: verdict.error_category,
            error_message: verdict.error_message,
            error_source: verdict.error_source.to_owned(),
            start_time: time(r.get(4)?),
            end_time: time(r.get(5)?),
            duration_s: r.get(6)?,
            price: r.get(7)?,
            price_unit: r.get(8)?,
            direction: r.get(9)?,
            answered_by: r.get(10)?,
            account_sid: r.get(11)?,
            ..Row::default()
        })?;
    }
    let written = writer.rows;
    writer.finish()?;
    Ok(written)
}
