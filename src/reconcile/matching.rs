//! Matching ledger rows to Twilio calls (design.md, "Which truth wins" and "Heuristic
//! matching"), over the working table of [`super::scan`] and the landed `recon_calls`.
//!
//! Order matters and is fixed, so that the same data always gives the same matches:
//! 1. rows with a `call_sid` Twilio knows take that call, or the `<Dial>` child leg of it
//!    that went to the row's number (`child-leg`);
//! 2. a call is claimed at most once: calls named by any other ledger row's `call_sid` are
//!    never candidates for the heuristic (a row's own `call_sid`, when callrecon wrote it back
//!    after an earlier heuristic match, does not hide the call from the row itself);
//! 3. the remaining rows, in (`intended_at`, `id`) order, each take the unclaimed outbound
//!    call to the same number (and caller ID, when the ledger has one) created in
//!    [`intended_at` − 1 min, `intended_at` + delay] closest in time, ties to the lowest SID.

use anyhow::Result;
use chrono::Duration;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// How far before `intended_at` a call may have been created and still match: clocks of
/// the application and Twilio differ by seconds, not minutes.
pub const EARLY_TOLERANCE_SECS: i64 = 60;

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct MatchStats {
    pub by_sid: u64,
    pub by_child_leg: u64,
    pub by_heuristic: u64,
}

/// A row's heuristic candidates, nearest first (through the `(to_norm, date_created)` index).
pub(crate) const CANDIDATES: &str = "SELECT c.sid FROM recon_calls c
    WHERE c.to_norm = ?1 AND c.date_created BETWEEN ?2 AND ?3
      AND c.direction IN ('outbound-api', 'outbound-dial')
      AND (?4 IS NULL OR c.from_norm = ?4)
      AND NOT EXISTS (SELECT 1 FROM intended_calls i WHERE i.call_sid = c.sid AND i.id <> ?6)
    ORDER BY abs(c.date_created - ?5), c.sid";

pub fn match_rows(conn: &Connection, delay: Duration) -> Result<MatchStats> {
    let mut stats = MatchStats::default();
    let mut claimed: HashSet<String> = HashSet::new();
    match_by_sid(conn, &mut stats, &mut claimed)?;
    match_by_heuristic(conn, delay, &mut stats, &mut claimed)?;
    Ok(stats)
}

fn match_by_sid(
    conn: &Connection,
    stats: &mut MatchStats,
    claimed: &mut HashSet<String>,
) -> Result<()> {
    // Set operations first: they stay fast and memory-flat at a million rows.
    conn.execute_batch(
        "UPDATE w_rows SET match_sid = sid, matched_by = 'sid'
         WHERE problem IS NULL AND EXISTS (SELECT 1 FROM recon_calls c WHERE c.sid = w_rows.sid);
         UPDATE w_rows SET note = coalesce(note || '; ', '') ||
             CASE WHEN EXISTS (SELECT 1 FROM recon_unknown_sids u WHERE u.sid = w_rows.sid)
                  THEN 'Twilio does not know call_sid ' || sid || ' (404); matched as if it had none'
                  ELSE 'call_sid ' || sid || ' was not in the listed days and was not looked up' END
         WHERE problem IS NULL AND sid IS NOT NULL AND match_sid IS NULL;",
    )?;
    // The few rows whose call went to another number (an agent) may have a <Dial> child leg
    // that reached the row's number: that leg is the row's truth.
    let mut elsewhere = conn.prepare(
        "SELECT w.ledger_id, w.sid, w.to_key FROM w_rows w JOIN recon_calls c ON c.sid = w.sid
         WHERE w.matched_by = 'sid' AND c.to_norm IS NOT w.to_key
           AND EXISTS (SELECT 1 FROM recon_calls k WHERE k.parent_call_sid = w.sid)",
    )?;
    let legs: Vec<(i64, String, Option<String>)> = elsewhere
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut child = conn.prepare_cached(
        "SELECT sid FROM recon_calls WHERE parent_call_sid = ?1 AND to_norm = ?2
         ORDER BY date_created, sid LIMIT 1",
    )?;
    let mut set = conn.prepare_cached(
        "UPDATE w_rows SET match_sid = ?2, matched_by = 'child-leg' WHERE ledger_id = ?1",
    )?;
    for (id, sid, to_key) in legs {
        let leg: Option<String> = child
            .query_row(params![sid, to_key], |r| r.get(0))
            .optional()?;
        if let Some(leg) = leg
            && claimed.insert(leg.clone())
        {
            set.execute(params![id, leg])?;
        }
    }
    let (by_sid, by_child_leg): (i64, i64) = conn.query_row(
        "SELECT count(*) FILTER (WHERE matched_by = 'sid'),
                count(*) FILTER (WHERE matched_by = 'child-leg')
         FROM w_rows WHERE in_window = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    stats.by_sid = by_sid as u64;
    stats.by_child_leg = by_child_leg as u64;
    Ok(())
}

fn match_by_heuristic(
    conn: &Connection,
    delay: Duration,
    stats: &mut MatchStats,
    claimed: &mut HashSet<String>,
) -> Result<()> {
    let mut rows = conn.prepare(
        "SELECT ledger_id, ts, to_key, from_key FROM w_rows
         WHERE match_sid IS NULL AND problem IS NULL AND ts IS NOT NULL AND to_key IS NOT NULL
         ORDER BY ts, ledger_id",
    )?;
    let mut candidates = conn.prepare_cached(CANDIDATES)?;
    // Claims are collected aside and applied after the scan: w_rows is not modified while a
    // statement is still reading it.
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.w_claims;
         CREATE TEMP TABLE w_claims (ledger_id INTEGER PRIMARY KEY, sid TEXT NOT NULL);",
    )?;
    let mut set = conn.prepare_cached("INSERT INTO w_claims (ledger_id, sid) VALUES (?1, ?2)")?;
    let mut query = rows.query([])?;
    while let Some(row) = query.next()? {
        let (id, ts, to_key, from_key): (i64, i64, String, Option<String>) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let mut found = candidates.query(params![
            to_key,
            ts - EARLY_TOLERANCE_SECS,
            ts + delay.num_seconds(),
            from_key,
            ts,
            id
        ])?;
        while let Some(c) = found.next()? {
            let sid: String = c.get(0)?;
            if claimed.insert(sid.clone()) {
                set.execute(params![id, sid])?;
                break;
            }
        }
    }
    drop(query);
    conn.execute_batch(
        "UPDATE w_rows SET match_sid = (SELECT sid FROM w_claims k WHERE k.ledger_id = w_rows.ledger_id),
                           matched_by = 'heuristic'
         WHERE ledger_id IN (SELECT ledger_id FROM w_claims);",
    )?;
    stats.by_heuristic = conn.query_row(
        "SELECT count(*) FROM w_rows WHERE in_window = 1 AND matched_by = 'heuristic'",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64;
    Ok(())
}
