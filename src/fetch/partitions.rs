//! Splitting a window's listing into independent queries that can be paged at once.
//!
//! Paging one query is sequential by nature (each page's token comes from the previous page),
//! so speed comes from disjoint filters run side by side, up to the account's concurrency
//! (design.md, "Performance notes"):
//! - one partition per UTC day;
//! - a day whose first page holds all its calls is not split at all;
//! - where the server honours the time part of `StartTime>`/`StartTime<` (unverified for
//!   Twilio: detected at run time, see [`super::probe`]), time slices of the day cut
//!   where the ledger's rows are evenly shared ([`super::shape`]);
//! - where it does not, one partition per `Status` (disjoint values), times one per caller ID
//!   (`From`) when every ledger row of the window names its caller ID — the calls that can
//!   match the ledger. Transient statuses are paged before final ones, so a call that ends
//!   while the run pages is seen in one of them; final ones longest first.

use super::shape::{self, DayShape};
use crate::twilio::Client;
use chrono::NaiveDate;
use std::collections::HashMap;

/// Statuses that can still change, paged first.
pub const TRANSIENT: [&str; 3] = ["queued", "ringing", "in-progress"];
/// Statuses that will not change.
pub const FINAL: [&str; 5] = ["completed", "busy", "no-answer", "failed", "canceled"];

/// Whether the server filters `StartTime` to the second or only to the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFilter {
    Day,
    Second,
}

/// One independent query of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Stable name: the progress of a resumed fetch is found by it.
    pub key: String,
    pub day: NaiveDate,
    pub query: Vec<(String, String)>,
    /// Paged in the first wave, before every final-status partition.
    pub transient: bool,
    /// A time slice's `[StartTime>, StartTime<)`, Unix seconds.
    pub span: Option<(i64, i64)>,
}

impl Partition {
    /// A partition of calls in any status: paged with the final ones.
    fn every_status(key: String, day: NaiveDate, query: Vec<(String, String)>) -> Partition {
        Partition {
            key,
            day,
            query,
            transient: false,
            span: None,
        }
    }
}

/// How to split.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// One query per day, as the SDKs do (tests compare against it).
    pub sequential: bool,
    /// Caller IDs to split by in day mode; `None` lists every caller.
    pub callers: Option<Vec<String>>,
    /// Time slices per day in second mode.
    pub slices: u32,
}

fn day_bounds(day: NaiveDate) -> (String, String) {
    let next = day.succ_opt().expect("a next day");
    (day.to_string(), next.to_string())
}

/// The partitions of `days`, transient ones first, the rest longest first (by what the
/// ledger expects of them: a long partition started last would finish alone).
pub fn plan(
    days: &[NaiveDate],
    mode: TimeFilter,
    split: &Split,
    page_size: u32,
    shapes: &HashMap<NaiveDate, DayShape>,
) -> Vec<Partition> {
    let size = ("PageSize".to_owned(), page_size.to_string());
    let none = DayShape::default();
    let mut transient = Vec::new();
    let mut rest: Vec<(f64, Partition)> = Vec::new();
    for &day in days {
        let shape = shapes.get(&day).unwrap_or(&none);
        let (from, to) = day_bounds(day);
        let whole_day = vec![
            ("StartTime>".to_owned(), from.clone()),
            ("StartTime<".to_owned(), to.clone()),
        ];
        if split.sequential {
            let mut query = whole_day;
            query.push(size.clone());
            rest.push((
                0.0,
                Partition::every_status(format!("calls:{from}"), day, query),
            ));
            continue;
        }
        if mode == TimeFilter::Second && split.slices > 1 {
            // Cut where the ledger's rows are evenly shared, so every slice takes about as
            // many pages; the bounds are in the key, so a resumed run whose ledger moved
            // meanwhile lists its new slices afresh instead of trusting progress of others.
            let start = crate::timefmt::day_start(day).timestamp();
            let mut bounds = vec![start];
            bounds.extend(shape.cuts(day, split.slices));
            bounds.push(start + 86_400);
            for pair in bounds.windows(2) {
                let (a, b) = (shape::bound(pair[0]), shape::bound(pair[1]));
                let query = vec![
                    ("StartTime>".to_owned(), a.clone()),
                    ("StartTime<".to_owned(), b.clone()),
                    size.clone(),
                ];
                let key = format!("calls:{from}:{a}..{b}");
                let slice = Partition {
                    span: Some((pair[0], pair[1])),
                    ..Partition::every_status(key, day, query)
                };
                rest.push((0.0, slice));
            }
            continue;
        }
        let callers: Vec<Option<&String>> = match &split.callers {
            Some(list) if !list.is_empty() => list.iter().map(Some).collect(),
            _ => vec![None],
        };
        for status in TRANSIENT.iter().chain(FINAL.iter()) {
            for caller in &callers {
                let mut query = whole_day.clone();
                query.push(("Status".to_owned(), (*status).to_owned()));
                let mut key = format!("calls:{from}:{status}");
                if let Some(caller) = caller {
                    query.push(("From".to_owned(), (*caller).clone()));
                    key.push_str(&format!(":{caller}"));
                }
                query.push(size.clone());
                let partition = Partition {
                    key,
                    day,
                    query,
                    transient: TRANSIENT.contains(status),
                    span: None,
                };
                if partition.transient {
                    transient.push(partition)
                } else {
                    let expected = shape.expected(caller.map(String::as_str), status);
                    rest.push((expected, partition))
                }
            }
        }
    }
    rest.sort_by(|a, b| b.0.total_cmp(&a.0));
    transient.extend(rest.into_iter().map(|(_, p)| p));
    transient
}

/// The first page of a whole day's listing.
pub fn whole_day_url(client: &Client, day: NaiveDate, page_size: u32) -> url::Url {
    let (from, to) = day_bounds(day);
    let size = page_size.to_string();
    client.calls_url(&[
        ("StartTime>", &from),
        ("StartTime<", &to),
        ("PageSize", &size),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 14).unwrap()
    }

    #[test]
    fn day_mode_splits_by_status_and_caller_transient_first() {
        let split = Split {
            callers: Some(vec!["+1".into(), "+2".into()]),
            ..Split::default()
        };
        let parts = plan(&[day()], TimeFilter::Day, &split, 1000, &HashMap::new());
        assert_eq!(parts.len(), 16);
        assert!(parts[..6].iter().all(|p| p.transient));
        assert!(parts[6..].iter().all(|p| !p.transient));
        let keys: std::collections::HashSet<_> = parts.iter().map(|p| &p.key).collect();
        assert_eq!(keys.len(), 16, "keys are unique");
    }

    #[test]
    fn day_mode_starts_the_longest_final_partitions_first() {
        let split = Split {
            callers: Some(vec!["+1".into(), "+2".into()]),
            ..Split::default()
        };
        let mut shape = DayShape::default();
        shape
            .by_caller_status
            .insert(("+2".into(), "completed".into()), 900);
        shape
            .by_caller_status
            .insert(("+1".into(), "completed".into()), 100);
        shape
            .by_caller_status
            .insert(("+1".into(), "busy".into()), 300);
        let shapes = HashMap::from([(day(), shape)]);
        let parts = plan(&[day()], TimeFilter::Day, &split, 1000, &shapes);
        let keys: Vec<&str> = parts.iter().map(|p| p.key.as_str()).collect();
        assert!(parts[..6].iter().all(|p| p.transient), "{keys:?}");
        assert_eq!(
            keys[6..9],
            [
                "calls:2026-01-14:completed:+2",
                "calls:2026-01-14:busy:+1",
                "calls:2026-01-14:completed:+1"
            ]
        );
    }

    #[test]
    fn second_mode_slices_the_day_without_gaps() {
        let split = Split {
            slices: 7,
            ..Split::default()
        };
        let parts = plan(&[day()], TimeFilter::Second, &split, 1000, &HashMap::new());
        assert_eq!(parts.len(), 7);
        assert_eq!(parts[0].query[0].1, "2026-01-14T00:00:00Z");
        for pair in parts.windows(2) {
            assert_eq!(
                pair[0].query[1].1, pair[1].query[0].1,
                "each slice ends where the next begins"
            );
        }
        assert_eq!(parts[6].query[1].1, "2026-01-15T00:00:00Z");
    }

    #[test]
    fn sequential_is_one_query_per_day() {
        let split = Split {
            sequential: true,
            ..Split::default()
        };
        let parts = plan(
            &[day(), day().succ_opt().unwrap()],
            TimeFilter::Second,
            &split,
            1000,
            &HashMap::new(),
        );
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].key, "calls:2026-01-14");
    }
}
