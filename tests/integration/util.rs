//! Test harness: a simulator per test on its own loopback port 0, the `callrecon` binary with
//! a hermetic environment, and helpers to read reports.

use callrecon::simulator::{self, Dataset, SimConfig, Simulator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

/// A simulator serving on 127.0.0.1:0 until dropped.
pub struct Sim {
    pub url: String,
    pub sim: Arc<Simulator>,
    _runtime: tokio::runtime::Runtime,
}

impl Sim {
    pub fn start(cfg: SimConfig) -> Sim {
        Sim::serve(Simulator::new(cfg))
    }

    pub fn with_dataset(cfg: SimConfig, data: Dataset) -> Sim {
        Sim::serve(Simulator::from_dataset(cfg, data))
    }

    fn serve(sim: Arc<Simulator>) -> Sim {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(simulator::serve(
            listener,
            sim.clone(),
            std::future::pending(),
        ));
        Sim {
            url,
            sim,
            _runtime: runtime,
        }
    }
}

/// A per-test folder.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `callrecon` with no ambient Twilio configuration, pointed at nothing until told.
pub fn callrecon() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callrecon"));
    for var in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY",
        "TWILIO_API_SECRET",
        "TWILIO_REGION",
        "TWILIO_EDGE",
        "CALLRECON_BASE_URL",
        "CALLRECON_RPS",
        "CALLRECON_CONFIG",
        "CALLRECON_LOG_FORMAT",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `callrecon` with the simulator's fake credentials and base URL.
pub fn against(sim: &Sim) -> Command {
    let mut cmd = callrecon();
    cmd.env("TWILIO_ACCOUNT_SID", simulator::DEFAULT_ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", simulator::DEFAULT_AUTH_TOKEN)
        .env("CALLRECON_BASE_URL", &sim.url)
        // The simulator is local: no need to pace requests as for Twilio.
        .env("CALLRECON_RPS", "2000");
    cmd
}

/// `callrecon VERB --db DIR/ledger.db --from FROM --to TO --now NOW` against `sim`; the
/// simulator's ledger is written there on first use.
pub fn over_window(sim: &Sim, dir: &TestDir, verb: &str, [from, to, now]: [&str; 3]) -> Command {
    let db = dir.path("ledger.db");
    if !db.exists() {
        simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    }
    let mut cmd = against(sim);
    cmd.args([verb, "--db"])
        .arg(&db)
        .args(["--from", from, "--to", to, "--now", now]);
    cmd
}

/// The simulator's own clock, as `--now` takes it.
pub fn sim_now(sim: &Sim) -> String {
    callrecon::timefmt::format_utc(sim.sim.dataset().now)
}

/// Every outcome but `completed` (and the empty one of an unreadable row) is among `rows`.
pub fn assert_every_outcome(rows: &[HashMap<String, String>]) {
    let outcomes = callrecon::reconcile::classify::OUTCOMES;
    for outcome in outcomes.iter().filter(|o| **o != "completed").chain(&[""]) {
        assert!(
            rows.iter().any(|r| r["outcome"] == *outcome),
            "no row with outcome '{outcome}'"
        );
    }
}

/// Runs a command and returns its output, showing everything when `want` is not the code.
pub fn run(cmd: &mut Command, want: i32) -> Output {
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    if code != want {
        panic!(
            "{cmd:?}\nexit {code}, wanted {want}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// `callrecon ledger import --db DB CSV`, expecting exit `want`.
pub fn import(db: &Path, csv: &Path, want: i32) -> Output {
    run(
        callrecon()
            .args(["ledger", "import", "--db"])
            .arg(db)
            .arg(csv),
        want,
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A report as rows of column → value.
pub fn read_report(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Rows keyed by ledger_id.
pub fn by_id(rows: &[HashMap<String, String>]) -> HashMap<String, HashMap<String, String>> {
    rows.iter()
        .map(|r| (r["ledger_id"].clone(), r.clone()))
        .collect()
}

pub fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}
