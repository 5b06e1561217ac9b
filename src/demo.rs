//! `callrecon demo`: the whole pipeline on the built-in simulator, with no account and no
//! network: the simulator starts in-process on a free loopback port with a fixed clock, its
//! ledger of intended calls is written beside the report, and `run` goes through HTTP exactly
//! as it would against Twilio, with `run`'s own defaults (but a notification bound that covers
//! the demo day). Same data, same report, every time. `-q` prints nothing.

use crate::app::{Plan, build_client_with};
use crate::cli::{Cli, Command};
use crate::reporting::write_report;
use crate::simulator::{self, SimConfig, Simulator};
use crate::store::{OpenMode, Store};
use crate::twilio::Credentials;
use crate::{fetch, timefmt};
use anyhow::{Context, Result};
use clap::Parser;
use std::path::Path;

/// The demo's fixed data: a weekday of calls, big enough to show every outcome.
pub const DEMO_DAY: &str = "2026-01-14";
pub const DEMO_CALLS: usize = 3000;
pub const DEMO_SEED: u64 = 7;

pub async fn run(out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("creating the demo folder {}", out_dir.display()))?;
    let db = out_dir.join("ledger.db");
    // A fresh ledger each time, so the report is the same each time.
    for suffix in ["", "-wal", "-shm"] {
        let path = out_dir.join(format!("ledger.db{suffix}"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing the old {}", path.display()));
            }
        }
    }
    let day = timefmt::parse_day(DEMO_DAY).expect("the demo day is a day");
    let sim = Simulator::new(SimConfig::new(DEMO_CALLS, DEMO_SEED, day, 1));
    let now = sim.dataset().now;
    simulator::write_ledger(sim.dataset(), &db)?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator to a loopback port")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(simulator::serve(listener, sim.clone(), async move {
        let _ = stopped.await;
    }));

    // The same command line a user would type, so the demo runs with `run`'s defaults.
    let start = timefmt::day_start(day);
    let path = |p: &Path| p.display().to_string();
    let argv = [
        "callrecon".to_owned(),
        "run".into(),
        "--db".into(),
        path(&db),
        "--from".into(),
        timefmt::format_utc(start),
        "--to".into(),
        timefmt::format_utc(start + chrono::Duration::days(1)),
        "--now".into(),
        timefmt::format_utc(now),
        "--base-url".into(),
        format!("http://{addr}"),
        "--rps".into(),
        "1000".into(),
        "--out".into(),
        path(&out_dir.join("report.csv")),
        "--orphans-out".into(),
        path(&out_dir.join("orphans.csv")),
        "--numbers-out".into(),
        path(&out_dir.join("numbers.csv")),
    ];
    let Command::Run(args) = Cli::try_parse_from(argv)?.command else {
        unreachable!("the demo's command line is `run`")
    };
    let client = build_client_with(
        &args.twilio,
        Credentials::new(
            simulator::DEFAULT_ACCOUNT_SID.to_owned(),
            simulator::DEFAULT_ACCOUNT_SID.to_owned(),
            simulator::DEFAULT_AUTH_TOKEN.to_owned(),
        ),
    )?;
    let mut plan = Plan::from_args(&args.window)?;
    let mut store = Store::open(&db, OpenMode::MustExist)?;
    let opts = plan.fetch_options(&args.twilio);
    let fetched = fetch::fetch(&client, &mut store, &mut plan.numbers, &opts).await?;
    let summary = write_report(&mut store, &mut plan, &args.out)?;
    let _ = stop.send(());
    server.await.context("stopping the simulator")??;

    if crate::logging::is_quiet() {
        return Ok(());
    }
    let mut lines = vec![format!(
        "simulator on http://{addr}, clock {}",
        timefmt::format_utc(now)
    )];
    lines.extend(fetched.lines());
    lines.push(format!("ledger {}", db.display()));
    lines.extend(summary.lines());
    for line in lines {
        crate::stdio::out_line(&format!("callrecon demo: {line}"))?;
    }
    Ok(())
}
