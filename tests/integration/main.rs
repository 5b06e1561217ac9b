//! One integration-test binary (ripgrep's layout): each module a subject, each test starting
//! its own simulator on a loopback port 0.

mod cli;
mod codes;
mod cron;
mod demo;
mod fetching;
mod partitions;
mod properties;
mod reconcile;
mod reliability;
mod rogue;
mod scenario;
mod util;
mod writeback;
