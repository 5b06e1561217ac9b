//! The per-call phase of a night: SID lookups and notification reads side by side, within a
//! bound that the window alone decides (issue: "A whole night as fast as Twilio allows, and
//! the same report after any crash").

use crate::util::*;
use callrecon::simulator::{Faults, SimConfig};
use callrecon::timefmt::parse_day;
use std::process::Command;

const FROM: &str = "2026-05-05T00:00:00Z";
const TO: &str = "2026-05-06T00:00:00Z";

fn sim(faults: Faults) -> Sim {
    let mut cfg = SimConfig::new(1500, 11, parse_day("2026-05-05").unwrap(), 1);
    cfg.faults = faults;
    Sim::start(cfg)
}

fn night(sim: &Sim, dir: &TestDir, extra: &[&str]) -> Command {
    let now = sim_now(sim);
    let mut cmd = over_window(sim, dir, "run", [FROM, TO, now.as_str()]);
    cmd.args(["--retry-base-ms", "1", "--include-completed"])
        .arg("--out")
        .arg(dir.path("report.csv"))
        .arg("--numbers-out")
        .arg(dir.path("numbers.csv"))
        .args(extra);
    cmd
}

/// What a night landed and reported, as text to compare.
fn landed(dir: &TestDir) -> (String, String, String, String) {
    let conn = rusqlite::Connection::open(dir.path("ledger.db")).unwrap();
    let dump = |sql: &str| -> String {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..n)
                .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>()
        .join("\n")
    };
    (
        std::fs::read_to_string(dir.path("report.csv")).unwrap(),
        dump("SELECT sid, status, price, to_norm FROM recon_calls ORDER BY sid"),
        dump("SELECT sid, call_sid, error_code FROM recon_notifications ORDER BY sid"),
        dump("SELECT call_sid, found FROM recon_lookups ORDER BY call_sid"),
    )
}

/// Side by side (8 in flight, with latency and some 5xx answers) lands exactly what one at a
/// time does: the same calls, notifications and codes, the same report.
#[test]
fn concurrent_lookups_land_what_sequential_ones_do() {
    let faults = Faults {
        latency: std::time::Duration::from_millis(5),
        rate_5xx: 3.0,
        fault_seed: 9,
        ..Faults::default()
    };
    let one = sim(faults.clone());
    let seq = TestDir::new();
    let out = run(&mut night(&one, &seq, &["--max-in-flight", "1"]), 0);
    let said = stderr(&out);
    assert!(said.contains("looked up by SID"), "{said}");
    let many = sim(faults);
    let par = TestDir::new();
    run(&mut night(&many, &par, &["--max-in-flight", "8"]), 0);
    let (a, b) = (landed(&seq), landed(&par));
    assert!(!a.2.is_empty(), "no notification was read");
    assert!(
        a == b,
        "concurrent lookups landed something else than sequential ones"
    );
}

/// A SIGKILL at any point of the per-call phase, then a rerun: the same report and the same
/// landed data as an uninterrupted night, with a bound the data exceeds and with the default.
#[test]
fn a_kill_during_the_lookups_then_a_rerun_is_byte_identical() {
    for bound in [
        &["--max-notification-lookups", "40", "--max-sid-lookups", "3"][..],
        &[][..],
    ] {
        let sim = sim(Faults::default());
        let clean = TestDir::new();
        let out = run(&mut night(&sim, &clean, bound), 0);
        if !bound.is_empty() {
            assert!(
                stderr(&out).contains("are over the bound: --max-notification-lookups"),
                "the test's data must exceed the bound: {}",
                stderr(&out)
            );
        }
        let want = landed(&clean);
        for point in [
            "fetch.sid:1",
            "fetch.sid:2",
            "fetch.notification:1",
            "fetch.notification:7",
            "fetch.notification:25",
        ] {
            let dir = TestDir::new();
            let out = night(&sim, &dir, bound)
                .env("CALLRECON_FAILPOINT", point)
                .output()
                .unwrap();
            use std::os::unix::process::ExitStatusExt;
            let killed = out.status.signal() == Some(9);
            assert!(killed || out.status.success(), "{point}: {}", stderr(&out));
            run(&mut night(&sim, &dir, bound), 0);
            assert!(
                landed(&dir) == want,
                "{point} {bound:?}: the rerun differs from an uninterrupted night"
            );
        }
    }
}

/// A finished night run again asks for none of the calls it already read, and picks the same
/// ones: the bound does not move on to the next calls.
#[test]
fn the_bound_picks_the_same_calls_on_a_rerun() {
    let sim = sim(Faults::default());
    let dir = TestDir::new();
    let bound = ["--max-notification-lookups", "40", "--max-sid-lookups", "3"];
    run(&mut night(&sim, &dir, &bound), 0);
    let first = landed(&dir);
    let out = run(&mut night(&sim, &dir, &bound), 0);
    let said = stderr(&out);
    assert!(said.contains("notifications of 0 call(s) read"), "{said}");
    assert!(landed(&dir) == first, "a rerun read other calls");
}
