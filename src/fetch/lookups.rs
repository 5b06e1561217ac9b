//! Per-call requests side by side: SID lookups and notification reads go out up to
//! `--max-in-flight` at once (the client's limiter, adaptive cap and retry policy still
//! govern each one), and their answers come back to the one caller that lands them, one
//! transaction each, in the order they arrive. A stop or a kill between two answers loses at
//! most the answers still in flight; the next run asks for them again.
//!
//! Progress: a bar on a terminal; off one, at `-v`, a line every few seconds with what is
//! done and what is left, so a night that takes minutes is never silent.

use super::Options;
use futures::{Stream, StreamExt};
use std::future::Future;
use std::time::{Duration, Instant};

/// `ask(item)` for every item, at most `--max-in-flight` at once, answers as they come.
pub(super) fn side_by_side<I, F, T>(
    opts: &Options,
    items: Vec<I>,
    ask: impl FnMut(I) -> F,
) -> impl Stream<Item = T>
where
    F: Future<Output = T>,
{
    futures::stream::iter(items.into_iter().map(ask)).buffer_unordered(opts.max_in_flight.max(1))
}

/// How often a line is logged off a terminal.
const EVERY: Duration = Duration::from_secs(5);

pub(super) struct Progress {
    what: &'static str,
    total: usize,
    done: usize,
    started: Instant,
    last_line: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(super) fn new(what: &'static str, total: usize) -> Progress {
        let bar = (total > 0)
            .then(|| crate::progress::current().counter(what, total as u64))
            .flatten();
        if total > 0 {
            tracing::info!("{what}: {total} request(s) to make");
        }
        Progress {
            what,
            total,
            done: 0,
            started: Instant::now(),
            last_line: Instant::now(),
            bar,
        }
    }

    pub(super) fn one_done(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        } else if self.last_line.elapsed() >= EVERY {
            self.last_line = Instant::now();
            tracing::info!(
                "{}: {} of {} done, {} left ({:.0} s so far)",
                self.what,
                self.done,
                self.total,
                self.total - self.done,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub(super) fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        if self.total > 0 {
            tracing::info!(
                "{}: {} done in {:.1} s",
                self.what,
                self.done,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
