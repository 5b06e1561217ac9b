//! Every check that can refuse a database, made before anything is created, locked,
//! converted to WAL or migrated (issue 11, case 3): a refused file is left byte for byte as
//! it was, with nothing beside it.
//!
//! The checks read only: the path (it exists, is a regular file, its folder exists), the
//! first bytes (SQLite's header; an empty file is not a ledger), and, through a read-only
//! connection, the contract's columns and callrecon's schema version. When the database has
//! no `-wal` file (nobody has it open in WAL mode), the connection is opened `immutable`,
//! so that SQLite creates no `-shm` or `-wal` beside a file it is only asked about.
//!
//! Each refusal is a usage error (exit 2) naming the path and what to do; the same words
//! and code for every subcommand (README, "Exit codes").

use super::OpenMode;
use crate::error::UsageError;
use anyhow::Result;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::io::Read;
use std::path::Path;

const HEADER: &[u8] = b"SQLite format 3\0";

/// Whether the database file exists (a `CreateIfMissing` database may not, yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Exists,
    Missing,
}

/// Refuses (exit 2) what `Store::open` would refuse, without changing anything.
pub fn check(path: &Path, mode: OpenMode) -> Result<Found> {
    let shown = path.display();
    let init = format!("callrecon ledger init --db {shown}");
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = crate::output::folder_of(path);
            if !dir.is_dir() {
                return Err(UsageError::new(format!(
                    "database {shown}: its folder {} does not exist; check the path given to --db",
                    dir.display()
                )));
            }
            if mode == OpenMode::CreateIfMissing {
                return Ok(Found::Missing);
            }
            return Err(UsageError::new(format!(
                "database {shown} does not exist; point --db at the application's ledger, or \
                 create one with `{init}`"
            )));
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(UsageError::new(format!(
                "database {shown}: a part of that path is a file, not a folder; check the path \
                 given to --db"
            )));
        }
        Err(e) => {
            return Err(UsageError::new(format!(
                "database {shown} cannot be read ({e}); check its permissions"
            )));
        }
    };
    if meta.is_dir() {
        return Err(UsageError::new(format!(
            "database {shown} is a folder; point --db at the ledger file inside it"
        )));
    }
    if !meta.is_file() {
        return Err(UsageError::new(format!(
            "database {shown} is not a regular file; point --db at the application's ledger"
        )));
    }
    let mut header = Vec::with_capacity(HEADER.len());
    std::fs::File::open(path)
        .and_then(|f| f.take(HEADER.len() as u64).read_to_end(&mut header))
        .map_err(|e| {
            UsageError::new(format!(
                "database {shown} cannot be read ({e}); check its permissions"
            ))
        })?;
    if header.is_empty() {
        if mode == OpenMode::CreateIfMissing {
            return Ok(Found::Exists);
        }
        return Err(UsageError::new(format!(
            "database {shown} is an empty file, not the application's ledger; point --db at \
             the ledger, or create one with `{init}`"
        )));
    }
    if header != HEADER {
        return Err(not_sqlite(path));
    }
    let conn = read_only(path)?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'intended_calls'",
            [],
            |r| r.get(0),
        )
        .map_err(|_| not_sqlite(path))?;
    if tables > 0 || mode == OpenMode::MustExist {
        crate::ledger::check_columns(&conn, path)?;
    }
    let has_meta: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = 'recon_meta'",
        [],
        |r| r.get(0),
    )?;
    if has_meta > 0 {
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM recon_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        super::schema::check_version(path, version.and_then(|v| v.parse().ok()).unwrap_or(0))?;
    }
    Ok(Found::Exists)
}

fn not_sqlite(path: &Path) -> anyhow::Error {
    UsageError::new(format!(
        "{} is not a SQLite database; point --db at the application's ledger",
        path.display()
    ))
}

/// A connection that writes nothing, creates nothing beside the file, and takes no lock
/// that could outlive it.
pub fn read_only(path: &Path) -> Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    // A WAL-mode file without its -wal would make a read-only reader create -wal and -shm;
    // `immutable` reads it as it lies. A rollback-journal file is read with ordinary shared
    // locks instead, so that an application writing it meanwhile is never read half-written.
    let immutable = !Path::new(&wal).exists() && wal_mode_header(path);
    let uri = format!(
        "file:{}{}",
        uri_path(path),
        if immutable { "?immutable=1" } else { "" }
    );
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        UsageError::new(format!(
            "database {} cannot be opened ({e}); check its permissions",
            path.display()
        ))
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// Whether the file's header says WAL mode (read and write versions 2, bytes 18 and 19).
fn wal_mode_header(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header[18] == 2 && header[19] == 2)
}

/// A path as a URI path: `%`, `?` and `#` (and bytes outside printable ASCII) escaped.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        match b {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{b:02X}")),
            0x21..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_paths_survive_the_uri() {
        assert_eq!(
            uri_path(Path::new("/a b/c?d#e%f.db")),
            "/a%20b/c%3Fd%23e%25f.db"
        );
    }
}
