//! Crash points for the reliability tests: `CALLRECON_FAILPOINT=name:N[:term]` makes the
//! process kill itself with SIGKILL (or send itself SIGTERM) the N-th time it passes the
//! point `name`. Each point sits where a real crash would hurt most: between landing a page
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
}

fn plan() -> &'static Option<Plan> {
    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let text = std::env::var("CALLRECON_FAILPOINT").ok()?;
        let mut parts = text.split(':');
        let name = parts.next()?.to_owned();
        let nth = parts.next()?.parse().ok()?;
        let term = parts.next() == Some("term");
        Some(Plan { name, nth, term })
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
