//! Named windows (`--window yesterday|today|last-24h|YYYY-MM-DD`) in UTC or in a named time
//! zone (`--tz Area/City`), turned into the `[from, to)` instants the rest of callrecon uses.
//!
//! Operators think in their own calendar days: "yesterday in Berlin" is 23 hours long on the
//! day clocks go forward and 25 hours on the day they go back, and the report must cover
//! exactly that. Day boundaries are therefore computed as local midnights through the IANA
//! database (`chrono-tz`), never as "UTC midnight plus an offset". `today` and `last-24h` end
//! at now, so a run at 14:00 reports the morning so far.

use crate::cli::WindowArgs;
use crate::error::UsageError;
use crate::timefmt;
use crate::window::Window;
use anyhow::Result;
use chrono::{DateTime, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// A named window, before a time zone and a clock make it instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Spec {
    Yesterday,
    Today,
    Last24h,
    Day(NaiveDate),
}

impl FromStr for Spec {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Spec, String> {
        match text.trim() {
            "yesterday" => Ok(Spec::Yesterday),
            "today" => Ok(Spec::Today),
            "last-24h" => Ok(Spec::Last24h),
            other => NaiveDate::parse_from_str(other, "%Y-%m-%d")
                .map(Spec::Day)
                .map_err(|_| {
                    format!(
                        "'{text}' is not a window; use yesterday, today, last-24h or a day like \
                         2026-11-27"
                    )
                }),
        }
    }
}

impl TryFrom<String> for Spec {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Spec, String> {
        text.parse()
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Yesterday => f.write_str("yesterday"),
            Spec::Today => f.write_str("today"),
            Spec::Last24h => f.write_str("last-24h"),
            Spec::Day(day) => write!(f, "{day}"),
        }
    }
}

/// Reads an IANA zone name (`Europe/Berlin`, `UTC`).
pub fn parse_tz(text: &str) -> std::result::Result<Tz, String> {
    text.trim().parse::<Tz>().map_err(|_| {
        format!(
            "'{text}' is not a time zone of the IANA database; write it like Europe/Berlin, \
             America/New_York or UTC"
        )
    })
}

/// The instants `[from, to)` of `spec` in `tz` at `now`. A window that has not begun by
/// `now` is refused: nothing can have happened in it yet.
pub fn resolve(
    spec: Spec,
    tz: Tz,
    now: DateTime<Utc>,
) -> std::result::Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let today = now.with_timezone(&tz).date_naive();
    let (from, to) = match spec {
        Spec::Last24h => (now - Duration::hours(24), now),
        Spec::Today => (local_midnight(tz, today), now),
        Spec::Yesterday => {
            let yesterday = today.pred_opt().ok_or("the calendar ends here")?;
            (local_midnight(tz, yesterday), local_midnight(tz, today))
        }
        Spec::Day(day) => {
            let next = day.succ_opt().ok_or("the calendar ends here")?;
            (local_midnight(tz, day), local_midnight(tz, next))
        }
    };
    if from >= now {
        return Err(format!(
            "the window starts {}, not before now ({}): nothing has happened in it yet",
            crate::timefmt::format_utc(from),
            crate::timefmt::format_utc(now)
        ));
    }
    Ok((from, to))
}

/// The instant a local calendar day begins. Where midnight happens twice (clocks go back at
/// midnight) the day begins at the first; where it does not happen at all (clocks go
/// forward at midnight, as in some American zones) the day begins when the clock resumes.
pub fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight is a time");
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            // A gap is at most a few hours; the first local minute after it exists.
            (1..=24 * 60)
                .find_map(|m| {
                    tz.from_local_datetime(&(midnight + Duration::minutes(m)))
                        .earliest()
                })
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
        }
    }
}

/// The window: named (`--window` in `--tz`, or the file's) or by its bounds. Either way a
/// window that has not begun by `now` is refused: nothing can have happened in it.
pub fn window_of(args: &WindowArgs, now: DateTime<Utc>) -> Result<(Window, Option<String>)> {
    let bound = |flag: &str, text: &str| {
        timefmt::parse_bound(text).map_err(|e| UsageError::new(format!("--{flag}: {e}")))
    };
    match (&args.window, &args.from, &args.to) {
        (Some(spec), _, _) => {
            let tz = match &args.tz {
                Some(text) => parse_tz(text).map_err(|e| UsageError::new(format!("--tz: {e}")))?,
                None => chrono_tz::UTC,
            };
            let name = args.window_name.as_deref().unwrap_or("--window");
            let (from, to) = resolve(*spec, tz, now)
                .map_err(|e| UsageError::new(format!("{name}: {spec} in {tz}: {e}")))?;
            Ok((Window::new(from, to)?, Some(format!("{spec} in {tz}"))))
        }
        (None, Some(from), Some(to)) => {
            let window = Window::new(bound("from", from)?, bound("to", to)?)?;
            if window.from >= now {
                return Err(UsageError::new(format!(
                    "--from {from} is not before now ({}): nothing has happened in the window yet",
                    timefmt::format_utc(now)
                )));
            }
            Ok((window, None))
        }
        _ => Err(UsageError::new(
            "no window: give --window yesterday|today|last-24h|YYYY-MM-DD (with --tz for local \
             days), or --from and --to, or set window in the configuration file",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn window(spec: &str, tz: &str, now: &str) -> (String, String) {
        let (from, to) = resolve(spec.parse().unwrap(), parse_tz(tz).unwrap(), t(now)).unwrap();
        (
            crate::timefmt::format_utc(from),
            crate::timefmt::format_utc(to),
        )
    }

    #[test]
    fn every_form_in_utc() {
        let now = "2026-11-28T14:30:00Z";
        let w = |s| window(s, "UTC", now);
        assert_eq!(
            w("yesterday"),
            ("2026-11-27T00:00:00Z".into(), "2026-11-28T00:00:00Z".into())
        );
        assert_eq!(
            w("today"),
            ("2026-11-28T00:00:00Z".into(), "2026-11-28T14:30:00Z".into())
        );
        assert_eq!(
            w("last-24h"),
            ("2026-11-27T14:30:00Z".into(), "2026-11-28T14:30:00Z".into())
        );
        assert_eq!(
            w("2026-11-01"),
            ("2026-11-01T00:00:00Z".into(), "2026-11-02T00:00:00Z".into())
        );
    }

    #[test]
    fn local_days_follow_daylight_saving_changes() {
        let berlin = parse_tz("Europe/Berlin").unwrap();
        let hours = |day: &str| {
            let (from, to) =
                resolve(day.parse().unwrap(), berlin, t("2026-12-01T00:00:00Z")).unwrap();
            (to - from).num_hours()
        };
        assert_eq!(hours("2026-03-29"), 23);
        assert_eq!(hours("2026-10-25"), 25);
        assert_eq!(hours("2026-06-01"), 24);
        // "yesterday" seen from Berlin just after local midnight is still the local day.
        assert_eq!(
            window("yesterday", "Europe/Berlin", "2026-03-29T22:30:00Z"),
            ("2026-03-28T23:00:00Z".into(), "2026-03-29T22:00:00Z".into())
        );
    }

    #[test]
    fn a_midnight_that_does_not_exist_starts_the_day_when_the_clock_resumes() {
        // Santiago moved its clocks from 24:00 to 01:00 on 2023-09-03.
        let santiago = parse_tz("America/Santiago").unwrap();
        let start = local_midnight(santiago, NaiveDate::from_ymd_opt(2023, 9, 3).unwrap());
        assert_eq!(crate::timefmt::format_utc(start), "2023-09-03T04:00:00Z");
    }

    #[test]
    fn a_window_that_has_not_begun_and_bad_names_are_refused() {
        let utc = parse_tz("UTC").unwrap();
        let err = resolve(
            "2026-12-02".parse().unwrap(),
            utc,
            t("2026-12-01T10:00:00Z"),
        );
        assert!(err.unwrap_err().contains("nothing has happened"));
        assert!("tomorrow".parse::<Spec>().is_err());
        assert!("2026-13-01".parse::<Spec>().is_err());
        assert!(parse_tz("Mars/Olympus_Mons").is_err());
        assert_eq!("last-24h".parse::<Spec>().unwrap().to_string(), "last-24h");
    }
}
