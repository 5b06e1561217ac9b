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
mod landed;
pub mod matching;
#[cfg(test)]
mod plans;
pub mod scan;
mod stream;
pub mod twilio_codes;
pub mod writeback;

use crate::error::UsageError;
use crate::phone::Normalizer;
use crate::report;
use crate::store::Store;
use crate::store::failure::in_step;
use crate::window::Window;
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use classify::OUTCOMES;
use rusqlite::Connection;
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
    /// Rows of the window, with the undated ones (reported in every window).
    pub rows_in_window: u64,
    pub unreadable: u64,
    /// Rows whose `intended_at` is no time: they belong to no window, and every report
    /// shows them (counted in `rows_in_window` and `unreadable` too).
    pub undated: u64,
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
    /// What the window's calls cost, summed as the report streamed (in the summary as
    /// `spend`, beside this).
    #[serde(skip)]
    pub spend: crate::report::spend::Tally,
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
        // An undated row is in every window's report, but not "in the window": a window
        // with no rows said "1 ledger row(s) in the window".
        let undated = match self.undated {
            0 => String::new(),
            n => format!(
                " (and {n} undated row(s), whose intended_at is no time, shown in every report)"
            ),
        };
        let mut lines = vec![format!(
            "{} ledger row(s) in the window{undated}, {} in the report (matched: {} by sid, {} by child leg, {} by heuristic)",
            self.rows_in_window - self.undated,
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
        if self.written_back.changed_meanwhile > 0 {
            lines.push(format!(
                "write-back: {} row(s) changed by the application while the report was made; left as it wrote them (backfilled=false)",
                self.written_back.changed_meanwhile
            ));
        }
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

/// Refuses, before the database is opened for writing (so that a refused ledger is left as
/// it was: no WAL, no tables), a report on a database no fetch ever landed anything in.
pub fn check_fetched_at_all(db: &std::path::Path) -> Result<()> {
    let conn = crate::store::preflight::read_only(db)?;
    let landed: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'recon_days'",
        [],
        |r| r.get(0),
    )?;
    let any = landed > 0
        && conn.query_row("SELECT EXISTS (SELECT 1 FROM recon_days)", [], |r| {
            r.get::<_, bool>(0)
        })?;
    if !any {
        return Err(no_fetched_calls(db));
    }
    Ok(())
}

fn no_fetched_calls(db: &std::path::Path) -> anyhow::Error {
    UsageError::new(format!(
        "{} holds no fetched calls; run `callrecon fetch` (or `callrecon run`) for this window first",
        db.display()
    ))
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
        return Err(no_fetched_calls(&store.path));
    }
    for account in accounts {
        let missing = store.missing_days(&account, &days)?;
        if !missing.is_empty() {
            return Err(UsageError::new(format!(
                "the window needs day(s) {} of account {account}, which were never fetched; \
                 run `callrecon fetch` over the same window first (the same --window and --tz, \
                 or --from/--to)",
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
    let mut step = crate::logging::Phase::start();
    let scanned = scan::scan_ledger(conn, window, lookback, numbers)?;
    step.done("scanning the ledger");
    let matched = matching::match_rows(conn, delay)?;
    Ok((scanned, matched))
}

pub(crate) const WORK_TABLES: &str = "
    DROP TABLE IF EXISTS temp.w_writeback;
    CREATE TEMP TABLE w_writeback (ledger_id INTEGER PRIMARY KEY, old_status TEXT,
        status TEXT NOT NULL, code INTEGER, call_sid TEXT, counted INTEGER NOT NULL);
    DROP TABLE IF EXISTS temp.w_followups;
    CREATE TEMP TABLE w_followups (ledger_id INTEGER PRIMARY KEY, reason TEXT,
        call_sid TEXT, ts INTEGER, resolved INTEGER NOT NULL);
    DROP TABLE IF EXISTS temp.w_outcomes;
    CREATE TEMP TABLE w_outcomes (ledger_id INTEGER PRIMARY KEY, to_key TEXT, outcome TEXT,
        error_code INTEGER, category TEXT, ts INTEGER, external_ref TEXT, twilio_to TEXT);";

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
    let db = store.path.clone();
    let read = (|| {
        let tx = store.conn.transaction()?;
        let (scanned, matched) = prepare(&tx, numbers, opts.window, opts.match_delay)?;
        summary.rows_in_window = scanned.rows_in_window;
        summary.unreadable = scanned.unreadable;
        summary.undated = scanned.undated;
        summary.matches = matched;
        tx.execute_batch(WORK_TABLES)?;
        let mut step = crate::logging::Phase::start();
        stream::stream_rows(&tx, numbers, opts, &mut out, &mut summary)?;
        step.done("classifying and writing the report's rows");
        tx.commit()?;
        Ok(())
    })();
    in_step(read, "reading the ledger and the landed calls", &db)?;
    // The write-back commits before the report is in place (or, on stdout, before its first
    // row is shown), so `backfilled` says only what committed: rows the application wrote in
    // between are corrected to `false`. A failure or kill here leaves no new report, and a
    // rerun reproduces the whole one (what committed is read from the audit trail).
    let mut step = crate::logging::Phase::start();
    let mut not_committed = std::collections::HashSet::new();
    if opts.write_back {
        let applied = in_step(
            writeback::apply(&mut store.conn, opts.now),
            "writing back the missed webhooks",
            &db,
        )?;
        summary.written_back = applied.stats;
        summary.backfilled_final -= applied.counted_not_committed;
        not_committed = applied.not_committed;
        step.done("write-back");
    }
    out.finish_correcting(&not_committed)?;
    step.done("putting the report in place");
    crate::failpoint::hit("report.renamed");
    crate::stop::check()?;
    if opts.record_followups {
        summary.followups = in_step(
            followups::record(&mut store.conn, opts),
            "recording the rows to follow up",
            &db,
        )?;
        step.done("recording follow-ups");
    }
    Ok(summary)
}
