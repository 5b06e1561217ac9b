//! The commands, top to bottom: turn flags into typed options, then fetch → reconcile →
//! report. Nothing here knows HTTP or SQL; it wires the modules that do.

use crate::cli::{
    self, Command, FetchArgs, LedgerCommand, ReportArgs, ReportOutArgs, RunArgs, TwilioArgs,
    WindowArgs,
};
use crate::error::{Exit, Stopped, UsageError};
use crate::phone::Normalizer;
use crate::reconcile;
use crate::report;
use crate::store::{OpenMode, Store};
use crate::twilio::retry::RetryPolicy;
use crate::twilio::{Client, ClientConfig, Credentials, client};
use crate::window::Window;
use crate::{fetch, ledger, lock, stop, timefmt};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use std::num::NonZeroU32;

/// Runs one command to completion.
pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Run(args) => cmd_run(args).await,
        Command::Fetch(args) => cmd_fetch(args).await,
        Command::Report(args) => cmd_report(args),
        Command::Ledger(cmd) => cmd_ledger(cmd),
        Command::Simulate(args) => crate::simulator::run(args).await,
        Command::Demo(args) => crate::demo::run(&args.out).await,
    }
}

/// A window and the clocks and rules that go with it, checked.
pub struct Plan {
    pub window: Window,
    pub max_runtime: Option<std::time::Duration>,
    pub retain_days: u32,
    pub match_delay: Duration,
    pub followup_max_age: Duration,
    pub now: DateTime<Utc>,
    pub numbers: Normalizer,
}

impl Plan {
    pub fn from_args(args: &WindowArgs) -> Result<Plan> {
        let bound = |flag: &str, text: &str| {
            timefmt::parse_bound(text).map_err(|e| UsageError::new(format!("--{flag}: {e}")))
        };
        let window = Window::new(bound("from", &args.from)?, bound("to", &args.to)?)?;
        let now = match &args.now {
            Some(text) => bound("now", text)?,
            None => Utc::now(),
        };
        let match_delay = cli::parse_duration(&args.match_delay)
            .map_err(|e| UsageError::new(format!("--match-delay: {e}")))?;
        if match_delay <= Duration::zero() {
            return Err(UsageError::new("--match-delay must be positive"));
        }
        let max_runtime = match &args.max_runtime {
            None => None,
            Some(text) => Some(
                cli::parse_duration(text)
                    .ok()
                    .and_then(|d| d.to_std().ok())
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        UsageError::new(format!(
                            "--max-runtime: '{text}' is not a positive duration like 90s, 30m or 2h"
                        ))
                    })?,
            ),
        };
        if args.retain_days == 0 {
            return Err(UsageError::new("--retain-days must be at least 1"));
        }
        let followup_max_age = cli::parse_duration(&args.followup_max_age)
            .map_err(|e| UsageError::new(format!("--followup-max-age: {e}")))?;
        let numbers = Normalizer::new(Some(&args.default_region))
            .map_err(|e| UsageError::new(format!("--default-region: {e}")))?;
        Ok(Plan {
            window,
            max_runtime,
            retain_days: args.retain_days,
            match_delay,
            followup_max_age,
            now,
            numbers,
        })
    }

    pub fn fetch_options(&self, twilio: &TwilioArgs) -> fetch::Options {
        fetch::Options {
            window: self.window,
            match_delay: self.match_delay,
            now: self.now,
            max_sid_lookups: twilio.max_sid_lookups,
            page_size: twilio.page_size,
            max_notification_lookups: twilio.max_notification_lookups,
            followup_max_age: self.followup_max_age,
            max_in_flight: twilio.max_in_flight,
            split: fetch::partitions::Split {
                sequential: twilio.sequential,
                callers: None,
                slices: 2 * twilio.max_in_flight.max(1) as u32,
            },
            time_filter: match twilio.time_filter.as_str() {
                "day" => Some(fetch::partitions::TimeFilter::Day),
                "second" => Some(fetch::partitions::TimeFilter::Second),
                _ => None,
            },
            all_callers: twilio.all_callers,
        }
    }

    pub fn report_options(&self, out: &ReportOutArgs) -> reconcile::Options {
        reconcile::Options {
            window: self.window,
            match_delay: self.match_delay,
            now: self.now,
            include_completed: out.include_completed,
            write_back: !out.no_write_back,
            followup_max_age: self.followup_max_age,
        }
    }
}

/// The secret never comes from argv: API key + secret, a token file, or the token's env var.
fn credentials(args: &TwilioArgs) -> Result<Credentials> {
    let account = args
        .account_sid
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            UsageError::new("no Twilio account: set TWILIO_ACCOUNT_SID (or --account-sid)")
        })?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(key) = env("TWILIO_API_KEY") {
        let secret = env("TWILIO_API_SECRET").ok_or_else(|| {
            UsageError::new("TWILIO_API_KEY is set but TWILIO_API_SECRET is not; set both, or neither and TWILIO_AUTH_TOKEN")
        })?;
        return Ok(Credentials::new(account, key, secret));
    }
    let token = match &args.auth_token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| UsageError::new(format!("--auth-token-file {}: {e}", path.display())))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => env("TWILIO_AUTH_TOKEN").unwrap_or_default(),
    };
    if token.is_empty() {
        return Err(UsageError::new(format!(
            "no secret for account {account}: set TWILIO_AUTH_TOKEN, --auth-token-file, or TWILIO_API_KEY and TWILIO_API_SECRET"
        )));
    }
    Ok(Credentials::new(account.clone(), account, token))
}

pub fn build_client(args: &TwilioArgs) -> Result<Client> {
    build_client_with(args, credentials(args)?)
}

/// The client of `args`, with credentials from elsewhere (the demo's simulator).
pub fn build_client_with(args: &TwilioArgs, credentials: Credentials) -> Result<Client> {
    let base_url = client::check_base_url(&args.base_url).map_err(UsageError::new)?;
    let positive = |flag: &str, n: u64| {
        if n == 0 {
            Err(UsageError::new(format!("--{flag} must be at least 1")))
        } else {
            Ok(())
        }
    };
    positive("rps", args.rps.into())?;
    positive("max-in-flight", args.max_in_flight as u64)?;
    positive("max-attempts", args.max_attempts.into())?;
    positive("timeout", args.timeout)?;
    if !(1..=1000).contains(&args.page_size) {
        return Err(UsageError::new(
            "--page-size must be between 1 and 1000 (Twilio's maximum)",
        ));
    }
    Client::new(ClientConfig {
        base_url,
        credentials,
        rps: NonZeroU32::new(args.rps).expect("checked above"),
        max_in_flight: args.max_in_flight,
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            base: std::time::Duration::from_millis(args.retry_base_ms.max(1)),
            cap: std::time::Duration::from_secs(10),
            max_total_wait: std::time::Duration::from_secs(args.max_retry_wait),
        },
        timeout: std::time::Duration::from_secs(args.timeout),
    })
}

async fn cmd_fetch(args: FetchArgs) -> Result<()> {
    let mut plan = Plan::from_args(&args.window)?;
    let client = build_client(&args.twilio)?;
    let _lock = lock::acquire(&args.window.db)?;
    stop::install(plan.max_runtime);
    let mut store = Store::open(&args.window.db, OpenMode::MustExist)?;
    let opts = plan.fetch_options(&args.twilio);
    let summary = fetch::fetch(&client, &mut store, &mut plan.numbers, &opts).await?;
    print_lines(summary.lines());
    Ok(())
}

fn cmd_report(args: ReportArgs) -> Result<()> {
    let mut plan = Plan::from_args(&args.window)?;
    let _lock = lock::acquire(&args.window.db)?;
    let mut store = Store::open(&args.window.db, OpenMode::MustExist)?;
    let written = write_report(&mut store, &mut plan, &args.out)?;
    finish_report(&mut store, &plan, &args.out, written)
}

async fn cmd_run(args: RunArgs) -> Result<()> {
    let mut plan = Plan::from_args(&args.window)?;
    let client = build_client(&args.twilio)?;
    let _lock = lock::acquire(&args.window.db)?;
    stop::install(plan.max_runtime);
    let mut store = Store::open(&args.window.db, OpenMode::MustExist)?;
    check_retention(&plan)?;
    let opts = plan.fetch_options(&args.twilio);
    let fetched = fetch::fetch(&client, &mut store, &mut plan.numbers, &opts).await?;
    print_lines(fetched.lines());
    let written = write_report(&mut store, &mut plan, &args.out)?;
    finish_report(&mut store, &plan, &args.out, written)
}

/// Refuses a window older than the retention horizon: its calls and audit trail are gone, so
/// its report could not be right.
fn check_retention(plan: &Plan) -> Result<()> {
    let horizon = plan.now - Duration::days(plan.retain_days.into());
    if plan.window.from < horizon {
        return Err(UsageError::new(format!(
            "the window starts {}, older than the {}-day retention (before {}); callrecon no \
             longer keeps what such a report needs. Raise --retain-days to report it",
            timefmt::format_utc(plan.window.from),
            plan.retain_days,
            timefmt::format_utc(horizon)
        )));
    }
    Ok(())
}

/// After a report: the summary, pruning past the retention, and the missed-webhooks alarm.
fn finish_report(
    store: &mut Store,
    plan: &Plan,
    out: &ReportOutArgs,
    written: Written,
) -> Result<()> {
    print_lines(written.lines());
    let cutoff = plan.now - Duration::days(plan.retain_days.into());
    let pruned = store.prune(cutoff.timestamp())?;
    if pruned.rows > 0 {
        tracing::info!(
            "pruned {} row(s) older than {} days",
            pruned.rows,
            plan.retain_days
        );
    }
    if let Some(limit) = out.fail_if_missed_webhooks {
        let pct = written.summary.missed_webhooks_pct();
        if pct > limit {
            return Err(anyhow::Error::new(Stopped {
                exit: Exit::Alarm,
                message: format!(
                    "{pct:.1}% of final statuses had to be backfilled (more than \
                     --fail-if-missed-webhooks {limit}): the StatusCallback endpoint probably \
                     missed webhooks; the report and write-back are complete"
                ),
            }));
        }
    }
    Ok(())
}

/// What `report` produced: the reconciliation's summary and the files written.
pub struct Written {
    pub summary: reconcile::Summary,
    pub files: Vec<String>,
}

impl Written {
    pub fn lines(&self) -> Vec<String> {
        self.files
            .iter()
            .cloned()
            .chain(self.summary.lines())
            .collect()
    }
}

/// Reconciles, writes the report atomically (on any error the destination is untouched),
/// then the orphans and numbers files when asked for.
pub fn write_report(store: &mut Store, plan: &mut Plan, out: &ReportOutArgs) -> Result<Written> {
    check_retention(plan)?;
    let opts = plan.report_options(out);
    // Refuse before creating anything at the destination.
    reconcile::check_landed(store, opts.window, opts.match_delay, opts.now)?;
    let writer = report::Writer::create(&out.out)?.excel_safe(out.excel_safe);
    let summary = reconcile::reconcile(store, &mut plan.numbers, &opts, writer)?;
    let mut files = Vec::new();
    if out.out.as_os_str() != "-" {
        files.push(format!("report written to {}", out.out.display()));
    }
    if let Some(path) = &out.orphans_out {
        let n = report::orphans::write(&store.conn, opts.window, path, out.excel_safe)?;
        files.push(format!("{n} orphan call(s) written to {}", path.display()));
    }
    if let Some(path) = &out.numbers_out {
        let n = report::numbers::write(&store.conn, path, out.excel_safe)?;
        files.push(format!("{n} number(s) written to {}", path.display()));
    }
    Ok(Written { summary, files })
}

fn print_lines(lines: Vec<String>) {
    for line in lines {
        eprintln!("callrecon: {line}");
    }
}

fn cmd_ledger(cmd: LedgerCommand) -> Result<()> {
    match cmd {
        LedgerCommand::Init { db } => {
            let _lock = lock::acquire(&db)?;
            Store::open(&db, OpenMode::CreateIfMissing)?;
            eprintln!(
                "callrecon: {} is ready (intended_calls and callrecon's tables, WAL mode)",
                db.display()
            );
        }
        LedgerCommand::Import { db, file } => {
            let _lock = lock::acquire(&db)?;
            let mut store = Store::open(&db, OpenMode::MustExist)?;
            let stats = ledger::import_csv(&mut store.conn, &file)
                .with_context(|| format!("importing {} into {}", file.display(), db.display()))?;
            eprintln!(
                "callrecon: imported {} row(s) from {}; {} already present, left unchanged",
                stats.inserted,
                file.display(),
                stats.already_present
            );
        }
    }
    Ok(())
}
