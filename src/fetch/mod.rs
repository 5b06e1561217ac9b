//! Fetch: everything callrecon needs from Twilio for a window, landed in the database.
//!
//! 1. the window's UTC days of calls (`calls`), page by page, and beside them one Monitor
//!    alerts sweep over the window (`codes`);
//! 2. by SID, the ledger's calls no listed page held and the calls of rows still followed up
//!    from earlier windows (`sids`);
//! 3. per-call notifications for the failed, busy, no-answer and canceled calls still without
//!    an error code (`codes`).
//!
//! Each page or lookup is landed in its own transaction before the next request, so memory
//! stays one page deep and a crash loses at most one page.

mod calls;
pub(crate) mod codes;
mod lookups;
mod paging;
pub mod partitions;
mod probe;
mod shape;
mod sids;
mod writer;

use crate::phone::Normalizer;
use crate::reconcile;
use crate::store::Store;
use crate::twilio::Client;
use crate::window::Window;
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use std::sync::atomic::Ordering;

#[derive(Debug, Clone)]
pub struct Options {
    pub window: Window,
    pub match_delay: Duration,
    pub now: DateTime<Utc>,
    /// Ledger SIDs looked up one by one at most, per run.
    pub max_sid_lookups: usize,
    /// Records per list page; Twilio's maximum means the fewest round trips.
    pub page_size: u32,
    /// Calls whose notifications are read, at most, per run.
    pub max_notification_lookups: usize,
    /// How long after `intended_at` a pending or unpriced row is still looked up again.
    pub followup_max_age: Duration,
    /// Partitions paged at once.
    pub max_in_flight: usize,
    /// How to split the listing into partitions.
    pub split: partitions::Split,
    /// Skip the run-time probe: how the server filters `StartTime` is known.
    pub time_filter: Option<partitions::TimeFilter>,
    /// Never split by caller ID.
    pub all_callers: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// The run continued a fetch of the same window that was killed or stopped.
    pub resumed: bool,
    /// How the server filters `StartTime` (probed), and into how many partitions the
    /// listing was split.
    pub time_filter: Option<partitions::TimeFilter>,
    pub partitions: usize,
    pub days: Vec<String>,
    pub calls_listed: u64,
    pub pages: u64,
    pub sid_lookups: u64,
    pub sids_unknown: u64,
    pub sids_skipped: u64,
    pub alerts: u64,
    /// Why the alerts sweep did not happen or was cut short, when it was.
    pub alerts_note: Option<String>,
    pub notification_lookups: u64,
    pub notifications_not_yet: u64,
    pub notifications_skipped: u64,
    /// The bounds in force, for the summary's advice.
    pub notification_bound: usize,
    pub sid_bound: usize,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
}

impl Summary {
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "{}fetched {} call(s) in {} page(s) of {} partition(s) ({}) over {} day(s) [{}]; {} looked up by SID ({} unknown to Twilio, {} over the bound)",
                if self.resumed { "resumed: " } else { "" },
                self.calls_listed,
                self.pages,
                self.partitions,
                match self.time_filter {
                    Some(partitions::TimeFilter::Second) => "time filter to the second",
                    _ => "time filter by day",
                },
                self.days.len(),
                self.days.join(", "),
                self.sid_lookups,
                self.sids_unknown,
                self.sids_skipped
            ),
            format!(
                "error codes: {} alert(s){}; notifications of {} call(s) read ({} not available yet, {} over the bound)",
                self.alerts,
                self.alerts_note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                self.notification_lookups,
                self.notifications_not_yet,
                self.notifications_skipped
            ),
            format!(
                "{} request(s), {} retried, {} throttled (429)",
                self.requests, self.retries, self.throttled
            ),
        ]
        .into_iter()
        .chain(over_the_bound(
            self.notifications_skipped,
            "call(s) without an error code",
            "--max-notification-lookups",
            self.notification_bound,
        ))
        .chain(over_the_bound(
            self.sids_skipped,
            "call SID(s)",
            "--max-sid-lookups",
            self.sid_bound,
        ))
        .collect()
    }
}

pub async fn fetch(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
) -> Result<Summary> {
    let mut summary = Summary {
        notification_bound: opts.max_notification_lookups,
        sid_bound: opts.max_sid_lookups,
        ..Summary::default()
    };
    let mut opts = opts.clone();
    if !opts.all_callers {
        opts.split.callers = caller_ids(store, numbers)?;
    }
    let opts = &opts;
    let mut phase = crate::logging::Phase::start();
    let listed = calls::list_window(client, store, numbers, opts, &mut summary).await?;
    let fetch_id = listed.fetch_id;
    phase.done("listing");
    let working = if listed.ledger_scanned {
        Working::Scanned
    } else {
        Working::Scan
    };
    sids::look_up(client, store, numbers, opts, working, &mut summary).await?;
    phase.done("SID lookups");
    codes::read_notifications(client, store, numbers, opts, &mut summary).await?;
    phase.done("notifications");
    store.finish_fetch(fetch_id, Utc::now().timestamp())?;
    summary.requests = client.stats.requests.load(Ordering::Relaxed);
    summary.retries = client.stats.retries.load(Ordering::Relaxed);
    summary.throttled = client.stats.throttled.load(Ordering::Relaxed);
    Ok(summary)
}

/// The ledger's caller IDs, E.164, when every row names one and they are few: then one
/// listing per caller ID covers every call that can match the ledger. `None` otherwise.
fn caller_ids(store: &Store, numbers: &mut Normalizer) -> Result<Option<Vec<String>>> {
    /// More caller IDs than this and the split costs more requests than it saves.
    const MAX_CALLERS: usize = 32;
    // Through the ledger's index on from_number (migration 4): a NULL is one of the values.
    let mut stmt = store
        .conn
        .prepare("SELECT DISTINCT from_number FROM intended_calls LIMIT ?1")?;
    let raw: Vec<crate::ledger::Cell> = stmt
        .query_map([MAX_CALLERS as i64 + 1], |r| crate::ledger::Cell::get(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut callers: Vec<String> = Vec::new();
    for number in raw {
        let number = match number {
            crate::ledger::Cell::Text(text) => text,
            crate::ledger::Cell::Integer(n) => n.to_string(),
            // A row without a (readable) caller ID may have been placed from any number.
            _ => return Ok(None),
        };
        // Twilio's From filter matches the E.164 the call was placed from: a ledger written
        // that way is taken as it is (no number metadata to load before the first request).
        let key = if crate::phone::is_e164_shaped(number.trim()) {
            number.trim().to_owned()
        } else {
            let n = numbers.normalize(&number);
            if !n.valid || !n.key.starts_with('+') {
                return Ok(None);
            }
            n.key
        };
        if !callers.contains(&key) {
            callers.push(key);
        }
    }
    callers.sort();
    Ok((!callers.is_empty() && callers.len() <= MAX_CALLERS).then_some(callers))
}

/// How much of `report`'s preparation a fetch's query needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Working {
    /// The window's ledger rows read into the working tables, without the matching rules
    /// (a row's own SID stands as its provisional match): the ledger's own SIDs are all the
    /// SID lookups need.
    Scan,
    /// As `Scan`, done already (while the listing waited for pages).
    Scanned,
    /// The rows of the last scan (temp tables live as long as the connection) matched again:
    /// calls landed since may match; the ledger did not move.
    Rematch,
}

/// Reads the window's ledger rows into the working tables (`w_rows`), before matching.
fn scan_ledger(store: &mut Store, numbers: &mut Normalizer, opts: &Options) -> Result<()> {
    let tx = store.conn.transaction()?;
    let lookback = opts.match_delay + Duration::seconds(reconcile::matching::EARLY_TOLERANCE_SECS);
    reconcile::scan::scan_ledger(&tx, opts.window, lookback, numbers)?;
    tx.commit()?;
    Ok(())
}

/// Prepares the working tables as `report` will, as far as `working` says, and runs `query`
/// over them.
fn query_working<T>(
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    working: Working,
    query: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    if working == Working::Scan {
        scan_ledger(store, numbers, opts)?;
    }
    let tx = store.conn.transaction()?;
    if working == Working::Rematch {
        tx.execute_batch("UPDATE w_rows SET match_sid = NULL, matched_by = NULL")?;
        reconcile::matching::match_rows(&tx, opts.match_delay)?;
    }
    let result = query(&tx)?;
    tx.commit()?;
    Ok(result)
}

/// How to read what the bound left out, and what it costs: one line, in the summary.
fn over_the_bound(skipped: u64, what: &str, flag: &str, bound: usize) -> Option<String> {
    (skipped > 0).then(|| {
        format!(
            "{skipped} {what} of the window are over the bound: {flag} {} reads them too, at {skipped} more request(s) (the same calls every run until the bound is raised)",
            bound as u64 + skipped
        )
    })
}

/// The first `max` distinct SIDs of `sids`, in order, and how many were left over; the
/// leftovers are warned about and asked for by the next run.
fn within_bound(sids: Vec<String>, max: usize, what: &str, flag: &str) -> (Vec<String>, u64) {
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<String> = sids
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect();
    let skipped = distinct.len().saturating_sub(max) as u64;
    if skipped > 0 {
        // Said once, in the summary, with what reading them would cost.
        tracing::debug!("{skipped} {what} over the bound ({flag} {max})");
    }
    (distinct.into_iter().take(max).collect(), skipped)
}

/// A per-call lookup still failing after retries is skipped with a warning and tried again
/// next run (design.md); a refusal (401/403, another 4xx) is not a passing fault.
fn skip_if_transient(err: anyhow::Error) -> Result<()> {
    let hostile = err
        .downcast_ref::<crate::twilio::ApiError>()
        .is_some_and(crate::twilio::ApiError::is_hostile);
    if crate::error::exit_code(&err) == crate::error::Exit::TwilioUnavailable && !hostile {
        tracing::warn!("{err:#}; skipped, tried again next run");
        Ok(())
    } else {
        Err(err)
    }
}
