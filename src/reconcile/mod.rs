//! Reconciliation: the ledger rows of a window, matched with the landed calls, classified,
//! and streamed into the report; then what the run learned is recorded: write-back of missed
//! webhooks, and the rows to follow up next run. No network: everything comes from the
//! database.
//!
//! Reading happens inside one read transaction, so the application's concurrent writes (WAL)
//! never show half-way through a report. Writing happens after it, in short transactions, so
//! the application is never kept waiting for long.

pub mod classify;
pub mod followups;
pub mod matching;
#[cfg(test)]
mod plans;
pub mod scan;
pub mod twilio_codes;
pub mod writeback;

use crate::error::UsageError;
use crate::phone::Normalizer;
use crate::report::{self, Row};
use crate::store::Store;
use crate::timefmt::format_utc;
use crate::twilio::model::is_final;
use crate::window::Window;
use anyhow::Result;
use chrono::{DateTime, Duration, TimeZone, Utc};
use classify::{Facts, OUTCOMES, classify};
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Options {
    pub window: Window,
    pub match_delay: Duration,
    pub now: DateTime<Utc>,
    pub include_completed: bool,
    /// Fill the ledger's empty or non-final webhook columns from Twilio (design.md).
    pub write_back: bool,
    /// Record the rows to follow up and the ones this window resolved (off for a dry run,
    /// which must not change what later reports say).
    pub record_followups: bool,
    /// How long after `intended_at` a pending or unpriced row is still followed up.
    pub followup_max_age: Duration,
}

/// What a report found, for the summary on stderr.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub rows_in_window: u64,
    pub unreadable: u64,
    pub reported: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub matches: matching::MatchStats,
    /// Rows whose error code came from each source.
    pub codes_by_source: BTreeMap<&'static str, u64>,
    /// Rows whose final webhook status disagrees with Twilio's.
    pub disagreements: u64,
    pub written_back: writeback::Stats,
    pub followups: followups::Stats,
    /// Rows of the window whose Twilio status is final, and how many of those statuses the
    /// ledger only has because callrecon wrote them back.
    pub final_statuses: u64,
    pub backfilled_final: u64,
}

impl Summary {
    /// Share of final statuses that had to be backfilled, in percent.
    pub fn missed_webhooks_pct(&self) -> f64 {
        if self.final_statuses == 0 {
            0.0
        } else {
            100.0 * self.backfilled_final as f64 / self.final_statuses as f64
        }
    }
}

impl Summary {
    /// One line per outcome, in the contract's order, then the other counts.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} ledger row(s) in the window, {} in the report (matched: {} by sid, {} by child leg, {} by heuristic)",
            self.rows_in_window,
            self.reported,
            self.matches.by_sid,
            self.matches.by_child_leg,
            self.matches.by_heuristic
        )];
        for outcome in OUTCOMES {
            let n = self.outcomes.get(outcome).copied().unwrap_or(0);
            lines.push(format!("  {outcome:<12} {n}"));
        }
        lines.push(format!("  {:<12} {}", "unreadable", self.unreadable));
        let sources: Vec<String> = [
            "ledger",
            "webhook",
            "webhook-sip",
            "alert",
            "notification",
            "callrecon",
        ]
        .iter()
        .map(|s| format!("{s} {}", self.codes_by_source.get(s).copied().unwrap_or(0)))
        .collect();
        lines.push(format!("error codes by source: {}", sources.join(", ")));
        lines.push(format!(
            "write-back: {} row(s) backfilled ({} call_sid, {} error code); {} final webhook status(es) disagree with Twilio",
            self.written_back.rows, self.written_back.call_sids, self.written_back.codes, self.disagreements
        ));
        lines.push(format!(
            "missed webhooks: {} of {} final status(es) backfilled ({:.1}%)",
            self.backfilled_final,
            self.final_statuses,
            self.missed_webhooks_pct()
        ));
        lines.push(format!(
            "follow-ups: {} resolved by this run, {} still open, {} given up",
            self.followups.resolved, self.followups.open, self.followups.expired
        ));
        lines
    }
}

/// Refuses a window whose days were never fetched (exit 2): a report over missing data
/// would call every row `not-placed`.
pub fn check_landed(
    store: &Store,
    window: Window,
    delay: Duration,
    now: DateTime<Utc>,
) -> Result<()> {
    let days: Vec<String> = window
        .days(delay, now)
        .iter()
        .map(|d| d.to_string())
        .collect();
    let mut accounts = store
        .conn
        .prepare("SELECT DISTINCT account_sid FROM recon_days ORDER BY 1")?;
    let accounts: Vec<String> = accounts
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if accounts.is_empty() && !days.is_empty() {
        return Err(UsageError::new(format!(
            "{} holds no fetched calls; run `callrecon fetch` (or `callrecon run`) for this window first",
            store.path.display()
        )));
    }
    for account in accounts {
        let missing = store.missing_days(&account, &days)?;
        if !missing.is_empty() {
            return Err(UsageError::new(format!(
                "the window needs day(s) {} of account {account}, which were never fetched; \
                 run `callrecon fetch` with the same --from/--to first",
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

/// Scans and matches the window in `conn` (inside the caller's transaction): the working
/// tables `w_rows` (with matches) are left for the caller's queries.
pub fn prepare(
    conn: &Connection,
    numbers: &mut Normalizer,
    window: Window,
    delay: Duration,
) -> Result<(scan::ScanStats, matching::MatchStats)> {
    let lookback = delay + Duration::seconds(matching::EARLY_TOLERANCE_SECS);
    let scanned = scan::scan_ledger(conn, window, lookback, numbers)?;
    let matched = matching::match_rows(conn, delay)?;
    Ok((scanned, matched))
}

pub(crate) const ROWS: &str =
    "SELECT w.ledger_id, w.ts, w.in_window, w.problem, w.note, w.matched_by, w.to_valid,
        w.create_code, w.hook_status, w.hook_code, w.sip_code, w.backfilled,
        i.external_ref, i.to_number, i.from_number, i.intended_at,
        i.webhook_status, i.webhook_error_code, i.call_sid,
        c.sid, c.status, c.start_time, c.end_time, c.duration, c.price, c.price_unit,
        c.direction, c.answered_by, c.account_sid, c.parent_call_sid,
        f.reason, f.window_from, f.window_to, w.to_key
    FROM w_rows w
    JOIN intended_calls i ON i.id = w.ledger_id
    LEFT JOIN recon_calls c ON c.sid = w.match_sid
    LEFT JOIN recon_followups f ON f.ledger_id = w.ledger_id
    WHERE w.in_window IN (1, 2)
    ORDER BY w.ts IS NOT NULL, w.ts, w.ledger_id";

pub(crate) const WORK_TABLES: &str = "
    DROP TABLE IF EXISTS temp.w_writeback;
    CREATE TEMP TABLE w_writeback (ledger_id INTEGER PRIMARY KEY, old_status TEXT,
        status TEXT NOT NULL, code INTEGER, call_sid TEXT);
    DROP TABLE IF EXISTS temp.w_followups;
    CREATE TEMP TABLE w_followups (ledger_id INTEGER PRIMARY KEY, reason TEXT,
        call_sid TEXT, ts INTEGER, resolved INTEGER NOT NULL);
    DROP TABLE IF EXISTS temp.w_outcomes;
    CREATE TEMP TABLE w_outcomes (ledger_id INTEGER PRIMARY KEY, to_key TEXT, outcome TEXT,
        error_code INTEGER, category TEXT, ts INTEGER, external_ref TEXT);";

/// Reconciles the window, writes its rows to `out` and puts it in place, then records
/// write-back and follow-ups.
/// The working tables stay on the connection for the orphans and numbers files.
pub fn reconcile(
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    mut out: report::Writer,
) -> Result<Summary> {
    check_landed(store, opts.window, opts.match_delay, opts.now)?;
    // A fetch killed between landing its last page and merging leaves staged calls.
    store.merge_staged()?;
    let mut summary = Summary::default();
    {
        let tx = store.conn.transaction()?;
        let (scanned, matched) = prepare(&tx, numbers, opts.window, opts.match_delay)?;
        summary.rows_in_window = scanned.rows_in_window;
        summary.unreadable = scanned.unreadable;
        summary.matches = matched;
        tx.execute_batch(WORK_TABLES)?;
        stream_rows(&tx, numbers, opts, &mut out, &mut summary)?;
        tx.commit()?;
    }
    // The report is in place before the ledger is touched: a failure below leaves a
    // complete report, and a rerun reproduces it (write-back is read from the audit trail).
    out.finish()?;
    crate::failpoint::hit("report.renamed");
    crate::stop::check()?;
    if opts.write_back {
        summary.written_back = writeback::apply(&mut store.conn, opts.now)?;
    }
    if opts.record_followups {
        summary.followups = followups::record(&mut store.conn, opts)?;
    }
    Ok(summary)
}

fn stream_rows(
    conn: &Connection,
    numbers: &mut Normalizer,
    opts: &Options,
    out: &mut report::Writer,
    summary: &mut Summary,
) -> Result<()> {
    let mut finder = twilio_codes::Finder::new(conn)?;
    let mut add_writeback = conn.prepare_cached(
        "INSERT INTO w_writeback (ledger_id, old_status, status, code, call_sid) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut add_followup = conn.prepare_cached(
        "INSERT INTO w_followups (ledger_id, reason, call_sid, ts, resolved) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut add_outcome = conn.prepare_cached(
        "INSERT INTO w_outcomes (ledger_id, to_key, outcome, error_code, category, ts, external_ref)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut stmt = conn.prepare(ROWS)?;
    let mut rows = stmt.query([])?;
    let time = |secs: Option<i64>| {
        secs.and_then(|s| Utc.timestamp_opt(s, 0).single())
            .map(format_utc)
    };
    let now = opts.now.timestamp();
    while let Some(r) = rows.next()? {
        if summary.reported.is_multiple_of(4096) {
            crate::stop::check()?;
        }
        let id: i64 = r.get(0)?;
        let ts: Option<i64> = r.get(1)?;
        let in_window: i64 = r.get(2)?;
        let problem: Option<String> = r.get(3)?;
        let note: Option<String> = r.get(4)?;
        let hook_status: Option<String> = r.get(8)?;
        let call_sid: Option<String> = r.get(19)?;
        let call_status: Option<String> = r.get(20)?;
        let parent: Option<String> = r.get(29)?;
        let price: Option<String> = r.get(24)?;
        let needs_twilio_code = r.get::<_, Option<i64>>(7)?.is_none()
            && r.get::<_, Option<i64>>(9)?.is_none()
            && r.get::<_, Option<i64>>(10)?.is_none();
        let (alert, notification) = match (&call_sid, needs_twilio_code) {
            (Some(sid), true) => finder.codes(sid, parent.as_deref(), call_status.as_deref())?,
            _ => (None, None),
        };
        // Whether an E.164-shaped number can be valid is asked only where the answer can
        // change the outcome: a call that failed, or none at all, with no code to explain it.
        let to_valid = match r.get::<_, Option<bool>>(6)? {
            Some(valid) => valid,
            None if needs_twilio_code
                && alert.is_none()
                && notification.is_none()
                && matches!(call_status.as_deref(), None | Some("failed")) =>
            {
                let raw: Option<String> = r.get(13)?;
                raw.is_none_or(|n| numbers.normalize(&n).valid)
            }
            None => true,
        };
        let facts = Facts {
            problem: problem.as_deref(),
            note: note.as_deref(),
            to_valid,
            create_error_code: r.get(7)?,
            webhook_status: hook_status.as_deref(),
            webhook_error_code: r.get(9)?,
            webhook_sip_code: r.get(10)?,
            call_status: call_status.as_deref(),
            age_secs: ts.map_or(0, |t| now - t),
            match_delay_secs: opts.match_delay.num_seconds(),
            alert,
            notification,
        };
        let mut verdict = classify(&facts);
        let unresolved =
            verdict.outcome == "pending" || (verdict.outcome == "completed" && price.is_none());
        let external_ref: Option<String> = r.get(12)?;
        let reason = if verdict.outcome == "pending" {
            "pending"
        } else {
            "unpriced"
        };
        let followed: Option<String> = r.get(30)?;
        if problem.is_none() && (unresolved || followed.is_some()) {
            add_followup.execute(params![id, reason, call_sid, ts, !unresolved])?;
        }
        if in_window == scan::FOLLOWUP {
            // A row of an earlier window: reported only once it is resolved, by this window.
            if unresolved {
                continue;
            }
            let reason: String = r.get(30)?;
            let (from, to): (i64, i64) = (r.get(31)?, r.get(32)?);
            let flag = format!(
                "resolved by this run; was {reason} in the report for [{}, {})",
                time(Some(from)).unwrap_or_default(),
                time(Some(to)).unwrap_or_default()
            );
            verdict.error_message = if verdict.error_message.is_empty() {
                flag
            } else {
                format!("{flag}; {}", verdict.error_message)
            };
        }
        if in_window == scan::IN_WINDOW && !verdict.outcome.is_empty() {
            *summary.outcomes.entry(verdict.outcome).or_default() += 1;
        }
        if !verdict.error_source.is_empty() {
            *summary
                .codes_by_source
                .entry(verdict.error_source)
                .or_default() += 1;
        }
        if let (Some(hook), Some(status)) = (hook_status.as_deref(), call_status.as_deref())
            && is_final(hook)
            && is_final(status)
            && hook != status
        {
            summary.disagreements += 1;
        }
        let mut backfilled: bool = r.get(11)?;
        if opts.write_back {
            let direction: Option<String> = r.get(26)?;
            let ledger = writeback::Ledger {
                webhook_status: r.get(16)?,
                webhook_error_code_empty: matches!(crate::ledger::int_value(r.get(17)?), Ok(None)),
                call_sid: r.get(18)?,
            };
            let call = writeback::Matched {
                sid: call_sid.as_deref(),
                status: call_status.as_deref(),
                direction: direction.as_deref(),
                parent: parent.as_deref(),
            };
            if let Some(change) = writeback::decide(&ledger, &call, &verdict) {
                add_writeback.execute(params![
                    id,
                    change.old_status,
                    change.status,
                    change.code,
                    change.sid
                ])?;
                backfilled = true;
            }
        }
        if in_window == scan::IN_WINDOW && call_status.as_deref().is_some_and(is_final) {
            summary.final_statuses += 1;
            summary.backfilled_final += backfilled as u64;
        }
        if matches!(
            verdict.outcome,
            "unreachable" | "failed" | "busy" | "no-answer"
        ) && in_window == scan::IN_WINDOW
        {
            let to_key: Option<String> = r.get(33)?;
            add_outcome.execute(params![
                id,
                to_key,
                verdict.outcome,
                verdict.error_code,
                verdict.error_category,
                ts,
                external_ref
            ])?;
        }
        if verdict.outcome == "completed" && !opts.include_completed && in_window == scan::IN_WINDOW
        {
            continue;
        }
        let intended_raw: Option<String> = r.get(15)?;
        out.write(&Row {
            ledger_id: Some(id),
            external_ref,
            to: r.get(13)?,
            from: r.get(14)?,
            intended_at: time(ts).or(intended_raw),
            call_sid: call_sid.clone(),
            outcome: verdict.outcome.to_owned(),
            twilio_status: call_status.clone(),
            error_code: verdict.error_code,
            error_category: verdict.error_category,
            error_message: verdict.error_message,
            error_source: verdict.error_source.to_owned(),
            sip_response_code: verdict.sip_response_code,
            start_time: time(r.get(21)?),
            end_time: time(r.get(22)?),
            duration_s: r.get(23)?,
            price,
            price_unit: r.get(25)?,
            direction: r.get(26)?,
            answered_by: r.get(27)?,
            matched_by: r.get(5)?,
            backfilled,
            account_sid: r.get(28)?,
        })?;
        summary.reported += 1;
    }
    Ok(())
}
