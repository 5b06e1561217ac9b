//! Laying the configuration file under the environment and the command line.
//!
//! clap has already resolved flags against environment variables and defaults; what it
//! knows and the parsed structs do not is *where* each value came from
//! ([`ArgMatches::value_source`]). A file value is used exactly where a setting still holds
//! its built-in default (or is absent): so a flag beats the environment, which beats the
//! file, which beats the default, for every setting, with no list of precedences to keep in
//! step. Accounts, regions and origins are layered in [`super::accounts`], which needs all
//! layers at once.

use super::{DEFAULT_PATH, Loaded};
use crate::cli::{Cli, Command, OriginArgs, ReportOutArgs, SummaryArgs, TwilioArgs, WindowArgs};
use anyhow::Result;
use clap::ArgMatches;
use clap::parser::ValueSource;

/// Loads the configuration file for the commands that read one, and lays it under `cli`.
/// Returns it, for the accounts it names.
pub fn load_and_apply(cli: &mut Cli, matches: &ArgMatches) -> Result<Option<Loaded>> {
    let Some((_, sub)) = matches.subcommand() else {
        return Ok(None);
    };
    let reads_config = matches!(
        cli.command,
        Command::Run(_) | Command::Fetch(_) | Command::Report(_) | Command::Check(_)
    );
    // Whatever the file says, an explicit origin overrides region and edge everywhere.
    if let Some(origin) = origin_of(&mut cli.command) {
        origin.base_url_explicit = explicit(sub, "base_url");
    }
    if !reads_config {
        return Ok(None);
    }
    let Some(path) = super::locate(cli.config.as_deref()) else {
        return Ok(None);
    };
    let loaded = super::load(&path)?;
    if unset(matches, "log_format")
        && let Some(format) = loaded.file.log_format
    {
        cli.log_format = format;
    }
    match &mut cli.command {
        Command::Run(a) => {
            window(&mut a.window, sub, &loaded);
            twilio(&mut a.twilio, sub, &loaded);
            report(&mut a.out, sub, &loaded);
            summary(&mut a.summary, &loaded);
        }
        Command::Fetch(a) => {
            window(&mut a.window, sub, &loaded);
            twilio(&mut a.twilio, sub, &loaded);
            summary(&mut a.summary, &loaded);
        }
        Command::Report(a) => {
            window(&mut a.window, sub, &loaded);
            report(&mut a.out, sub, &loaded);
            summary(&mut a.summary, &loaded);
        }
        Command::Check(a) => {
            if a.db.is_none() {
                a.db = loaded.file.db.clone();
            }
            twilio(&mut a.twilio, sub, &loaded);
        }
        _ => {}
    }
    if path.as_os_str() == DEFAULT_PATH {
        tracing::debug!("read ./{DEFAULT_PATH}");
    }
    Ok(Some(loaded))
}

fn origin_of(command: &mut Command) -> Option<&mut OriginArgs> {
    match command {
        Command::Run(a) => Some(&mut a.origin),
        Command::Fetch(a) => Some(&mut a.origin),
        Command::Check(a) => Some(&mut a.origin),
        _ => None,
    }
}

/// Given on the command line or in the environment.
fn explicit(m: &ArgMatches, id: &str) -> bool {
    matches!(
        m.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// Still the built-in default (or absent): the file may set it.
fn unset(m: &ArgMatches, id: &str) -> bool {
    !explicit(m, id)
}

fn set<T: Clone>(m: &ArgMatches, id: &str, target: &mut T, value: &Option<T>) {
    if let Some(v) = value
        && unset(m, id)
    {
        *target = v.clone();
    }
}

fn window(w: &mut WindowArgs, m: &ArgMatches, c: &Loaded) {
    let f = &c.file;
    if w.db.is_none() {
        w.db = f.db.clone();
    }
    // A window on the command line, named or by bounds, replaces the file's.
    if w.window.is_none() && w.from.is_none() && w.to.is_none() && f.window.is_some() {
        w.window = f.window;
        w.window_name = Some(c.key("window"));
    }
    if w.tz.is_none() {
        w.tz = f.tz.clone();
    }
    set(m, "match_delay", &mut w.match_delay, &f.match_delay);
    set(
        m,
        "default_region",
        &mut w.default_region,
        &f.default_region,
    );
    set(
        m,
        "followup_max_age",
        &mut w.followup_max_age,
        &f.followup_max_age,
    );
    set(m, "retain_days", &mut w.retain_days, &f.retain_days);
    if w.max_runtime.is_none() {
        w.max_runtime = f.max_runtime.clone();
    }
}

fn twilio(t: &mut TwilioArgs, m: &ArgMatches, c: &Loaded) {
    let f = &c.file.twilio;
    set(m, "rps", &mut t.rps, &f.rps.map(Some));
    set(m, "max_in_flight", &mut t.max_in_flight, &f.max_in_flight);
    set(m, "max_attempts", &mut t.max_attempts, &f.max_attempts);
    set(
        m,
        "max_retry_wait",
        &mut t.max_retry_wait,
        &f.max_retry_wait,
    );
    set(m, "timeout", &mut t.timeout, &f.timeout);
    set(
        m,
        "max_notification_lookups",
        &mut t.max_notification_lookups,
        &f.max_notification_lookups,
    );
    set(
        m,
        "max_sid_lookups",
        &mut t.max_sid_lookups,
        &f.max_sid_lookups,
    );
}

fn report(o: &mut ReportOutArgs, m: &ArgMatches, c: &Loaded) {
    let f = &c.file.report;
    set(
        m,
        "include_completed",
        &mut o.include_completed,
        &f.include_completed,
    );
    set(m, "excel_safe", &mut o.excel_safe, &f.excel_safe);
    set(
        m,
        "no_write_back",
        &mut o.no_write_back,
        &f.write_back.map(|w| !w),
    );
    if o.fail_if_missed_webhooks.is_none() {
        o.fail_if_missed_webhooks = f.fail_if_missed_webhooks;
    }
}

fn summary(s: &mut SummaryArgs, c: &Loaded) {
    if s.summary_json.is_none() {
        s.summary_json = c.file.report.summary_json.clone();
    }
}
