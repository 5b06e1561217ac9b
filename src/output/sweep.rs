//! Temporary files left by killed runs are removed by the next run writing in that folder.
//!
//! A run killed between creating its temporary report and renaming it leaves
//! `.callrecon-report-…tmp` behind, up to a whole report of personal data. Before writing in
//! a folder, callrecon removes such files, and only its own: names of the form
//! `.callrecon-{kind}-{pid}-{random}.tmp` (or the older `.callrecon-{kind}-{random}.tmp`,
//! which carry no pid), regular files only, and only when
//! - the pid in the name is not a running process (or the name has none) and the file was
//!   last written more than [`ORPHANED_AFTER`] ago: a run still writing its report touches
//!   the file all the time, and a run in another PID namespace is not taken for dead at once;
//! - or the file is older than [`ABANDONED_AFTER`], whatever its pid says (pids are reused).
//!
//! A run never removes its own files.

use std::path::Path;
use std::time::{Duration, SystemTime};

pub const ORPHANED_AFTER: Duration = Duration::from_secs(10 * 60);
pub const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// What a file name says about its owner, when it is one of callrecon's temporary files.
#[derive(Debug, PartialEq, Eq)]
pub enum Owner {
    Pid(u32),
    Unknown,
}

/// Parses `.callrecon-{kind}-{pid}-{random}.tmp` (or without the pid).
pub fn owner(name: &str) -> Option<Owner> {
    let rest = name.strip_prefix(".callrecon-")?.strip_suffix(".tmp")?;
    let (kind, rest) = rest.split_once('-')?;
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase()) || rest.is_empty() {
        return None;
    }
    match rest.split_once('-') {
        Some((pid, random)) if !random.is_empty() => match pid.parse() {
            Ok(pid) => Some(Owner::Pid(pid)),
            Err(_) => Some(Owner::Unknown),
        },
        _ => Some(Owner::Unknown),
    }
}

fn running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a file of that name and age is a leftover to remove.
pub fn is_leftover(name: &str, age: Duration) -> bool {
    let Some(owner) = owner(name) else {
        return false;
    };
    if owner == Owner::Pid(std::process::id()) {
        return false;
    }
    if age > ABANDONED_AFTER {
        return true;
    }
    let gone = match owner {
        Owner::Pid(pid) => !running(pid),
        Owner::Unknown => true,
    };
    gone && age > ORPHANED_AFTER
}

/// Removes callrecon's leftover temporary files in `dir`; best effort, logged.
pub fn leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if is_leftover(name, age) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            "removed {removed} temporary file(s) left in {} by earlier runs that were killed",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_callrecons_own_old_files_of_dead_runs_are_leftovers() {
        let old = ORPHANED_AFTER + Duration::from_secs(1);
        let ancient = ABANDONED_AFTER + Duration::from_secs(1);
        // No such pid on Linux (pid_max is at most 2^22).
        assert!(is_leftover(".callrecon-report-99999999-abc123.tmp", old));
        assert!(is_leftover(".callrecon-report-abc123.tmp", old));
        assert!(!is_leftover(
            ".callrecon-report-99999999-abc123.tmp",
            Duration::ZERO
        ));
        let mine = format!(".callrecon-summary-{}-abc.tmp", std::process::id());
        assert!(!is_leftover(&mine, ancient), "never this run's own");
        let parent = format!(
            ".callrecon-report-{}-abc.tmp",
            std::os::unix::process::parent_id()
        );
        assert!(!is_leftover(&parent, old), "a running owner's file stays");
        for other in [
            "report.csv",
            ".callrecon-report-x.csv",
            "callrecon-report-1-a.tmp",
            ".other-1-a.tmp",
        ] {
            assert!(!is_leftover(other, ancient), "{other}");
        }
    }
}
