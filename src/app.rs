//! The commands, top to bottom: turn flags (with the configuration file laid under them)
//! into typed options, then fetch each account → reconcile → report, recording the run's
//! summary. Nothing here knows HTTP or SQL; it wires the modules that do.

use crate::cli::{
    self, Command, FetchArgs, LedgerCommand, ReportArgs, ReportOutArgs, RunArgs, TwilioArgs,
    WindowArgs,
};
use crate::config::Loaded;
use crate::config::accounts::{self, Account};
use crate::error::UsageError;
use crate::phone::Normalizer;
use crate::reconcile;
use crate::reporting::{check_retention, finish_report, write_report};
use crate::store::{OpenMode, Store};
use crate::summary::Recorder;
use crate::twilio::retry::RetryPolicy;
use crate::twilio::{Client, ClientConfig, Credentials, client};
use crate::window::Window;
use crate::{fetch, ledger, lock, stop, timefmt};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use std::num::NonZeroU32;
use std::path::PathBuf;

/// Runs one command to completion. `config` is the configuration file, already laid under
/// the flags; it is needed here only for the accounts it names.
pub async fn run(command: Command, config: Option<&Loaded>) -> Result<()> {
    match command {
        Command::Run(args) => {
            let mut rec = Recorder::new("run", args.summary.summary_json.clone());
            let result = cmd_run(args, config, &mut rec).await;
            rec.finish(result)
        }
        Command::Fetch(args) => {
            let mut rec = Recorder::new("fetch", args.summary.summary_json.clone());
            let result = cmd_fetch(args, config, &mut rec).await;
            rec.finish(result)
        }
        Command::Report(args) => {
            let mut rec = Recorder::new("report", args.summary.summary_json.clone());
            let result = cmd_report(args, &mut rec);
            rec.finish(result)
        }
        Command::Check(args) => crate::check::run(args, config).await,
        Command::Ledger(cmd) => cmd_ledger(cmd),
        Command::Simulate(args) => crate::simulator::run(args).await,
        Command::Demo(args) => crate::demo::run(&args.out).await,
        Command::Completions(args) => crate::manual::completions(args.shell),
        Command::Man(args) => crate::manual::run(&args),
    }
}

/// A window and the clocks and rules that go with it, checked.
pub struct Plan {
    pub db: PathBuf,
    pub window: Window,
    /// How the window was given (`yesterday in Europe/Berlin`), for the summary.
    pub window_label: Option<String>,
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
        let now = match &args.now {
            Some(text) => bound("now", text)?,
            None => Utc::now(),
        };
        let db = args.db.clone().ok_or_else(|| {
            UsageError::new("no ledger database: give --db PATH (or db in the configuration file)")
        })?;
        let (window, window_label) = crate::calendar::window_of(args, now)?;
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
            db,
            window,
            window_label,
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
            write_back: !out.no_write_back && !out.dry_run,
            record_followups: !out.dry_run,
            followup_max_age: self.followup_max_age,
        }
    }
}

/// The secret never comes from argv: API key + secret, a token file, or the token's env var.
pub(crate) fn credentials(args: &TwilioArgs) -> Result<Credentials> {
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
        Some(path) => {
            // The same warning as for the configuration's auth_token_file.
            accounts::warn_if_readable_by_others(path);
            std::fs::read_to_string(path)
                .map_err(|e| UsageError::new(format!("--auth-token-file {}: {e}", path.display())))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        }
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

/// The default `--rps`: Twilio limits concurrency, not rate, so the limiter only guards
/// against a runaway loop. Twenty per request in flight lets every slot turn over each 50 ms,
/// faster than Twilio answers, so the in-flight cap is what paces a night.
pub fn default_rps(max_in_flight: usize) -> u32 {
    (max_in_flight.max(1) as u32).saturating_mul(20)
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
    let rps = args.rps.unwrap_or_else(|| default_rps(args.max_in_flight));
    positive("rps", rps.into())?;
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
        rps: NonZeroU32::new(rps).expect("checked above"),
        max_in_flight: args.max_in_flight,
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            base: std::time::Duration::from_millis(args.retry_base_ms.max(1)),
            cap: std::time::Duration::from_secs(10),
            max_total_wait: std::time::Duration::from_secs(args.max_retry_wait),
        },
        timeout: std::time::Duration::from_secs(args.timeout),
        max_body: args.max_body_mib.saturating_mul(1 << 20),
    })
}

async fn cmd_fetch(args: FetchArgs, config: Option<&Loaded>, rec: &mut Recorder) -> Result<()> {
    let mut plan = Plan::from_args(&args.window)?;
    rec.plan(&plan, false);
    check_outputs(&plan, None, &args.summary)?;
    let accounts = accounts::resolve(&args.twilio, &args.origin, config)?;
    let clients = clients(&accounts, &args.twilio)?;
    let mut db = open_locked(&plan)?;
    let store = &mut db.store;
    fetch_accounts(&accounts, &clients, store, &mut plan, &args.twilio, rec).await
}

fn cmd_report(args: ReportArgs, rec: &mut Recorder) -> Result<()> {
    let mut plan = Plan::from_args(&args.window)?;
    rec.plan(&plan, args.out.dry_run);
    check_outputs(&plan, Some(&args.out), &args.summary)?;
    // The retention horizon is dated by the data (reporting::check_retention), so it is
    // checked in write_report, on the open database.
    // A database no fetch ever landed in is refused under the lock (a fetch may be landing
    // right now: that is exit 75) and before it is opened for writing.
    let mut db = open_db(&plan.db, OpenMode::MustExist, || {
        if !plan.window.days(plan.match_delay, plan.now).is_empty() {
            reconcile::check_fetched_at_all(&plan.db)?;
        }
        stop::install(plan.max_runtime);
        Ok(())
    })?;
    let written = write_report(&mut db.store, &mut plan, &args.out)?;
    finish_report(&mut db.store, &plan, &args.out, written, rec)
}

async fn cmd_run(args: RunArgs, config: Option<&Loaded>, rec: &mut Recorder) -> Result<()> {
    let mut plan = Plan::from_args(&args.window)?;
    rec.plan(&plan, args.out.dry_run);
    check_outputs(&plan, Some(&args.out), &args.summary)?;
    let accounts = accounts::resolve(&args.twilio, &args.origin, config)?;
    let clients = clients(&accounts, &args.twilio)?;
    let mut db = open_locked(&plan)?;
    let store = &mut db.store;
    check_retention(&plan, store)?;
    fetch_accounts(&accounts, &clients, store, &mut plan, &args.twilio, rec).await?;
    let written = write_report(store, &mut plan, &args.out)?;
    finish_report(store, &plan, &args.out, written, rec)
}

/// The run's database, locked against a second run, with SIGINT/SIGTERM and --max-runtime
/// installed to stop it cleanly (no report, no half write-back). The lock is held as long as
/// the first value lives.
fn open_locked(plan: &Plan) -> Result<lock::Locked> {
    open_db(&plan.db, OpenMode::MustExist, || {
        stop::install(plan.max_runtime);
        Ok(())
    })
}

/// Checks the database (refusing it changes nothing: [`crate::store::preflight`]), creates
/// it when `mode` allows and it is missing, locks it, then opens it. `locked` runs once the
/// lock is held, before the database is opened for writing (its refusals change nothing).
fn open_db(
    db: &std::path::Path,
    mode: OpenMode,
    locked: impl FnOnce() -> Result<()>,
) -> Result<lock::Locked> {
    if crate::store::preflight::check(db, mode)? == crate::store::preflight::Found::Missing {
        // `ledger init` of a new file: the lock needs a file to lock.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(db)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Ok(std::fs::File::open(db)?),
                _ => Err(e),
            })
            .with_context(|| format!("creating database {}", db.display()))?;
    }
    let lock = lock::acquire(db)?;
    locked()?;
    let store = Store::open(db, mode)?;
    Ok(lock::Locked { store, lock })
}

/// Outputs never touch the database, nor one another (issue 17, item 3): checked before any
/// work, so a clash writes nothing.
fn check_outputs(
    plan: &Plan,
    out: Option<&ReportOutArgs>,
    summary: &cli::SummaryArgs,
) -> Result<()> {
    let mut outputs: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(out) = out {
        if let Some(p) = &out.out {
            outputs.push(("--out", p));
        }
        if let Some(p) = &out.orphans_out {
            outputs.push(("--orphans-out", p));
        }
        if let Some(p) = &out.numbers_out {
            outputs.push(("--numbers-out", p));
        }
    }
    if let Some(p) = &summary.summary_json {
        outputs.push(("--summary-json", p));
    }
    // A folder, or a path whose folder is missing, is refused now, not after the work.
    for (flag, path) in &outputs {
        crate::output::target(path).map_err(|e| e.context(*flag))?;
    }
    crate::output::clash::check(&plan.db, &outputs)
}

/// Every account's client, built before the first request: a bad setting on the last
/// account fails the run before the first is fetched.
fn clients(accounts: &[Account], twilio: &TwilioArgs) -> Result<Vec<Client>> {
    accounts.iter().map(|a| a.client(twilio)).collect()
}

/// Fetches the accounts in turn into the one database (each fetch keeps its own progress,
/// per account); the report then matches the ledger against all of them at once.
async fn fetch_accounts(
    accounts: &[Account],
    clients: &[Client],
    store: &mut Store,
    plan: &mut Plan,
    twilio: &TwilioArgs,
    rec: &mut Recorder,
) -> Result<()> {
    let opts = plan.fetch_options(twilio);
    let several = accounts.len() > 1;
    for (account, client) in accounts.iter().zip(clients) {
        let fetched = crate::store::failure::in_step(
            fetch::fetch(client, store, &mut plan.numbers, &opts).await,
            "landing Twilio's calls",
            &plan.db,
        );
        let fetched = if several {
            fetched.with_context(|| format!("account {} ({})", account.name, account.sid()))?
        } else {
            fetched?
        };
        let prefix = if several {
            format!("account {}: ", account.name)
        } else {
            String::new()
        };
        print_lines(
            fetched
                .lines()
                .iter()
                .map(|l| format!("{prefix}{l}"))
                .collect(),
        );
        rec.fetched(account, &fetched);
    }
    Ok(())
}

pub(crate) fn print_lines(lines: Vec<String>) {
    for line in lines {
        crate::logging::say(&line);
    }
}

fn cmd_ledger(cmd: LedgerCommand) -> Result<()> {
    match cmd {
        LedgerCommand::Init { db } => {
            open_db(&db, OpenMode::CreateIfMissing, || Ok(()))?;
            crate::logging::say(&format!(
                "{} is ready (intended_calls and callrecon's tables, WAL mode)",
                db.display()
            ));
        }
        LedgerCommand::Import { db, file } => {
            // An unreadable file is refused before the database is opened for writing.
            std::fs::File::open(&file).map_err(|e| {
                UsageError::new(format!(
                    "cannot read {}: {e}; nothing was imported",
                    file.display()
                ))
            })?;
            let mut locked = open_db(&db, OpenMode::MustExist, || Ok(()))?;
            let stats = ledger::import_csv(&mut locked.store.conn, &file)
                .with_context(|| format!("importing {} into {}", file.display(), db.display()))?;
            crate::logging::say(&format!(
                "imported {} row(s) from {}; {} already present, left unchanged",
                stats.inserted,
                file.display(),
                stats.already_present
            ));
        }
    }
    Ok(())
}
