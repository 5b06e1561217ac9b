//! `callrecon check`: the first night's prerequisites, before the first night.
//!
//! For each account: the credentials work (one `Calls.json?PageSize=1`) and may read
//! Monitor alerts (one `/v1/Alerts?PageSize=1`; without that permission error codes come
//! from per-call notifications only, slower and bounded). For the ledger: it is SQLite and
//! `intended_calls` has the contract's columns, read without writing anything. Each check is
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
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

struct Outcome {
    name: String,
    result: Result<String>,
}

pub async fn run(args: CheckArgs, config: Option<&Loaded>) -> Result<()> {
    let mut done: Vec<Outcome> = Vec::new();
    let mut say = |name: String, result: Result<String>| {
        match &result {
            Ok(detail) => println!("ok      {name}: {detail}"),
            Err(e) => println!("FAILED  {name}: {e:#}"),
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
    say(
        "ledger".to_owned(),
        match &args.db {
            Some(db) => ledger(db),
            None => Err(UsageError::new(
                "no database given: --db PATH (or db in the configuration file)",
            )),
        },
    );
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

/// The ledger, read only: SQLite, with every column of the contract.
fn ledger(db: &Path) -> Result<String> {
    if !db.is_file() {
        return Err(UsageError::new(format!(
            "{} does not exist; point --db at the application's ledger",
            db.display()
        )));
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|_| {
        UsageError::new(format!(
            "{} is not a SQLite database; point --db at the application's ledger",
            db.display()
        ))
    })?;
    crate::ledger::check_columns(&conn, db)?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM intended_calls", [], |r| r.get(0))?;
    Ok(format!(
        "{}: intended_calls has the contract's columns ({rows} row(s))",
        db.display()
    ))
}
