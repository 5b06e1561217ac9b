//! Every time format callrecon reads or writes, in one place.
//!
//! Twilio's 2010 API speaks RFC 2822 (`Fri, 18 Oct 2019 17:00:00 +0000`); the ledger holds RFC 3339
//! or SQLite's own `YYYY-MM-DD HH:MM:SS` (read as UTC, what `datetime('now')` writes); the report
//! writes UTC `YYYY-MM-DDTHH:MM:SSZ`. Internally an instant is a `DateTime<Utc>`, and in SQLite
//! it is stored as Unix seconds so that range queries use plain integer indexes.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses Twilio's RFC 2822 dates. `None` for anything else, including the empty string.
pub fn parse_rfc2822(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats an instant the way Twilio's 2010 API does.
pub fn format_rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// The report's and the logs' format: UTC, whole seconds, `Z`. Written field by field: a
/// report formats millions of these, and `format` reads its pattern anew each time.
pub fn format_utc(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Reads a ledger `intended_at`: RFC 3339 with an offset or `Z` (a space instead of `T` is
/// accepted, as SQLite writes it), or SQLite's `YYYY-MM-DD HH:MM:SS[.SSS]` without a zone, read as UTC.
pub fn parse_intended_at(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    None
}

/// Reads a window bound given on the command line: RFC 3339 only, so that a bound is never
/// silently taken in the wrong zone.
pub fn parse_bound(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{text}' is not an RFC 3339 time ({e}); write it like 2026-11-27T00:00:00Z")
        })
}

/// Reads a `YYYY-MM-DD` day.
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a day; write it like 2026-11-27"))
}

/// Midnight UTC at the start of `day`.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

#[cfg(test)]
mod tests {

    #[test]
    fn format_utc_writes_what_chrono_writes() {
        for secs in [
            0_i64,
            1,
            86_399,
            951_782_400,
            1_768_435_199,
            253_402_300_799,
            -1,
        ] {
            let t = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            assert_eq!(format_utc(t), t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
    }
    use super::*;

    #[test]
    fn reads_twilio_dates_and_refuses_the_rest() {
        let t = parse_rfc2822("Fri, 18 Oct 2019 17:00:00 +0000").unwrap();
        assert_eq!(format_utc(t), "2019-10-18T17:00:00Z");
        let t = parse_rfc2822("Fri, 18 Oct 2019 19:00:00 +0200").unwrap();
        assert_eq!(format_utc(t), "2019-10-18T17:00:00Z");
        assert_eq!(parse_rfc2822(""), None);
        assert_eq!(parse_rfc2822("2019-10-18T17:00:00Z"), None);
        assert_eq!(format_rfc2822(t), "Fri, 18 Oct 2019 17:00:00 +0000");
    }

    #[test]
    fn reads_every_intended_at_form_the_contract_allows() {
        let want = "2026-11-27T10:00:00Z";
        for text in [
            "2026-11-27T10:00:00Z",
            "2026-11-27T12:00:00+02:00",
            "2026-11-27 10:00:00",
            "2026-11-27 10:00:00.000",
            " 2026-11-27T05:00:00-05:00 ",
        ] {
            assert_eq!(format_utc(parse_intended_at(text).unwrap()), want, "{text}");
        }
        for bad in ["", "yesterday", "2026-13-01 10:00:00", "27/11/2026 10:00"] {
            assert_eq!(parse_intended_at(bad), None, "{bad}");
        }
    }

    #[test]
    fn bounds_must_carry_a_zone() {
        assert!(parse_bound("2026-11-27T00:00:00Z").is_ok());
        let err = parse_bound("2026-11-27 00:00").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }
}
