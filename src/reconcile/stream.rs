//! The report's rows, streamed in the report's order: each window row classified, counted,
//! written (unless completed and not asked for), and what it teaches the run set aside for
//! after the report: write-back, follow-ups, the numbers file's outcomes.
//!
//! A row's call comes in two parts. Its status, price and currency were kept by matching
//! (`temp.w_calls`, read in the order of the rows): enough to classify and count every row.
//! The rest (times, direction, parent…) is read from `recon_calls` only for the rows that
//! need it: the rows the report writes, and the ones written back. In a big window most calls
//! completed and are not written: reading each of them once more from the calls' table, in
//! random SID order, was most of a report's time.

use super::classify::{Facts, classify};
use super::{Options, Summary, scan, twilio_codes, writeback};
use crate::phone::Normalizer;
use crate::report::{self, Row};
use crate::timefmt::format_utc;
use crate::twilio::model::{HookStatus, is_final};
use anyhow::Result;
use chrono::{TimeZone, Utc};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

/// The ledger's own values come from the scan (`w_rows`), which read them through
/// [`crate::ledger::cell`]: none is read from `intended_calls` again here.
/// The report's rows in the report's order: by `ts` (NULL, an unreadable `intended_at`,
/// sorts first), then ledger id. That is the order of the `w_rows_ts` index, so rows stream
/// from it as they are read, with no sort of a million wide rows first.
pub(crate) const ROWS: &str =
    "SELECT w.ledger_id, w.ts, w.in_window, w.problem, w.note, w.matched_by, w.to_valid,
        w.create_code, w.hook_status, w.hook_code, w.sip_code, w.backfilled,
        w.ext_ref, w.to_text, w.from_text, w.at_text,
        w.cur_status, w.cur_code_empty, w.cur_sid,
        w.match_sid, d.status, d.price, d.price_unit,
        f.reason, f.window_from, f.window_to, w.to_key, w.cur_status_bad
    FROM w_rows w
    LEFT JOIN w_calls d ON d.ledger_id = w.ledger_id
    LEFT JOIN recon_followups f ON f.ledger_id = w.ledger_id
    WHERE w.in_window IN (1, 2)
    ORDER BY w.ts, w.ledger_id";

/// [`ROWS`]' columns.
mod col {
    pub const LEDGER_ID: usize = 0;
    pub const TS: usize = 1;
    pub const IN_WINDOW: usize = 2;
    pub const PROBLEM: usize = 3;
    pub const NOTE: usize = 4;
    pub const MATCHED_BY: usize = 5;
    pub const TO_VALID: usize = 6;
    pub const CREATE_CODE: usize = 7;
    pub const HOOK_STATUS: usize = 8;
    pub const HOOK_CODE: usize = 9;
    pub const SIP_CODE: usize = 10;
    pub const BACKFILLED: usize = 11;
    pub const EXTERNAL_REF: usize = 12;
    pub const TO_NUMBER: usize = 13;
    pub const FROM_NUMBER: usize = 14;
    pub const INTENDED_AT: usize = 15;
    pub const LEDGER_WEBHOOK_STATUS: usize = 16;
    pub const LEDGER_WEBHOOK_CODE: usize = 17;
    pub const LEDGER_CALL_SID: usize = 18;
    pub const MATCH_SID: usize = 19;
    pub const CALL_STATUS: usize = 20;
    pub const PRICE: usize = 21;
    pub const PRICE_UNIT: usize = 22;
    pub const FOLLOWUP_REASON: usize = 23;
    pub const FOLLOWUP_FROM: usize = 24;
    pub const FOLLOWUP_TO: usize = 25;
    pub const TO_KEY: usize = 26;
    pub const LEDGER_STATUS_BAD: usize = 27;
}

/// The rest of a matched call, by SID.
pub(crate) const CALL: &str = "SELECT start_time, end_time, duration, direction, answered_by,
        account_sid, parent_call_sid, to_norm, to_raw
    FROM recon_calls WHERE sid = ?1";

/// The columns of a call beyond its status and price.
#[derive(Debug, Default)]
struct Details {
    start_time: Option<i64>,
    end_time: Option<i64>,
    duration: Option<String>,
    direction: Option<String>,
    answered_by: Option<String>,
    account_sid: Option<String>,
    parent: Option<String>,
    /// The number Twilio dialled, normalised like the ledger's, and as Twilio wrote it.
    to_norm: Option<String>,
    to_raw: Option<String>,
}

fn details(stmt: &mut CachedStatement, sid: &str) -> Result<Details> {
    Ok(stmt
        .query_row([sid], |r| {
            Ok(Details {
                start_time: r.get(0)?,
                end_time: r.get(1)?,
                duration: r.get(2)?,
                direction: r.get(3)?,
                answered_by: r.get(4)?,
                account_sid: r.get(5)?,
                parent: r.get(6)?,
                to_norm: r.get(7)?,
                to_raw: r.get(8)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

pub(super) fn stream_rows(
    conn: &Connection,
    numbers: &mut Normalizer,
    opts: &Options,
    out: &mut report::Writer,
    summary: &mut Summary,
) -> Result<()> {
    let mut finder = twilio_codes::Finder::new(conn)?;
    let mut call = conn.prepare_cached(CALL)?;
    let mut add_writeback = conn.prepare_cached(
        "INSERT INTO w_writeback (ledger_id, old_status, status, code, call_sid, counted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut add_followup = conn.prepare_cached(
        "INSERT INTO w_followups (ledger_id, reason, call_sid, ts, resolved) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut add_outcome = conn.prepare_cached(
        "INSERT INTO w_outcomes (ledger_id, to_key, outcome, error_code, category, ts, external_ref,
             twilio_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut stmt = conn.prepare(ROWS)?;
    let mut rows = stmt.query([])?;
    let time = |secs: Option<i64>| {
        secs.and_then(|s| Utc.timestamp_opt(s, 0).single())
            .map(format_utc)
    };
    let now = opts.now.timestamp();
    while let Some(r) = rows.next()? {
        if summary.reported.is_multiple_of(4096) {
            crate::stop::check()?;
        }
        let id: i64 = r.get(col::LEDGER_ID)?;
        let ts: Option<i64> = r.get(col::TS)?;
        let in_window: i64 = r.get(col::IN_WINDOW)?;
        let problem: Option<String> = r.get(col::PROBLEM)?;
        let note: Option<String> = r.get(col::NOTE)?;
        let hook_status: Option<String> = r.get(col::HOOK_STATUS)?;
        let call_status: Option<String> = r.get(col::CALL_STATUS)?;
        // Matching keeps a row's call in w_calls only when the call is landed.
        let call_sid: Option<String> = match call_status {
            Some(_) => r.get(col::MATCH_SID)?,
            None => None,
        };
        let price: Option<String> = r.get(col::PRICE)?;
        // A webhook_status that is not text is the application's, whatever it says: it is
        // never written over (ledger::cell).
        let status_bad: bool = r.get(col::LEDGER_STATUS_BAD)?;
        let ledger = match opts.write_back && !status_bad {
            true => Some(writeback::Ledger {
                webhook_status: r.get(col::LEDGER_WEBHOOK_STATUS)?,
                webhook_error_code_empty: r.get(col::LEDGER_WEBHOOK_CODE)?,
                call_sid: r.get(col::LEDGER_CALL_SID)?,
            }),
            false => None,
        };
        // A completed call of the window is neither written (unless asked for) nor looked up
        // for codes; only a write-back needs more of it.
        let hidden = in_window == scan::IN_WINDOW
            && problem.is_none()
            && call_status.as_deref() == Some("completed")
            && !opts.include_completed;
        let writes_back = ledger
            .as_ref()
            .zip(call_status.as_deref())
            .is_some_and(|(ledger, status)| writeback::applies(ledger, status));
        let call_details = match &call_sid {
            Some(sid) if !hidden || writes_back => details(&mut call, sid)?,
            _ => Details::default(),
        };
        let needs_twilio_code = r.get::<_, Option<i64>>(col::CREATE_CODE)?.is_none()
            && r.get::<_, Option<i64>>(col::HOOK_CODE)?.is_none()
            && r.get::<_, Option<i64>>(col::SIP_CODE)?.is_none();
        let (alert, notification) = match (&call_sid, needs_twilio_code) {
            (Some(sid), true) => {
                finder.codes(sid, call_details.parent.as_deref(), call_status.as_deref())?
            }
            _ => (None, None),
        };
        // Whether an E.164-shaped number can be valid is asked only where the answer can
        // change the outcome: a call that failed, or none at all, with no code to explain it.
        let to_valid = match r.get::<_, Option<bool>>(col::TO_VALID)? {
            Some(valid) => valid,
            None if needs_twilio_code
                && alert.is_none()
                && notification.is_none()
                && matches!(call_status.as_deref(), None | Some("failed")) =>
            {
                let raw: Option<String> = r.get(col::TO_NUMBER)?;
                raw.is_none_or(|n| numbers.normalize(&n).valid)
            }
            None => true,
        };
        let facts = Facts {
            problem: problem.as_deref(),
            note: note.as_deref(),
            to_valid,
            create_error_code: r.get(col::CREATE_CODE)?,
            webhook_status: hook_status.as_deref(),
            webhook_error_code: r.get(col::HOOK_CODE)?,
            webhook_sip_code: r.get(col::SIP_CODE)?,
            call_status: call_status.as_deref(),
            age_secs: ts.map_or(0, |t| now - t),
            match_delay_secs: opts.match_delay.num_seconds(),
            alert,
            notification,
        };
        let mut verdict = classify(&facts);
        // A row whose SID names a call to another number: the report acts on the ledger's
        // number, and says so (a child leg to the row's number was looked for in matching).
        let matched_by: Option<String> = r.get(col::MATCHED_BY)?;
        let to_key: Option<String> = r.get(col::TO_KEY)?;
        let twilio_to = match (&matched_by, &call_details.to_raw) {
            (Some(by), Some(dialled)) if by == "sid" && call_details.to_norm != to_key => {
                let note = format!(
                    "Twilio dialled {dialled}, not the ledger's to_number; the report and the numbers file use the ledger's"
                );
                verdict.error_message = if verdict.error_message.is_empty() {
                    note
                } else {
                    format!("{}; {note}", verdict.error_message)
                };
                Some(dialled.clone())
            }
            _ => None,
        };
        if in_window == scan::IN_WINDOW
            && problem.is_none()
            && let (Some(status), Some(price)) = (call_status.as_deref(), price.as_deref())
        {
            let unit: Option<String> = r.get(col::PRICE_UNIT)?;
            summary
                .spend
                .add(status, verdict.outcome, unit.as_deref(), price);
        }
        let unresolved =
            verdict.outcome == "pending" || (verdict.outcome == "completed" && price.is_none());
        let external_ref: Option<String> = r.get(col::EXTERNAL_REF)?;
        let reason = if verdict.outcome == "pending" {
            "pending"
        } else {
            "unpriced"
        };
        let followed: Option<String> = r.get(col::FOLLOWUP_REASON)?;
        if problem.is_none() && (unresolved || followed.is_some()) {
            add_followup.execute(params![id, reason, call_sid, ts, !unresolved])?;
        }
        if in_window == scan::FOLLOWUP {
            // A row of an earlier window: reported only once it is resolved, by this window.
            if unresolved {
                continue;
            }
            let reason: String = r.get(col::FOLLOWUP_REASON)?;
            let (from, to): (i64, i64) = (r.get(col::FOLLOWUP_FROM)?, r.get(col::FOLLOWUP_TO)?);
            let flag = format!(
                "resolved by this run; was {reason} in the report for [{}, {})",
                time(Some(from)).unwrap_or_default(),
                time(Some(to)).unwrap_or_default()
            );
            verdict.error_message = if verdict.error_message.is_empty() {
                flag
            } else {
                format!("{flag}; {}", verdict.error_message)
            };
        }
        if in_window == scan::IN_WINDOW && !verdict.outcome.is_empty() {
            *summary.outcomes.entry(verdict.outcome).or_default() += 1;
        }
        if !verdict.error_source.is_empty() {
            *summary
                .codes_by_source
                .entry(verdict.error_source)
                .or_default() += 1;
        }
        if let (Some(hook), Some(status)) = (
            HookStatus::read(hook_status.as_deref()).final_status(),
            call_status.as_deref(),
        ) && is_final(status)
            && hook != status
        {
            summary.disagreements += 1;
        }
        let mut backfilled: bool = r.get(col::BACKFILLED)?;
        if let Some(ledger) = &ledger
            && writes_back
        {
            let call = writeback::Matched {
                sid: call_sid.as_deref(),
                status: call_status.as_deref(),
                direction: call_details.direction.as_deref(),
                parent: call_details.parent.as_deref(),
            };
            if let Some(change) = writeback::decide(ledger, &call, &verdict) {
                // Counted among the window's backfilled final statuses (below) unless the
                // write-back then does not commit.
                let counted = in_window == scan::IN_WINDOW;
                add_writeback.execute(params![
                    id,
                    change.old_status,
                    change.status,
                    change.code,
                    change.sid,
                    counted
                ])?;
                backfilled = true;
            }
        }
        if in_window == scan::IN_WINDOW && call_status.as_deref().is_some_and(is_final) {
            summary.final_statuses += 1;
            summary.backfilled_final += backfilled as u64;
        }
        if matches!(
            verdict.outcome,
            "unreachable" | "failed" | "busy" | "no-answer"
        ) && in_window == scan::IN_WINDOW
        {
            add_outcome.execute(params![
                id,
                to_key,
                verdict.outcome,
                verdict.error_code,
                verdict.error_category,
                ts,
                external_ref,
                twilio_to
            ])?;
        }
        if hidden {
            continue;
        }
        let intended_raw: Option<String> = r.get(col::INTENDED_AT)?;
        out.write(&Row {
            ledger_id: Some(id),
            external_ref,
            to: r.get(col::TO_NUMBER)?,
            from: r.get(col::FROM_NUMBER)?,
            intended_at: time(ts).or(intended_raw),
            call_sid: call_sid.clone(),
            outcome: verdict.outcome.to_owned(),
            twilio_status: call_status.clone(),
            error_code: verdict.error_code,
            error_category: verdict.error_category,
            error_message: verdict.error_message,
            error_source: verdict.error_source.to_owned(),
            sip_response_code: verdict.sip_response_code,
            start_time: time(call_details.start_time),
            end_time: time(call_details.end_time),
            duration_s: call_details.duration,
            price,
            price_unit: r.get(col::PRICE_UNIT)?,
            direction: call_details.direction,
            answered_by: call_details.answered_by,
            matched_by,
            backfilled,
            account_sid: call_details.account_sid,
        })?;
        summary.reported += 1;
    }
    Ok(())
}
