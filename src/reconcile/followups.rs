//! Follow-ups: rows a report could not settle — still `pending`, or `completed` without a
//! price yet — are remembered, looked up again by SID on the next runs (`fetch`), and reported
//! once, by the run of the window that resolves them (design.md, "The report").
//!
//! The window that resolved a row is recorded, so a rerun of that window reports it again
//! byte for byte, and later windows do not. A row older than the follow-up age is given up.

use super::Options;
use anyhow::Result;
use rusqlite::{Connection, params};

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub resolved: u64,
    pub open: u64,
    pub expired: u64,
}

/// Records what this report learned (`temp.w_followups`) in one short transaction.
pub fn record(conn: &mut Connection, opts: &Options) -> Result<Stats> {
    let (from, to) = (opts.window.from.timestamp(), opts.window.to.timestamp());
    let now = opts.now.timestamp();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // New rows to follow up, first seen unresolved by this window.
    tx.execute(
        "INSERT INTO recon_followups (ledger_id, reason, window_from, window_to, intended_ts, call_sid)
         SELECT ledger_id, reason, ?1, ?2, ts, call_sid FROM w_followups WHERE resolved = 0
         ON CONFLICT(ledger_id) DO UPDATE SET call_sid = excluded.call_sid, reason = excluded.reason
         WHERE recon_followups.resolved_from IS NULL",
        params![from, to],
    )?;
    let resolved = tx.execute(
        "UPDATE recon_followups SET resolved_from = ?1, resolved_to = ?2, resolved_at = ?3
         WHERE resolved_from IS NULL AND expired_at IS NULL
           AND ledger_id IN (SELECT ledger_id FROM w_followups WHERE resolved = 1)",
        params![from, to, now],
    )? as u64;
    let expired = tx.execute(
        "UPDATE recon_followups SET expired_at = ?1
         WHERE resolved_from IS NULL AND expired_at IS NULL AND intended_ts < ?2",
        params![now, now - opts.followup_max_age.num_seconds()],
    )? as u64;
    let open: i64 = tx.query_row(
        "SELECT count(*) FROM recon_followups WHERE resolved_from IS NULL AND expired_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    crate::failpoint::hit("followups.before-commit");
    tx.commit()?;
    Ok(Stats {
        resolved,
        open: open as u64,
        expired,
    })
}

/// Call SIDs of open follow-ups, for `fetch` to look up again even outside its window.
pub fn open_call_sids(conn: &Connection, now: i64, max_age_secs: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT call_sid FROM recon_followups
         WHERE resolved_from IS NULL AND expired_at IS NULL AND call_sid IS NOT NULL
           AND intended_ts >= ?1
         ORDER BY call_sid",
    )?;
    let sids = stmt
        .query_map([now - max_age_secs], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(sids)
}
