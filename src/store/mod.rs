//! The SQLite file callrecon shares with the application: opening it safely, callrecon's own
//! `recon_*` tables, and landing Twilio's data into them.
//!
//! The application keeps writing `intended_calls` while callrecon runs, so the file is put in
//! WAL mode (persistent, documented in README) with a busy timeout, and every write callrecon
//! makes is a short transaction: one per landed page.

pub mod failure;
mod land;
pub mod preflight;
pub mod retention;
pub use land::{Page, Progress};
mod schema;

use crate::error::UsageError;
use crate::ledger;
use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a statement waits for the application's write lock before failing. Every write
/// transaction callrecon opens is IMMEDIATE: it takes the write lock first, so it waits on the
/// busy timeout. A deferred one that read first and wrote later would fail at once with
/// "database is locked" whenever the application committed in between (SQLite cannot upgrade a
/// stale WAL snapshot). The
/// application's transactions are short; a minute covers a slow disk with a wide margin.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// [`BUSY_TIMEOUT`], or `CALLRECON_BUSY_TIMEOUT_MS` for the reliability tests, which hold a
/// lock longer than the timeout without waiting a minute (like `CALLRECON_FAILPOINT`, a knob
/// for tests, not for operators).
pub fn busy_timeout() -> Duration {
    std::env::var("CALLRECON_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(BUSY_TIMEOUT, Duration::from_millis)
}

pub struct Store {
    pub conn: Connection,
    pub path: PathBuf,
}

/// Whether a missing database file may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    MustExist,
    CreateIfMissing,
}

/// The page cache (KiB, as SQLite's negative `cache_size`) outside a fetch.
pub(crate) const CACHE_KIB: i64 = -32_768;
/// The page cache while a fetch lands calls: merging staged calls inserts into the SID index
/// and three more of `recon_calls` in random order, and re-reading their pages from the file
/// costs more than the memory (measured by `benches/landing.rs`: 128 MiB lands about a fifth
/// faster than 32 MiB).
pub(crate) const LANDING_CACHE_KIB: i64 = -131_072;

impl Store {
    /// Opens the ledger database, checks it is SQLite, sets the pragmas and brings callrecon's
    /// tables up to date. With `MustExist`, a missing file is a usage error (exit 2), never
    /// silently created empty.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store> {
        let mode_create = mode == OpenMode::CreateIfMissing;
        // Nothing is created or converted until every check that can refuse it has passed.
        preflight::check(path, mode)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("opening database {}", path.display()))?;
        conn.busy_timeout(busy_timeout())?;
        // The first read is where SQLite notices a file that is not a database.
        let journal: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| not_sqlite(path, e))?;
        if !journal.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                "{} stays in journal mode {journal}: WAL could not be enabled",
                path.display()
            );
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A 32 MiB page cache (default 2 MiB) keeps the indexes a report walks in memory
        // (a fetch takes more while it lands: `LANDING_CACHE_KIB`), and checkpointing every
        // 40 MiB of WAL (default 4 MiB) writes a page dirtied by many page transactions back
        // once rather than after each.
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        if mode_create {
            ledger::create_table(&conn)?;
        }
        ledger::check_columns(&conn, path)?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Applies the migrations not yet applied, in one exclusive transaction.
    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS recon_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )?;
        let version: usize = tx
            .query_row(
                "SELECT value FROM recon_meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        schema::check_version(&self.path, version)?;
        for sql in &schema::MIGRATIONS[version..] {
            tx.execute_batch(sql)
                .context("upgrading callrecon's tables")?;
        }
        tx.execute(
            "INSERT INTO recon_meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [schema::MIGRATIONS.len().to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn not_sqlite(path: &Path, err: rusqlite::Error) -> anyhow::Error {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => UsageError::new(format!(
            "{} is not a SQLite database; point --db at the application's ledger",
            path.display()
        )),
        _ => anyhow::Error::new(err).context(format!("reading database {}", path.display())),
    }
}
