//! Crash points for the reliability tests: `CALLRECON_FAILPOINT=name:N[:term]` makes the
//! process kill itself with SIGKILL (or send itself SIGTERM) the N-th time it passes the
//! point `name`; `name:N:wait=PATH` instead creates PATH there and waits (at most a minute)
//! until the test removes it, so that a test can act at exactly that point (an application
//! writing the ledger between the report's read and its write-back). Each point sits where a real crash would hurt most: between landing a page
//! and recording progress, in the middle of a write-back batch, after the report's temporary
//! file is written but before it is renamed. Unset (always, outside tests), a point costs one
//! relaxed atomic load.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::OnceLock;

struct Plan {
    name: String,
    nth: u64,
    term: bool,
    wait: Option<std::path::PathBuf>,
}

fn plan() -> &'static Option<Plan> {
    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let text = std::env::var("CALLRECON_FAILPOINT").ok()?;
        let mut parts = text.split(':');
        let name = parts.next()?.to_owned();
        let nth = parts.next()?.parse().ok()?;
        let action = parts.next();
        let term = action == Some("term");
        let wait = action
            .and_then(|a| a.strip_prefix("wait="))
            .map(std::path::PathBuf::from);
        Some(Plan {
            name,
            nth,
            term,
            wait,
        })
    })
}

/// Passes the point `name`.
pub fn hit(name: &str) {
    let Some(plan) = plan() else { return };
    if plan.name != name {
        return;
    }
    static COUNTS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let n = counts
        .get_or_insert_with(HashMap::new)
        .entry(name.to_owned())
        .or_insert(0);
    *n += 1;
    if *n == plan.nth
        && let Some(path) = &plan.wait
    {
        let _ = std::fs::write(path, b"");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while path.exists() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        return;
    }
    if *n == plan.nth {
        #[cfg(unix)]
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(
                libc::getpid(),
                if plan.term {
                    libc::SIGTERM
                } else {
                    libc::SIGKILL
                },
            );
        }
    }
}
