//! Landing throughput: calls decoded from JSON pages and upserted into `recon_calls` per
//! second, in process, with the production pragmas (`Store::open`: WAL, `synchronous =
//! NORMAL`, callrecon's schema and indexes) and one transaction per page of 1000, as `fetch`
//! lands them. No network: the pages are serialised up front from the simulator's
//! generated calls, so what is timed is `serde_json` decoding plus `Store::land_page` (one
//! transaction per page, with the partition's progress) and the final `Store::merge_staged`.
//!
//! Beside it, SQLite's floor: the same rows copied by one `INSERT … SELECT` into an empty
//! `recon_calls` with the same indexes, which no landing into this schema can beat.
//!
//! `cargo bench --bench landing [-- --calls N --runs R]` (defaults: 200,000 calls, 3 runs,
//! each into a fresh database). Prints one line per run and a final `landing: …` line with
//! the best run, which `bench/run.sh` reads.

use callrecon::phone::Normalizer;
use callrecon::simulator::{Dataset, SimConfig};
use callrecon::store::{OpenMode, Page, Store};
use callrecon::twilio::model::CallsPage;
use chrono::NaiveDate;
use std::time::{Duration, Instant};

/// Twilio's largest page, the one callrecon asks for.
const PAGE_SIZE: usize = 1000;

struct Args {
    calls: usize,
    runs: usize,
}

/// Reads `--calls N` and `--runs R`; ignores what cargo adds (`--bench`).
fn parse_args() -> Args {
    let mut args = Args {
        calls: 200_000,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--calls" => args.calls = value("--calls"),
            "--runs" => args.runs = value("--runs").max(1),
            _ => {}
        }
    }
    args
}

/// The simulator's calls for one day, as the JSON pages Twilio would send.
fn pages(calls: usize) -> (Vec<Vec<u8>>, usize) {
    let day = NaiveDate::from_ymd_opt(2026, 1, 14).expect("a valid day");
    let dataset = Dataset::generate(&SimConfig::new(calls, 9, day, 1));
    let total = dataset.calls.len();
    let pages = dataset
        .calls
        .chunks(PAGE_SIZE)
        .map(|chunk| {
            let page = CallsPage {
                calls: chunk.to_vec(),
                page_size: Some(PAGE_SIZE as i64),
                ..CallsPage::default()
            };
            serde_json::to_vec(&page).expect("a page serialises")
        })
        .collect();
    (pages, total)
}

struct Run {
    total: Duration,
    decode: Duration,
    /// Of the rest: appending pages to the staging table, and merging them into recon_calls.
    stage: Duration,
    merge: Duration,
    /// Bytes this process sent to storage meanwhile (`/proc/self/io`), where Linux says.
    /// SQLite's floor for the same rows ([`sqlite_floor`]).
    floor: Duration,
    written: Option<u64>,
}

/// `write_bytes` of `/proc/self/io`: what the process has dirtied for the disk so far.
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Decodes and lands every page into a fresh database.
fn run(pages: &[Vec<u8>], expected: usize) -> Run {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("landing.db");
    let mut store = Store::open(&path, OpenMode::CreateIfMissing).expect("the store opens");
    let mut numbers = Normalizer::new(Some("US")).expect("US is a region");
    let now = chrono::Utc::now().timestamp();
    let mut decode = Duration::ZERO;
    let mut stage = Duration::ZERO;
    let mut landed = 0;
    let written_before = bytes_written();
    let start = Instant::now();
    // The production path of a listing: each page staged with its partition's progress in
    // one transaction, then everything merged into recon_calls in SID order.
    let fetch_id = store.open_fetch("ACbench", 0, 1, now).expect("a fetch").0;
    for (i, bytes) in pages.iter().enumerate() {
        let t = Instant::now();
        let page: CallsPage = serde_json::from_slice(bytes).expect("a page decodes");
        decode += t.elapsed();
        let next = (i + 1 < pages.len()).then_some("/next");
        let staged = Page {
            fetch_id,
            partition: "calls:bench",
            calls: &page.calls,
            next_uri: next,
        };
        let t = Instant::now();
        store
            .land_page(&staged, &mut numbers, now)
            .expect("the page lands");
        stage += t.elapsed();
        landed += page.calls.len();
    }
    let t = Instant::now();
    store.merge_staged().expect("the staged calls merge");
    let merge = t.elapsed();
    let total = start.elapsed();
    let written = bytes_written()
        .zip(written_before)
        .map(|(after, before)| after.saturating_sub(before));
    let rows: i64 = store
        .conn
        .query_row("SELECT count(*) FROM recon_calls", [], |r| r.get(0))
        .expect("recon_calls counts");
    assert_eq!(landed, expected, "every call was handed to land_calls");
    assert_eq!(rows as usize, expected, "every call landed once");
    let floor = sqlite_floor(&store, dir.path());
    Run {
        total,
        decode,
        stage,
        merge,
        floor,
        written,
    }
}

/// SQLite's own cost of the rows alone: the landed calls copied, in the order they arrived,
/// into an empty `recon_calls` (the same indexes, pragmas and schema) by one `INSERT …
/// SELECT` in one transaction: no decoding, no staging, no upsert. What any landing into
/// this schema pays at least.
fn sqlite_floor(landed: &Store, dir: &std::path::Path) -> Duration {
    let path = dir.join("floor.db");
    let store = Store::open(&path, OpenMode::CreateIfMissing).expect("the floor store opens");
    store
        .open_fetch("ACbench", 0, 1, 0)
        .expect("the landing pragmas");
    let src = landed.conn.path().expect("a file database").to_owned();
    store
        .conn
        .execute("ATTACH DATABASE ?1 AS src", [src])
        .expect("attach");
    let cols = "sid, account_sid, parent_call_sid, direction, from_raw, to_raw, from_norm, \
                to_norm, status, date_created, date_updated, start_time, end_time, call_time, \
                duration, price, price_unit, answered_by, landed_at";
    let t = Instant::now();
    store
        .conn
        .execute_batch(&format!(
            "BEGIN; INSERT INTO main.recon_calls ({cols}) SELECT {cols} FROM src.recon_calls \
             ORDER BY id; COMMIT;"
        ))
        .expect("the floor copy");
    t.elapsed()
}

fn main() {
    let args = parse_args();
    let (pages, total) = pages(args.calls);
    let bytes: usize = pages.iter().map(Vec::len).sum();
    println!(
        "landing bench: {total} calls ({} generated by the simulator, with <Dial> child legs) in {} pages of up to {PAGE_SIZE}, {:.1} MB of JSON; {} run(s), each into a fresh database",
        args.calls,
        pages.len(),
        bytes as f64 / 1e6,
        args.runs
    );
    let mut best: Option<Run> = None;
    for i in 1..=args.runs {
        let r = run(&pages, total);
        let rate = total as f64 / r.total.as_secs_f64();
        println!(
            "run {i}: {:.3} s, {rate:.0} calls/s (decoding {:.3} s, staging {:.3} s, merging {:.3} s; SQLite's floor for the rows {:.3} s), {} MB written",
            r.total.as_secs_f64(),
            r.decode.as_secs_f64(),
            r.stage.as_secs_f64(),
            r.merge.as_secs_f64(),
            r.floor.as_secs_f64(),
            r.written
                .map_or("?".to_owned(), |b| format!("{:.0}", b as f64 / 1e6))
        );
        if best.as_ref().is_none_or(|b| r.total < b.total) {
            best = Some(r);
        }
    }
    let best = best.expect("at least one run");
    let secs = best.total.as_secs_f64();
    let land = (best.total - best.decode).as_secs_f64();
    let per_s = |d: Duration| total as f64 / d.as_secs_f64();
    println!(
        "landing: calls={total} seconds={secs:.3} calls_per_s={:.0} decode_per_s={:.0} land_per_s={:.0} stage_per_s={:.0} merge_per_s={:.0} floor_per_s={:.0} written_mb={}",
        total as f64 / secs,
        per_s(best.decode),
        total as f64 / land,
        per_s(best.stage),
        per_s(best.merge),
        per_s(best.floor),
        best.written
            .map_or("?".to_owned(), |b| format!("{:.0}", b as f64 / 1e6))
    );
}
