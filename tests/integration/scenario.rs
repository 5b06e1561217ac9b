//! A hand-made day of calls and ledger rows, each one placed to exercise one rule of
//! design.md: SID and heuristic matching, two rows to one number, child legs, every outcome,
//! the window's edges, null RFC 2822 fields, every `intended_at` form, unreadable rows.

use crate::util::{Sim, TestDir, over_window};
use callrecon::ledger::LedgerRow;
use callrecon::simulator::{DEFAULT_ACCOUNT_SID, Dataset, SimConfig};
use callrecon::timefmt::{format_rfc2822, parse_bound};
use callrecon::twilio::model::Call;
use std::process::Command;

pub const DAY: &str = "2026-03-10";
pub const FROM: &str = "2026-03-10T00:00:00Z";
pub const TO: &str = "2026-03-11T00:00:00Z";
pub const NOW: &str = "2026-03-11T06:00:00Z";

pub const CALLER: &str = "+12015550100";
pub const A: &str = "+12015550111";
pub const B: &str = "+12015550122";
pub const C: &str = "+12015550133";
pub const D: &str = "+12015550144";
pub const E: &str = "+12015550155";
pub const F: &str = "+12015550166";
pub const G: &str = "+12015550177";
pub const H: &str = "+12015550188";

pub fn sid(n: u32) -> String {
    format!("CA{n:032x}")
}

fn t(s: &str) -> String {
    format_rfc2822(parse_bound(s).unwrap())
}

/// An outbound-api call created at `created`, started two seconds later unless queued.
pub fn call(n: u32, to: &str, status: &str, created: &str) -> Call {
    let created_at = parse_bound(created).unwrap();
    let started = created_at + chrono::Duration::seconds(2);
    let done = status == "completed";
    Call {
        account_sid: Some(DEFAULT_ACCOUNT_SID.into()),
        api_version: Some("2010-04-01".into()),
        date_created: Some(t(created)),
        date_updated: Some(format_rfc2822(started + chrono::Duration::seconds(60))),
        direction: Some("outbound-api".into()),
        duration: done.then(|| "58".into()),
        end_time: done.then(|| format_rfc2822(started + chrono::Duration::seconds(58))),
        from: Some(CALLER.into()),
        price: Some(if done { "-0.01300" } else { "0.00000" }.into()),
        price_unit: Some("USD".into()),
        sid: sid(n),
        start_time: (status != "queued").then(|| format_rfc2822(started)),
        status: status.into(),
        to: Some(to.into()),
        uri: Some(format!(
            "/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/{}.json",
            sid(n)
        )),
        queue_time: Some("0".into()),
        ..Call::default()
    }
}

pub fn row(id: i64, to: &str, intended_at: &str, sid_n: Option<u32>) -> LedgerRow {
    LedgerRow {
        id,
        external_ref: Some(format!("ref-{id}")),
        to_number: to.into(),
        from_number: Some(CALLER.into()),
        intended_at: intended_at.into(),
        call_sid: sid_n.map(sid),
        ..LedgerRow::default()
    }
}

pub fn dataset() -> (SimConfig, Dataset) {
    let mut calls = vec![
        call(1, A, "completed", "2026-03-10T10:00:02Z"),
        call(2, B, "busy", "2026-03-10T11:00:05Z"),
        call(3, C, "no-answer", "2026-03-10T12:00:30Z"),
        call(4, C, "busy", "2026-03-10T12:05:00Z"),
        call(5, D, "failed", "2026-03-10T13:00:01Z"),
        call(6, E, "no-answer", "2026-03-10T13:30:00Z"),
        call(7, F, "canceled", "2026-03-10T14:30:00Z"),
        call(8, G, "in-progress", "2026-03-10T15:00:00Z"),
        call(13, H, "failed", "2026-03-11T00:00:20Z"),
        call(15, D, "failed", "2026-03-09T23:59:59Z"),
        call(16, D, "failed", "2026-03-10T00:00:00Z"),
        call(17, D, "failed", "2026-03-10T23:59:58Z"),
        call(18, D, "failed", "2026-03-11T00:00:00Z"),
        // A parent leg to an agent and its <Dial> child leg to the customer.
        call(21, "client:agent7", "completed", "2026-03-10T16:00:00Z"),
        call(22, H, "no-answer", "2026-03-10T16:00:05Z"),
        // An inbound call from A: never a candidate for the heuristic.
        call(30, CALLER, "completed", "2026-03-10T10:00:30Z"),
    ];
    // A no-answer call as Twilio reports it: no start, no end, no duration, no price yet.
    calls[5].start_time = None;
    calls[5].price = None;
    calls[5].price_unit = None;
    calls[14].direction = Some("outbound-dial".into());
    calls[14].parent_call_sid = Some(sid(21));
    calls[15].direction = Some("inbound".into());
    calls[15].from = Some(A.into());
    calls.sort_by(|a, b| {
        let ta = callrecon::timefmt::parse_rfc2822(a.date_created.as_deref().unwrap());
        let tb = callrecon::timefmt::parse_rfc2822(b.date_created.as_deref().unwrap());
        tb.cmp(&ta).then(b.sid.cmp(&a.sid))
    });

    let mut ledger = vec![
        row(1, A, "2026-03-10T10:00:00Z", Some(1)),
        row(2, B, "2026-03-10 11:00:00", None),
        row(3, C, "2026-03-10T12:00:00Z", None),
        row(4, "(201) 555-0133", "2026-03-10T14:01:00+02:00", None),
        LedgerRow {
            webhook_sip_code: Some(404),
            webhook_status: Some("ringing".into()),
            ..row(5, D, "2026-03-10T13:00:00Z", Some(5))
        },
        LedgerRow {
            webhook_status: Some("busy".into()),
            ..row(6, E, "2026-03-10T13:30:00Z", Some(6))
        },
        row(7, F, "2026-03-10T14:30:00Z", Some(7)),
        row(8, G, "2026-03-10T15:00:00Z", Some(8)),
        LedgerRow {
            create_error_code: Some(21211),
            ..row(9, "+1201555", "2026-03-10T17:00:00Z", None)
        },
        LedgerRow {
            create_error_code: Some(21216),
            ..row(10, A, "2026-03-10T17:10:00Z", None)
        },
        row(11, G, "2026-03-10T18:00:00Z", None),
        row(13, H, "2026-03-10T23:59:59Z", None),
        row(15, D, "2026-03-09T23:59:59Z", Some(15)),
        row(16, D, "2026-03-10T00:00:00Z", Some(16)),
        row(17, D, "2026-03-10T23:59:58Z", Some(17)),
        row(18, D, "2026-03-11T00:00:00Z", Some(18)),
        row(19, "", "2026-03-10T19:00:00Z", None),
        row(20, A, "garbage", None),
        row(21, H, "2026-03-10T16:00:00Z", Some(21)),
        row(23, E, "2026-03-10T20:00:00Z", Some(0xdead)),
    ];
    ledger.sort_by_key(|r| r.id);
    let cfg = SimConfig::new(0, 1, callrecon::timefmt::parse_day(DAY).unwrap(), 2);
    let now = parse_bound(NOW).unwrap();
    (cfg, Dataset::from_parts(calls, ledger, now))
}

/// `callrecon VERB --db DIR/ledger.db` over the hand-made day (its window and clock) against
/// `sim`; the simulator's ledger is written there on first use.
pub fn command(sim: &Sim, dir: &TestDir, verb: &str) -> Command {
    over_window(sim, dir, verb, [FROM, TO, NOW])
}
