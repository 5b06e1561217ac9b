//! Reconciliation: the ledger rows of a window, matched with the landed calls, classified,
//! and streamed into the report. No network: everything comes from the database.
//!
//! The work happens inside one read transaction, so the application's concurrent writes
//! (WAL) never show half-way through a report: scan and match see one snapshot.

pub mod classify;
pub mod matching;
pub mod scan;

use crate::error::UsageError;
use crate::ledger::int_value;
use crate::phone::Normalizer;
use crate::report::{self, Row};
use crate::store::Store;
use crate::timefmt::format_utc;
use crate::window::Window;
use anyhow::Result;
use chrono::{DateTime, Duration, TimeZone, Utc};
use classify::{Facts, OUTCOMES, classify};
use rusqlite::types::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Options {
    pub window: Window,
    pub match_delay: Duration,
    pub now: DateTime<Utc>,
    pub include_completed: bool,
}

/// What a report found, for the summary on stderr.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub rows_in_window: u64,
    pub unreadable: u64,
    pub reported: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub matches: matching::MatchStats,
}

impl Summary {
    /// One line per outcome, in the contract's order, then the unreadable rows.
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

/// Reconciles the window and writes its rows to `out`.
pub fn reconcile(
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    out: &mut report::Writer,
) -> Result<Summary> {
    check_landed(store, opts.window, opts.match_delay, opts.now)?;
    let tx = store.conn.transaction()?;
    let lookback = opts.match_delay + Duration::seconds(matching::EARLY_TOLERANCE_SECS);
    let scan = scan::scan_ledger(&tx, opts.window, lookback, numbers)?;
    let matches = matching::match_rows(&tx, opts.match_delay)?;
    let mut summary = Summary {
        rows_in_window: scan.rows_in_window,
        unreadable: scan.unreadable,
        matches,
        ..Summary::default()
    };
    let mut stmt = tx.prepare(
        "SELECT w.ledger_id, w.ts, w.problem, w.note, w.matched_by, w.to_valid,
                i.external_ref, i.to_number, i.from_number, i.intended_at, i.create_error_code,
                i.webhook_status, i.webhook_error_code, i.webhook_sip_code,
                c.sid, c.status, c.start_time, c.end_time, c.duration, c.price, c.price_unit,
                c.direction, c.answered_by, c.account_sid
         FROM w_rows w
         JOIN intended_calls i ON i.id = w.ledger_id
         LEFT JOIN recon_calls c ON c.sid = w.match_sid
         WHERE w.in_window = 1
         ORDER BY w.ts IS NOT NULL, w.ts, w.ledger_id",
    )?;
    let mut rows = stmt.query([])?;
    let text = |v: Value| match v {
        Value::Text(s) => Some(s),
        Value::Integer(n) => Some(n.to_string()),
        Value::Real(f) => Some(f.to_string()),
        _ => None,
    };
    let time = |secs: Option<i64>| {
        secs.and_then(|s| Utc.timestamp_opt(s, 0).single())
            .map(format_utc)
    };
    let now = opts.now.timestamp();
    while let Some(r) = rows.next()? {
        let ts: Option<i64> = r.get(1)?;
        let problem: Option<String> = r.get(2)?;
        let note: Option<String> = r.get(3)?;
        let webhook_status = text(r.get(11)?);
        let call_status: Option<String> = r.get(15)?;
        let facts = Facts {
            problem: problem.as_deref(),
            note: note.as_deref(),
            to_valid: r.get(5)?,
            create_error_code: int_value(r.get(10)?).ok().flatten(),
            webhook_status: webhook_status.as_deref(),
            webhook_error_code: int_value(r.get(12)?).ok().flatten(),
            webhook_sip_code: int_value(r.get(13)?).ok().flatten(),
            call_status: call_status.as_deref(),
            age_secs: ts.map_or(0, |t| now - t),
            match_delay_secs: opts.match_delay.num_seconds(),
            alert: None,
            notification: None,
        };
        let verdict = classify(&facts);
        if !verdict.outcome.is_empty() {
            *summary.outcomes.entry(verdict.outcome).or_default() += 1;
        }
        if verdict.outcome == "completed" && !opts.include_completed {
            continue;
        }
        let intended_raw = text(r.get(9)?);
        out.write(&Row {
            ledger_id: r.get(0)?,
            external_ref: text(r.get(6)?),
            to: text(r.get(7)?),
            from: text(r.get(8)?),
            intended_at: time(ts).or(intended_raw),
            call_sid: r.get(14)?,
            outcome: verdict.outcome.to_owned(),
            twilio_status: call_status.clone(),
            error_code: verdict.error_code,
            error_category: verdict.error_category,
            error_message: verdict.error_message,
            error_source: verdict.error_source.to_owned(),
            sip_response_code: verdict.sip_response_code,
            start_time: time(r.get(16)?),
            end_time: time(r.get(17)?),
            duration_s: r.get(18)?,
            price: r.get(19)?,
            price_unit: r.get(20)?,
            direction: r.get(21)?,
            answered_by: r.get(22)?,
            matched_by: r.get(4)?,
            backfilled: false,
            account_sid: r.get(23)?,
        })?;
        summary.reported += 1;
    }
    drop(rows);
    drop(stmt);
    tx.commit()?;
    Ok(summary)
}
