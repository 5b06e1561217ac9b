//! Write-back: fill in what the application's StatusCallback webhooks missed (design.md,
//! "Write-back"), with an audit row for every change.
//!
//! Only rows whose `webhook_status` is empty or not final are touched, and beside it only
//! empty `webhook_error_code` and `call_sid`. Every UPDATE re-checks, in its WHERE clause, that
//! the column still holds what the report saw, so a value the application writes meanwhile is
//! never overwritten. Changes commit in small batches, each change with its audit row in the
//! same transaction, so the application's own writes wait milliseconds, not the whole run.

use super::classify::Verdict;
use crate::twilio::model::{HookStatus, is_final};
use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Rows per write transaction: small enough that the application's writers barely wait.
const BATCH: usize = 256;

/// The ledger row as it is now (not as the application first wrote it: write-back looks at
/// what is there, so a status the application, or an earlier run, made final is never touched).
#[derive(Debug, Default)]
pub struct Ledger {
    pub webhook_status: Option<String>,
    pub webhook_error_code_empty: bool,
    pub call_sid: Option<String>,
}

/// The Twilio leg the row matched.
#[derive(Debug, Default)]
pub struct Matched<'a> {
    pub sid: Option<&'a str>,
    pub status: Option<&'a str>,
    pub direction: Option<&'a str>,
    pub parent: Option<&'a str>,
}

/// What to write for one row, if anything (design.md, "Write-back"): Twilio's final status
/// where the ledger's is empty or not final; beside it, a Twilio-side error code and the
/// top-level call's SID only where those are empty.
pub fn decide(ledger: &Ledger, call: &Matched, verdict: &Verdict) -> Option<Decided> {
    let (sid, status) = (call.sid?, call.status?);
    if !applies(ledger, status) {
        return None;
    }
    let code = match verdict.error_source {
        "alert" | "notification" if ledger.webhook_error_code_empty => verdict.error_code,
        _ => None,
    };
    // A <Dial> child leg's top-level call is its parent, which the application placed.
    let top = match (call.direction, call.parent) {
        (Some("outbound-dial"), Some(parent)) => parent,
        _ => sid,
    };
    let sid_empty = ledger
        .call_sid
        .as_deref()
        .is_none_or(|s| s.trim().is_empty());
    Some(Decided {
        old_status: ledger.webhook_status.clone(),
        status: status.to_owned(),
        code,
        sid: sid_empty.then(|| top.to_owned()),
    })
}

/// Whether a row with a call of Twilio status `status` is written back at all: the status is
/// final and the ledger's is empty or transient, however spelled (a final status, or any
/// value callrecon does not know, is the application's and stays). The report reads the rest
/// of a call (its direction and parent) only for such rows.
pub fn applies(ledger: &Ledger, status: &str) -> bool {
    is_final(status) && HookStatus::read(ledger.webhook_status.as_deref()).may_be_filled()
}

/// A write-back decided for one row.
#[derive(Debug, PartialEq, Eq)]
pub struct Decided {
    pub old_status: Option<String>,
    pub status: String,
    pub code: Option<i64>,
    pub sid: Option<String>,
}

/// One row's write-back, as the report decided it.
struct Change {
    id: i64,
    /// Counted in the summary's backfilled final statuses.
    counted: bool,
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
    /// Rows the application wrote between the report's read and the write-back: left as
    /// the application wrote them.
    pub changed_meanwhile: u64,
}

/// What the write-back committed, and the rows it did not write after all.
#[derive(Debug, Default)]
pub struct Applied {
    pub stats: Stats,
    pub not_committed: std::collections::HashSet<i64>,
    /// How many of those the report had counted as backfilled final statuses of the window.
    pub counted_not_committed: u64,
}

/// Applies the write-backs the report decided on (`temp.w_writeback`) and records the run.
pub fn apply(conn: &mut Connection, now: chrono::DateTime<chrono::Utc>) -> Result<Applied> {
    let pending: Vec<Change> = {
        let mut stmt = conn.prepare(
            "SELECT ledger_id, old_status, status, code, call_sid, counted FROM w_writeback ORDER BY ledger_id",
        )?;
        stmt.query_map([], |r| {
            Ok(Change {
                id: r.get(0)?,
                old_status: r.get(1)?,
                status: r.get(2)?,
                code: r.get(3)?,
                sid: r.get(4)?,
                counted: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    crate::failpoint::hit("writeback.start");
    let mut applied = Applied::default();
    if pending.is_empty() {
        return Ok(applied);
    }
    let stats = &mut applied.stats;
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
                counted,
                old_status,
                status,
                code,
                sid,
            } in batch
            {
                if set_status.execute(params![id, status, old_status])? == 0 {
                    // The application wrote the row since the report read it: its value stands.
                    stats.changed_meanwhile += 1;
                    applied.not_committed.insert(*id);
                    applied.counted_not_committed += u64::from(*counted);
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
                // Through the ledger's one reader: any value the application left there reads.
                let (old_code, old_sid): (Option<String>, Option<String>) = old_text
                    .query_row([id], |r| {
                        let cell = |i| crate::ledger::Cell::get(r, i).map(|c| c.shown());
                        Ok((cell(0)?, cell(1)?))
                    })
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
    Ok(applied)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(source: &'static str, code: Option<i64>) -> Verdict {
        Verdict {
            error_source: source,
            error_code: code,
            ..Verdict::default()
        }
    }

    #[test]
    fn fills_a_missing_or_stale_status_and_only_empty_columns_beside_it() {
        let call = Matched {
            sid: Some("CA1"),
            status: Some("failed"),
            ..Matched::default()
        };
        let ledger = Ledger {
            webhook_status: Some("ringing".into()),
            webhook_error_code_empty: true,
            call_sid: None,
        };
        let got = decide(&ledger, &call, &verdict("alert", Some(32016))).unwrap();
        assert_eq!(
            got,
            Decided {
                old_status: Some("ringing".into()),
                status: "failed".into(),
                code: Some(32016),
                sid: Some("CA1".into())
            }
        );
        // A code from the ledger itself is not written back, nor over an existing one.
        let got = decide(&ledger, &call, &verdict("webhook-sip", None)).unwrap();
        assert_eq!(got.code, None);
        let full = Ledger {
            webhook_error_code_empty: false,
            call_sid: Some("CA1".into()),
            ..ledger
        };
        let got = decide(&full, &call, &verdict("alert", Some(32016))).unwrap();
        assert_eq!((got.code, got.sid), (None, None));
    }

    #[test]
    fn never_touches_a_final_status_nor_writes_a_transient_one() {
        let call = Matched {
            sid: Some("CA1"),
            status: Some("completed"),
            ..Matched::default()
        };
        let ledger = Ledger {
            webhook_status: Some("busy".into()),
            ..Ledger::default()
        };
        assert_eq!(decide(&ledger, &call, &verdict("", None)), None);
        let running = Matched {
            status: Some("in-progress"),
            ..call
        };
        assert_eq!(
            decide(&Ledger::default(), &running, &verdict("", None)),
            None
        );
        assert_eq!(
            decide(&Ledger::default(), &Matched::default(), &verdict("", None)),
            None
        );
    }

    #[test]
    fn final_is_final_however_spelled_and_unknown_values_stay() {
        let call = Matched {
            sid: Some("CA1"),
            status: Some("failed"),
            ..Matched::default()
        };
        for kept in [
            "Completed",
            "FAILED",
            "no_answer",
            "cancelled",
            "Busy",
            "answered",
        ] {
            let ledger = Ledger {
                webhook_status: Some(kept.into()),
                ..Ledger::default()
            };
            assert_eq!(decide(&ledger, &call, &verdict("", None)), None, "{kept}");
        }
        for filled in ["Ringing", "IN_PROGRESS", "queued", " initiated ", ""] {
            let ledger = Ledger {
                webhook_status: Some(filled.into()),
                ..Ledger::default()
            };
            assert!(
                decide(&ledger, &call, &verdict("", None)).is_some(),
                "{filled}"
            );
        }
    }

    #[test]
    fn a_child_legs_top_level_call_is_its_parent() {
        let call = Matched {
            sid: Some("CA2"),
            status: Some("busy"),
            direction: Some("outbound-dial"),
            parent: Some("CA1"),
        };
        let got = decide(&Ledger::default(), &call, &verdict("", None)).unwrap();
        assert_eq!(got.sid.as_deref(), Some("CA1"));
    }
}
