//! `callrecon check`: the first night's prerequisites, before the first night.
//!
//! For each account: the credentials work (one `Calls.json?PageSize=1`) and may read
//! Monitor alerts (one `/v1/Alerts?PageSize=1`; without that permission error codes come
//! from per-call notifications only, slower and bounded). For the ledger: it is SQLite and
//! `intended_calls` has the contract's columns, read without writing anything, and which of
//! its rows callrecon cannot read (`WARN`: they are reported each night, they do not stop a
//! run). Each check is
//! printed as `ok` or `FAILED` with the reason; every check runs even after one fails, so
//! one run shows everything to fix. Exit 0 when all pass, 3 when Twilio refused credentials
//! or a permission, else the code of the first failure (2 for configuration or ledger).

use crate::cli::CheckArgs;
use crate::config::Loaded;
use crate::config::accounts::{self, Account};
use crate::error::{Exit, Stopped, UsageError, exit_code};
use crate::twilio::ApiError;
use crate::twilio::model::{AlertsPage, CallsPage};
use anyhow::Result;
use std::path::Path;

struct Outcome {
    name: String,
    result: Result<String>,
}

pub async fn run(args: CheckArgs, config: Option<&Loaded>) -> Result<()> {
    let mut done: Vec<Outcome> = Vec::new();
    let mut say = |name: String, result: Result<String>| {
        match &result {
            // A reader that left (`check | head -1`) does not stop the other checks.
            Ok(detail) => {
                let _ = crate::stdio::out_line(&format!("ok      {name}: {detail}"));
            }
            Err(e) => {
                let _ = crate::stdio::out_line(&format!("FAILED  {name}: {e:#}"));
            }
        }
        done.push(Outcome { name, result });
    };
    if let Some(c) = config {
        let n = c.file.accounts.len();
        say(
            format!("config {}", c.path.display()),
            Ok(format!("read; {n} account(s) named")),
        );
    }
    // An answer within seconds: a host that refuses or does not answer is reported as such
    // after two short tries, not after the nightly job's whole retry budget.
    let mut twilio = args.twilio.clone();
    twilio.max_attempts = twilio.max_attempts.min(2);
    twilio.max_retry_wait = twilio.max_retry_wait.min(2);
    twilio.timeout = twilio.timeout.min(10);
    match accounts::resolve(&args.twilio, &args.origin, config) {
        Ok(list) => {
            for account in &list {
                let name = format!("account {} ({})", account.name, account.sid());
                match account.client(&twilio) {
                    Ok(client) => {
                        say(format!("{name} calls"), calls(&client, account).await);
                        say(format!("{name} monitor"), monitor(&client).await);
                    }
                    Err(e) => say(name, Err(e)),
                }
            }
        }
        Err(e) => say("credentials".to_owned(), Err(e)),
    }
    match &args.db {
        Some(db) => {
            let readable = ledger(db);
            let ok = readable.is_ok();
            say("ledger".to_owned(), readable);
            if ok {
                // Rows callrecon cannot read do not stop a run (each is reported), so they
                // are a warning here, not a failure: but never "ok".
                match ledger_rows(db) {
                    Ok(Rows::Readable(detail)) => say("ledger rows".to_owned(), Ok(detail)),
                    Ok(Rows::Unreadable(detail)) => {
                        let _ = crate::stdio::out_line(&format!("WARN    ledger rows: {detail}"));
                    }
                    Err(e) => say("ledger rows".to_owned(), Err(e)),
                }
            }
        }
        None => say(
            "ledger".to_owned(),
            Err(UsageError::new(
                "no database given: --db PATH (or db in the configuration file)",
            )),
        ),
    }
    let failed: Vec<&Outcome> = done.iter().filter(|o| o.result.is_err()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let codes: Vec<Exit> = failed
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(exit_code))
        .collect();
    let exit = if codes.contains(&Exit::TwilioAuth) {
        Exit::TwilioAuth
    } else {
        codes[0]
    };
    let names: Vec<&str> = failed.iter().map(|o| o.name.as_str()).collect();
    Err(anyhow::Error::new(Stopped {
        exit,
        message: format!(
            "{} of {} check(s) FAILED: {}",
            failed.len(),
            done.len(),
            names.join(", ")
        ),
    }))
}

/// One page of one call: the credentials are accepted and may list calls.
async fn calls(client: &crate::twilio::Client, account: &Account) -> Result<String> {
    let url = client.calls_url(&[("PageSize", "1")]);
    match client.get_page::<CallsPage>(&url).await {
        Ok(_) => Ok(format!(
            "credentials accepted, calls may be listed ({}, secret from {})",
            account.base_url, account.secret_from
        )),
        Err(e) if e.status() == Some(401) => Err(anyhow::Error::new(e).context(format!(
            "check the account SID and its secret (from {})",
            account.secret_from
        ))),
        Err(e) => Err(explain(
            e,
            "the credentials may not list calls; give the key that permission",
        )),
    }
}

/// One alert: the key may read Monitor, where most error codes are found cheaply.
async fn monitor(client: &crate::twilio::Client) -> Result<String> {
    let url = client.alerts_url(&[("PageSize", "1")]);
    match client.get_page::<AlertsPage>(&url).await {
        Ok(_) => Ok("Monitor alerts may be read".to_owned()),
        Err(e) => Err(explain(
            e,
            "give the key permission to read Monitor alerts; without it error codes come from \
             per-call notifications only (bounded by --max-notification-lookups)",
        )),
    }
}

/// Keeps the error (its exit code) and says what to do about a refusal of permission; a 401
/// (credentials not accepted) carries its own advice to check them.
fn explain(e: ApiError, hint: &str) -> anyhow::Error {
    match e.status() {
        Some(403) => anyhow::Error::new(e).context(hint.to_owned()),
        _ => anyhow::Error::new(e),
    }
}

/// The ledger, read only: SQLite, with every column of the contract (the same checks, and
/// words, as every command that opens it: [`crate::store::preflight`]).
fn ledger(db: &Path) -> Result<String> {
    crate::store::preflight::check(db, crate::store::OpenMode::MustExist)?;
    let conn = crate::store::preflight::read_only(db)?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM intended_calls", [], |r| r.get(0))?;
    Ok(format!(
        "{}: intended_calls has the contract's columns ({rows} row(s))",
        db.display()
    ))
}

/// Rows callrecon cannot read (reported with an empty outcome every night until fixed), and
/// rows it reads with a note, found through the ledger's one reader ([`crate::ledger::cell`]).
enum Rows {
    Readable(String),
    Unreadable(String),
}

fn ledger_rows(db: &Path) -> Result<Rows> {
    use crate::ledger::{Cell, cell};
    crate::store::preflight::check(db, crate::store::OpenMode::MustExist)?;
    let conn = crate::store::preflight::read_only(db)?;
    let mut stmt = conn.prepare(
        "SELECT id, to_number, intended_at, external_ref, from_number, call_sid,
                create_error_code, webhook_status, webhook_error_code, webhook_sip_code
         FROM intended_calls ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let (mut unreadable, mut noted) = (Vec::new(), 0u64);
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let c = |i| Cell::get(r, i);
        let mut problems = Vec::new();
        match cell::required("to_number", &c(1)?) {
            Err(bad) => problems.push(bad),
            Ok(t) if t.trim().is_empty() => problems.push("to_number is empty".to_owned()),
            Ok(_) => {}
        }
        match cell::required("intended_at", &c(2)?) {
            Err(bad) => problems.push(bad),
            Ok(t) if crate::timefmt::parse_intended_at(&t).is_none() => {
                problems.push(format!("intended_at '{t}' is not a time"))
            }
            Ok(_) => {}
        }
        for (i, column) in [
            (6, "create_error_code"),
            (8, "webhook_error_code"),
            (9, "webhook_sip_code"),
        ] {
            if let Err(bad) = cell::integer(&c(i)?) {
                problems.push(format!("{column} '{bad}' is not an integer"));
            }
        }
        let mut notes = Vec::new();
        for (i, column) in [
            (3, "external_ref"),
            (4, "from_number"),
            (5, "call_sid"),
            (7, "webhook_status"),
        ] {
            cell::lossy(column, &c(i)?, &mut notes);
        }
        noted += !notes.is_empty() as u64;
        if !problems.is_empty() {
            unreadable.push(format!("id {id}: {}", problems.join(", ")));
        }
    }
    let note = match noted {
        0 => String::new(),
        n => format!("; {n} row(s) with values that are not text, shown with U+FFFD"),
    };
    if unreadable.is_empty() {
        return Ok(Rows::Readable(format!("every row can be read{note}")));
    }
    let shown: Vec<&str> = unreadable.iter().take(5).map(String::as_str).collect();
    let more = match unreadable.len() {
        n if n > 5 => format!(" and {} more", n - 5),
        _ => String::new(),
    };
    Ok(Rows::Unreadable(format!(
        "{} row(s) callrecon cannot read ({}{more}){note}; each is reported with an empty \
         outcome (error_source callrecon) until the application fixes it",
        unreadable.len(),
        shown.join("; ")
    )))
}
