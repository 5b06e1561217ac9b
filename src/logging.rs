//! Logs and the lines a run prints on stderr, in one of two formats.
//!
//! `text` is for people: `tracing`'s compact lines (coloured only when stderr is a
//! terminal, so cron logs carry no escape codes) and the summary as `callrecon: …` lines.
//! `json` is for cron and log shippers: every line on stderr is one JSON object (log events,
//! the summary, the final error), in `tracing-subscriber`'s JSON shape, so a collector never
//! meets a line it cannot parse. Levels come from `-v`/`-q`, or `RUST_LOG` when set.
//! While progress bars are drawn, log lines are written between redraws (see
//! [`crate::progress`]) so the two never garble each other.

use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// `--quiet`: only errors on stderr, the summary lines included.
static QUIET: OnceLock<bool> = OnceLock::new();

fn quiet() -> bool {
    QUIET.get().copied().unwrap_or(false)
}

/// Whether `--quiet` was given: commands whose output is a report for people (the demo)
/// say nothing then.
pub fn is_quiet() -> bool {
    quiet()
}

/// The format chosen at start (`text` until [`init`] runs, as in library use and tests).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Installs the global subscriber. Called once, by `main`.
pub fn init(format: LogFormat, verbose: u8, quiet: bool) {
    let _ = FORMAT.set(format);
    let _ = QUIET.set(quiet);
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        // Its own report of a failed write is an `eprintln!`, which panics when stderr is
        // closed (`2>&1 | head -1`): there is nowhere to report it anyway.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .without_time()
            .init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}

/// Logs at debug (`-vv`) how long each phase of a run took: where a slow night went.
pub(crate) struct Phase(std::time::Instant);

impl Phase {
    pub(crate) fn start() -> Phase {
        Phase(std::time::Instant::now())
    }

    pub(crate) fn done(&mut self, what: &str) {
        tracing::debug!("{what} took {:.3} s", self.0.elapsed().as_secs_f64());
        self.0 = std::time::Instant::now();
    }
}

/// One line of a command's summary: `callrecon: {line}`, or a JSON object.
pub fn say(line: &str) {
    if quiet() {
        return;
    }
    match format() {
        LogFormat::Text => write_line(&format!("callrecon: {line}")),
        LogFormat::Json => json_line("INFO", line, serde_json::Map::new()),
    }
}

/// A structured record (the run summary) as one JSON line; nothing in text mode, where the
/// same facts were said as lines.
pub fn say_record(message: &str, key: &str, value: serde_json::Value) {
    if format() == LogFormat::Json && !quiet() {
        let mut fields = serde_json::Map::new();
        fields.insert(key.to_owned(), value);
        json_line("INFO", message, fields);
    }
}

/// The error that ends the run, with its exit code.
pub fn fail(message: &str, exit: u8) {
    match format() {
        LogFormat::Text => write_line(&format!("callrecon: {message}")),
        LogFormat::Json => {
            let mut fields = serde_json::Map::new();
            fields.insert("exit_code".to_owned(), exit.into());
            json_line("ERROR", message, fields);
        }
    }
}

/// `tracing-subscriber`'s JSON shape: timestamp, level, fields (with `message`), target.
fn json_line(level: &str, message: &str, mut fields: serde_json::Map<String, serde_json::Value>) {
    fields.insert("message".to_owned(), message.into());
    let record = serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": level,
        "fields": fields,
        "target": "callrecon",
    });
    write_line(&record.to_string());
}

fn write_line(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    let _ = Stderr.write_all(text.as_bytes());
}

/// stderr, written between progress bar redraws. A failed write (stderr closed by its
/// reader, `2>&1 | head -1`) is dropped: a log line is never a reason to stop or skip work
/// (see [`crate::stdio`]).
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::suspend(|| crate::stdio::err(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
