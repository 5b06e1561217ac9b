//! The reconciliation window `[from, to)` and the UTC days that must be listed to cover it.
//!
//! Twilio's `StartTime` filters are documented as day-granular (notes §1.3), so callrecon asks
//! for whole UTC days and filters exact instants locally. A ledger row near the window's end
//! may be matched by a call created up to the match delay later, so the days cover
//! `[from, to + match delay)`, but never a day that begins after `now`.

use crate::error::UsageError;
use chrono::{DateTime, Duration, NaiveDate, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Window> {
        if from >= to {
            return Err(UsageError::new(format!(
                "--from ({}) must be before --to ({}); the window is [from, to)",
                crate::timefmt::format_utc(from),
                crate::timefmt::format_utc(to)
            )));
        }
        Ok(Window { from, to })
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// The UTC days to list for this window: those overlapping `[from, to + match_delay)`
    /// that have begun by `now` (a call may start at the very instant `now`).
    pub fn days(&self, match_delay: Duration, now: DateTime<Utc>) -> Vec<NaiveDate> {
        let end = self.to + match_delay;
        let mut days = Vec::new();
        let mut day = self.from.date_naive();
        while crate::timefmt::day_start(day) < end && crate::timefmt::day_start(day) <= now {
            days.push(day);
            day = day.succ_opt().expect("days before year 262143");
        }
        days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn days(w: Window, delay_mins: i64, now: &str) -> Vec<String> {
        w.days(Duration::minutes(delay_mins), t(now))
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn a_day_window_also_lists_the_next_day_when_the_delay_crosses_midnight() {
        let w = Window::new(t("2026-11-26T00:00:00Z"), t("2026-11-27T00:00:00Z")).unwrap();
        assert_eq!(
            days(w, 60, "2026-11-28T06:00:00Z"),
            ["2026-11-26", "2026-11-27"]
        );
        // The next day has not begun: nothing to list there yet…
        assert_eq!(days(w, 60, "2026-11-26T23:59:59Z"), ["2026-11-26"]);
        // …but a call may have started at the very instant `now`.
        assert_eq!(
            days(w, 60, "2026-11-27T00:00:00Z"),
            ["2026-11-26", "2026-11-27"]
        );
    }

    #[test]
    fn a_window_ending_well_before_midnight_lists_its_own_days_only() {
        let w = Window::new(t("2026-11-25T22:00:00Z"), t("2026-11-26T12:00:00Z")).unwrap();
        assert_eq!(
            days(w, 60, "2026-11-28T00:00:00Z"),
            ["2026-11-25", "2026-11-26"]
        );
    }

    #[test]
    fn an_empty_or_reversed_window_is_refused() {
        let a = t("2026-11-26T00:00:00Z");
        assert!(Window::new(a, a).is_err());
        assert!(Window::new(a, a - Duration::seconds(1)).is_err());
    }
}
