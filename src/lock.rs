//! One writer at a time: every command that writes to the database holds an exclusive lock
//! on a file beside it (`<db>.callrecon-lock`) for as long as it runs.
//!
//! The lock is the operating system's (`flock`), so it dies with its process: a run killed
//! with SIGKILL, or a machine that rebooted, never leaves a lock that blocks the next run.
//! The file holds the owner's pid, only to say who holds it.

use crate::error::{Exit, Stopped};
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while alive; dropping it (or dying) releases the lock.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
    pub path: PathBuf,
}

pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".callrecon-lock");
    db.with_file_name(name)
}

/// Takes the lock or fails at once with exit 75, naming the holder.
pub fn acquire(db: &Path) -> Result<DbLock> {
    let path = lock_path(db);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            return Err(anyhow::Error::new(Stopped {
                exit: Exit::Locked,
                message: format!(
                    "another callrecon command{who} is using {}; this one did nothing. \
                     Wait for it to finish (cron: do not start runs closer together than they take)",
                    db.display()
                ),
            }));
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    file.flush()?;
    Ok(DbLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_the_lock_dies_with_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        let first = acquire(&db).unwrap();
        let err = acquire(&db).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), Exit::Locked);
        assert!(format!("{err:#}").contains(&format!("pid {}", std::process::id())));
        drop(first);
        acquire(&db).unwrap();
    }
}
