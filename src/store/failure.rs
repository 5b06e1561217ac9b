//! Database failures in words an operator can act on: which step, which file, and what to do
//! when the cause is one the operator can fix (a lock held too long, a full disk).
//!
//! SQLite's own messages ("database is locked", "database or disk is full: Error code 13")
//! name neither the step nor the file. Every stage's result passes through [`in_step`], which
//! adds both only when a database error is in the chain, so Twilio's errors and usage errors
//! read as before.

use super::busy_timeout;
use rusqlite::ErrorCode;
use std::path::Path;

/// `result`, with "STEP in DB" and advice added when its error came from the database.
pub fn in_step<T>(result: anyhow::Result<T>, step: &str, db: &Path) -> anyhow::Result<T> {
    result.map_err(|err| {
        let Some(code) = sqlite_code(&err) else {
            return err;
        };
        let db = db.display();
        let advice = match code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => format!(
                "another program held a lock on {db} for longer than callrecon's {:.0} s busy \
                 timeout (a long or EXCLUSIVE transaction); nothing half-done was kept, rerun \
                 once it is released",
                busy_timeout().as_secs_f64()
            ),
            ErrorCode::DiskFull => format!(
                "the disk holding {db} is full; free space and rerun (nothing half-done was kept)"
            ),
            ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied => {
                format!("{db} cannot be written; check its folder, owner and mount")
            }
            _ => return err.context(format!("{step} in {db}")),
        };
        err.context(format!("{step} in {db}: {advice}"))
    })
}

fn sqlite_code(err: &anyhow::Error) -> Option<ErrorCode> {
    err.chain()
        .find_map(|cause| match cause.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(e, _)) => Some(e.code),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_database_errors_gain_the_step_and_advice() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        let err = in_step::<()>(Err(busy.into()), "writing back", Path::new("l.db")).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("writing back in l.db: another program held a lock"),
            "{text}"
        );
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let err = in_step::<()>(Err(full.into()), "landing", Path::new("l.db")).unwrap_err();
        assert!(format!("{err:#}").contains("the disk holding l.db is full"));
        let other = in_step::<()>(
            Err(anyhow::anyhow!("Twilio said no")),
            "x",
            Path::new("l.db"),
        );
        assert_eq!(format!("{:#}", other.unwrap_err()), "Twilio said no");
    }
}
