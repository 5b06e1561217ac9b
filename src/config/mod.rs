//! The configuration file (`--config FILE`, `CALLRECON_CONFIG`, or `./callrecon.toml` when
//! present): its keys, its loading, and its validation.
//!
//! Settings come in three layers, each overriding the one before: the file, the environment,
//! the command line. This module owns the first layer; [`merge`] lays it under the other two
//! (clap already resolves environment against flags), and [`accounts`] turns the accounts the
//! file names into credentials and origins. Every value in the file is checked when it is
//! read, before any request, and an error names the key (`twilio.rps`, `accounts.eu.region`)
//! and what is expected: a typo in a nightly job's configuration must fail loudly on the
//! first night, not be ignored. The file never holds a secret: an account names the
//! environment variable or the file its token is in.

pub mod accounts;
pub mod merge;

use crate::calendar::{self, Spec};
use crate::error::UsageError;
use crate::logging::LogFormat;
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Read when no `--config` is given and the file exists in the working directory.
pub const DEFAULT_PATH: &str = "callrecon.toml";

/// The whole file. Unknown keys are refused (`deny_unknown_fields`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The ledger database.
    pub db: Option<PathBuf>,
    pub window: Option<Spec>,
    pub tz: Option<String>,
    pub match_delay: Option<String>,
    pub followup_max_age: Option<String>,
    pub default_region: Option<String>,
    pub retain_days: Option<u32>,
    pub max_runtime: Option<String>,
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub report: Report,
    #[serde(default)]
    pub twilio: Twilio,
    /// Accounts by name, fetched in name order and reported together.
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub include_completed: Option<bool>,
    pub excel_safe: Option<bool>,
    pub write_back: Option<bool>,
    pub fail_if_missed_webhooks: Option<f64>,
    pub summary_json: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Twilio {
    pub region: Option<String>,
    pub edge: Option<String>,
    pub base_url: Option<String>,
    pub rps: Option<u32>,
    pub max_in_flight: Option<usize>,
    pub max_attempts: Option<u32>,
    pub max_retry_wait: Option<u64>,
    pub timeout: Option<u64>,
    pub max_notification_lookups: Option<usize>,
    pub max_sid_lookups: Option<usize>,
}

/// One account: its SID, where its secret is, and optionally its own region, edge or origin.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub account_sid: String,
    pub auth_token_env: Option<String>,
    pub auth_token_file: Option<PathBuf>,
    /// An API key SID (`SK…`); not a secret. Its secret comes from one of the two below.
    pub api_key: Option<String>,
    pub api_secret_env: Option<String>,
    pub api_secret_file: Option<PathBuf>,
    pub region: Option<String>,
    pub edge: Option<String>,
    /// For a simulator or a proxy: this account's requests all go to this origin.
    pub base_url: Option<String>,
    // Accepted by the parser only to be refused with a clear message: a secret in a
    // configuration file ends up in backups, diffs and support tickets.
    auth_token: Option<toml::Value>,
    api_secret: Option<toml::Value>,
}

/// A loaded, validated file and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub file: File,
}

impl Loaded {
    /// How a key is named in messages: `twilio.rps in ./callrecon.toml`.
    pub fn key(&self, key: &str) -> String {
        format!("{key} in {}", self.path.display())
    }
}

/// The file to read: the one named (flag or `CALLRECON_CONFIG`), which must exist, else
/// `./callrecon.toml` when it exists, else none.
pub fn locate(named: Option<&Path>) -> Option<PathBuf> {
    match named {
        Some(path) => Some(path.to_owned()),
        None => {
            let default = PathBuf::from(DEFAULT_PATH);
            default.is_file().then_some(default)
        }
    }
}

/// Reads and validates the file.
pub fn load(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError::new(format!(
            "config file {}: {e}; check --config (or CALLRECON_CONFIG)",
            path.display()
        ))
    })?;
    let mut file = parse(&text).map_err(|e| UsageError::new(format!("{}: {e}", path.display())))?;
    if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        rebase(&mut file, base);
    }
    Ok(Loaded {
        path: path.to_owned(),
        file,
    })
}

/// Relative paths in the file are relative to the file's folder, as in Cargo: the same file
/// means the same paths whatever the working directory of cron is.
fn rebase(file: &mut File, base: &Path) {
    let join = |p: &mut Option<PathBuf>| {
        if let Some(path) = p
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    };
    join(&mut file.db);
    join(&mut file.report.summary_json);
    for account in file.accounts.values_mut() {
        join(&mut account.auth_token_file);
        join(&mut account.api_secret_file);
    }
}

/// Parses and validates a file's text; errors name the key.
pub fn parse(text: &str) -> Result<File, String> {
    let de = toml::Deserializer::parse(text).map_err(|e| located(text, &e))?;
    let file: File = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let place = located(text, &inner);
        if path.is_empty() || path == "." {
            place
        } else {
            format!("{path}: {place}")
        }
    })?;
    validate(&file)?;
    Ok(file)
}

/// A TOML error as one line: the message and its line number.
fn located(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim().to_owned();
    match err.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}

/// Checks every value that has a meaning beyond its type.
fn validate(f: &File) -> Result<(), String> {
    let key = |k: &str, e: String| format!("{k}: {e}");
    if let Some(tz) = &f.tz {
        calendar::parse_tz(tz).map_err(|e| key("tz", e))?;
    }
    for (k, v) in [
        ("match_delay", &f.match_delay),
        ("followup_max_age", &f.followup_max_age),
        ("max_runtime", &f.max_runtime),
    ] {
        if let Some(text) = v {
            let d = crate::cli::parse_duration(text).map_err(|e| key(k, e))?;
            if d <= chrono::Duration::zero() && k != "followup_max_age" {
                return Err(key(k, format!("'{text}' must be a positive duration")));
            }
        }
    }
    if let Some(region) = &f.default_region {
        crate::phone::Normalizer::new(Some(region)).map_err(|e| key("default_region", e))?;
    }
    if let Some(days) = f.retain_days {
        crate::limits::RETAIN_DAYS
            .check(days.into())
            .map_err(|e| key("retain_days", e))?;
    }
    if let Some(pct) = f.report.fail_if_missed_webhooks
        && !(pct.is_finite() && (0.0..=100.0).contains(&pct))
    {
        return Err(key(
            "report.fail_if_missed_webhooks",
            format!("{pct} is not a percentage between 0 and 100"),
        ));
    }
    let t = &f.twilio;
    use crate::limits::{LOOKUPS, MAX_ATTEMPTS, MAX_IN_FLIGHT, MAX_RETRY_WAIT, RPS, TIMEOUT};
    for (k, v, limit) in [
        ("twilio.rps", t.rps.map(u64::from), RPS),
        (
            "twilio.max_in_flight",
            t.max_in_flight.map(|n| n as u64),
            MAX_IN_FLIGHT,
        ),
        (
            "twilio.max_attempts",
            t.max_attempts.map(u64::from),
            MAX_ATTEMPTS,
        ),
        ("twilio.timeout", t.timeout, TIMEOUT),
        ("twilio.max_retry_wait", t.max_retry_wait, MAX_RETRY_WAIT),
        (
            "twilio.max_notification_lookups",
            t.max_notification_lookups.map(|n| n as u64),
            LOOKUPS,
        ),
        (
            "twilio.max_sid_lookups",
            t.max_sid_lookups.map(|n| n as u64),
            LOOKUPS,
        ),
    ] {
        if let Some(n) = v {
            limit.check(n).map_err(|e| key(k, e))?;
        }
    }
    check_origin("twilio", &t.region, &t.edge, &t.base_url)?;
    let mut sids = BTreeMap::new();
    for (name, account) in &f.accounts {
        accounts::validate(name, account)?;
        if let Some(other) = sids.insert(account.account_sid.as_str(), name) {
            return Err(format!(
                "accounts.{name}.account_sid: {} is also accounts.{other}; name each account once",
                account.account_sid
            ));
        }
    }
    Ok(())
}

/// Region and edge are single words; a base URL is https (or http to loopback). Whether a
/// region has a known edge is checked once all layers are known: the edge may come from the
/// environment.
pub(super) fn check_origin(
    prefix: &str,
    region: &Option<String>,
    edge: &Option<String>,
    base_url: &Option<String>,
) -> Result<(), String> {
    use crate::twilio::region::{Named, check_label};
    for (k, v) in [("region", region), ("edge", edge)] {
        if let Some(value) = v {
            let name = format!("{prefix}.{k}");
            check_label(Named { value, name: &name })?;
        }
    }
    if let Some(url) = base_url {
        crate::twilio::client::check_base_url(url)
            .map_err(|e| format!("{prefix}.base_url: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
