//! The one thread that owns the database while a window is listed: it lands every page the
//! network side sends with its partition's progress in one transaction, and while nothing
//! waits it does the work that would otherwise follow the listing (the ledger scan the SID
//! lookups need, merging staged calls), so SQLite never holds up a request.

use super::{Options, Summary};
use crate::phone::Normalizer;
use crate::stop;
use crate::store::{Page, Store};
use crate::twilio::model::{Alert, Call};
use anyhow::Result;
use chrono::{NaiveDate, Utc};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// What the network side sends to the writer.
pub(super) enum Landed {
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

/// The one thread that owns the database while the window is listed.
pub(super) struct Writer<'a> {
    pub(super) store: &'a mut Store,
    pub(super) numbers: &'a mut Normalizer,
    pub(super) fetch_id: i64,
    pub(super) opts: &'a Options,
    pub(super) summary: &'a mut Summary,
    /// A progress bar per partition, from its first landed page (drawn on a terminal only).
    pub(super) bars: HashMap<String, crate::progress::PartitionBar>,
    /// Calls staged since the last merge.
    pub(super) staged: u64,
    /// The ledger scan the SID lookups need is still to do.
    pub(super) scan_pending: bool,
}

impl Writer<'_> {
    /// Staged calls worth merging while the next page is on its way: a merge this size takes
    /// a few tens of milliseconds, well under a page's round trip.
    const MERGE_WHILE_WAITING: u64 = 5_000;

    /// Lands what comes until the network side is done; while nothing waits, does the work
    /// that would otherwise follow the listing: the ledger scan, merging staged calls.
    pub(super) fn run(&mut self, mut rx: mpsc::Receiver<Landed>) -> Result<()> {
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
