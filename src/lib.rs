//! callrecon: reconcile the calls an application meant to place through Twilio with what
//! Twilio actually did, and report every call that did not complete.
//!
//! # Layout
//! - [`timefmt`]: every time format read or written (RFC 2822, RFC 3339, SQLite's, the report's).
//! - [`ledger`]: the application's `intended_calls` table (the ledger contract).
//! - [`twilio`]: Twilio's wire types, the rate-limited retrying client and its errors.
//! - [`simulator`]: a faithful local Twilio for the demo, tests and benchmarks.

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
