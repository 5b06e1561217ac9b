//! callrecon: reconcile the calls an application meant to place through Twilio with what
//! Twilio actually did, and report every call that did not complete.
//!
//! # Layout
//! - [`app`]: the commands, top to bottom: flags → typed options → fetch → reconcile → report.
//! - [`cli`]: every subcommand and flag, with their help.
//! - [`fetch`]: what a window needs from Twilio (calls, SID lookups, alerts, notifications), landed.
//! - [`reconcile`]: scan the ledger, match, classify, write back, follow up.
//! - [`report`]: the report, orphans and numbers files, written atomically.
//! - [`store`]: the SQLite file shared with the application: pragmas, migrations, landing, retention.
//! - [`ledger`]: the application's `intended_calls` table (the ledger contract).
//! - [`twilio`]: Twilio's wire types, the rate-limited retrying client and its errors.
//! - [`simulator`]: a faithful local Twilio for the demo, tests and benchmarks.
//! - [`codes`], [`phone`], [`timefmt`], [`window`]: error codes, phone numbers, times, windows.
//! - [`error`], [`lock`], [`stop`], [`failpoint`]: exit codes, one writer at a time, stopping
//!   on purpose, crash points for the reliability tests.
//! - [`demo`]: the whole job on the built-in simulator.

pub mod app;
pub mod cli;
pub mod codes;
pub mod demo;
pub mod error;
pub mod failpoint;
pub mod fetch;
pub mod ledger;
pub mod lock;
pub mod phone;
pub mod reconcile;
pub mod report;
pub mod simulator;
pub mod stop;
pub mod store;
pub mod timefmt;
pub mod twilio;
pub mod window;
