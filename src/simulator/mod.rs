//! The Twilio simulator (`callrecon simulate`): a faithful local stand-in for the Twilio
//! endpoints callrecon reads (Calls list and fetch, Call Notifications, Monitor Alerts) that
//! the demo, the integration tests and the benchmarks all run against.
//!
//! It owns the `simulate` flags ([`SimArgs`]), their resolved form ([`SimConfig`]) and the
//! command itself ([`run`]). The pieces live next to it:
//! - `data`, `timeline`, `numbers`, `agents`, `errors`, `ledger_rows`: the deterministic
//!   dataset (calls and their lives, fictional numbers, agent calls with their `<Dial>` child
//!   legs, the error codes in alerts and notifications, the matching ledger) for a config;
//! - `server`: the router, the Calls routes, Basic auth, Twilio's error bodies and the fault
//!   layer every route passes; `alerts` and `notifications`: the Monitor Alerts and Call
//!   Notifications routes;
//! - `listing`, `paging`: the Calls filters, and the keyset paging every list shares, kept
//!   free of HTTP so they are easy to test;
//! - `faults`: the fault and speed knobs and the counters behind `/__simulator/stats`;
//! - `chaos`: the share fault knobs (`--rate-*`, `--chaos`) and which fault a request meets;
//!   `inject`: what each fault does to the response (refusals, slow answers, cut bodies);
//!   `cut`: the listener whose connections can be cut mid-body;
//! - `ledger_out`: writing the generated ledger as SQLite or CSV.
//!
//! Everything is reproducible: the same config gives byte-identical data, and every fault is
//! driven by request counters (bursts) or a seeded hash of them (shares), not chance, so a
//! failing test or soak night can be replayed exactly. The
//! simulator serves on loopback only: it has fake credentials and must never face a network.

mod agents;
mod alerts;
mod chaos;
mod cut;
mod data;
mod errors;
mod faults;
mod inject;
mod ledger_out;
mod ledger_rows;
mod listing;
mod notifications;
mod numbers;
mod paging;
mod server;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_data;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_logs;
mod timeline;

pub use chaos::ChaosArgs;
pub use data::Dataset;
pub use faults::{Burst, Faults, Stats, TimeFilter};
pub use ledger_out::write_ledger;
pub use server::{Simulator, serve};

use crate::error::UsageError;
use crate::timefmt::{day_start, format_utc, parse_bound, parse_day};
use anyhow::{Context, Result};
use chrono::{DateTime, Days, NaiveDate, Utc};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The simulator's account. Obviously fake (a repeated `c0ffee00`), so it can never be
/// mistaken for a real account in logs or configs.
pub const DEFAULT_ACCOUNT_SID: &str = "ACc0ffee00c0ffee00c0ffee00c0ffee00";

/// The simulator's auth token. Not a secret: it is printed at start so a demo can use it.
pub const DEFAULT_AUTH_TOKEN: &str = "f00dfacef00dfacef00dfacef00dface";

/// Largest dataset `--calls` accepts: every call is held in memory (about 1.5 KB each), and
/// two million already exceeds any benchmark this project runs.
const MAX_CALLS: usize = 2_000_000;

/// Flags of `callrecon simulate`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Address to serve on; port 0 picks a free port. Loopback only (127.0.0.1, ::1 or
    /// localhost): the simulator's credentials are public.
    #[arg(long, default_value = "127.0.0.1:0", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Account SID the simulated account answers to (fake by default).
    #[arg(long, default_value = DEFAULT_ACCOUNT_SID, value_parser = parse_account_sid)]
    pub account_sid: String,

    /// Auth token accepted with --account-sid (fake by default, printed at start).
    #[arg(long, default_value = DEFAULT_AUTH_TOKEN)]
    pub auth_token: String,

    /// An API key SID (SK…) accepted as a second credential for the same account.
    #[arg(long, requires = "api_secret", value_parser = parse_api_key)]
    pub api_key: Option<String>,

    /// The secret of --api-key.
    #[arg(long, requires = "api_key")]
    pub api_secret: Option<String>,

    /// Number of calls to generate, over all days together. Calls to an agent (about 4% of
    /// outbound calls) and their `<Dial>` child legs to the customer come on top.
    #[arg(long, default_value_t = 2000)]
    pub calls: usize,

    /// Seed of the data generator: the same seed and flags give byte-identical data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// First UTC day of generated calls, YYYY-MM-DD [default: yesterday, UTC].
    #[arg(long, value_parser = parse_day)]
    pub start_day: Option<NaiveDate>,

    /// Number of consecutive UTC days the calls are spread over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,

    /// The simulator's clock, RFC 3339. Calls are only generated before it, and calls made in
    /// the last minutes before it are still queued, ringing or in progress
    /// [default: the end of the generated days, start-day + days at 00:00:00Z].
    #[arg(long, value_parser = parse_bound)]
    pub now: Option<DateTime<Utc>>,

    /// Also write the application's ledger (intended_calls) for the generated calls: a SQLite
    /// database (created or extended), or CSV when the path ends in .csv.
    #[arg(long, value_name = "PATH")]
    pub ledger_out: Option<PathBuf>,

    /// Make page K, 2K, 3K… of every listing short (half of PageSize) although more records
    /// remain: a short page is not the end of a listing.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(2..))]
    pub short_page_every: Option<u32>,

    /// Answer LEN of every EVERY API requests with 429 / code 20429, e.g. 3/10: requests
    /// 1-3, 11-13, … are refused.
    #[arg(long = "burst-429", value_name = "LEN/EVERY", value_parser = Burst::parse)]
    pub burst_429: Option<Burst>,

    /// Add `Retry-After: SECS` to every 429 of --burst-429 and --max-concurrent
    /// (--rate-429 has --retry-after-share).
    #[arg(long, value_name = "SECS")]
    pub retry_after: Option<u64>,

    /// Answer LEN of every EVERY API requests with a 503 HTML page, as a proxy in front of
    /// the API would; shifted by half a period against --burst-429.
    #[arg(long = "burst-503", value_name = "LEN/EVERY", value_parser = Burst::parse)]
    pub burst_503: Option<Burst>,

    // The share fault knobs (--rate-*, --fault-seed, --chaos), kept beside their decision.
    #[command(flatten)]
    pub faults: ChaosArgs,

    /// Delay every API response by this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Delay every response by this many microseconds per record (call, alert,
    /// notification) it carries.
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub per_record_us: u64,

    /// Answer 429 / code 20429 to requests beyond N in flight at once, as Twilio limits
    /// concurrent API requests per account.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: Option<u32>,

    /// Answer 403 / code 20003 to every Monitor request (`/v1/Alerts`), as Twilio does for
    /// an API key without Monitor permission.
    #[arg(long)]
    pub monitor_forbidden: bool,

    /// How StartTime/EndTime filters are read: `day` (Twilio's documented behaviour: only the
    /// date counts) or `second` (the full time of an RFC 3339 value is honoured).
    #[arg(long, value_enum, default_value_t = TimeFilter::Day)]
    pub time_filter: TimeFilter,
}

/// The resolved, typed configuration of one simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub account_sid: String,
    pub auth_token: String,
    /// A second credential pair (API key SID, secret) for the same account.
    pub api_key: Option<(String, String)>,
    /// Calls generated over all days (inbound and outbound).
    pub calls: usize,
    pub seed: u64,
    pub start_day: NaiveDate,
    pub days: u32,
    /// The simulator's clock: no call exists after it, recent calls are still in progress.
    pub now: DateTime<Utc>,
    pub ledger_out: Option<PathBuf>,
    pub faults: Faults,
}

impl SimConfig {
    /// A config with every default except the data shape; tests tweak the public fields.
    pub fn new(calls: usize, seed: u64, start_day: NaiveDate, days: u32) -> SimConfig {
        let now = day_start(start_day + Days::new(u64::from(days)));
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            account_sid: DEFAULT_ACCOUNT_SID.to_owned(),
            auth_token: DEFAULT_AUTH_TOKEN.to_owned(),
            api_key: None,
            calls,
            seed,
            start_day,
            days,
            now,
            ledger_out: None,
            faults: Faults::default(),
        }
    }

    /// Resolves and checks the flags; errors are usage errors (exit 2).
    pub fn from_args(args: &SimArgs) -> Result<SimConfig> {
        if args.calls > MAX_CALLS {
            return Err(UsageError::new(format!(
                "--calls {} is more than the simulator holds in memory (at most {MAX_CALLS})",
                args.calls
            )));
        }
        let start_day = match args.start_day {
            Some(day) => day,
            None => Utc::now()
                .date_naive()
                .pred_opt()
                .expect("yesterday exists for any current date"),
        };
        let mut cfg = SimConfig::new(args.calls, args.seed, start_day, args.days);
        if let Some(now) = args.now {
            if now <= day_start(start_day) {
                return Err(UsageError::new(format!(
                    "--now {} is not after the start of the first generated day {start_day}; \
                     calls cannot exist before the simulator's clock",
                    format_utc(now)
                )));
            }
            cfg.now = now;
        }
        cfg.listen = args.listen;
        cfg.account_sid = args.account_sid.clone();
        cfg.auth_token = args.auth_token.clone();
        cfg.api_key = args.api_key.clone().zip(args.api_secret.clone());
        cfg.ledger_out = args.ledger_out.clone();
        cfg.faults = Faults {
            short_page_every: args.short_page_every,
            burst_429: args.burst_429,
            retry_after: args.retry_after,
            burst_503: args.burst_503,
            latency: Duration::from_millis(args.latency_ms),
            per_record: Duration::from_micros(args.per_record_us),
            max_concurrent: args.max_concurrent.map(|n| n as usize),
            time_filter: args.time_filter,
            monitor_forbidden: args.monitor_forbidden,
            ..Faults::default()
        };
        args.faults.apply(&mut cfg.faults)?;
        Ok(cfg)
    }

    /// Midnight UTC after the last generated day.
    pub fn days_end(&self) -> DateTime<Utc> {
        day_start(self.start_day + Days::new(u64::from(self.days)))
    }

    /// The span calls are generated in: the generated days, cut at `now`.
    pub fn generated_span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = day_start(self.start_day);
        (start, self.days_end().min(self.now).max(start))
    }
}

/// The `callrecon simulate` command: generate, write the ledger if asked, then serve until
/// Ctrl-C (or SIGTERM). The first stdout line is `listening on http://HOST:PORT`, printed
/// once the ledger is on disk, so a script that reads it can use both at once.
pub async fn run(args: SimArgs) -> Result<()> {
    let cfg = SimConfig::from_args(&args)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding the simulator to {}", cfg.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let sim = Simulator::new(cfg.clone());
    if let Some(path) = &cfg.ledger_out {
        write_ledger(sim.dataset(), path)?;
    }
    let dataset = sim.dataset();
    let last_day = cfg.start_day + Days::new(u64::from(cfg.days - 1));
    // A reader that left (`simulate | head -1`) does not stop the simulator serving.
    let mut out = crate::stdio::Stdout::reader_may_leave();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    writeln!(
        out,
        "account sid: {} (fake simulator credentials, not a secret)",
        cfg.account_sid
    )?;
    writeln!(
        out,
        "auth token:  {} (fake simulator credentials, not a secret)",
        cfg.auth_token
    )?;
    if let Some((key, _)) = &cfg.api_key {
        writeln!(out, "api key:     {key} (secret as given by --api-secret)")?;
    }
    writeln!(out, "now:         {}", format_utc(cfg.now))?;
    writeln!(out, "days:        {} to {last_day} (UTC)", cfg.start_day)?;
    writeln!(out, "calls:       {}", dataset.calls.len())?;
    writeln!(out, "alerts:      {}", dataset.alerts.len())?;
    if let Some(path) = &cfg.ledger_out {
        writeln!(
            out,
            "ledger:      {} ({} rows)",
            path.display(),
            dataset.ledger.len()
        )?;
    }
    out.flush()?;
    serve(listener, sim, shutdown_signal())
        .await
        .context("serving the simulator")
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one, so `kill` also exits cleanly.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reads `--listen`, refusing anything but loopback: the credentials are printed and fake.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .map_err(|_| format!("'{text}' has no valid port"))?,
        None => text.parse::<SocketAddr>().map_err(|_| {
            format!("'{text}' is not an address; write it like 127.0.0.1:8080 or [::1]:0")
        })?,
    };
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{} is not a loopback address; the simulator serves fake, published credentials \
             and only listens on 127.0.0.1, ::1 or localhost",
            addr.ip()
        ));
    }
    Ok(addr)
}

fn parse_account_sid(text: &str) -> Result<String, String> {
    parse_sid(text, "AC")
}

fn parse_api_key(text: &str) -> Result<String, String> {
    parse_sid(text, "SK")
}

/// Twilio SIDs are a two-letter prefix and 32 hex digits; anything else cannot be real.
fn parse_sid(text: &str, prefix: &str) -> Result<String, String> {
    let ok = text.len() == 34
        && text.starts_with(prefix)
        && text[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "'{text}' is not a SID: {prefix} followed by 32 hex digits"
        ))
    }
}
