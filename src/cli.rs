//! The command line: every subcommand and flag, with the help text users read.
//!
//! Parsing only: values are checked and turned into typed options in [`crate::app`].
//! Secrets never come from flags (argv is visible to every user of the machine in `ps`):
//! tokens come from the environment or a file.

use crate::calendar::Spec;
use crate::logging::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (also when failed calls were found)
  1    local I/O, disk or database error
  2    usage or input error (bad flags, missing or non-SQLite database, ledger without the
       contract's columns, a window never fetched, a request Twilio refused with a 4xx)
  3    Twilio authentication or permission error on the Calls list (401/403)
  4    Twilio unavailable or misbehaving after the retry budget
  5    an alarm threshold was crossed
  6    stopped by --max-runtime, state left resumable
  75   another callrecon command holds the database
  130  interrupted (SIGINT), 143 terminated (SIGTERM)
A closed stdout or stderr (| head) is not an error: the rest of the run is done.";

/// `--help` (and the manual page): exit codes, then where settings come from.
pub const LONG_HELP: &str = "Exit codes:
  0    success (also when failed calls were found)
  1    local I/O, disk or database error
  2    usage or input error (bad flags or configuration, missing or non-SQLite database,
       ledger without the contract's columns, a window never fetched, a request Twilio
       refused with a 4xx)
  3    Twilio authentication or permission error (401/403)
  4    Twilio unavailable or misbehaving after the retry budget
  5    an alarm threshold was crossed
  6    stopped by --max-runtime, state left resumable
  75   another callrecon command holds the database
  130  interrupted (SIGINT), 143 terminated (SIGTERM)
A closed stdout or stderr (| head) is not an error: the rest of the run is done.

Configuration:
  Settings come from a TOML file (--config, CALLRECON_CONFIG, or ./callrecon.toml when it
  exists), overridden by the environment, overridden by flags. The file names each account
  and the environment variable or file its secret is in; it never holds a secret. See the
  README, \"Configuration\".

Environment:
  TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN   the account and its auth token
  TWILIO_API_KEY, TWILIO_API_SECRET       an API key pair, used instead of the token
  TWILIO_REGION, TWILIO_EDGE              api.{edge}.{region}.twilio.com (a region alone
                                          gets its default edge: us1 ashburn, ie1 dublin,
                                          au1 sydney)
  CALLRECON_BASE_URL                      one origin for every request (overrides region
                                          and edge); CALLRECON_RPS the request rate
  CALLRECON_CONFIG, CALLRECON_LOG_FORMAT  the configuration file; text or json logs
  RUST_LOG                                log filter (overrides -v/-q)";

#[derive(Debug, Parser)]
#[command(
    name = "callrecon",
    version,
    about = "Reconcile the calls your application meant to place through Twilio with what Twilio did",
    long_about = "Lists recent calls from Twilio's Calls API under a rate limit, matches them with \
the application's SQLite ledger (`intended_calls`), and writes a CSV report of every call that \
did not complete: failed, busy, no-answer, unreachable, canceled, never placed, still pending.",
    after_help = EXIT_CODES_HELP,
    after_long_help = LONG_HELP
)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log lines as human-readable text, or one JSON object per line for cron and log
    /// shippers (the summary and the final error too).
    #[arg(long, global = true, env = "CALLRECON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// Configuration file (TOML); the environment and flags override it
    /// [default: ./callrecon.toml when it exists].
    #[arg(long, global = true, env = "CALLRECON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch, then report: the nightly job.
    #[command(after_help = "Examples:
  callrecon run --db ledger.db --window yesterday --out report.csv
  callrecon run --db ledger.db --window yesterday --tz Europe/Berlin --out report.csv
  callrecon run --config /etc/callrecon/callrecon.toml --dry-run
  callrecon run --db ledger.db --from 2026-11-27T00:00:00Z --to 2026-11-28T00:00:00Z --out report.csv")]
    Run(RunArgs),
    /// List the window's calls from Twilio and land them in the database.
    #[command(after_help = "Examples:
  callrecon fetch --db ledger.db --window yesterday
  callrecon fetch --db ledger.db --from 2026-11-27T00:00:00Z --to 2026-11-28T00:00:00Z --region ie1")]
    Fetch(FetchArgs),
    /// Reconcile landed calls with the ledger and write the report (no network).
    #[command(after_help = "Examples:
  callrecon report --db ledger.db --window yesterday --out report.csv
  callrecon report --db ledger.db --window 2026-11-27 --dry-run | less")]
    Report(ReportArgs),
    /// Check the first night's prerequisites: credentials, permissions, ledger columns.
    #[command(
        after_help = "Runs one Calls request (PageSize=1) and one Monitor alerts request per \
account, and reads the ledger's columns; prints ok or FAILED with the reason for each. Exit 0 \
when all pass, 3 when Twilio refused the credentials or a permission, 2 for configuration or \
ledger problems.

Examples:
  callrecon check --db ledger.db
  callrecon check --config /etc/callrecon/callrecon.toml"
    )]
    Check(CheckArgs),
    /// Create or fill the ledger table.
    #[command(
        subcommand,
        after_help = "Examples:\n  callrecon ledger init --db ledger.db\n  callrecon ledger import --db ledger.db intended.csv"
    )]
    Ledger(LedgerCommand),
    /// Serve a local, faithful Twilio simulator with generated calls.
    #[command(after_help = "Example:\n  callrecon simulate --calls 20000 --ledger-out ledger.db")]
    Simulate(crate::simulator::SimArgs),
    /// Run the whole pipeline on the built-in simulator: no account, no network.
    #[command(after_help = "Example:\n  callrecon demo --out ./callrecon-demo")]
    Demo(DemoArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  callrecon completions bash > /etc/bash_completion.d/callrecon
  callrecon completions zsh > ~/.zfunc/_callrecon")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write every page to a folder.
    #[command(after_help = "Examples:
  callrecon man | man -l -
  callrecon man run | man -l -
  callrecon man --dir /usr/local/share/man/man1")]
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Create the intended_calls table (and callrecon's own tables) if missing.
    #[command(after_help = "Example:\n  callrecon ledger init --db ledger.db")]
    Init {
        /// The ledger database: created when missing; an existing one gets intended_calls
        /// (when missing) and callrecon's tables, and is switched to WAL mode.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
    },
    /// Import ledger rows from a CSV whose header names are the column names; rows whose id
    /// is already present are left unchanged.
    #[command(after_help = "Example:\n  callrecon ledger import --db ledger.db intended.csv")]
    Import {
        /// The ledger database to import into; it must exist (create it with
        /// `callrecon ledger init`).
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct WindowArgs {
    /// The ledger database (SQLite), shared with the application [config: db].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// A named window: yesterday, today (until now), last-24h (until now) or a day
    /// YYYY-MM-DD, in --tz [config: window].
    #[arg(long, value_name = "WINDOW", conflicts_with_all = ["from", "to"])]
    pub window: Option<Spec>,
    /// Time zone whose days --window means (IANA name like Europe/Berlin; default UTC).
    #[arg(long, value_name = "AREA/CITY")]
    pub tz: Option<String>,
    /// Window start, inclusive (RFC 3339, e.g. 2026-11-27T00:00:00Z).
    #[arg(long, value_name = "RFC3339", requires = "to")]
    pub from: Option<String>,
    /// Window end, exclusive (RFC 3339).
    #[arg(long, value_name = "RFC3339", requires = "from")]
    pub to: Option<String>,
    /// How the window and time zone were named, for messages (`--window`, or the key of the
    /// configuration file they came from).
    #[arg(skip)]
    pub window_name: Option<String>,
    /// The clock for every rule that says "now" (default: the wall clock).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// How long after intended_at a call may be created and still match a row without a SID,
    /// and how long a row without a call stays pending (e.g. 90s, 30m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::limits::flag::duration)]
    pub match_delay: String,
    /// Region (ISO 3166) for ledger numbers written in national format.
    #[arg(long, value_name = "CC", default_value = "US")]
    pub default_region: String,
    /// How long after intended_at a pending or unpriced row is looked up again on later runs.
    #[arg(long, value_name = "DURATION", default_value = "3d", value_parser = crate::limits::flag::duration)]
    pub followup_max_age: String,
    /// Stop after this long (exit 6) at the next safe point: a page boundary while
    /// fetching, a batch while reporting and writing back; the next run resumes.
    #[arg(long, value_name = "DURATION", value_parser = crate::limits::flag::duration)]
    pub max_runtime: Option<String>,
    /// Keep callrecon's copies of calls, alerts and audit rows this many days; older ones are
    /// pruned after a successful report, and older windows are refused.
    #[arg(long, value_name = "DAYS", default_value_t = 60, value_parser = crate::limits::flag::retain_days)]
    pub retain_days: u32,
}

#[derive(Debug, Args, Clone)]
pub struct TwilioArgs {
    /// API origin; every request goes there.
    #[arg(long, env = "CALLRECON_BASE_URL", default_value = crate::twilio::client::DEFAULT_BASE_URL, value_name = "URL")]
    pub base_url: String,
    /// Account SID (AC…). The secret comes from TWILIO_AUTH_TOKEN, --auth-token-file, or
    /// TWILIO_API_KEY + TWILIO_API_SECRET, never from a flag.
    #[arg(long, env = "TWILIO_ACCOUNT_SID", value_name = "AC…")]
    pub account_sid: Option<String>,
    /// File holding the auth token (first line).
    #[arg(long, value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,
    /// Requests per second, all requests together (default: 20 per request in flight, so
    /// that the in-flight cap, Twilio's real limit, is what paces a run).
    #[arg(long, env = "CALLRECON_RPS", value_name = "N", value_parser = crate::limits::flag::rps)]
    pub rps: Option<u32>,
    /// Requests in flight at once (Twilio limits concurrency per account).
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = crate::limits::flag::max_in_flight)]
    pub max_in_flight: usize,
    /// Attempts per request, the first included, on 429, 5xx and broken answers.
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = crate::limits::flag::max_attempts)]
    pub max_attempts: u32,
    /// Total seconds one request may spend waiting between retries.
    #[arg(long, default_value_t = 120, value_name = "SECS", value_parser = crate::limits::flag::max_retry_wait)]
    pub max_retry_wait: u64,
    /// First backoff step in milliseconds (doubles per retry).
    #[arg(long, default_value_t = 250, value_name = "MS", hide = true, value_parser = crate::limits::flag::retry_base_ms)]
    pub retry_base_ms: u64,
    /// Seconds one attempt may take, connect to last byte.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = crate::limits::flag::timeout)]
    pub timeout: u64,
    /// Longest response body read, in MiB; a longer one is a misbehaving server (retried,
    /// then exit 4). A page of 1,000 calls is about 2 MB.
    #[arg(long, default_value_t = crate::twilio::client::DEFAULT_MAX_BODY_MIB, value_name = "MIB", value_parser = crate::limits::flag::max_body_mib)]
    pub max_body_mib: u64,
    /// How the server filters StartTime: probed at run time (auto), or known. With `second`,
    /// days are paged in time slices; with `day`, by status and caller ID.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "day", "second"])]
    pub time_filter: String,
    /// Do not split the listing by caller ID (From): list every caller's calls, inbound
    /// included, e.g. to find orphans from caller IDs the ledger never used.
    #[arg(long)]
    pub all_callers: bool,
    /// Page one query per day, one page after another, as the official SDKs do.
    #[arg(long, hide = true)]
    pub sequential: bool,
    /// Records per list page (Twilio's maximum is 1000).
    #[arg(long, default_value_t = 1000, value_name = "N", hide = true, value_parser = crate::limits::flag::page_size)]
    pub page_size: u32,
    /// Calls whose notifications are read for an error code, at most (failed first, then
    /// busy, no-answer and canceled): a night of 100,000 calls fits.
    #[arg(long, default_value_t = 20_000, value_name = "N", value_parser = crate::limits::flag::lookups)]
    pub max_notification_lookups: usize,
    /// Ledger SIDs missing from the listed days that are looked up one by one, at most.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = crate::limits::flag::lookups)]
    pub max_sid_lookups: usize,
}

#[derive(Debug, Args, Clone)]
pub struct ReportOutArgs {
    /// Report path (CSV, written atomically, mode 0600), or - for stdout.
    #[arg(long, value_name = "FILE.csv", required_unless_present = "dry_run")]
    pub out: Option<PathBuf>,
    /// Write nothing to the ledger (no write-back, no follow-ups; `run` still lands
    /// Twilio's data); the report goes to stdout unless --out is given.
    #[arg(long)]
    pub dry_run: bool,
    /// Also list rows whose call completed.
    #[arg(long)]
    pub include_completed: bool,
    /// Do not fill the ledger's missing webhook status, error code and call SID.
    #[arg(long)]
    pub no_write_back: bool,
    /// Also write outbound calls of the window that match no ledger row (same columns).
    #[arg(long, value_name = "FILE.csv")]
    pub orphans_out: Option<PathBuf>,
    /// Also write one row per number whose calls failed, with what to do about it.
    #[arg(long, value_name = "FILE.csv")]
    pub numbers_out: Option<PathBuf>,
    /// Prefix cells a spreadsheet would run as a formula with ' (E.164 numbers and prices
    /// are left as they are).
    #[arg(long)]
    pub excel_safe: bool,
    /// Exit 5 (after writing everything) when more than PCT% of final statuses had to be
    /// backfilled: the night the webhook endpoint was down should page someone.
    #[arg(long, value_name = "PCT", value_parser = crate::limits::flag::percent)]
    pub fail_if_missed_webhooks: Option<f64>,
}

/// Where Twilio is, besides `--base-url`: Twilio's region and edge.
#[derive(Debug, Args, Clone, Default)]
pub struct OriginArgs {
    /// Twilio region (us1, ie1, au1…): requests go to api.{edge}.{region}.twilio.com; a
    /// region alone gets its default edge. --base-url overrides both.
    #[arg(long, env = "TWILIO_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Twilio edge location (ashburn, dublin, sydney…); alone, it means region us1.
    #[arg(long, env = "TWILIO_EDGE", value_name = "EDGE")]
    pub edge: Option<String>,
    /// Whether --base-url or CALLRECON_BASE_URL was given (then it wins over everything).
    #[arg(skip)]
    pub base_url_explicit: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct SummaryArgs {
    /// Also write the run's summary as JSON, atomically, for monitoring (written on failure
    /// too, with the exit code) [config: report.summary_json].
    #[arg(long, value_name = "FILE.json")]
    pub summary_json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub twilio: TwilioArgs,
    #[command(flatten)]
    pub origin: OriginArgs,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub out: ReportOutArgs,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub twilio: TwilioArgs,
    #[command(flatten)]
    pub origin: OriginArgs,
    #[command(flatten)]
    pub out: ReportOutArgs,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The ledger database whose columns are checked (read only) [config: db].
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub twilio: TwilioArgs,
    #[command(flatten)]
    pub origin: OriginArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand whose page to print (run, ledger-import…); the main page when absent.
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,
    /// Write every page (callrecon.1, callrecon-run.1…) to this folder instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's ledger and report.
    #[arg(long, value_name = "DIR", default_value = "callrecon-demo")]
    pub out: PathBuf,
}

/// Reads `90s`, `30m`, `1h`, `2d` or plain seconds.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; write it like 90s, 30m or 1h"))?;
    let duration = match unit {
        "" | "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => return Err(format!("'{text}' has an unknown unit; use s, m, h or d")),
    };
    let limit = chrono::Duration::days(crate::limits::DURATION_DAYS);
    match duration {
        Some(d) if d <= limit => Ok(d),
        _ => Err(format!(
            "'{text}' is longer than {} days; durations are at most ten years",
            crate::limits::DURATION_DAYS
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("90s").unwrap(),
            chrono::Duration::seconds(90)
        );
        assert_eq!(parse_duration("1h").unwrap(), chrono::Duration::hours(1));
        assert_eq!(parse_duration("30").unwrap(), chrono::Duration::seconds(30));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
