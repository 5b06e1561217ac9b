//! Fetch: list the window's UTC days from Twilio and land every page, then look up by SID the
//! ledger's calls that no listed page held.
//!
//! Each page is upserted in its own transaction before the next one is requested, so memory
//! stays one page deep and a crash loses at most a page; a day is recorded as landed only once
//! its last page is in.

use crate::phone::Normalizer;
use crate::reconcile::{matching, scan};
use crate::store::Store;
use crate::twilio::Client;
use crate::window::Window;
use anyhow::{Context, Result};
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
}

#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub days: Vec<String>,
    pub calls_listed: u64,
    pub pages: u64,
    pub sid_lookups: u64,
    pub sids_unknown: u64,
    pub sids_skipped: u64,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
}

impl Summary {
    pub fn line(&self) -> String {
        format!(
            "fetched {} call(s) in {} page(s) over {} day(s) [{}]; {} looked up by SID ({} unknown to Twilio, {} over the bound); {} request(s), {} retried, {} throttled (429)",
            self.calls_listed,
            self.pages,
            self.days.len(),
            self.days.join(", "),
            self.sid_lookups,
            self.sids_unknown,
            self.sids_skipped,
            self.requests,
            self.retries,
            self.throttled
        )
    }
}

pub async fn fetch(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let account = client.account_sid().to_owned();
    for day in opts.window.days(opts.match_delay, opts.now) {
        let next = day.succ_opt().expect("a next day");
        let (from, to) = (day.to_string(), next.to_string());
        let page_size = opts.page_size.to_string();
        // `StartTime>` is "on or after", `StartTime<` "before": exactly day D (notes §1.2).
        let first = client.calls_url(&[
            ("StartTime>", from.as_str()),
            ("StartTime<", to.as_str()),
            ("PageSize", page_size.as_str()),
        ]);
        let mut landed = 0u64;
        client
            .list_calls(first, |page| {
                let n = store.land_calls(&page.calls, numbers, Utc::now().timestamp())?;
                landed += n as u64;
                summary.pages += 1;
                Ok(true)
            })
            .await
            .with_context(|| format!("listing the calls of {from} for account {account}"))?;
        store.mark_day_landed(&account, &from, landed, Utc::now().timestamp())?;
        summary.calls_listed += landed;
        summary.days.push(from);
    }
    look_up_missing_sids(client, store, numbers, opts, &mut summary).await?;
    summary.requests = client.stats.requests.load(Ordering::Relaxed);
    summary.retries = client.stats.retries.load(Ordering::Relaxed);
    summary.throttled = client.stats.throttled.load(Ordering::Relaxed);
    Ok(summary)
}

/// Ledger rows of the window whose `call_sid` no listed page held: the call may have started
/// on another day, or be too new for the list. A 404 is remembered (the report says so) and
/// asked again on the next run.
async fn look_up_missing_sids(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    summary: &mut Summary,
) -> Result<()> {
    let lookback = opts.match_delay + Duration::seconds(matching::EARLY_TOLERANCE_SECS);
    let sids: Vec<String> = {
        let tx = store.conn.transaction()?;
        scan::scan_ledger(&tx, opts.window, lookback, numbers)?;
        let mut stmt = tx.prepare(
            "SELECT DISTINCT sid FROM w_rows
             WHERE sid IS NOT NULL AND sid NOT IN (SELECT sid FROM recon_calls) ORDER BY sid",
        )?;
        let sids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        tx.commit()?;
        sids
    };
    summary.sids_skipped = sids.len().saturating_sub(opts.max_sid_lookups) as u64;
    if summary.sids_skipped > 0 {
        tracing::warn!(
            "{} ledger SIDs were not looked up (--max-sid-lookups {}); they are reported as if they had no SID",
            summary.sids_skipped,
            opts.max_sid_lookups
        );
    }
    for sid in sids.iter().take(opts.max_sid_lookups) {
        summary.sid_lookups += 1;
        let found = client
            .fetch_call(sid)
            .await
            .with_context(|| format!("looking up call {sid}"));
        let now = Utc::now().timestamp();
        match found {
            Ok(Some(call)) => {
                store.land_calls(std::slice::from_ref(&call), numbers, now)?;
                store.clear_sid_unknown(sid)?;
            }
            Ok(None) => {
                summary.sids_unknown += 1;
                store.mark_sid_unknown(sid, now)?;
            }
            // A per-call lookup still failing after retries is skipped with a warning
            // (design.md); a refusal (401/403, another 4xx) is not a passing fault.
            Err(e) if crate::error::exit_code(&e) == crate::error::Exit::TwilioUnavailable => {
                tracing::warn!("{e:#}; skipped, tried again next run")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
