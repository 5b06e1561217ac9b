//! Listing the window: its calls in partitions paged side by side and its Monitor alerts
//! beside them, landed by one writer, resumably.
//!
//! The network side ([`produce`]) asks, all at once: the first page of every day the ledger
//! does not show to be big, the time-filter probe, and the alerts sweep; then it pages the
//! partitions of the big days, at most `--max-in-flight` at once (the client's adaptive cap
//! bounds the requests themselves). Pages come back through a bounded channel to the one task
//! that owns the database ([`Writer`]), which lands each page with its partition's progress in
//! one transaction and, while the next page is on its way, merges what it staged. So memory
//! stays a few pages deep, SQLite has a single writer, every request slot stays busy while
//! there is work, and a fetch killed or stopped part-way is resumed by the next one over the
//! same window: finished partitions are skipped, the others continue from their stored
//! `next_page_uri`. A page token Twilio no longer accepts (HTTP 400/404 on a resumed page)
//! restarts that partition from its first page.

use super::partitions::{self, Partition, Split, TimeFilter};
use super::shape::DayShape;
use super::{Options, Summary, codes, probe};
use crate::phone::Normalizer;
use crate::stop;
use crate::store::{Page, Store};
use crate::twilio::model::{Alert, Call, CallsPage};
use crate::twilio::{ApiError, Client};
use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use std::collections::HashMap;
use tokio::sync::mpsc;
use url::Url;

/// What the network side sends to the writer.
enum Landed {
    /// A day's first page; `complete` when it holds the whole day.
    First {
        day: NaiveDate,
        calls: Vec<Call>,
        complete: bool,
    },
    Page {
        key: String,
        calls: Vec<Call>,
        next: Option<String>,
    },
    /// The saved page token was refused: forget the partition's progress.
    Restart {
        key: String,
    },
    Alerts(Vec<Alert>),
}

/// What the network side decided and found, for the summary and the landed days.
struct Listed {
    mode: TimeFilter,
    parts: Vec<Partition>,
    alerts_note: Option<String>,
}

/// The plan before the first request: which days are listed how.
struct Ahead<'a> {
    opts: &'a Options,
    account: &'a str,
    /// Days whose first page is asked for: a day that fits it is listed by it.
    first_pages: Vec<NaiveDate>,
    /// Days the ledger shows to be bigger than a page: split at once.
    big: Vec<NaiveDate>,
    shapes: HashMap<NaiveDate, DayShape>,
    /// Where each partition starts (its saved next page), for a resumed fetch.
    resume: HashMap<String, Option<Url>>,
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
    let mut phase = super::Phase::start();
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
            (Some(uri), false) => Some(client.base_url().join(uri)?),
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
            .get_json(&url)
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
            (false, None, Some(_), Some((first, last))) => {
                let (mode, [a, b]) = probe::by_slices(client, first, last)
                    .await
                    .with_context(|| asking(account))?;
                (Some(mode), vec![(first, a), (last, b)])
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
                .map(|u| client.base_url().join(u))
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

/// The first and last time slices of `day` as `fetch` would cut them, to probe with; `None`
/// when a resumed fetch has progress in any slice of the day, or there is one slice only.
fn probe_slices(ahead: &Ahead<'_>, day: NaiveDate) -> Option<(Partition, Partition)> {
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
    let last = slices.pop()?;
    Some((slices.swap_remove(0), last))
}

/// Pages `wave`'s partitions side by side; each starts where a resumed fetch left it, or the
/// probe (`started`), or at its first page; finished ones are skipped.
async fn page_wave(
    client: &Client,
    ahead: &Ahead<'_>,
    started: &HashMap<String, Option<Url>>,
    wave: &[&Partition],
    tx: &mpsc::Sender<Landed>,
) -> Result<()> {
    let mut starts = Vec::new();
    for part in wave {
        let resume = match started.get(&part.key).or(ahead.resume.get(&part.key)) {
            Some(None) => continue,
            Some(Some(url)) => Some(url.clone()),
            None => None,
        };
        let pairs: Vec<(&str, &str)> = part
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        starts.push((part.key.clone(), client.calls_url(&pairs), resume));
    }
    let mut running = futures::stream::iter(
        starts
            .into_iter()
            .map(|(key, first, resume)| page_partition(client, key, first, resume, tx)),
    )
    .buffer_unordered(ahead.opts.max_in_flight.max(1));
    while let Some(done) = running.next().await {
        done?;
    }
    Ok(())
}

/// Pages one partition from its resume point (or its first page), sending every page to the
/// writer; waits when the writer is behind, so memory stays bounded.
async fn page_partition(
    client: &Client,
    key: String,
    first: Url,
    resume: Option<Url>,
    tx: &mpsc::Sender<Landed>,
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
                let restart = Landed::Restart { key: key.clone() };
                if tx.send(restart).await.is_err() {
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
        let landed = Landed::Page {
            key: key.clone(),
            calls: page.calls,
            next,
        };
        if tx.send(landed).await.is_err() {
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

/// The one thread that owns the database while the window is listed.
struct Writer<'a> {
    store: &'a mut Store,
    numbers: &'a mut Normalizer,
    fetch_id: i64,
    opts: &'a Options,
    summary: &'a mut Summary,
    /// A progress bar per partition, from its first landed page (drawn on a terminal only).
    bars: HashMap<String, crate::progress::PartitionBar>,
    /// Calls staged since the last merge.
    staged: u64,
    /// The ledger scan the SID lookups need is still to do.
    scan_pending: bool,
}

impl Writer<'_> {
    /// Staged calls worth merging while the next page is on its way: a merge this size takes
    /// a few tens of milliseconds, well under a page's round trip.
    const MERGE_WHILE_WAITING: u64 = 5_000;

    /// Lands what comes until the network side is done; while nothing waits, does the work
    /// that would otherwise follow the listing: the ledger scan, merging staged calls.
    fn run(&mut self, mut rx: mpsc::Receiver<Landed>) -> Result<()> {
        use tokio::sync::mpsc::error::TryRecvError;
        loop {
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Disconnected) => return Ok(()),
                Err(TryRecvError::Empty) if self.scan_pending => {
                    super::scan_ledger(self.store, self.numbers, self.opts)?;
                    self.scan_pending = false;
                    continue;
                }
                Err(TryRecvError::Empty) if self.staged >= Self::MERGE_WHILE_WAITING => {
                    let merged = self.store.merge_staged_chunk(self.staged)?;
                    self.staged = self.staged.saturating_sub(merged);
                    continue;
                }
                Err(TryRecvError::Empty) => match rx.blocking_recv() {
                    Some(msg) => msg,
                    None => return Ok(()),
                },
            };
            self.land(msg)?;
            stop::check()?;
        }
    }

    fn land(&mut self, msg: Landed) -> Result<()> {
        let now = Utc::now().timestamp();
        match msg {
            Landed::Restart { key } => self.store.reset_progress(self.fetch_id, &key)?,
            Landed::Alerts(alerts) => {
                self.summary.alerts += self.store.land_alerts(&alerts, now)? as u64;
                crate::failpoint::hit("fetch.alerts-page");
            }
            Landed::First {
                day,
                calls,
                complete,
            } => {
                let key = format!("calls:{day}");
                self.bar(&key, calls.len(), true);
                if complete {
                    self.land_page(&key, &calls, None, now)?;
                } else {
                    // Its partitions list these calls again, harmlessly (merged by sid).
                    self.store.stage_calls(&calls, self.numbers, now)?;
                    self.staged += calls.len() as u64;
                    self.summary.pages += 1;
                }
            }
            Landed::Page { key, calls, next } => {
                self.bar(&key, calls.len(), next.is_none());
                self.land_page(&key, &calls, next.as_deref(), now)?;
                crate::failpoint::hit("fetch.page");
            }
        }
        Ok(())
    }

    fn land_page(&mut self, key: &str, calls: &[Call], next: Option<&str>, now: i64) -> Result<()> {
        let page = Page {
            fetch_id: self.fetch_id,
            partition: key,
            calls,
            next_uri: next,
        };
        self.store.land_page(&page, self.numbers, now)?;
        self.staged += calls.len() as u64;
        self.summary.calls_listed += calls.len() as u64;
        self.summary.pages += 1;
        Ok(())
    }

    fn bar(&mut self, key: &str, calls: usize, last: bool) {
        let bar = self
            .bars
            .entry(key.to_owned())
            .or_insert_with(|| crate::progress::current().partition(key));
        bar.inc(1, calls as u64);
        if last {
            bar.finish();
        }
    }
}
