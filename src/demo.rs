//! `callrecon demo`: the whole pipeline on the built-in simulator, with no account and no
//! network: the simulator starts in-process on a free loopback port with a fixed clock, its
//! ledger of intended calls is written beside the report, and fetch → reconcile → report runs
//! through HTTP exactly as it would against Twilio. Same data, same report, every time.

use crate::app::{Plan, write_report};
use crate::cli::WindowArgs;
use crate::simulator::{self, SimConfig, Simulator};
use crate::store::{OpenMode, Store};
use crate::twilio::retry::RetryPolicy;
use crate::twilio::{Client, ClientConfig, Credentials};
use crate::{fetch, timefmt};
use anyhow::{Context, Result};
use std::num::NonZeroU32;
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

    let client = Client::new(ClientConfig {
        base_url: url::Url::parse(&format!("http://{addr}")).expect("a loopback URL"),
        credentials: Credentials::new(
            simulator::DEFAULT_ACCOUNT_SID.to_owned(),
            simulator::DEFAULT_ACCOUNT_SID.to_owned(),
            simulator::DEFAULT_AUTH_TOKEN.to_owned(),
        ),
        rps: NonZeroU32::new(1000).expect("non-zero"),
        max_in_flight: 4,
        retry: RetryPolicy::default(),
        timeout: std::time::Duration::from_secs(30),
    })?;
    let start = timefmt::day_start(day);
    let mut plan = Plan::from_args(&WindowArgs {
        db: db.clone(),
        from: timefmt::format_utc(start),
        to: timefmt::format_utc(start + chrono::Duration::days(1)),
        now: Some(timefmt::format_utc(now)),
        match_delay: "1h".into(),
        default_region: "US".into(),
    })?;
    let mut store = Store::open(&db, OpenMode::MustExist)?;
    let opts = fetch::Options {
        window: plan.window,
        match_delay: plan.match_delay,
        now: plan.now,
        max_sid_lookups: 1000,
        page_size: crate::twilio::client::PAGE_SIZE,
    };
    let fetched = fetch::fetch(&client, &mut store, &mut plan.numbers, &opts).await?;
    let report = out_dir.join("report.csv");
    let summary = write_report(&mut store, &mut plan, &report, false)?;
    let _ = stop.send(());
    server.await.context("stopping the simulator")??;

    println!(
        "callrecon demo: simulator on http://{addr}, clock {}",
        timefmt::format_utc(now)
    );
    println!("callrecon demo: {}", fetched.line());
    println!("callrecon demo: ledger {}", db.display());
    println!("callrecon demo: report {}", report.display());
    for line in summary.lines() {
        println!("callrecon demo: {line}");
    }
    Ok(())
}
