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
use chrono::Utc;
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
    let mode = match (&opts.split.sequential, opts.time_filter, days.first()) {
        (true, _, _) | (_, _, None) => TimeFilter::Day,
        (false, Some(mode), _) => mode,
        (false, None, Some(&day)) => partitions::probe_time_filter(client, day)
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
    let parts = partitions::plan(&days, mode, &split, opts.page_size);
    summary.partitions = parts.len();
    // Transient statuses first, then the rest: a call that ends while the run pages is seen
    // in one of the two (design.md).
    let (transient, rest): (Vec<&Partition>, Vec<&Partition>) =
        parts.iter().partition(|p| p.transient);
    for wave in [transient, rest] {
        page_wave(client, store, numbers, fetch_id, &wave, opts, summary)
            .await
            .with_context(|| format!("listing the calls of account {account}"))?;
    }
    let now = Utc::now().timestamp();
    for day in &days {
        let keys: Vec<&str> = parts
            .iter()
            .filter(|p| p.day == *day)
            .map(|p| p.key.as_str())
            .collect();
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
        while let Some(msg) = rx.recv().await {
            match msg {
                Landed::Restart { part } => store.reset_progress(fetch_id, &wave[part].key)?,
                Landed::Page { part, calls, next } => {
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
