//! Calls fetched one by one: ledger SIDs no listed page held (the call started on another
//! day, or is too new for the list), calls the listing saw still queued, ringing or in
//! progress (they may have ended while the run paged), and calls of rows followed up from
//! earlier windows (still in progress, or not yet priced), fetched again until they settle.
//!
//! Which calls a window looks up within `--max-sid-lookups` is decided by the window alone:
//! a call fetched by SID is remembered (`recon_sid_lookups`) and stays a candidate, so a rerun
//! after a kill chooses the same calls as the run it replaces, instead of the next ones. The
//! chosen calls are asked for side by side, up to the in-flight cap, each landed on its own.

use super::{Options, Summary, Working, lookups, query_working, within_bound};
use crate::phone::Normalizer;
use crate::reconcile::followups;
use crate::store::Store;
use crate::twilio::Client;
use anyhow::{Context, Result};
use chrono::Utc;
use futures::StreamExt;

/// The window's ledger SIDs whose call no listing landed (or that a lookup landed), by SID.
const LEDGER: &str = "SELECT DISTINCT w.sid FROM w_rows w
    WHERE w.sid IS NOT NULL
      AND (NOT EXISTS (SELECT 1 FROM recon_calls c WHERE c.sid = w.sid)
           OR EXISTS (SELECT 1 FROM recon_sid_lookups l WHERE l.sid = w.sid AND l.reason = 'ledger'))
    ORDER BY w.sid";

/// The window's calls last listed still going (through the partial index of unsettled
/// calls), and those fetched again for that reason before, by SID.
const TRANSIENT: &str = "SELECT sid FROM recon_calls
    WHERE status IN ('queued', 'ringing', 'in-progress') AND call_time >= ?1 AND call_time < ?2
    UNION
    SELECT c.sid FROM recon_sid_lookups l JOIN recon_calls c ON c.sid = l.sid
    WHERE l.reason = 'transient' AND c.call_time >= ?1 AND c.call_time < ?2
    ORDER BY 1";

/// Whether a chosen call needs asking: a call an earlier lookup already landed as final
/// cannot change (its price may: rows still unpriced are followed up, and asked every run).
const SETTLED: &str = "SELECT 1 FROM recon_sid_lookups l JOIN recon_calls c ON c.sid = l.sid
    WHERE l.sid = ?1 AND c.status IN ('completed', 'busy', 'failed', 'no-answer', 'canceled')";

pub async fn look_up(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    working: Working,
    summary: &mut Summary,
) -> Result<()> {
    let mut phase = crate::logging::Phase::start();
    let ledger: Vec<String> = query_working(store, numbers, opts, working, |conn| {
        let mut stmt = conn.prepare(LEDGER)?;
        let sids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(sids)
    })?;
    phase.done("the ledger's SIDs not listed");
    let from = opts.window.from.timestamp() - opts.match_delay.num_seconds();
    let to = (opts.window.to + opts.match_delay).timestamp();
    let mut stmt = store.conn.prepare(TRANSIENT)?;
    let transient: Vec<String> = stmt
        .query_map([from, to], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    let followed = followups::open_call_sids(
        &store.conn,
        opts.now.timestamp(),
        opts.followup_max_age.num_seconds(),
    )?;
    // A followed-up call is asked for every run (its price may come late), whichever group
    // names it first; the first group is the reason recorded, so its place in the order, and
    // so the bound, stays the same on a rerun.
    let followed_set: std::collections::HashSet<String> = followed.iter().cloned().collect();
    let mut reasons = std::collections::HashMap::new();
    let mut candidates = Vec::new();
    for (reason, sids) in [
        ("ledger", ledger),
        ("transient", transient),
        ("followup", followed),
    ] {
        for sid in sids {
            reasons.entry(sid.clone()).or_insert(reason);
            candidates.push(sid);
        }
    }
    let (chosen, skipped) = within_bound(
        candidates,
        opts.max_sid_lookups,
        "call SID(s) were",
        "--max-sid-lookups",
    );
    summary.sids_skipped = skipped;
    let mut settled = store.conn.prepare(SETTLED)?;
    let mut ask = Vec::new();
    for sid in chosen {
        let reason = reasons[&sid];
        if followed_set.contains(&sid) || !settled.exists([&sid])? {
            ask.push((sid, reason));
        }
    }
    drop(settled);
    let mut progress = lookups::Progress::new("SID lookups", ask.len());
    let mut answers = lookups::side_by_side(opts, ask, |(sid, reason)| async move {
        let found = client
            .fetch_call(&sid)
            .await
            .with_context(|| format!("looking up call {sid}"));
        (sid, reason, found)
    });
    while let Some((sid, reason, found)) = answers.next().await {
        summary.sid_lookups += 1;
        let now = Utc::now().timestamp();
        match found {
            Ok(Some(call)) => store.land_looked_up(&call, reason, numbers, now)?,
            Ok(None) => {
                summary.sids_unknown += 1;
                store.mark_sid_unknown(&sid, now)?;
            }
            Err(e) => super::skip_if_transient(e)?,
        }
        progress.one_done();
        crate::failpoint::hit("fetch.sid");
        crate::stop::check()?;
    }
    progress.finish();
    Ok(())
}
