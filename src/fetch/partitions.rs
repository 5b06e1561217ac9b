//! Splitting a window's listing into independent queries that can be paged at once.
//!
//! Paging one query is sequential by nature (each page's token comes from the previous page),
//! so speed comes from disjoint filters run side by side, up to the account's concurrency
//! (design.md, "Performance notes"):
//! - one partition per UTC day;
//! - a day whose first page holds all its calls is not split at all;
//! - where the server honours the time part of `StartTime>`/`StartTime<` (unverified for
//!   Twilio: detected at run time, see [`probe_time_filter`]), equal time slices of the day;
//! - where it does not, one partition per `Status` (disjoint values), times one per caller ID
//!   (`From`) when every ledger row of the window names its caller ID — the calls that can
//!   match the ledger. Transient statuses are paged before final ones, so a call that ends
//!   while the run pages is seen in one of them.

use crate::twilio::Client;
use crate::twilio::model::{Call, CallsPage};
use anyhow::Result;
use chrono::{Duration, NaiveDate};

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

/// The partitions of `days`, transient ones first.
pub fn plan(days: &[NaiveDate], mode: TimeFilter, split: &Split, page_size: u32) -> Vec<Partition> {
    let size = ("PageSize".to_owned(), page_size.to_string());
    let mut transient = Vec::new();
    let mut rest = Vec::new();
    for &day in days {
        let (from, to) = day_bounds(day);
        let whole_day = vec![
            ("StartTime>".to_owned(), from.clone()),
            ("StartTime<".to_owned(), to.clone()),
        ];
        if split.sequential {
            let mut query = whole_day;
            query.push(size.clone());
            rest.push(Partition {
                key: format!("calls:{from}"),
                day,
                query,
                transient: false,
            });
            continue;
        }
        if mode == TimeFilter::Second && split.slices > 1 {
            let start = crate::timefmt::day_start(day);
            let step = Duration::seconds(86_400 / i64::from(split.slices));
            for i in 0..split.slices {
                let a = start + step * i as i32;
                let b = if i + 1 == split.slices {
                    start + Duration::days(1)
                } else {
                    a + step
                };
                let query = vec![
                    ("StartTime>".to_owned(), crate::timefmt::format_utc(a)),
                    ("StartTime<".to_owned(), crate::timefmt::format_utc(b)),
                    size.clone(),
                ];
                rest.push(Partition {
                    key: format!("calls:{from}:slice{i:03}/{}", split.slices),
                    day,
                    query,
                    transient: false,
                });
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
                };
                if partition.transient {
                    transient.push(partition)
                } else {
                    rest.push(partition)
                }
            }
        }
    }
    transient.extend(rest);
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

/// Asks whether the server honours the time part of `StartTime<`, given a call of the day
/// (`known`, from the day's first page): the day asked for up to just after that call's start
/// holds it when the time counts, and nothing when only the date does (`StartTime<` the same
/// date is "before midnight"). Any doubt answers `Day`, the documented behaviour, which is
/// always correct, only slower.
pub async fn probe_time_filter(client: &Client, known: &Call) -> Result<TimeFilter> {
    let at = known
        .start_time
        .as_deref()
        .or(known.date_created.as_deref())
        .and_then(crate::timefmt::parse_rfc2822);
    let Some(at) = at else {
        return Ok(TimeFilter::Day);
    };
    let day = at.date_naive();
    let end_of_day = crate::timefmt::day_start(day) + Duration::seconds(86_399);
    let before = (at + Duration::seconds(1)).min(end_of_day);
    let (from, _) = day_bounds(day);
    let narrow = client.calls_url(&[
        ("StartTime>", &from),
        ("StartTime<", &crate::timefmt::format_utc(before)),
        ("PageSize", "1"),
    ]);
    let page: CallsPage = client.get_json(&narrow).await?;
    Ok(if page.calls.is_empty() {
        TimeFilter::Day
    } else {
        TimeFilter::Second
    })
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
        let parts = plan(&[day()], TimeFilter::Day, &split, 1000);
        assert_eq!(parts.len(), 16);
        assert!(parts[..6].iter().all(|p| p.transient));
        assert!(parts[6..].iter().all(|p| !p.transient));
        let keys: std::collections::HashSet<_> = parts.iter().map(|p| &p.key).collect();
        assert_eq!(keys.len(), 16, "keys are unique");
    }

    #[test]
    fn second_mode_slices_the_day_without_gaps() {
        let split = Split {
            slices: 7,
            ..Split::default()
        };
        let parts = plan(&[day()], TimeFilter::Second, &split, 1000);
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
        );
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].key, "calls:2026-01-14");
    }
}
