//! Progress bars while fetching: one line per partition (pages and calls landed so far),
//! drawn on stderr only when stderr is a terminal and logs are text.
//!
//! A nightly job's stderr is a log file: a bar there would be thousands of carriage returns,
//! so when stderr is not a terminal nothing is drawn at all (the bars are hidden, not merely
//! unstyled). The progress display is process-wide, like stderr itself: `main` installs it
//! once, and the fetch code asks for a bar per partition without having it passed down.
//! Log lines go through [`suspend`], so they are written between redraws.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The bars of a run; disabled ones draw nothing and cost next to nothing.
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// `enabled` should be "stderr is a terminal, logs are text, not --quiet".
    pub fn new(enabled: bool) -> Progress {
        Progress {
            multi: enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar for one partition (`calls:2026-11-27`, …).
    pub fn partition(&self, name: &str) -> PartitionBar {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
                    .expect("a valid template"),
            );
            bar.set_prefix(name.to_owned());
            bar.set_message("waiting for the first page");
            bar.enable_steady_tick(Duration::from_millis(150));
            bar
        });
        PartitionBar {
            bar,
            pages: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        }
    }
}

/// One partition's bar. Shared by reference across a partition's pages.
pub struct PartitionBar {
    bar: Option<ProgressBar>,
    pages: AtomicU64,
    calls: AtomicU64,
}

impl PartitionBar {
    /// Counts landed pages and calls.
    pub fn inc(&self, pages: u64, calls: u64) {
        let p = self.pages.fetch_add(pages, Ordering::Relaxed) + pages;
        let c = self.calls.fetch_add(calls, Ordering::Relaxed) + calls;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{p} page(s), {c} call(s) landed"));
        }
    }

    /// The partition is listed (or stopped): the bar stays, without its spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

impl Progress {
    /// A bar that counts `total` per-call requests (`SID lookups`, `notifications`).
    pub fn counter(&self, name: &str, total: u64) -> Option<ProgressBar> {
        self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} [{elapsed}, {eta} left]",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar
        })
    }
}

static CURRENT: OnceLock<Progress> = OnceLock::new();
static DISABLED: OnceLock<Progress> = OnceLock::new();

/// Installs the run's progress display; only the first call counts.
pub fn install(progress: Progress) {
    let _ = CURRENT.set(progress);
}

/// The installed display, or a disabled one.
pub fn current() -> &'static Progress {
    CURRENT
        .get()
        .unwrap_or_else(|| DISABLED.get_or_init(|| Progress::new(false)))
}

/// Runs `f` (a write to stderr) with the bars cleared, then redraws them.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match &current().multi {
        Some(multi) => multi.suspend(f),
        None => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_display_has_no_bars_and_counts_anyway() {
        let progress = Progress::new(false);
        assert!(!progress.is_enabled());
        let bar = progress.partition("calls:2026-11-27");
        bar.inc(1, 1000);
        bar.inc(1, 200);
        assert!(bar.bar.is_none());
        assert_eq!(bar.calls.load(Ordering::Relaxed), 1200);
        bar.finish();
        assert_eq!(suspend(|| 7), 7);
    }
}
