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
use rusqlite::types::ToSqlOutput;
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

/// A row's heuristic candidates, nearest first (through the `(to_norm, date_created)` index),
/// with what `temp.w_calls` keeps of the one it takes.
pub(crate) const CANDIDATES: &str =
    "SELECT c.sid, c.status, c.price, c.price_unit FROM recon_calls c
    WHERE c.to_norm = ?1 AND c.date_created BETWEEN ?2 AND ?3
      AND c.direction IN ('outbound-api', 'outbound-dial')
      AND (?4 IS NULL OR c.from_norm = ?4)
      AND NOT EXISTS (SELECT 1 FROM intended_calls i WHERE i.call_sid = c.sid AND i.id <> ?6)
    ORDER BY abs(c.date_created - ?5), c.sid";

pub fn match_rows(conn: &Connection, delay: Duration) -> Result<MatchStats> {
    let mut stats = MatchStats::default();
    let mut claimed: HashSet<String> = HashSet::new();
    let mut step = crate::logging::Phase::start();
    conn.execute_batch(super::landed::CREATE)?;
    match_by_sid(conn, &mut stats, &mut claimed)?;
    step.done("matching by SID");
    match_by_heuristic(conn, delay, &mut stats, &mut claimed)?;
    step.done("heuristic matching");
    Ok(stats)
}

fn match_by_sid(
    conn: &Connection,
    stats: &mut MatchStats,
    claimed: &mut HashSet<String>,
) -> Result<()> {
    // Every readable row with a well-formed SID takes that call (the scan set it so, in the
    // same write: rewriting a million rows here cost half a second; this only sets it again
    // after `fetch` cleared the matches); the few whose call was never landed are found next
    // and handed back to the heuristic, with a note.
    conn.execute_batch(
        "UPDATE w_rows SET match_sid = sid, matched_by = 'sid'
         WHERE match_sid IS NULL AND problem IS NULL AND sid IS NOT NULL",
    )?;
    let mut unmatch = conn.prepare_cached(
        "UPDATE w_rows SET match_sid = NULL, matched_by = NULL, note = coalesce(note || '; ', '') ||
             CASE WHEN EXISTS (SELECT 1 FROM recon_unknown_sids u WHERE u.sid = w_rows.sid)
                  THEN 'Twilio does not know call_sid ' || sid || ' (404); matched as if it had none'
                  ELSE 'call_sid ' || sid || ' was not in the listed days and was not looked up' END
         WHERE ledger_id = ?1",
    )?;
    for id in super::landed::probe(conn)? {
        unmatch.execute([id])?;
    }
    // The few rows whose call went to another number (an agent) may have a <Dial> child leg
    // that reached the row's number: that leg is the row's truth. Child legs are looked for
    // first (a small partial index); only the rows that have some read their own call, so
    // the calls' table is not read once more for every row.
    let mut elsewhere = conn.prepare(
        "WITH parents AS MATERIALIZED (
             SELECT w.ledger_id, w.sid, w.to_key FROM w_rows w
             WHERE w.matched_by = 'sid'
               AND EXISTS (SELECT 1 FROM recon_calls k WHERE k.parent_call_sid = w.sid))
         SELECT p.ledger_id, p.sid, p.to_key FROM parents p JOIN recon_calls c ON c.sid = p.sid
         WHERE c.to_norm IS NOT p.to_key",
    )?;
    let legs: Vec<(i64, String, Option<String>)> = elsewhere
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut child = conn.prepare_cached(
        "SELECT sid, status, price, price_unit FROM recon_calls
         WHERE parent_call_sid = ?1 AND to_norm = ?2
         ORDER BY date_created, sid LIMIT 1",
    )?;
    let mut set = conn.prepare_cached(
        "UPDATE w_rows SET match_sid = ?2, matched_by = 'child-leg' WHERE ledger_id = ?1",
    )?;
    let mut set_call = conn.prepare_cached(
        "INSERT OR REPLACE INTO w_calls (ledger_id, status, price, price_unit)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    type Leg = (String, String, Option<String>, Option<String>);
    for (id, sid, to_key) in legs {
        let leg: Option<Leg> = child
            .query_row(params![sid, to_key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        if let Some((leg, status, price, unit)) = leg
            && claimed.insert(leg.clone())
        {
            set.execute(params![id, leg])?;
            set_call.execute(params![id, status, price, unit])?;
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
         CREATE TEMP TABLE w_claims (ledger_id INTEGER PRIMARY KEY, sid TEXT NOT NULL,
             status TEXT NOT NULL, price TEXT, price_unit TEXT);",
    )?;
    let mut set = conn.prepare_cached(
        "INSERT INTO w_claims (ledger_id, sid, status, price, price_unit)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
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
                let (status, price, unit) = (c.get_ref(1)?, c.get_ref(2)?, c.get_ref(3)?);
                set.execute(params![
                    id,
                    sid,
                    ToSqlOutput::Borrowed(status),
                    ToSqlOutput::Borrowed(price),
                    ToSqlOutput::Borrowed(unit)
                ])?;
                break;
            }
        }
    }
    drop(query);
    conn.execute_batch(
        "UPDATE w_rows SET match_sid = (SELECT sid FROM w_claims k WHERE k.ledger_id = w_rows.ledger_id),
                           matched_by = 'heuristic'
         WHERE ledger_id IN (SELECT ledger_id FROM w_claims);
         INSERT INTO w_calls (ledger_id, status, price, price_unit)
         SELECT ledger_id, status, price, price_unit FROM w_claims ORDER BY ledger_id;",
    )?;
    stats.by_heuristic = conn.query_row(
        "SELECT count(*) FROM w_rows WHERE in_window = 1 AND matched_by = 'heuristic'",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64;
    Ok(())
}
