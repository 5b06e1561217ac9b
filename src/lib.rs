//! callrecon: reconcile the calls an application meant to place through Twilio with what
//! Twilio actually did, and report every call that did not complete.
//!
//! # Layout
//! - [`app`]: the commands, top to bottom: flags → typed options → fetch → reconcile → report.
//! - [`cli`]: every subcommand and flag, with their help; [`manual`]: completions and man
//!   pages generated from it.
//! - [`config`]: the configuration file, laid under environment and flags; the accounts.
//! - [`check`]: `callrecon check`, the first night's prerequisites.
//! - [`logging`], [`progress`], [`summary`]: text or JSON logs, progress bars on a terminal,
//!   the run's summary on stderr and as JSON.
//! - [`fetch`]: what a window needs from Twilio (calls, SID lookups, alerts, notifications), landed.
//! - [`reconcile`]: scan the ledger, match, classify, write back, follow up.
//! - [`output`]: the one writer behind every output path (atomic for regular files, in
//!   place for devices and FIFOs), outputs never the database, leftovers swept; [`stdio`]:
//!   stdout and stderr, where a reader that left is not an error.
//! - [`report`]: the report, orphans and numbers files, written atomically; [`reporting`]:
//!   the report step of a run (retention, files, spend, alarm).
//! - [`store`]: the SQLite file shared with the application: pragmas, migrations, landing, retention.
//! - [`ledger`]: the application's `intended_calls` table (the ledger contract).
//! - [`twilio`]: Twilio's wire types, the rate-limited retrying client and its errors.
//! - [`simulator`]: a faithful local Twilio for the demo, tests and benchmarks.
//! - [`codes`], [`phone`], [`timefmt`], [`window`], [`calendar`]: error codes, phone numbers,
//!   times, windows, named windows in time zones.
//! - [`error`], [`lock`], [`stop`], [`failpoint`]: exit codes, one writer at a time, stopping
//!   on purpose, crash points for the reliability tests.
//! - [`demo`]: the whole job on the built-in simulator.

pub mod app;
pub mod calendar;
pub mod check;
pub mod cli;
pub mod codes;
pub mod config;
pub mod demo;
pub mod error;
pub mod failpoint;
pub mod fetch;
pub mod ledger;
pub mod limits;
pub mod lock;
pub mod logging;
pub mod manual;
pub mod output;
pub mod phone;
pub mod progress;
pub mod reconcile;
pub mod report;
pub mod reporting;
pub mod simulator;
pub mod stdio;
pub mod stop;
pub mod store;
pub mod summary;
pub mod timefmt;
pub mod twilio;
pub mod window;
