//! Listing the window: its calls in partitions paged side by side and its Monitor alerts
//! beside them, landed by one writer, resumably.
//!
//! The network side ([`produce`]) asks, all at once: the first page of every day the ledger
//! does not show to be big, the time-filter probe ([`super::probe`]), then it pages the
//! partitions of the big days ([`super::paging`]), the transient statuses first, and the
//! alerts sweep with the final wave. Pages come back through a bounded channel to the thread
//! that owns the database ([`super::writer`]). A fetch killed or stopped part-way is resumed
//! by the next one over the same window: finished partitions are skipped, the others continue
//! from their stored `next_page_uri`.

use super::paging::page_wave;
use super::partitions::{self, Partition, Split, TimeFilter};
use super::shape::DayShape;
use super::writer::{Landed, Writer};
use super::{Options, Summary, codes, probe};
use crate::phone::Normalizer;
use crate::store::Store;
use crate::twilio::Client;
use crate::twilio::model::{Alert, CallsPage};
use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use std::collections::HashMap;
use tokio::sync::mpsc;
use url::Url;

/// What the network side decided and found, for the summary and the landed days.
struct Listed {
    mode: TimeFilter,
    parts: Vec<Partition>,
    alerts_note: Option<String>,
}

/// The plan before the first request: which days are listed how.
pub(super) struct Ahead<'a> {
    pub(super) opts: &'a Options,
    pub(super) account: &'a str,
    /// Days whose first page is asked for: a day that fits it is listed by it.
    pub(super) first_pages: Vec<NaiveDate>,
    /// Days the ledger shows to be bigger than a page: split at once.
    pub(super) big: Vec<NaiveDate>,
    pub(super) shapes: HashMap<NaiveDate, DayShape>,
    /// Where each partition starts (its saved next page), for a resumed fetch.
    pub(super) resume: HashMap<String, Option<Url>>,
}

/// A listed window.
pub struct Listing {
    /// To be marked finished by the caller once the rest of the fetch is done.
    pub fetch_id: i64,
    /// The window's ledger rows are in the working tables already (read while the listing
    /// waited for pages).
    pub ledger_scanned: bool,
}

/// Lists every partition of the window and sweeps its alerts.
pub async fn list_window(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    summary: &mut Summary,
) -> Result<Listing> {
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
    let mut phase = crate::logging::Phase::start();
    let shapes = super::shape::read(&store.conn, &days, numbers)?;
    let mut whole_days = Vec::new();
    let mut first_pages = Vec::new();
    let mut big = Vec::new();
    for &day in &days {
        let rows = shapes.get(&day).map_or(0, DayShape::rows);
        if opts.split.sequential || store.progress(fetch_id, &format!("calls:{day}"))?.done {
            whole_days.push(day);
        } else if rows >= opts.page_size as usize {
            big.push(day);
        } else {
            first_pages.push(day);
        }
    }
    let resume = resume_points(store, client, fetch_id)?;
    phase.done("reading the ledger's days");
    let ahead = Ahead {
        opts,
        account: &account,
        first_pages,
        big,
        shapes,
        resume,
    };
    let (tx, rx) = mpsc::channel::<Landed>(opts.max_in_flight.max(1) * 2);
    let mut writer = Writer {
        store,
        numbers,
        fetch_id,
        opts,
        summary,
        bars: HashMap::new(),
        staged: 0,
        scan_pending: true,
    };
    // The writer gets a thread of its own: SQLite blocks, and a page landed or a merge on the
    // thread that drives the requests would leave request slots idle meanwhile.
    let (listed, written) = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let landing = scope.spawn(|| writer.run(rx));
            let listed = tokio::runtime::Handle::current().block_on(produce(client, &ahead, tx));
            let written = landing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (listed, written)
        })
    });
    // A stop or a database error ends the writer first and the requests with it.
    written?;
    let listed = listed?;
    phase.done("listing the calls and alerts");
    let ledger_scanned = !writer.scan_pending;
    let Writer { store, summary, .. } = writer;
    store.merge_staged()?;
    phase.done("merging the staged calls");
    summary.time_filter = Some(listed.mode);
    summary.alerts_note = listed.alerts_note;
    let split_days: Vec<NaiveDate> = listed.parts.iter().map(|p| p.day).collect();
    summary.partitions = listed.parts.len()
        + days
            .iter()
            .filter(|d| !opts.split.sequential && !split_days.contains(d))
            .count();
    let now = Utc::now().timestamp();
    for day in &days {
        let whole = format!("calls:{day}");
        let mut keys: Vec<&str> = listed
            .parts
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
    Ok(Listing {
        fetch_id,
        ledger_scanned,
    })
}

/// The saved next page of every unfinished partition of the fetch; finished ones map to
/// `None` and are skipped.
fn resume_points(
    store: &Store,
    client: &Client,
    fetch_id: i64,
) -> Result<HashMap<String, Option<Url>>> {
    let mut points = HashMap::new();
    for (key, progress) in store.progress_of(fetch_id)? {
        let url = match (&progress.next_uri, progress.done) {
            (_, true) | (None, false) => None,
            // Saved from an earlier answer: followed only to the same origin, like any link.
            (Some(uri), false) => Some(client.follow(client.base_url(), uri)?),
        };
        if progress.done || url.is_some() {
            points.insert(key, url);
        }
    }
    Ok(points)
}

/// The network side: the first round (first pages, probe, alerts), then the partitions.
async fn produce(client: &Client, ahead: &Ahead<'_>, tx: mpsc::Sender<Landed>) -> Result<Listed> {
    let opts = ahead.opts;
    let (urls, note) = codes::alert_urls(client, opts);
    // The alerts wait for the final wave: earlier, their requests would hold up the probe's
    // answer and the transient wave that every final partition waits for.
    let final_wave = tokio::sync::Notify::new();
    let alerts = async {
        final_wave.notified().await;
        if tx.is_closed() {
            // The writer stopped before the final wave: no sweep.
            return Ok(note);
        }
        let land = |alerts: Vec<Alert>| {
            let tx = tx.clone();
            async move { tx.send(Landed::Alerts(alerts)).await.is_ok() }
        };
        let refused = codes::page_alerts(client, urls, opts.max_in_flight, land).await?;
        Ok::<_, anyhow::Error>(refused.or(note))
    };
    let calls = list_calls(client, ahead, &tx, StartsFinalWave(&final_wave));
    let ((mode, parts), alerts_note) = tokio::try_join!(calls, alerts)?;
    Ok(Listed {
        mode,
        parts,
        alerts_note,
    })
}

/// Signals the final wave's start when dropped: whatever way the listing ends, what waits for
/// it is not left waiting.
struct StartsFinalWave<'a>(&'a tokio::sync::Notify);

impl Drop for StartsFinalWave<'_> {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

async fn list_calls(
    client: &Client,
    ahead: &Ahead<'_>,
    tx: &mpsc::Sender<Landed>,
    final_wave: StartsFinalWave<'_>,
) -> Result<(TimeFilter, Vec<Partition>)> {
    let opts = ahead.opts;
    let account = ahead.account;
    let firsts = futures::future::try_join_all(ahead.first_pages.iter().map(|&day| async move {
        let url = partitions::whole_day_url(client, day, opts.page_size);
        let page: CallsPage = client
            .get_page(&url)
            .await
            .with_context(|| format!("listing the calls of {day} for account {account}"))?;
        Ok::<_, anyhow::Error>((day, page))
    }));
    // The probe asks about the biggest day the ledger knows, beside the first pages, with
    // the first pages of that day's first and last time slices (unless a resumed fetch has
    // progress there).
    let probe_day = ahead
        .big
        .iter()
        .max_by_key(|d| ahead.shapes.get(d).map_or(0, DayShape::rows))
        .copied();
    let asked = match (opts.split.sequential, opts.time_filter, probe_day) {
        (false, None, Some(day)) => probe_slices(ahead, day),
        _ => None,
    };
    let probed = async {
        let found = match (opts.split.sequential, opts.time_filter, probe_day, &asked) {
            (true, _, _, _) => (Some(TimeFilter::Day), Vec::new()),
            (false, Some(mode), _, _) => (Some(mode), Vec::new()),
            (false, None, Some(_), Some(slices)) => {
                let (mode, pages) = probe::by_slices(client, slices)
                    .await
                    .with_context(|| asking(account))?;
                (Some(mode), slices.iter().zip(pages).collect())
            }
            (false, None, Some(day), None) => {
                let mode = probe::by_questions(client, day)
                    .await
                    .with_context(|| asking(account))?;
                (Some(mode), Vec::new())
            }
            (false, None, None, _) => (None, Vec::new()),
        };
        Ok::<_, anyhow::Error>(found)
    };
    let (firsts, (probed, probe_pages)) = tokio::try_join!(firsts, probed)?;
    let mut big = ahead.big.clone();
    for (day, page) in firsts {
        let complete = page.next_page_uri.as_deref().is_none_or(str::is_empty);
        if !complete {
            big.push(day);
        }
        let first = Landed::First {
            day,
            calls: page.calls,
            complete,
        };
        if tx.send(first).await.is_err() {
            return Ok((TimeFilter::Day, Vec::new()));
        }
    }
    big.sort();
    let mode = match (probed, big.first()) {
        (Some(mode), _) => mode,
        (None, None) => TimeFilter::Day,
        // Only the first pages showed a day to be big: ask about it now.
        (None, Some(&day)) => probe::by_questions(client, day)
            .await
            .with_context(|| asking(account))?,
    };
    // The probe's pages: when the time counts, the first pages of their slices, which go on
    // from there; otherwise calls of the day like a first page, listed again by the split.
    let mut started: HashMap<String, Option<Url>> = HashMap::new();
    for (part, page) in probe_pages {
        let landed = if mode == TimeFilter::Second {
            let next = page.next_page_uri.filter(|u| !u.is_empty());
            let resume = next
                .as_deref()
                .map(|u| client.follow(client.base_url(), u))
                .transpose()?;
            started.insert(part.key.clone(), resume);
            Landed::Page {
                key: part.key.clone(),
                calls: page.calls,
                next,
            }
        } else {
            Landed::First {
                day: part.day,
                calls: page.calls,
                complete: false,
            }
        };
        if tx.send(landed).await.is_err() {
            return Ok((TimeFilter::Day, Vec::new()));
        }
    }
    let split = Split {
        callers: if mode == TimeFilter::Day {
            opts.split.callers.clone()
        } else {
            None
        },
        ..opts.split.clone()
    };
    let days = if opts.split.sequential {
        opts.window.days(opts.match_delay, opts.now)
    } else {
        big
    };
    let parts = partitions::plan(&days, mode, &split, opts.page_size, &ahead.shapes);
    // Transient statuses first, then the rest: a call that ends while the run pages is seen
    // in one of the two (design.md).
    let (transient, rest): (Vec<&Partition>, Vec<&Partition>) =
        parts.iter().partition(|p| p.transient);
    let listing = || format!("listing the calls of account {account}");
    page_wave(client, ahead, &started, &transient, tx)
        .await
        .with_context(listing)?;
    drop(final_wave);
    page_wave(client, ahead, &started, &rest, tx)
        .await
        .with_context(listing)?;
    Ok((mode, parts))
}

fn asking(account: &str) -> String {
    format!("asking how account {account} filters StartTime")
}

/// Time slices of `day` as `fetch` would cut them, to probe with: the first and the last,
/// and between them as many as the first round leaves request slots for. `None` when a
/// resumed fetch has progress in any slice of the day, or there is one slice only.
fn probe_slices(ahead: &Ahead<'_>, day: NaiveDate) -> Option<Vec<Partition>> {
    let split = Split {
        callers: None,
        ..ahead.opts.split.clone()
    };
    let mut slices = partitions::plan(
        &[day],
        TimeFilter::Second,
        &split,
        ahead.opts.page_size,
        &ahead.shapes,
    );
    if slices.len() < 2 || slices.iter().any(|p| ahead.resume.contains_key(&p.key)) {
        return None;
    }
    let slots = ahead
        .opts
        .max_in_flight
        .saturating_sub(ahead.first_pages.len())
        .max(2);
    let last = slices.pop()?;
    slices.truncate(slots - 1);
    slices.push(last);
    Some(slices)
}
