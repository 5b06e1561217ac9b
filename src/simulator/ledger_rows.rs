//! The application's ledger (`intended_calls`) that goes with the generated calls.
//!
//! A real ledger is messy in exactly the ways callrecon must survive, so this one is too:
//! three spellings of `intended_at`, national-format numbers, missing SIDs (matched by
//! heuristics), lost and stale webhooks, webhooks whose final status disagrees with Twilio's,
//! create-time errors, calls never placed, SIDs Twilio does not know, outbound calls nobody
//! recorded, and a few rows nobody can read. Calls to an agent are recorded as the
//! application saw them: the parent's SID (the create-call response) with the customer's
//! number, and the parent's webhook. It draws from its own ChaCha streams (stream 1 of the
//! same seed; stream 4 for the agent rows and the disagreeing webhooks, added later), so
//! changing how the ledger is made never changes the calls.

use super::SimConfig;
use super::data::{Placed, instant};
use super::numbers::{CALLER_IDS, national, sid, weighted};
use crate::ledger::LedgerRow;
use crate::twilio::model::is_final;
use chrono::{DateTime, FixedOffset, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// Codes Twilio answers to a create-call request it rejects (notes §1.7); such calls never
/// appear in the list.
const CREATE_ERRORS: [i64; 6] = [21211, 21214, 21217, 21215, 21216, 21219];

/// SIP responses a StatusCallback carries for failed calls (not found, unavailable,
/// service unavailable); busy calls carry 486.
const FAILED_SIP: [i64; 3] = [404, 480, 503];

/// Error codes a failed call's StatusCallback rarely carries.
const FAILED_ERRORS: [i64; 2] = [32009, 13224];

/// Share of rows with a final webhook status whose status disagrees with Twilio's (a
/// callback from a retried call, a bug in the application): about 1.5% of all rows.
const DISAGREEING: f64 = 0.025;

/// The final status a disagreeing webhook reports, for Twilio's final status: busy for a
/// no-answer, completed for a failed call, and no-answer for the rest.
fn disagreeing(twilio: &str) -> &'static str {
    match twilio {
        "no-answer" => "busy",
        "failed" => "completed",
        _ => "no-answer",
    }
}

/// A row and the instant it sorts by (also for rows whose `intended_at` is unreadable).
struct Draft {
    at: i64,
    row: LedgerRow,
}

/// One row per outbound call except about 1%, one per agent call, plus rows that have no
/// Twilio call; ids are 1..n in `intended_at` order.
pub(super) fn generate(
    cfg: &SimConfig,
    placed: &[Placed],
    agents: &[Placed],
    pool: &[String],
    known: &HashSet<String>,
) -> Vec<LedgerRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(1);
    let (span_start, span_end) = cfg.generated_span();
    let (from, to) = (span_start.timestamp(), span_end.timestamp());
    let mut drafts: Vec<Draft> = Vec::with_capacity(placed.len() + placed.len() / 10);
    // Rows of placed calls and their call's status, for the disagreeing webhooks.
    let mut recorded: Vec<(usize, &str)> = Vec::with_capacity(placed.len());
    for call in placed {
        // Calls nobody intended: placed by hand in the console, or by another service.
        if rng.random_bool(0.01) {
            continue;
        }
        let at = (call.created - rng.random_range(0..=3)).max(from);
        let mut row = LedgerRow {
            external_ref: Some(external_ref(&mut rng, call.customer)),
            to_number: if rng.random_bool(0.05) {
                national(&call.to)
            } else {
                call.to.clone()
            },
            from_number: Some(call.from.clone()),
            intended_at: intended_at(&mut rng, at),
            // The create-call response was not stored for some rows.
            call_sid: rng.random_bool(0.85).then(|| call.sid.clone()),
            ..LedgerRow::default()
        };
        webhooks(&mut rng, &mut row, call.status);
        recorded.push((drafts.len(), call.status));
        drafts.push(Draft { at, row });
    }
    let mut later = ChaCha8Rng::seed_from_u64(cfg.seed);
    later.set_stream(4);
    for (i, status) in recorded {
        let row = &mut drafts[i].row;
        if row.webhook_status.as_deref() == Some(status) && later.random_bool(DISAGREEING) {
            row.webhook_status = Some(disagreeing(status).to_owned());
            // The codes went with the status the webhook did not report.
            row.webhook_sip_code = None;
            row.webhook_error_code = None;
        }
    }
    for call in agents {
        let at = (call.created - later.random_range(0..=3)).max(from);
        let mut row = LedgerRow {
            external_ref: Some(external_ref(&mut later, call.customer)),
            to_number: call.to.clone(),
            from_number: Some(call.from.clone()),
            intended_at: intended_at(&mut later, at),
            call_sid: Some(call.sid.clone()),
            ..LedgerRow::default()
        };
        // The StatusCallback is the parent's: usually `completed`, whatever the customer did.
        webhooks(&mut later, &mut row, call.status);
        drafts.push(Draft { at, row });
    }
    if to > from && !pool.is_empty() {
        let n = placed.len();
        extras(&mut rng, &mut drafts, (from, to), pool, known, n);
        let unreadable = if cfg.calls >= 200 {
            (cfg.calls / 1000).max(2)
        } else {
            0
        };
        for i in 0..unreadable {
            let at = rng.random_range(from..to);
            let customer = rng.random_range(0..pool.len());
            let mut row = LedgerRow {
                external_ref: Some(external_ref(&mut rng, customer)),
                to_number: pool[customer].clone(),
                from_number: Some(caller(&mut rng)),
                intended_at: intended_at(&mut rng, at),
                ..LedgerRow::default()
            };
            if i % 2 == 0 {
                row.to_number = String::new();
            } else {
                row.intended_at = "not-a-date".to_owned();
            }
            drafts.push(Draft { at, row });
        }
    }
    drafts.sort_by_key(|d| d.at);
    drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| LedgerRow {
            id: i as i64 + 1,
            ..d.row
        })
        .collect()
}

/// Rows with no call behind them: create-time errors (~3%), never placed (~1%), and a few
/// carrying a well-formed SID that Twilio does not know.
fn extras(
    rng: &mut ChaCha8Rng,
    drafts: &mut Vec<Draft>,
    (from, to): (i64, i64),
    pool: &[String],
    known: &HashSet<String>,
    placed: usize,
) {
    let create_errors = (placed * 3).div_ceil(100);
    let never_placed = placed.div_ceil(100);
    let unknown_sids = (placed / 400).clamp(1, 20);
    for kind in 0..create_errors + never_placed + unknown_sids {
        let at = rng.random_range(from..to);
        let customer = rng.random_range(0..pool.len());
        let mut row = LedgerRow {
            external_ref: Some(external_ref(rng, customer)),
            to_number: pool[customer].clone(),
            from_number: Some(caller(rng)),
            intended_at: intended_at(rng, at),
            ..LedgerRow::default()
        };
        if kind < create_errors {
            let code = CREATE_ERRORS[rng.random_range(0..CREATE_ERRORS.len())];
            if code == 21211 || code == 21217 {
                // Invalid numbers are why these codes exist: drop the last digit.
                row.to_number.pop();
            }
            row.create_error_code = Some(code);
        } else if kind >= create_errors + never_placed {
            let mut unknown = sid(rng, "CA");
            while known.contains(&unknown) {
                unknown = sid(rng, "CA");
            }
            row.call_sid = Some(unknown);
        }
        drafts.push(Draft { at, row });
    }
}

/// What the StatusCallbacks left behind: the final status on ~65% of rows, nothing on ~25%
/// (lost), a stale early status on ~10%; SIP and error codes on some busy and failed calls.
fn webhooks(rng: &mut ChaCha8Rng, row: &mut LedgerRow, status: &str) {
    let stale = |rng: &mut ChaCha8Rng| {
        Some(
            if rng.random_bool(0.5) {
                "ringing"
            } else {
                "initiated"
            }
            .to_owned(),
        )
    };
    if !is_final(status) {
        row.webhook_status = if rng.random_bool(0.5) {
            stale(rng)
        } else {
            None
        };
        return;
    }
    match weighted(rng, &[65, 25, 10]) {
        0 => row.webhook_status = Some(status.to_owned()),
        1 => return,
        _ => {
            row.webhook_status = stale(rng);
            return;
        }
    }
    match status {
        "busy" if rng.random_bool(0.6) => row.webhook_sip_code = Some(486),
        "failed" => {
            if rng.random_bool(0.6) {
                row.webhook_sip_code = Some(FAILED_SIP[rng.random_range(0..FAILED_SIP.len())]);
            }
            if rng.random_bool(0.1) {
                row.webhook_error_code =
                    Some(FAILED_ERRORS[rng.random_range(0..FAILED_ERRORS.len())]);
            }
        }
        _ => {}
    }
}

/// `intended_at` as applications write it: RFC 3339 UTC mostly, ~10% with a +02:00 offset
/// (same instant), ~10% SQLite's `datetime('now')` form (UTC, no zone).
fn intended_at(rng: &mut ChaCha8Rng, at: i64) -> String {
    let t: DateTime<Utc> = instant(at);
    match weighted(rng, &[80, 10, 10]) {
        0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        1 => {
            let plus_two = FixedOffset::east_opt(2 * 3600).expect("+02:00 is a valid offset");
            t.with_timezone(&plus_two)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        }
        _ => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// The application's own key: customer (one per destination number) and invoice.
fn external_ref(rng: &mut ChaCha8Rng, customer: usize) -> String {
    format!(
        "cust-{:05}/inv-{:06}",
        customer + 1,
        rng.random_range(0..1_000_000)
    )
}

/// A caller ID, as often as outbound calls use it.
fn caller(rng: &mut ChaCha8Rng) -> String {
    CALLER_IDS[weighted(rng, &CALLER_IDS.map(|(_, w)| w))]
        .0
        .to_owned()
}

#[cfg(test)]
mod tests {
    use crate::simulator::{Dataset, SimConfig};
    use crate::timefmt::{day_start, parse_intended_at};
    use chrono::NaiveDate;
    use std::collections::HashSet;

    #[test]
    fn the_ledger_has_every_kind_of_row_callrecon_must_handle() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let data = Dataset::generate(&SimConfig::new(2000, 1, day, 1));
        let rows = &data.ledger;
        let sids: HashSet<&str> = data.calls.iter().map(|c| c.sid.as_str()).collect();
        let count =
            |f: &dyn Fn(&crate::ledger::LedgerRow) -> bool| rows.iter().filter(|r| f(r)).count();
        assert!(count(&|r| r.create_error_code.is_some()) >= 30);
        assert!(count(&|r| r.call_sid.is_none() && r.create_error_code.is_none()) > 100);
        let unknown = count(&|r| r.call_sid.as_deref().is_some_and(|s| !sids.contains(s)));
        assert!(unknown >= 2, "{unknown} unknown SIDs");
        assert!(count(&|r| r.to_number.is_empty()) >= 1);
        assert!(count(&|r| r.intended_at == "not-a-date") >= 1);
        assert!(count(&|r| r.to_number.starts_with('(')) > 20);
        assert!(count(&|r| r.intended_at.ends_with("+02:00")) > 50);
        assert!(count(&|r| r.intended_at.len() == 19) > 50);
        assert!(count(&|r| r.webhook_sip_code == Some(486)) > 0);
        assert!(count(&|r| r.webhook_status.as_deref() == Some("initiated")) > 0);
        let outbound = data
            .calls
            .iter()
            .filter(|c| c.direction.as_deref() == Some("outbound-api"))
            .count();
        let with_sid = count(&|r| r.call_sid.as_deref().is_some_and(|s| sids.contains(s)));
        assert!(with_sid < outbound * 90 / 100 && with_sid > outbound * 80 / 100);
    }

    #[test]
    fn ids_follow_intended_at_and_every_time_lies_in_the_generated_days() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let data = Dataset::generate(&SimConfig::new(1500, 4, day, 2));
        let (lo, hi) = (day_start(day), data.now);
        let mut previous = None;
        for (i, row) in data.ledger.iter().enumerate() {
            assert_eq!(row.id, i as i64 + 1);
            let Some(at) = parse_intended_at(&row.intended_at) else {
                continue;
            };
            assert!(at >= lo && at < hi, "{row:?}");
            assert!(previous.is_none_or(|p| p <= at), "{row:?}");
            previous = Some(at);
        }
    }
}
