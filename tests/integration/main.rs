//! One integration-test binary (ripgrep's layout): each module a subject, each test starting
//! its own simulator on a loopback port 0.

mod accounts;
mod cli;
mod codes;
mod config;
mod cron;
mod demo;
mod fetching;
mod flags;
mod guide;
mod logs;
mod lookups;
mod operator;
mod partitions;
mod properties;
mod reconcile;
mod reliability;
mod rogue;
mod scenario;
mod util;
mod windows;
mod writeback;
