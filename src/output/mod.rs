//! Where callrecon's files go: the one writer behind every output path (report, orphans,
//! numbers, summary JSON), the check that no output is the database, and the sweep of
//! temporary files left by killed runs.
//!
//! A destination is written according to what it is, never by what its name suggests:
//! - a regular file, or a path where none exists yet, is written atomically: a temporary
//!   file in the same folder, synced, then renamed over the destination, so a reader never
//!   sees half of it and a failed run leaves the previous file as it was;
//! - a symlink is followed, and its target is the destination (replaced atomically when it is
//!   a regular file): the link itself is never replaced;
//! - a character or block device, a FIFO or a socket is written in place and never renamed
//!   over. A rename over `/dev/null` (run as root, as cron often is) once replaced the
//!   machine's `/dev/null` with a regular file;
//! - `-` is stdout, through [`crate::stdio`], which treats a reader that left as done.

pub mod clash;
pub mod sweep;

use crate::error::UsageError;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What a destination is, once symlinks are followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-`.
    Stdout,
    /// A regular file, or nothing yet: written atomically at this path (symlinks resolved).
    Atomic(PathBuf),
    /// A device or a FIFO: opened for writing, never created, truncated or renamed over.
    InPlace(PathBuf),
    /// A Unix socket: connected to and written.
    Socket(PathBuf),
}

/// Follows `path` through any symlinks to the file it names, whether or not that file
/// exists yet (a dangling link names the path its target would be created at).
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .with_context(|| format!("reading the symlink {}", current.display()))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(UsageError::new(format!(
        "{}: too many levels of symlinks",
        path.display()
    )))
}

/// Classifies a destination path (see the module's rules). Refuses, as a usage error
/// (exit 2), a folder, or a path whose folder does not exist.
pub fn target(dest: &Path) -> Result<Target> {
    if dest.as_os_str() == "-" {
        return Ok(Target::Stdout);
    }
    let path = resolve(dest)?;
    match std::fs::metadata(&path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            let t = m.file_type();
            if t.is_dir() {
                Err(UsageError::new(format!(
                    "{} is a folder; give the path of a file to write",
                    dest.display()
                )))
            } else if t.is_file() {
                Ok(Target::Atomic(path))
            } else if t.is_socket() {
                Ok(Target::Socket(path))
            } else {
                Ok(Target::InPlace(path))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = folder_of(&path);
            if dir.is_dir() {
                Ok(Target::Atomic(path))
            } else {
                Err(UsageError::new(format!(
                    "cannot write {}: its folder {} does not exist; create it first",
                    dest.display(),
                    dir.display()
                )))
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Err(UsageError::new(format!(
            "cannot write {}: a part of that path is a file, not a folder",
            dest.display()
        ))),
        Err(e) => Err(UsageError::new(format!(
            "cannot write {}: {e}",
            dest.display()
        ))),
    }
}

/// The folder a path's file lives in (`.` for a bare name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// How a file is written: the temporary file's name and the final file's mode.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// `report`, `summary`…: the temporary file is `.callrecon-{name}-{pid}-` plus random letters, then `.tmp`.
    pub name: &'static str,
    pub mode: u32,
}

/// Report files hold phone numbers: personal data, readable by the owner only.
pub const PRIVATE: Kind = Kind {
    name: "report",
    mode: 0o600,
};

/// An output being written; nothing is visible at an atomic destination until [`commit`].
///
/// [`commit`]: OutFile::commit
pub struct OutFile {
    out: Box<dyn Write>,
    temp: Option<(tempfile::NamedTempFile, PathBuf)>,
    /// The path as given.
    dest: PathBuf,
}

impl OutFile {
    pub fn create(dest: &Path, kind: Kind) -> Result<OutFile> {
        let (out, temp): (Box<dyn Write>, _) = match target(dest)? {
            Target::Stdout => (
                Box::new(BufWriter::new(crate::stdio::Stdout::reader_may_leave())),
                None,
            ),
            Target::InPlace(path) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| {
                        UsageError::new(format!("cannot open {} for writing: {e}", dest.display()))
                    })?;
                (Box::new(BufWriter::new(ReaderMayLeave(file))), None)
            }
            Target::Socket(path) => {
                let sock = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
                    UsageError::new(format!("cannot connect to socket {}: {e}", dest.display()))
                })?;
                (Box::new(BufWriter::new(ReaderMayLeave(sock))), None)
            }
            Target::Atomic(path) => {
                let dir = folder_of(&path);
                sweep::leftovers(&dir);
                let temp = tempfile::Builder::new()
                    .prefix(&format!(".callrecon-{}-{}-", kind.name, std::process::id()))
                    .suffix(".tmp")
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(kind.mode))
                    .tempfile_in(&dir)
                    .map_err(|e| {
                        UsageError::new(format!(
                            "cannot create a file in {} (for {}): {e}",
                            dir.display(),
                            dest.display()
                        ))
                    })?;
                let file = temp.reopen().with_context(|| {
                    format!("opening the temporary file for {}", dest.display())
                })?;
                (
                    Box::new(BufWriter::with_capacity(1 << 16, file)),
                    Some((temp, path)),
                )
            }
        };
        Ok(OutFile {
            out,
            temp,
            dest: dest.to_owned(),
        })
    }

    /// The destination, as it was given.
    pub fn destination(&self) -> &Path {
        &self.dest
    }

    /// For an atomic destination, what was written so far, opened anew for reading (nothing
    /// is at the destination yet); `None` for one written in place.
    pub fn written_so_far(&mut self) -> Result<Option<File>> {
        self.out.flush()?;
        match &self.temp {
            Some((temp, _)) => Ok(Some(temp.reopen()?)),
            None => Ok(None),
        }
    }

    /// Flushes, and for an atomic destination syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        self.out.flush()?;
        drop(self.out);
        if let Some((temp, path)) = self.temp {
            temp.as_file().sync_all()?;
            crate::failpoint::hit("report.before-rename");
            temp.persist(&path)
                .with_context(|| format!("moving the file into place at {}", path.display()))?;
            sync_dir(&path);
        }
        Ok(())
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A FIFO or socket whose reader left: like a closed stdout, the rest is dropped and the run
/// goes on (see [`crate::stdio`]).
struct ReaderMayLeave<W: Write>(W);

impl<W: Write> Write for ReaderMayLeave<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(buf.len()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// Makes the rename durable; best effort, as not every filesystem supports it.
fn sync_dir(dest: &Path) {
    if let Ok(d) = File::open(folder_of(dest)) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
