//! The run's summary: what a fetch, report or run did, said at the end on stderr and, with
//! `--summary-json FILE`, written as JSON for monitoring.
//!
//! The JSON file is written whatever the outcome, with the exit code and the error when
//! there was one, so a monitor reading it each morning tells "no run", "failed run" and "run
//! that found failures" apart without parsing logs. It is written atomically (temporary file
//! in the same folder, synced, renamed; a device or FIFO in place): a monitor never reads
//! half of it. Money is Twilio's
//! decimal text summed exactly ([`crate::report::spend`]), never a float.

use crate::app::Plan;
use crate::config::accounts::Account;
use crate::error::{Exit, exit_code, is_broken_pipe};
use crate::reconcile::classify::OUTCOMES;
use crate::report::spend::Spend;
use crate::reporting::Written;
use crate::{fetch, logging, output, reconcile, timefmt};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The summary as written to the JSON file. Fields are only ever added.
#[derive(Debug, Default, Serialize)]
pub struct RunSummary {
    pub command: String,
    /// `ok`, `alarm` (exit 5: the report is complete), or `failed`.
    pub status: String,
    pub exit_code: u8,
    pub error: Option<String>,
    pub dry_run: bool,
    pub window: Option<WindowInfo>,
    pub started_at: String,
    pub finished_at: String,
    pub elapsed_secs: f64,
    pub accounts: Vec<AccountFetch>,
    /// Over all accounts.
    pub calls_listed: u64,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    /// Ledger rows of the window per outcome (every outcome, zeros included).
    pub outcomes: BTreeMap<String, u64>,
    pub spend: Vec<Spend>,
    /// Ledger rows whose missed webhook status callrecon wrote back.
    pub write_backs: u64,
    /// Rows the retention prune removed this run.
    pub pruned_rows: u64,
    pub report: Option<reconcile::Summary>,
    pub files: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct WindowInfo {
    pub from: String,
    pub to: String,
    /// `yesterday in Europe/Berlin` for a named window.
    pub name: Option<String>,
}

/// One account's fetch.
#[derive(Debug, Serialize)]
pub struct AccountFetch {
    pub name: String,
    pub account_sid: String,
    pub resumed: bool,
    pub days: Vec<String>,
    pub calls_listed: u64,
    pub pages: u64,
    pub sid_lookups: u64,
    pub sids_unknown: u64,
    pub alerts: u64,
    pub notification_lookups: u64,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
}

/// Collects the summary while a command runs, and says and writes it at the end.
pub struct Recorder {
    started: Instant,
    path: Option<PathBuf>,
    summary: RunSummary,
}

impl Recorder {
    pub fn new(command: &str, path: Option<PathBuf>) -> Recorder {
        Recorder {
            started: Instant::now(),
            path,
            summary: RunSummary {
                command: command.to_owned(),
                started_at: timefmt::format_utc(chrono::Utc::now()),
                ..RunSummary::default()
            },
        }
    }

    pub fn plan(&mut self, plan: &Plan, dry_run: bool) {
        self.summary.dry_run = dry_run;
        self.summary.window = Some(WindowInfo {
            from: timefmt::format_utc(plan.window.from),
            to: timefmt::format_utc(plan.window.to),
            name: plan.window_label.clone(),
        });
    }

    pub fn fetched(&mut self, account: &Account, f: &fetch::Summary) {
        let s = &mut self.summary;
        s.calls_listed += f.calls_listed;
        s.requests += f.requests;
        s.retries += f.retries;
        s.throttled += f.throttled;
        s.accounts.push(AccountFetch {
            name: account.name.clone(),
            account_sid: account.sid().to_owned(),
            resumed: f.resumed,
            days: f.days.clone(),
            calls_listed: f.calls_listed,
            pages: f.pages,
            sid_lookups: f.sid_lookups,
            sids_unknown: f.sids_unknown,
            alerts: f.alerts,
            notification_lookups: f.notification_lookups,
            requests: f.requests,
            retries: f.retries,
            throttled: f.throttled,
        });
    }

    pub fn pruned(&mut self, pruned: &crate::store::retention::Pruned) {
        self.summary.pruned_rows = pruned.rows;
    }

    pub fn reported(&mut self, written: &Written) {
        let s = &mut self.summary;
        s.outcomes = OUTCOMES
            .iter()
            .map(|o| {
                let n = written.summary.outcomes.get(o).copied().unwrap_or(0);
                ((*o).to_owned(), n)
            })
            .collect();
        s.outcomes
            .insert("unreadable".to_owned(), written.summary.unreadable);
        s.spend = written.spend.clone();
        s.write_backs = written.summary.written_back.rows;
        s.files = written.files.clone();
        s.report = Some(written.summary.clone());
    }

    /// Says the last line, writes the JSON file when asked for, and passes `result` on.
    pub fn finish(mut self, result: Result<()>) -> Result<()> {
        let s = &mut self.summary;
        s.elapsed_secs = (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        s.finished_at = timefmt::format_utc(chrono::Utc::now());
        let exit = match &result {
            Ok(()) => Exit::Success,
            Err(e) if is_broken_pipe(e) => Exit::Success,
            Err(e) => exit_code(e),
        };
        s.exit_code = exit as u8;
        s.status = match exit {
            Exit::Success => "ok",
            Exit::Alarm => "alarm",
            _ => "failed",
        }
        .to_owned();
        s.error = match &result {
            Err(e) if exit != Exit::Success => Some(format!("{e:#}")),
            _ => None,
        };
        if matches!(exit, Exit::Success | Exit::Alarm) {
            logging::say(&self.last_line());
            if let Ok(json) = serde_json::to_value(&self.summary) {
                logging::say_record("summary", "summary", json);
            }
        }
        let Some(path) = &self.path else {
            return result;
        };
        // An output that clashed with the database may be this very path: write nothing.
        if let Err(e) = &result
            && output::clash::is_clash(e)
        {
            return result;
        }
        match (write_json(path, &self.summary), result) {
            (Ok(()), result) => result,
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(first)) => {
                tracing::warn!("{e:#}");
                Err(first)
            }
        }
    }

    fn last_line(&self) -> String {
        let s = &self.summary;
        let mut line = format!("done in {:.1} s", s.elapsed_secs);
        // Which window ran, as the command resolved it: a cron wrapper that let the
        // configuration choose says so in its log through this.
        if let Some(w) = &s.window {
            let name = w
                .name
                .as_deref()
                .map(|n| format!(", {n}"))
                .unwrap_or_default();
            line.push_str(&format!(" (window {} to {}{name})", w.from, w.to));
        }
        if !s.accounts.is_empty() {
            line.push_str(&format!(
                ": {} call(s) listed from {} account(s), {} request(s), {} retried, {} throttled (429)",
                s.calls_listed,
                s.accounts.len(),
                s.requests,
                s.retries,
                s.throttled
            ));
        }
        if s.report.is_some() {
            line.push_str(&format!("; {} row(s) written back", s.write_backs));
        }
        if s.dry_run {
            line.push_str("; dry run: the ledger was not changed");
        }
        line
    }
}

/// Through [`crate::output`]: a regular file atomically (temporary file beside it, synced,
/// renamed), a device or FIFO in place.
fn write_json(path: &Path, summary: &RunSummary) -> Result<()> {
    let write = || -> Result<()> {
        // Counts and account SIDs, no personal data: a monitoring agent may read it.
        let kind = output::Kind {
            name: "summary",
            mode: 0o644,
        };
        let mut file = output::OutFile::create(path, kind)?;
        serde_json::to_writer_pretty(&mut file, summary)?;
        file.write_all(b"\n")?;
        file.commit()
    };
    write().with_context(|| format!("writing the summary to {}", path.display()))
}
