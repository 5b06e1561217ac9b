//! Stopping on purpose: SIGINT, SIGTERM and `--max-runtime` all ask the run to stop at the
//! next page boundary, leaving its progress in the database so the next run resumes.
//!
//! The signal handlers only set a flag; the loops that fetch and write check it between
//! pages and batches ([`check`]), so nothing is ever half-landed. A second SIGINT exits at
//! once, for the operator who really means it.

use crate::error::{Exit, Stopped};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

static REQUESTED: AtomicU8 = AtomicU8::new(0);

const INTERRUPT: u8 = 1;
const TERMINATE: u8 = 2;
const DEADLINE: u8 = 3;

/// Returns `Err(Stopped)` once a stop was asked for; call it where stopping leaves
/// consistent state (between pages, lookups, write-back batches).
pub fn check() -> anyhow::Result<()> {
    let (exit, why) = match REQUESTED.load(Ordering::SeqCst) {
        0 => return Ok(()),
        INTERRUPT => (Exit::Interrupted, "interrupted (SIGINT)"),
        TERMINATE => (Exit::Terminated, "terminated (SIGTERM)"),
        _ => (Exit::Deadline, "stopped by --max-runtime"),
    };
    Err(anyhow::Error::new(Stopped {
        exit,
        message: format!(
            "{why}; progress is saved, the same command resumes where this run stopped"
        ),
    }))
}

fn request(what: u8) {
    let _ = REQUESTED.compare_exchange(0, what, Ordering::SeqCst, Ordering::SeqCst);
}

/// Installs the signal handlers and the deadline. Must run inside the tokio runtime.
pub fn install(max_runtime: Option<Duration>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut interrupts) = signal(SignalKind::interrupt()) {
            tokio::spawn(async move {
                interrupts.recv().await;
                tracing::warn!(
                    "SIGINT: stopping at the next page boundary (again to quit at once)"
                );
                request(INTERRUPT);
                interrupts.recv().await;
                std::process::exit(Exit::Interrupted as i32);
            });
        }
        if let Ok(mut terms) = signal(SignalKind::terminate()) {
            tokio::spawn(async move {
                terms.recv().await;
                tracing::warn!("SIGTERM: stopping at the next page boundary");
                request(TERMINATE);
            });
        }
    }
    if let Some(limit) = max_runtime {
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            tracing::warn!("--max-runtime reached: stopping at the next page boundary");
            request(DEADLINE);
        });
    }
}
