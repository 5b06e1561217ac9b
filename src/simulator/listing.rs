//! The Calls list as Twilio answers it: query parsing, filters and the keyset scan, with no
//! HTTP in sight so each rule can be tested on its own (paging itself is in `paging`, shared
//! with the other lists).
//!
//! The page token's position comes from a sid → index map and the scan goes on from there,
//! and binary searches on `date_created` skip what a time filter cannot reach, so a listing
//! of n pages costs O(records), not O(n²), and stays correct while callers page
//! concurrently. Time filters read a call's start as `start_time`, or `date_created` when the
//! call never started; what Twilio does for never-started calls is unverified (notes §1.3),
//! and this choice keeps queued calls visible to a day query. `EndTime*` filters only ever
//! match calls that have an `end_time`.

use super::TimeFilter;
use super::paging::{Paging, Selection, Step, first_values, scan};
use super::timeline::MAX_START_DELAY_S;
use crate::timefmt::{day_start, parse_rfc2822};
use crate::twilio::model::Call;
use chrono::{DateTime, Days, NaiveDate};
use std::collections::HashMap;

/// The statuses `Status` accepts (`call_enum_status`).
const STATUSES: [&str; 8] = [
    "queued",
    "ringing",
    "in-progress",
    "canceled",
    "completed",
    "failed",
    "busy",
    "no-answer",
];

/// Filters that are echoed into every page URI, in Twilio's spelling.
const FILTERS: [&str; 10] = [
    "To",
    "From",
    "Status",
    "ParentCallSid",
    "StartTime",
    "StartTime>",
    "StartTime<",
    "EndTime",
    "EndTime>",
    "EndTime<",
];

/// The calls' times as Unix seconds, and where each SID sits in the newest-first order.
pub(super) struct CallIndex {
    created: Vec<i64>,
    start: Vec<i64>,
    end: Vec<Option<i64>>,
    by_sid: HashMap<String, usize>,
}

impl CallIndex {
    pub fn new(calls: &[Call]) -> CallIndex {
        let secs = |t: &Option<String>| t.as_deref().and_then(parse_rfc2822).map(|t| t.timestamp());
        let created: Vec<i64> = calls
            .iter()
            .map(|c| secs(&c.date_created).expect("generated calls have a date_created"))
            .collect();
        CallIndex {
            start: calls
                .iter()
                .zip(&created)
                .map(|(c, created)| secs(&c.start_time).unwrap_or(*created))
                .collect(),
            end: calls.iter().map(|c| secs(&c.end_time)).collect(),
            by_sid: calls
                .iter()
                .enumerate()
                .map(|(i, c)| (c.sid.clone(), i))
                .collect(),
            created,
        }
    }

    pub fn position(&self, sid: &str) -> Option<usize> {
        self.by_sid.get(sid).copied()
    }

    /// `date_created` of the call at `i`, in Unix seconds.
    pub fn created(&self, i: usize) -> i64 {
        self.created[i]
    }
}

/// A half-open time range `[lo, hi)` in Unix seconds; either end may be open.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Range {
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

impl Range {
    pub fn contains(&self, t: i64) -> bool {
        self.lo.is_none_or(|lo| t >= lo) && self.hi.is_none_or(|hi| t < hi)
    }

    pub fn is_open(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }

    pub fn narrow(&mut self, lo: Option<i64>, hi: Option<i64>) {
        if let Some(lo) = lo {
            self.lo = Some(self.lo.map_or(lo, |old| old.max(lo)));
        }
        if let Some(hi) = hi {
            self.hi = Some(self.hi.map_or(hi, |old| old.min(hi)));
        }
    }
}

/// A parsed list request.
#[derive(Debug, Default)]
pub(super) struct Query {
    /// The filters as sent (first occurrence of each), echoed into page URIs.
    pub echo: Vec<(String, String)>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub status: Option<String>,
    pub parent: Option<String>,
    pub start: Range,
    pub end: Range,
    pub paging: Paging,
}

/// Reads a raw query string; the error is the message of a 400 / 20001.
pub(super) fn parse_query(raw: Option<&str>, mode: TimeFilter) -> Result<Query, String> {
    let mut q = Query::default();
    for (key, value) in first_values(raw) {
        if q.paging.read(&key, &value)? {
            continue;
        }
        match key.as_str() {
            "To" => q.to = Some(value.clone()),
            "From" => q.from = Some(value.clone()),
            "ParentCallSid" => q.parent = Some(value.clone()),
            "Status" if STATUSES.contains(&value.as_str()) => q.status = Some(value.clone()),
            "Status" => {
                return Err(format!(
                    "Status '{value}' is not one of {}",
                    STATUSES.join(", ")
                ));
            }
            "StartTime" | "StartTime>" | "StartTime<" | "EndTime" | "EndTime>" | "EndTime<" => {
                let (lo, hi) = bound(&key, &value, mode)?;
                let range = if key.starts_with("Start") {
                    &mut q.start
                } else {
                    &mut q.end
                };
                range.narrow(lo, hi);
            }
            _ => continue,
        }
        if FILTERS.contains(&key.as_str()) {
            q.echo.push((key, value));
        }
    }
    Ok(q)
}

/// The range one time filter allows. A bare date, or any value in `day` mode, counts from
/// midnight UTC starting that date (the date as written, whatever the offset); a full
/// RFC 3339 value in `second` mode counts from its instant. `StartTime=`/`EndTime=` mean
/// "on this date" in both modes.
pub(super) fn bound(
    key: &str,
    value: &str,
    mode: TimeFilter,
) -> Result<(Option<i64>, Option<i64>), String> {
    let bad =
        || format!("{key} '{value}' is not a date; write YYYY-MM-DD or an RFC 3339 time (UTC)");
    let text = value.trim();
    let (day, exact): (NaiveDate, Option<i64>) = match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(day) => (day, None),
        Err(_) => {
            let t = DateTime::parse_from_rfc3339(text).map_err(|_| bad())?;
            (t.date_naive(), Some(t.timestamp()))
        }
    };
    let midnight = day_start(day).timestamp();
    let at = match (mode, exact) {
        (TimeFilter::Second, Some(t)) => t,
        _ => midnight,
    };
    Ok(match key.chars().last() {
        Some('>') => (Some(at), None),
        Some('<') => (None, Some(at)),
        _ => {
            let on = match (mode, exact) {
                (TimeFilter::Second, Some(t)) => {
                    DateTime::from_timestamp(t, 0).map_or(day, |t| t.date_naive())
                }
                _ => day,
            };
            let lo = day_start(on).timestamp();
            (Some(lo), Some(day_start(on + Days::new(1)).timestamp()))
        }
    })
}

/// Selects up to `limit` calls after the page token that pass every filter.
pub(super) fn select(
    index: &CallIndex,
    calls: &[Call],
    q: &Query,
    limit: usize,
) -> Result<Selection, String> {
    let mut begin = q.paging.begin(|sid| index.position(sid))?;
    // Start and end never precede date_created, so no call created at or after the
    // earliest upper bound can match: skip them with a binary search (newest first).
    if let Some(hi) = [q.start.hi, q.end.hi].into_iter().flatten().min() {
        begin = begin.max(index.created.partition_point(|&c| c >= hi));
    }
    Ok(scan(calls.len(), begin, limit, |i| {
        // Start is at most MAX_START_DELAY_S after date_created, and everything further
        // on is older still: nothing left can reach the lower bound.
        if q.start
            .lo
            .is_some_and(|lo| index.created[i] + MAX_START_DELAY_S < lo)
        {
            Step::Stop
        } else if matches(index, &calls[i], i, q) {
            Step::Take
        } else {
            Step::Skip
        }
    }))
}

fn matches(index: &CallIndex, call: &Call, i: usize, q: &Query) -> bool {
    let same = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
    };
    same(&q.to, &call.to)
        && same(&q.from, &call.from)
        && same(&q.parent, &call.parent_call_sid)
        && q.status.as_ref().is_none_or(|s| *s == call.status)
        && q.start.contains(index.start[i])
        && (q.end.is_open() || index.end[i].is_some_and(|e| q.end.contains(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<i64> {
        Some(DateTime::parse_from_rfc3339(text).unwrap().timestamp())
    }

    #[test]
    fn day_mode_reads_only_the_date_and_second_mode_the_whole_time() {
        let value = "2026-11-27T15:30:00Z";
        let day = bound("StartTime>", value, TimeFilter::Day).unwrap();
        assert_eq!(day, (at("2026-11-27T00:00:00Z"), None));
        let second = bound("StartTime>", value, TimeFilter::Second).unwrap();
        assert_eq!(second, (at("2026-11-27T15:30:00Z"), None));
        let before = bound("StartTime<", "2026-11-28", TimeFilter::Second).unwrap();
        assert_eq!(before, (None, at("2026-11-28T00:00:00Z")));
        let on = bound("EndTime", value, TimeFilter::Second).unwrap();
        assert_eq!(on, (at("2026-11-27T00:00:00Z"), at("2026-11-28T00:00:00Z")));
        // The date as written counts, whatever the offset (as Twilio's SDKs send it).
        let offset = bound("StartTime>", "2026-11-27T01:00:00+02:00", TimeFilter::Day).unwrap();
        assert_eq!(offset, (at("2026-11-27T00:00:00Z"), None));
    }

    #[test]
    fn malformed_values_are_refused() {
        for raw in [
            "StartTime%3E=yesterday",
            "EndTime=2026-13-01",
            "Status=done",
            "PageSize=0",
            "PageSize=1001",
            "Page=-1",
            "PageToken=CA00",
        ] {
            assert!(parse_query(Some(raw), TimeFilter::Day).is_err(), "{raw}");
        }
    }

    #[test]
    fn an_encoded_operator_and_the_old_unencoded_form_are_the_same_filter() {
        let encoded = parse_query(Some("StartTime%3E=2026-11-27"), TimeFilter::Day).unwrap();
        let plain = parse_query(Some("StartTime>=2026-11-27"), TimeFilter::Day).unwrap();
        assert_eq!(encoded.start, plain.start);
        assert_eq!(encoded.start.lo, at("2026-11-27T00:00:00Z"));
    }

    #[test]
    fn page_uris_carry_every_filter_then_the_paging_keys_percent_encoded() {
        let raw = "To=%2B12015550123&StartTime%3E=2026-11-27&Foo=1&PageSize=2&Page=1";
        let q = parse_query(Some(raw), TimeFilter::Day).unwrap();
        let sel = Selection {
            indices: vec![7],
            more: true,
        };
        let links = q.paging.links("/x/Calls.json", &q.echo, &sel, |_| "CAab");
        assert_eq!(
            links.next.as_deref(),
            Some(
                "/x/Calls.json?To=%2B12015550123&StartTime%3E=2026-11-27&PageSize=2&Page=2\
                 &PageToken=PACAab"
            )
        );
        assert_eq!(
            links.first,
            "/x/Calls.json?To=%2B12015550123&StartTime%3E=2026-11-27&PageSize=2&Page=0"
        );
        assert_eq!((links.start, links.end), (2, 2));
    }
}
