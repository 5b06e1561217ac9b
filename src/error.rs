//! What went wrong, as far as the caller of `callrecon` cares: the exit code.
//!
//! Errors travel as `anyhow::Error` with context added at each boundary; the few kinds a
//! script must tell apart are typed ([`UsageError`], [`Stopped`], and the client's
//! [`crate::twilio::ApiError`]), and [`exit_code`] walks the cause chain to find one. Anything
//! untyped is a local I/O or database failure (exit 1), which is what is left once input,
//! Twilio and interruptions have been accounted for.

use crate::twilio::ApiError;

/// The documented exit codes (design.md, README "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    LocalIo = 1,
    Usage = 2,
    TwilioAuth = 3,
    TwilioUnavailable = 4,
    Alarm = 5,
    Deadline = 6,
    Locked = 75,
    Interrupted = 130,
    Terminated = 143,
}

/// Bad flags, bad configuration or bad input files: the user must change something.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    #[allow(clippy::new_ret_no_self)] // every caller wants it as an anyhow::Error at once
    pub fn new(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(UsageError(message.into()))
    }
}

/// The run stopped on purpose, leaving resumable state behind.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Stopped {
    pub exit: Exit,
    pub message: String,
}

/// Maps an error to the exit code design.md assigns to it.
pub fn exit_code(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some()
            || cause
                .downcast_ref::<crate::output::clash::Clash>()
                .is_some()
        {
            return Exit::Usage;
        }
        if let Some(stopped) = cause.downcast_ref::<Stopped>() {
            return stopped.exit;
        }
        if let Some(api) = cause.downcast_ref::<ApiError>() {
            return api.exit();
        }
    }
    Exit::LocalIo
}

/// True when the error is only a closed stdout pipe (`callrecon report --out - | head`),
/// which is not a failure (ripgrep does the same).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
    })
}
