//! One integration-test binary (ripgrep's layout): each module a subject, each test starting
//! its own simulator on a loopback port 0.

mod accounts;
mod cli;
mod codes;
mod config;
mod cron;
mod demo;
mod details;
mod fetching;
mod flags;
mod guide;
mod ledger_values;
mod logs;
mod lookups;
mod operator;
mod outputs;
mod partitions;
mod pipes;
mod properties;
mod reconcile;
mod refusals;
mod reliability;
mod rogue;
mod scenario;
mod util;
mod windows;
mod writeback;
