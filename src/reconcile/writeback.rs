//! Write-back: fill in what the application's StatusCallback webhooks missed (design.md,
//! "Write-back"), with an audit row for every change.
//!
//! Only rows whose `webhook_status` is empty or not final are touched, and beside it only
//! empty `webhook_error_code` and `call_sid`. Every UPDATE re-checks, in its WHERE clause, that
//! the column still holds what the report saw, so a value the application writes meanwhile is
//! never overwritten. Changes commit in small batches, each change with its audit row in the
//! same transaction, so the application's own writes wait milliseconds, not the whole run.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Rows per write transaction: small enough that the application's writers barely wait.
const BATCH: usize = 256;

/// One row's write-back, as the report decided it.
struct Change {
    id: i64,
    /// The `webhook_status` the report saw; the UPDATE only applies if it is still there.
    old_status: Option<String>,
    status: String,
    code: Option<i64>,
    sid: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    pub rows: u64,
    pub call_sids: u64,
    pub codes: u64,
}

/// Applies the write-backs the report decided on (`temp.w_writeback`) and records the run.
pub fn apply(conn: &mut Connection, now: chrono::DateTime<chrono::Utc>) -> Result<Stats> {
    let pending: Vec<Change> = {
        let mut stmt = conn.prepare(
            "SELECT ledger_id, old_status, status, code, call_sid FROM w_writeback ORDER BY ledger_id",
        )?;
        stmt.query_map([], |r| {
            Ok(Change {
                id: r.get(0)?,
                old_status: r.get(1)?,
                status: r.get(2)?,
                code: r.get(3)?,
                sid: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let mut stats = Stats::default();
    if pending.is_empty() {
        return Ok(stats);
    }
    let at = now.timestamp();
    let run_id = start_run(conn, at)?;
    for batch in pending.chunks(BATCH) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut audit = tx.prepare_cached(
                "INSERT INTO recon_audit (ledger_id, column, old_value, new_value, run_id, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut set_status = tx.prepare_cached(
                "UPDATE intended_calls SET webhook_status = ?2 WHERE id = ?1 AND webhook_status IS ?3",
            )?;
            let mut set_code = tx.prepare_cached(
                "UPDATE intended_calls SET webhook_error_code = ?2
                 WHERE id = ?1 AND (webhook_error_code IS NULL OR trim(webhook_error_code) = '')",
            )?;
            let mut set_sid = tx.prepare_cached(
                "UPDATE intended_calls SET call_sid = ?2
                 WHERE id = ?1 AND (call_sid IS NULL OR trim(call_sid) = '')",
            )?;
            let mut old_text = tx.prepare_cached(
                "SELECT CAST(webhook_error_code AS TEXT), call_sid FROM intended_calls WHERE id = ?1",
            )?;
            for Change {
                id,
                old_status,
                status,
                code,
                sid,
            } in batch
            {
                if set_status.execute(params![id, status, old_status])? == 0 {
                    // The application wrote the row since the report read it: its value stands.
                    continue;
                }
                audit.execute(params![
                    id,
                    "webhook_status",
                    old_status,
                    status,
                    run_id,
                    at
                ])?;
                stats.rows += 1;
                let (old_code, old_sid): (Option<String>, Option<String>) = old_text
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                    .unwrap_or_default();
                if let Some(code) = code
                    && set_code.execute(params![id, code])? == 1
                {
                    audit.execute(params![
                        id,
                        "webhook_error_code",
                        old_code,
                        code.to_string(),
                        run_id,
                        at
                    ])?;
                    stats.codes += 1;
                }
                if let Some(sid) = sid
                    && set_sid.execute(params![id, sid])? == 1
                {
                    audit.execute(params![id, "call_sid", old_sid, sid, run_id, at])?;
                    stats.call_sids += 1;
                }
            }
        }
        crate::failpoint::hit("writeback.before-commit");
        tx.commit()?;
        crate::failpoint::hit("writeback.committed");
        crate::stop::check()?;
    }
    conn.execute(
        "UPDATE recon_runs SET finished_at = ?2 WHERE run_id = ?1",
        params![run_id, chrono::Utc::now().timestamp()],
    )?;
    Ok(stats)
}

/// A run id for the audit trail.
fn start_run(conn: &Connection, at: i64) -> Result<i64> {
    conn.execute(
        "INSERT INTO recon_runs (command, window_from, window_to, started_at)
         SELECT 'report', coalesce(min(ts), 0), coalesce(max(ts), 0), ?1 FROM w_rows WHERE in_window = 1",
        [at],
    )?;
    Ok(conn.last_insert_rowid())
}
