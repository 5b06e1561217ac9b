//! Listing the window's calls: its partitions paged side by side, landed by one writer,
//! resumably.
//!
//! Every partition ([`super::partitions`]) is paged by its own future, at most
//! `--max-in-flight` at once (the client's adaptive cap bounds the requests themselves);
//! pages come back through a bounded channel to the one task that owns the database, which
//! lands each page with its partition's progress in one transaction. So memory stays a few
//! pages deep, SQLite has a single writer, and a fetch killed or stopped part-way is resumed
//! by the next one over the same window: finished partitions are skipped, the others continue
//! from their stored `next_page_uri`. A page token Twilio no longer accepts (HTTP 400/404 on a
//! resumed page) restarts that partition from its first page.

use super::partitions::{self, Partition, Split, TimeFilter};
use super::{Options, Summary};
use crate::phone::Normalizer;
use crate::stop;
use crate::store::{Page, Store};
use crate::twilio::model::{Call, CallsPage};
use crate::twilio::{ApiError, Client};
use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;
use url::Url;

/// What a partition's pager sends to the writer.
enum Landed {
    Page {
        part: usize,
        calls: Vec<Call>,
        next: Option<String>,
    },
    /// The saved page token was refused: forget the partition's progress.
    Restart { part: usize },
}

/// Lists every partition of the window; returns the fetch id, to be marked finished by the
/// caller once the rest of the fetch is done.
pub async fn list_window(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    summary: &mut Summary,
) -> Result<i64> {
    let account = client.account_sid().to_owned();
    let (fetch_id, resumed) = store.open_fetch(
        &account,
        opts.window.from.timestamp(),
        opts.window.to.timestamp(),
        Utc::now().timestamp(),
    )?;
    if resumed {
        tracing::info!("resuming fetch {fetch_id} of this window where it stopped");
        summary.resumed = true;
    }
    let days = opts.window.days(opts.match_delay, opts.now);
    // A day whose first page holds all its calls needs no partitions: that page is the
    // listing (the day after the window, at night, usually is one). Bigger days are split.
    let mut whole_days = Vec::new();
    let mut big_days = Vec::new();
    let mut newest: Option<Call> = None;
    for &day in &days {
        let key = format!("calls:{day}");
        if opts.split.sequential || store.progress(fetch_id, &key)?.done {
            whole_days.push(day);
            continue;
        }
        let first = partitions::whole_day_url(client, day, opts.page_size);
        let page: CallsPage = client
            .get_json(&first)
            .await
            .with_context(|| format!("listing the calls of {day} for account {account}"))?;
        let complete = page.next_page_uri.as_deref().is_none_or(str::is_empty);
        let bar = crate::progress::current().partition(&key);
        bar.inc(1, page.calls.len() as u64);
        bar.finish();
        let landed = Page {
            fetch_id,
            partition: &key,
            calls: &page.calls,
            next_uri: None,
        };
        let now = Utc::now().timestamp();
        if complete {
            store.land_page(&landed, numbers, now)?;
            whole_days.push(day);
        } else {
            // Its calls land now; its partitions list them again, harmlessly (merged by sid).
            store.land_calls(&page.calls, numbers, now)?;
            if newest.is_none() {
                newest = page.calls.first().cloned();
            }
            big_days.push(day);
        }
        if complete {
            summary.calls_listed += page.calls.len() as u64;
        }
        summary.pages += 1;
    }
    let mode = match (opts.split.sequential, opts.time_filter, &newest) {
        (true, _, _) | (_, _, None) => TimeFilter::Day,
        (false, Some(mode), _) => mode,
        (false, None, Some(call)) => partitions::probe_time_filter(client, call)
            .await
            .with_context(|| format!("asking how account {account} filters StartTime"))?,
    };
    summary.time_filter = Some(mode);
    let split = Split {
        callers: if mode == TimeFilter::Day {
            opts.split.callers.clone()
        } else {
            None
        },
        ..opts.split.clone()
    };
    let planned: Vec<NaiveDate> = if opts.split.sequential {
        days.clone()
    } else {
        big_days
    };
    let parts = partitions::plan(&planned, mode, &split, opts.page_size);
    summary.partitions = parts.len()
        + if opts.split.sequential {
            0
        } else {
            whole_days.len()
        };
    // Transient statuses first, then the rest: a call that ends while the run pages is seen
    // in one of the two (design.md).
    let (transient, rest): (Vec<&Partition>, Vec<&Partition>) =
        parts.iter().partition(|p| p.transient);
    for wave in [transient, rest] {
        page_wave(client, store, numbers, fetch_id, &wave, opts, summary)
            .await
            .with_context(|| format!("listing the calls of account {account}"))?;
    }
    store.merge_staged()?;
    let now = Utc::now().timestamp();
    for day in &days {
        let whole = format!("calls:{day}");
        let mut keys: Vec<&str> = parts
            .iter()
            .filter(|p| p.day == *day)
            .map(|p| p.key.as_str())
            .collect();
        if keys.is_empty() {
            keys.push(&whole);
        }
        store.mark_day_landed(&account, &day.to_string(), fetch_id, &keys, now)?;
        summary.days.push(day.to_string());
    }
    Ok(fetch_id)
}

async fn page_wave(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    fetch_id: i64,
    wave: &[&Partition],
    opts: &Options,
    summary: &mut Summary,
) -> Result<()> {
    // Where each partition starts: finished ones are skipped, others resume.
    let mut starts = Vec::new();
    for (i, part) in wave.iter().enumerate() {
        let progress = store.progress(fetch_id, &part.key)?;
        if progress.done {
            continue;
        }
        let pairs: Vec<(&str, &str)> = part
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let first = client.calls_url(&pairs);
        let resume = match &progress.next_uri {
            Some(uri) => Some(client.base_url().join(uri)?),
            None => None,
        };
        starts.push((i, first, resume));
    }
    let (tx, mut rx) = mpsc::channel::<Landed>(opts.max_in_flight.max(1) * 2);
    let pagers = async move {
        let mut running = futures::stream::iter(
            starts
                .into_iter()
                .map(|(i, first, resume)| page_partition(client, i, first, resume, tx.clone())),
        )
        .buffer_unordered(opts.max_in_flight.max(1));
        while let Some(done) = running.next().await {
            done?;
        }
        Ok::<(), anyhow::Error>(())
    };
    let writer = async {
        // A progress bar per partition, from its first landed page (drawn on a terminal only).
        let mut bars = std::collections::HashMap::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                Landed::Restart { part } => store.reset_progress(fetch_id, &wave[part].key)?,
                Landed::Page { part, calls, next } => {
                    let bar = bars
                        .entry(part)
                        .or_insert_with(|| crate::progress::current().partition(&wave[part].key));
                    bar.inc(1, calls.len() as u64);
                    if next.is_none() {
                        bar.finish();
                    }
                    let page = Page {
                        fetch_id,
                        partition: &wave[part].key,
                        calls: &calls,
                        next_uri: next.as_deref(),
                    };
                    store.land_page(&page, numbers, Utc::now().timestamp())?;
                    summary.calls_listed += calls.len() as u64;
                    summary.pages += 1;
                    crate::failpoint::hit("fetch.page");
                    stop::check()?;
                }
            }
        }
        Ok::<(), anyhow::Error>(())
    };
    // The first error (a partition that failed, a stop) ends both sides at once.
    tokio::try_join!(pagers, writer)?;
    Ok(())
}

/// Pages one partition from its resume point (or its first page), sending every page to the
/// writer; waits when the writer is behind, so memory stays bounded.
async fn page_partition(
    client: &Client,
    part: usize,
    first: Url,
    resume: Option<Url>,
    tx: mpsc::Sender<Landed>,
) -> Result<()> {
    let resumed = resume.is_some();
    let mut pager = client.pager(resume.unwrap_or_else(|| first.clone()));
    let mut fresh = !resumed;
    loop {
        let page = match pager.next_page::<CallsPage>().await {
            Ok(Some(page)) => page,
            Ok(None) => return Ok(()),
            Err(e) if !fresh && stale_token(&e) => {
                tracing::warn!(
                    "{e:#}; the saved page token is stale, listing the partition again from its first page"
                );
                if tx.send(Landed::Restart { part }).await.is_err() {
                    return Ok(());
                }
                pager = client.pager(first.clone());
                fresh = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        fresh = true;
        let next = page.next_page_uri.filter(|u| !u.is_empty());
        if tx
            .send(Landed::Page {
                part,
                calls: page.calls,
                next,
            })
            .await
            .is_err()
        {
            // The writer stopped (an error, a stop): nothing more to do here.
            return Ok(());
        }
    }
}

/// A resumed page Twilio refuses as a request (not a passing fault): its token expired.
fn stale_token(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ApiError>()
        .and_then(ApiError::status)
        .is_some_and(|s| s == 400 || s == 404)
}
