//! Calls fetched one by one: ledger SIDs no listed page held (the call started on another
//! day, or is too new for the list), calls the listing saw still queued, ringing or in
//! progress (they may have ended while the run paged), and calls of rows followed up from
//! earlier windows (still in progress, or not yet priced), fetched again until they settle.

use super::{Options, Summary, Working, query_working, skip_if_transient, within_bound};
use crate::phone::Normalizer;
use crate::reconcile::followups;
use crate::store::Store;
use crate::twilio::Client;
use anyhow::{Context, Result};
use chrono::Utc;

pub async fn look_up(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    working: Working,
    summary: &mut Summary,
) -> Result<()> {
    let mut phase = crate::logging::Phase::start();
    let mut sids: Vec<String> = query_working(store, numbers, opts, working, |conn| {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT sid FROM w_rows
             WHERE sid IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM recon_calls c WHERE c.sid = w_rows.sid)
             ORDER BY sid",
        )?;
        let sids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(sids)
    })?;
    phase.done("the ledger's SIDs not listed");
    // Calls last seen queued, ringing or in progress may have ended since their partition
    // was paged: their final state comes by SID.
    let from = opts.window.from.timestamp() - opts.match_delay.num_seconds();
    let to = (opts.window.to + opts.match_delay).timestamp();
    let mut stmt = store.conn.prepare(
        "SELECT sid FROM recon_calls WHERE status IN ('queued', 'ringing', 'in-progress')
           AND call_time >= ?1 AND call_time < ?2 ORDER BY sid",
    )?;
    let transient: Vec<String> = stmt
        .query_map([from, to], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    sids.extend(transient);
    let followed = followups::open_call_sids(
        &store.conn,
        opts.now.timestamp(),
        opts.followup_max_age.num_seconds(),
    )?;
    sids.extend(followed);
    let (sids, skipped) = within_bound(
        sids,
        opts.max_sid_lookups,
        "call SID(s) were",
        "--max-sid-lookups",
    );
    summary.sids_skipped = skipped;
    for sid in &sids {
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
            Err(e) => skip_if_transient(e)?,
        }
        crate::failpoint::hit("fetch.sid");
        crate::stop::check()?;
    }
    Ok(())
}
