//! One writer at a time: every batch command that writes to the database holds an exclusive
//! lock on the database file itself for as long as it runs.
//!
//! The lock is the operating system's `flock` on the database's inode, so it follows the
//! file, not the path: the same ledger reached through a symlink or a hardlink meets the
//! same lock (a lock file named after the path, as before, let `d.db` and `dlink.db` run at
//! once), and nothing is created beside the database, so a refused or missing path is left
//! as it was. The lock dies with its process: a run killed with SIGKILL, or a machine that
//! rebooted, never leaves a lock that blocks the next run. The holder's pid, for the
//! message, comes from `/proc/locks`.
//!
//! Why `flock` and not SQLite's own locks: `flock` locks are separate from the POSIX
//! (`fcntl`) locks SQLite takes on the same file, so the application's SQLite never meets
//! this one. Two rules keep it so: the lock's descriptor is closed only after the command's
//! database connection (closing any descriptor of a file drops the process's POSIX locks on
//! it; [`Locked`] drops its store first), and the database is not on NFS, where Linux emulates
//! `flock` with POSIX locks (SQLite warns against NFS for its own reasons too).

use crate::error::{Exit, Stopped, UsageError};
use crate::store::Store;
use anyhow::{Context, Result};
use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Held while alive; dropping it (or dying) releases the lock.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

/// A store opened under its lock. Fields drop in order: the connection closes before the
/// lock's descriptor (see the module's documentation).
pub struct Locked {
    pub store: Store,
    pub lock: DbLock,
}

/// Takes the lock on the (existing) database file, or fails at once with exit 75, naming
/// the holder.
pub fn acquire(db: &Path) -> Result<DbLock> {
    let file = File::open(db).map_err(|e| {
        UsageError::new(format!(
            "database {} cannot be opened to lock it: {e}",
            db.display()
        ))
    })?;
    match file.try_lock() {
        Ok(()) => Ok(DbLock { _file: file }),
        Err(TryLockError::WouldBlock) => {
            let who = file
                .metadata()
                .ok()
                .and_then(|m| holder(m.dev(), m.ino()))
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            Err(anyhow::Error::new(Stopped {
                exit: Exit::Locked,
                message: format!(
                    "another callrecon command{who} is using {}; this one did nothing. \
                     Wait for it to finish (cron: do not start runs closer together than they take)",
                    db.display()
                ),
            }))
        }
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", db.display())),
    }
}

/// The pid holding an `flock` on the file `(dev, ino)`, from `/proc/locks`
/// (`1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`; device numbers in hex).
fn holder(dev: u64, ino: u64) -> Option<u32> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let want = (libc::major(dev) as u64, libc::minor(dev) as u64, ino);
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Waiting requests are shown as `1: -> FLOCK …`: not holders.
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let mut id = fields.get(5)?.split(':');
        let major = u64::from_str_radix(id.next()?, 16).ok()?;
        let minor = u64::from_str_radix(id.next()?, 16).ok()?;
        let inode = id.next()?.parse().ok()?;
        ((major, minor, inode) == want)
            .then(|| fields.get(4)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_the_lock_dies_with_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        std::fs::write(&db, "").unwrap();
        let first = acquire(&db).unwrap();
        let err = acquire(&db).unwrap_err();
        assert_eq!(crate::error::exit_code(&err), Exit::Locked);
        assert!(
            format!("{err:#}").contains(&format!("pid {}", std::process::id())),
            "{err:#}"
        );
        drop(first);
        acquire(&db).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing beside it"
        );
    }

    #[test]
    fn symlinks_and_hardlinks_meet_the_same_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("d.db");
        std::fs::write(&db, "").unwrap();
        let soft = dir.path().join("dlink.db");
        std::os::unix::fs::symlink(&db, &soft).unwrap();
        let sub = dir.path().join("elsewhere");
        std::fs::create_dir(&sub).unwrap();
        let hard = sub.join("hard.db");
        std::fs::hard_link(&db, &hard).unwrap();
        let _held = acquire(&db).unwrap();
        for other in [&soft, &hard] {
            let err = acquire(other).unwrap_err();
            assert_eq!(
                crate::error::exit_code(&err),
                Exit::Locked,
                "{}",
                other.display()
            );
        }
    }
}
