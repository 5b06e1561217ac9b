//! What the ledger says about the days to list, before the first request: how many calls a
//! day holds, when in the day they were placed, and how they spread over caller IDs and
//! statuses. The listing uses it only to plan (which days to split at once, where to cut time
//! slices so that they hold about as many calls each, which partitions to start first); every
//! plan covers every call whatever the ledger says, so a ledger that is wrong about Twilio
//! (inbound calls, other applications on the account) costs requests, never calls.

use crate::phone::Normalizer;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::Connection;
use std::collections::HashMap;

/// The ledger's rows of one UTC day.
#[derive(Debug, Default, Clone)]
pub struct DayShape {
    /// `intended_at` of every row of the day, Unix seconds, sorted.
    pub times: Vec<i64>,
    /// Rows per (caller ID key, webhook status as written, lowercased; "" when none).
    pub by_caller_status: HashMap<(String, String), u64>,
}

impl DayShape {
    pub fn rows(&self) -> usize {
        self.times.len()
    }

    /// Cut points (Unix seconds, strictly increasing, inside the day) that split the day's
    /// rows into `slices` parts of about equal count; equal time slices when the ledger has
    /// too few rows that day to tell.
    pub fn cuts(&self, day: NaiveDate, slices: u32) -> Vec<i64> {
        let start = crate::timefmt::day_start(day).timestamp();
        let end = start + 86_400;
        let slices = slices.max(1) as usize;
        let mut cuts: Vec<i64> = if self.times.len() < slices * 4 {
            (1..slices)
                .map(|i| start + (86_400 * i / slices) as i64)
                .collect()
        } else {
            (1..slices)
                .map(|i| self.times[self.times.len() * i / slices])
                .collect()
        };
        cuts.retain(|&t| t > start && t < end);
        cuts.dedup();
        cuts
    }

    /// The expected size of the partition of `caller` (`None`: every caller) and `status`:
    /// the rows whose webhook wrote that status, plus the rows without a final status
    /// spread by a typical mix. Only an order of magnitude, to start long partitions first.
    pub fn expected(&self, caller: Option<&str>, status: &str) -> f64 {
        /// A night's usual mix of outcomes, for rows the webhook never told.
        fn prior(status: &str) -> f64 {
            match status {
                "completed" => 0.70,
                "no-answer" => 0.12,
                "busy" => 0.06,
                "failed" => 0.06,
                "canceled" => 0.03,
                _ => 0.01,
            }
        }
        let final_status = |s: &str| super::partitions::FINAL.contains(&s);
        let mut told = 0.0;
        let mut untold = 0.0;
        for ((c, s), n) in &self.by_caller_status {
            if caller.is_some_and(|caller| caller != c) {
                continue;
            }
            if s == status {
                told += *n as f64;
            } else if !final_status(s) {
                untold += *n as f64;
            }
        }
        told + untold * prior(status)
    }
}

/// The ledger's shape for `days`: rows whose `intended_at` falls on each day (UTC).
pub fn read(
    conn: &Connection,
    days: &[NaiveDate],
    numbers: &mut Normalizer,
) -> Result<HashMap<NaiveDate, DayShape>> {
    let mut shapes: HashMap<NaiveDate, DayShape> =
        days.iter().map(|d| (*d, DayShape::default())).collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(shapes);
    };
    // The ledger index on the date prefix (migration 4); offsets move a row a day at most.
    let lo = (*first - Duration::days(1)).to_string();
    let hi = (*last + Duration::days(1)).to_string();
    let mut stmt = conn.prepare(
        "SELECT intended_at, from_number, lower(trim(webhook_status)) FROM intended_calls
         WHERE substr(intended_at, 1, 10) BETWEEN ?1 AND ?2",
    )?;
    let mut rows = stmt
        .query(rusqlite::params![lo, hi])
        .context("reading the ledger's days")?;
    // Caller IDs and statuses are few: counted by index, so a row allocates nothing.
    let mut callers: HashMap<String, usize> = HashMap::new();
    let mut caller_keys: Vec<String> = Vec::new();
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut counts: HashMap<(NaiveDate, usize, usize), u64> = HashMap::new();
    while let Some(row) = rows.next()? {
        let Some(at) = text(row.get_ref(0)?).and_then(crate::timefmt::parse_intended_at) else {
            continue;
        };
        let day = at.date_naive();
        let Some(shape) = shapes.get_mut(&day) else {
            continue;
        };
        shape.times.push(at.timestamp());
        let raw = text(row.get_ref(1)?).unwrap_or_default();
        let caller = match callers.get(raw) {
            Some(&i) => i,
            None => {
                let key = if raw.trim().is_empty() {
                    String::new()
                } else {
                    numbers.key(raw)
                };
                caller_keys.push(key);
                callers.insert(raw.to_owned(), caller_keys.len() - 1);
                caller_keys.len() - 1
            }
        };
        let status = text(row.get_ref(2)?).unwrap_or_default();
        let status = match statuses.get(status) {
            Some(&i) => i,
            None => {
                let i = statuses.len();
                statuses.insert(status.to_owned(), i);
                i
            }
        };
        *counts.entry((day, caller, status)).or_default() += 1;
    }
    let status_names: HashMap<usize, &String> = statuses.iter().map(|(s, i)| (*i, s)).collect();
    for ((day, caller, status), n) in counts {
        let key = (caller_keys[caller].clone(), status_names[&status].clone());
        if let Some(shape) = shapes.get_mut(&day) {
            *shape.by_caller_status.entry(key).or_default() += n;
        }
    }
    for shape in shapes.values_mut() {
        shape.times.sort_unstable();
    }
    Ok(shapes)
}

fn text(value: rusqlite::types::ValueRef<'_>) -> Option<&str> {
    crate::ledger::cell::text_ref(value)
}

/// A cut as the `StartTime` bound Twilio takes.
pub fn bound(t: i64) -> String {
    crate::timefmt::format_utc(DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 14).unwrap()
    }

    #[test]
    fn cuts_follow_the_rows_not_the_clock() {
        let start = crate::timefmt::day_start(day()).timestamp();
        // Most rows in the evening: the cuts crowd there.
        let mut times: Vec<i64> = (0..900).map(|i| start + 72_000 + i * 10).collect();
        times.extend((0..100).map(|i| start + i * 600));
        times.sort_unstable();
        let shape = DayShape {
            times,
            ..DayShape::default()
        };
        let cuts = shape.cuts(day(), 10);
        assert_eq!(cuts.len(), 9);
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        assert!(cuts[1] >= start + 72_000, "{cuts:?}");
    }

    #[test]
    fn few_rows_give_equal_time_slices_and_cuts_stay_inside_the_day() {
        let shape = DayShape::default();
        let start = crate::timefmt::day_start(day()).timestamp();
        assert_eq!(
            shape.cuts(day(), 4),
            [start + 21_600, start + 43_200, start + 64_800]
        );
        let same = DayShape {
            times: vec![start; 100],
            ..DayShape::default()
        };
        assert!(same.cuts(day(), 8).is_empty(), "one instant: no cut");
    }

    #[test]
    fn expected_sizes_rank_the_big_partitions_first() {
        let mut shape = DayShape::default();
        shape
            .by_caller_status
            .insert(("+1".into(), "completed".into()), 500);
        shape.by_caller_status.insert(("+1".into(), "".into()), 100);
        shape
            .by_caller_status
            .insert(("+2".into(), "busy".into()), 50);
        assert!(shape.expected(Some("+1"), "completed") > shape.expected(Some("+2"), "busy"));
        assert_eq!(shape.expected(Some("+2"), "completed"), 0.0);
        assert!((shape.expected(Some("+1"), "busy") - 6.0).abs() < 1e-9);
        assert!(shape.expected(None, "busy") > 50.0);
    }
}
