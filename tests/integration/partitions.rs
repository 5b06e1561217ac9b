//! The partitioned fetch lands exactly what a sequential one does, in both of the server's
//! time-filter modes, even when calls change status while the run pages.

use crate::util::*;
use callrecon::simulator::{SimConfig, TimeFilter};
use callrecon::timefmt::parse_day;
use std::collections::BTreeSet;

fn config(filter: TimeFilter) -> SimConfig {
    let mut cfg = SimConfig::new(3000, 21, parse_day("2026-07-01").unwrap(), 1);
    cfg.faults.time_filter = filter;
    // Every call still queued, ringing or in progress ends a few requests into the listing.
    cfg.faults.settle_after = Some(6);
    cfg
}

/// `fetch` over the day; returns the landed (sid, status, date_updated) and fetch's stderr.
fn fetch(filter: TimeFilter, extra: &[&str]) -> (BTreeSet<(String, String, i64)>, String, Sim) {
    fetch_with_ledger(filter, extra, |_| {})
}

/// As [`fetch`], with the simulator's ledger changed by `edit` first.
fn fetch_with_ledger(
    filter: TimeFilter,
    extra: &[&str],
    edit: impl FnOnce(&rusqlite::Connection),
) -> (BTreeSet<(String, String, i64)>, String, Sim) {
    let sim = Sim::start(config(filter));
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    callrecon::simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
    edit(&rusqlite::Connection::open(&db).unwrap());
    let now = sim_now(&sim);
    let window = ["2026-07-01T00:00:00Z", "2026-07-02T00:00:00Z", now.as_str()];
    let mut cmd = over_window(&sim, &dir, "fetch", window);
    cmd.args([
        "--page-size",
        "100",
        "--max-in-flight",
        "6",
        "--max-notification-lookups",
        "0",
    ])
    .args(extra);
    let out = run(&mut cmd, 0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT sid, status, date_updated FROM recon_calls")
        .unwrap();
    let landed = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (landed, stderr(&out), sim)
}

#[test]
fn time_slices_land_what_a_sequential_listing_lands() {
    let (sequential, _, _) = fetch(TimeFilter::Second, &["--sequential"]);
    let (sliced, said, sim) = fetch(TimeFilter::Second, &[]);
    assert!(
        said.contains("time filter to the second"),
        "the probe found the time part honoured: {said}"
    );
    // The day in 2 × 6 slices, and the day after (the match delay reaches past midnight),
    // empty, in its one first page.
    assert!(said.contains("13 partition(s)"), "{said}");
    assert_eq!(sliced, sequential);
    assert!(
        sliced
            .iter()
            .all(|(_, status, _)| !["queued", "ringing", "in-progress"].contains(&status.as_str()))
    );
    assert_eq!(sliced.len(), sim.sim.dataset().calls.len());
}

#[test]
fn status_and_caller_partitions_land_every_call_the_ledger_can_match() {
    let (sequential, _, sim) = fetch(TimeFilter::Day, &["--sequential"]);
    let (split, said, _) = fetch(TimeFilter::Day, &[]);
    assert!(said.contains("time filter by day"), "{said}");
    // The day in 8 statuses × the ledger's caller IDs, the (empty) day after in one page.
    let callers: BTreeSet<&str> = sim
        .sim
        .dataset()
        .ledger
        .iter()
        .filter_map(|r| r.from_number.as_deref())
        .collect();
    assert!(
        said.contains(&format!("{} partition(s)", 8 * callers.len() + 1)),
        "{said}"
    );
    let outbound: BTreeSet<&str> = sim
        .sim
        .dataset()
        .calls
        .iter()
        .filter(|c| c.from.as_deref().is_some_and(|f| callers.contains(f)))
        .map(|c| c.sid.as_str())
        .collect();
    let expected: BTreeSet<_> = sequential
        .iter()
        .filter(|(sid, _, _)| outbound.contains(sid.as_str()))
        .cloned()
        .collect();
    // Every call the ledger's caller IDs placed, in its final state…
    assert!(
        split.is_superset(&expected),
        "{:?}",
        expected.difference(&split).take(3).collect::<Vec<_>>()
    );
    // …and nothing the sequential listing did not have (the day's first page, listed whole
    // before the split, may add a few calls from other callers).
    assert!(split.is_subset(&sequential));
    // With every caller: the very same calls as the sequential listing.
    let (all, said, _) = fetch(TimeFilter::Day, &["--all-callers"]);
    assert!(said.contains("9 partition(s)"), "{said}");
    assert_eq!(all, sequential);
}

#[test]
fn a_day_bigger_than_the_ledger_shows_is_found_by_its_first_page_and_split() {
    // The ledger knows a handful of the day's calls (another application places the rest):
    // the day is not split up front, its first page shows it is big, the probe follows, and
    // with too few ledger rows to cut by, the slices are equal in time.
    let few = |conn: &rusqlite::Connection| {
        conn.execute("DELETE FROM intended_calls WHERE id > 20", [])
            .unwrap();
    };
    let (landed, said, sim) = fetch_with_ledger(TimeFilter::Second, &[], few);
    assert!(said.contains("time filter to the second"), "{said}");
    assert!(said.contains("13 partition(s)"), "{said}");
    assert_eq!(landed.len(), sim.sim.dataset().calls.len());
}
