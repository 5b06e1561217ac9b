//! Outputs never touch the database (design.md, "Outputs are never the database").
//!
//! Before any work, every output path is compared with the database file and its `-wal` and
//! `-shm`, by the file behind the path (device and inode, after following symlinks: a
//! hardlink or a symlink to the ledger is caught), and, for a path that does not exist yet,
//! by where it would be created (its folder, canonical, and its name). Outputs that are
//! regular files are compared with each other the same way: two outputs renamed over one
//! file would leave only the last. Devices and FIFOs may be shared (`/dev/null` twice).
//! `run --db h.db --out h.db` once left the ledger as CSV.

use super::{Target, target};
use anyhow::Result;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An output path clashes with the database or another output: a usage error (exit 2), and
/// nothing is written, not even the summary JSON (it may be the clashing path).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Clash(pub String);

/// The file a path names: its device and inode when it exists, and where it is (or would be
/// created), canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    inode: Option<(u64, u64)>,
    place: Option<PathBuf>,
}

impl Identity {
    fn of(path: &Path) -> Identity {
        let resolved = super::resolve(path).unwrap_or_else(|_| path.to_owned());
        let inode = std::fs::metadata(&resolved)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let place = match std::fs::canonicalize(&resolved) {
            Ok(p) => Some(p),
            Err(_) => {
                let dir = std::fs::canonicalize(super::folder_of(&resolved)).ok();
                dir.zip(resolved.file_name()).map(|(d, n)| d.join(n))
            }
        };
        Identity { inode, place }
    }

    fn same(&self, other: &Identity) -> bool {
        (self.inode.is_some() && self.inode == other.inode)
            || (self.place.is_some() && self.place == other.place)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Refuses outputs (`(flag, path)`) that are the database `db`, its `-wal` or `-shm`, or
/// the same regular file as another output.
pub fn check(db: &Path, outputs: &[(&str, &Path)]) -> Result<()> {
    // SQLite names the journal after the path it opened, which is the database's path with
    // symlinks followed: both spellings are covered.
    let mut db_files = Vec::new();
    let canonical = super::resolve(db).unwrap_or_else(|_| db.to_owned());
    for base in [db.to_owned(), canonical] {
        for (suffix, what) in [
            ("", "the database"),
            ("-wal", "its -wal"),
            ("-shm", "its -shm"),
        ] {
            db_files.push((Identity::of(&with_suffix(&base, suffix)), what));
        }
    }
    let mut regular: Vec<(&str, &Path, Identity)> = Vec::new();
    for &(flag, path) in outputs {
        if path.as_os_str() == "-" {
            continue;
        }
        let id = Identity::of(path);
        if let Some((_, what)) = db_files.iter().find(|(d, _)| d.same(&id)) {
            return Err(anyhow::Error::new(Clash(format!(
                "{flag} {} is {what} ({}); an output must never overwrite the ledger. \
                 Give another path (nothing was written)",
                path.display(),
                db.display()
            ))));
        }
        // A device or FIFO may serve two outputs; a regular file may not.
        if !matches!(target(path), Ok(Target::Atomic(_))) {
            continue;
        }
        if let Some((other, other_path, _)) = regular.iter().find(|(_, _, o)| o.same(&id)) {
            return Err(anyhow::Error::new(Clash(format!(
                "{flag} {} and {other} {} are the same file; give each output its own path \
                 (nothing was written)",
                path.display(),
                other_path.display()
            ))));
        }
        regular.push((flag, path, id));
    }
    Ok(())
}

/// Whether an error is a clash (then nothing at all is written).
pub fn is_clash(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<Clash>().is_some())
}
