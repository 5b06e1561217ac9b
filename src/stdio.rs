//! The one way callrecon writes to stdout and stderr, so that a reader that left is never
//! a crash and never a reason to skip work.
//!
//! `callrecon report --out - | head -1` closes stdout after one line; `2>&1 | head -1`
//! closes stderr too. Rust ignores SIGPIPE, so the next write fails with `EPIPE`, and
//! `println!`/`eprintln!` then panic (`failed printing to stdout`). Everything here instead
//! takes `EPIPE` as "the reader has had enough": the rest of that stream is dropped, and
//! the run goes on to write its files, its write-back and its summary JSON, and exits with
//! the code it would have had (a closed pipe is not an error: design.md, "Exit codes").
//! Other write errors on stdout (a full disk behind a redirect) are still errors.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_LEFT: AtomicBool = AtomicBool::new(false);

/// Whether stdout's reader has left (a write met `EPIPE`).
pub fn stdout_reader_left() -> bool {
    STDOUT_LEFT.load(Ordering::Relaxed)
}

/// stdout, dropping what is written once its reader has left.
#[derive(Debug, Clone, Copy)]
pub struct Stdout(());

impl Stdout {
    pub fn reader_may_leave() -> Stdout {
        Stdout(())
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if stdout_reader_left() {
            return Ok(buf.len());
        }
        match std::io::stdout().lock().write_all(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                STDOUT_LEFT.store(true, Ordering::Relaxed);
                tracing::debug!("stdout was closed by its reader; the rest is not shown");
                Ok(buf.len())
            }
            Err(e) => Err(e),
            Ok(()) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if stdout_reader_left() {
            return Ok(());
        }
        match std::io::stdout().lock().flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                STDOUT_LEFT.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }
}

/// Writes `bytes` to stdout and flushes (see [`Stdout`]).
pub fn out(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = Stdout::reader_may_leave();
    out.write_all(bytes)?;
    out.flush()
}

/// One line on stdout (what `println!` did, without its panic).
pub fn out_line(line: &str) -> std::io::Result<()> {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    out(text.as_bytes())
}

/// Writes to stderr, ignoring every failure: there is nowhere left to say it.
pub fn err(bytes: &[u8]) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(bytes);
    let _ = err.flush();
}
