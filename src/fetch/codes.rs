//! Error codes from Twilio's side, cheaply (design.md, "Error codes"): the Call resource has
//! none, so they come from one Monitor alerts sweep over the window (joined later on
//! `resource_sid`), then from per-call notifications for the failed, busy, no-answer and
//! canceled calls still without a code — failed first, within a bound.
//!
//! Monitor keeps alerts for 30 days and a key may lack permission for it: both degrade to a
//! note in the summary, never a failed run.

use super::{Options, Summary, Working, lookups, query_working, skip_if_transient, within_bound};
use crate::phone::Normalizer;
use crate::store::Store;
use crate::twilio::ApiError;
use crate::twilio::Client;
use crate::twilio::model::{Alert, AlertsPage};
use anyhow::Result;
use chrono::{Duration, Utc};
use futures::StreamExt;
use rusqlite::params;

/// Monitor answers nothing older than this (notes §2.2); a minute of margin keeps the
/// request valid while it waits in the limiter.
const ALERT_RETENTION: Duration = Duration::days(30);

/// The requests of the window's Monitor alerts sweep, or why there is none (the note).
pub fn alert_urls(client: &Client, opts: &Options) -> (Vec<url::Url>, Option<String>) {
    let oldest = opts.now - ALERT_RETENTION + Duration::minutes(1);
    let start = opts.window.from.max(oldest);
    let end = (opts.window.to + opts.match_delay).min(opts.now);
    if start >= end {
        let note = "window older than Monitor's 30 days: skipped".to_owned();
        return (Vec::new(), Some(note));
    }
    let note = (start > opts.window.from).then(|| {
        format!(
            "Monitor keeps 30 days: alerts before {} not asked for",
            crate::timefmt::format_utc(start)
        )
    });
    // Monitor's StartDate/EndDate take a time to the second (notes §2.2): the range is swept
    // in slices side by side, like the calls.
    let mut slices = opts.max_in_flight.max(1) as i32;
    if end - start < Duration::minutes(slices.into()) {
        slices = 1;
    }
    let step = (end - start) / slices;
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let urls = (0..slices)
        .map(|i| {
            let a = start + step * i;
            let b = if i + 1 == slices {
                end
            } else {
                start + step * (i + 1) - Duration::seconds(1)
            };
            client.alerts_url(&[
                ("StartDate", &fmt(a)),
                ("EndDate", &fmt(b)),
                ("PageSize", "1000"),
            ])
        })
        .collect();
    (urls, note)
}

/// Pages the sweep's slices side by side, sending every page to `land` (the fetch's one
/// writer). A key without Monitor permission is not a failed run: the answer is a note, and
/// codes come from notifications alone.
pub async fn page_alerts<E>(
    client: &Client,
    urls: Vec<url::Url>,
    max_in_flight: usize,
    land: impl Fn(Vec<Alert>) -> E,
) -> Result<Option<String>>
where
    E: std::future::Future<Output = bool>,
{
    let land = &land;
    let mut running = futures::stream::iter(urls.into_iter().map(|url| async move {
        let mut pager = client.pager(url);
        while let Some(page) = pager.next_page::<AlertsPage>().await? {
            if !land(page.alerts).await {
                break;
            }
        }
        Ok::<(), anyhow::Error>(())
    }))
    .buffer_unordered(max_in_flight.max(1));
    let mut listed = Ok(());
    while let Some(done) = running.next().await {
        if let Err(e) = done {
            listed = Err(e);
            break;
        }
    }
    match listed {
        Ok(()) => Ok(None),
        Err(e) => match e.downcast_ref::<ApiError>().and_then(ApiError::status) {
            Some(status @ (401 | 403)) => {
                tracing::warn!(
                    "Monitor alerts refused (HTTP {status}): {e:#}; error codes come from notifications only"
                );
                Ok(Some(format!(
                    "Monitor refused with HTTP {status}; codes from notifications only"
                )))
            }
            _ => Err(e.context("sweeping Monitor alerts")),
        },
    }
}

/// Calls of the window's rows that ended without a connection and have no code from the
/// ledger, a webhook or an alert: failed first. Whether their notifications were read already
/// is not asked here: the bound picks from this list by the window's facts alone, so a rerun
/// after a kill picks the same calls, and only the unread ones among them are asked for.
pub(crate) const CANDIDATES: &str = "
    SELECT c.sid, c.parent_call_sid FROM w_rows w JOIN recon_calls c ON c.sid = w.match_sid
    WHERE w.in_window IN (1, 2) AND w.problem IS NULL
      AND c.status IN ('failed', 'busy', 'no-answer', 'canceled')
      AND w.create_code IS NULL AND w.hook_code IS NULL AND (w.sip_code IS NULL OR w.sip_code < 300)
      AND NOT EXISTS (SELECT 1 FROM recon_alerts a
                      WHERE a.resource_sid IN (c.sid, c.parent_call_sid) AND a.error_code IS NOT NULL
                        AND a.log_level IN ('error', 'warning')
                        AND a.error_code <> 15003 AND a.error_code NOT BETWEEN 11200 AND 11299)
    ORDER BY CASE c.status WHEN 'failed' THEN 0 WHEN 'busy' THEN 1 WHEN 'no-answer' THEN 2 ELSE 3 END,
             w.ts, c.sid";

pub async fn read_notifications(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    summary: &mut Summary,
) -> Result<()> {
    if opts.max_notification_lookups == 0 {
        return Ok(());
    }
    let candidates: Vec<(String, Option<String>)> =
        query_working(store, numbers, opts, Working::Rematch, |conn| {
            let mut stmt = conn.prepare(CANDIDATES)?;
            let rows = stmt
                .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })?;
    // A child leg's <Dial> errors are filed on its parent: read both.
    let mut sids: Vec<String> = Vec::new();
    for (sid, parent) in candidates {
        sids.push(sid);
        sids.extend(parent);
    }
    let (chosen, skipped) = within_bound(
        sids,
        opts.max_notification_lookups,
        "call(s) without an error code were",
        "--max-notification-lookups",
    );
    summary.notifications_skipped = skipped;
    let mut read = store
        .conn
        .prepare("SELECT 1 FROM recon_lookups WHERE call_sid = ?1")?;
    let mut ask = Vec::new();
    for sid in chosen {
        if !read.exists([&sid])? {
            ask.push(sid);
        }
    }
    drop(read);
    let mut progress = lookups::Progress::new("notifications", ask.len());
    let mut answers = lookups::side_by_side(opts, ask, |sid| async move {
        let found = client.call_notifications(&sid).await;
        (sid, found)
    });
    while let Some((sid, found)) = answers.next().await {
        summary.notification_lookups += 1;
        match found {
            Ok(Some(found)) => store.land_notifications(&sid, &found, Utc::now().timestamp())?,
            // Too new for the subresource (eventual consistency): asked again next run.
            Ok(None) => summary.notifications_not_yet += 1,
            Err(e) => {
                skip_if_transient(e.context(format!("reading the notifications of call {sid}")))?
            }
        }
        progress.one_done();
        crate::failpoint::hit("fetch.notification");
        crate::stop::check()?;
    }
    progress.finish();
    Ok(())
}
