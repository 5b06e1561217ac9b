//! Whether the server honours the time part of `StartTime>`/`StartTime<` (unverified for
//! Twilio: the notes document day granularity), asked at run time and checked against what
//! comes back. Either way of asking puts two questions at once whose answers differ when only
//! the date counts: a server that reads only the date hears `StartTime<` (a time of day D) as
//! "before D" and `StartTime>` (a time of day D) as "from D on".
//!
//! Any doubt answers `Day`, the documented behaviour, which is always correct, only slower.

use super::partitions::{Partition, TimeFilter};
use crate::twilio::Client;
use crate::twilio::model::{Call, CallsPage};
use anyhow::Result;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Asks with the first pages of a big day's time slices, so that the questions are work too:
/// when the time counts, the pages are those slices' first pages. The first and last slices
/// tell:
/// - the first slice (from midnight): a server that reads only the date answers nothing;
/// - the last slice (to midnight): one that reads only the date answers the whole day.
///
/// `Second` when the first answer holds calls and both hold only calls of their slices. The
/// slices between them only fill request slots that would wait for the answer anyway.
pub async fn by_slices(
    client: &Client,
    slices: &[Partition],
) -> Result<(TimeFilter, Vec<CallsPage>)> {
    let urls: Vec<url::Url> = slices
        .iter()
        .map(|p| {
            let pairs: Vec<(&str, &str)> = p
                .query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            client.calls_url(&pairs)
        })
        .collect();
    let pages =
        futures::future::try_join_all(urls.iter().map(|u| client.get_page::<CallsPage>(u))).await?;
    let second = match (slices.first(), slices.last(), pages.first(), pages.last()) {
        (Some(first), Some(last), Some(a), Some(b)) if slices.len() >= 2 => {
            !a.calls.is_empty()
                && span(first).is_some_and(|(from, to)| within(&a.calls, from, to))
                && span(last).is_some_and(|(from, to)| within(&b.calls, from, to))
        }
        _ => false,
    };
    Ok((mode(second), pages))
}

/// Asks about `day` with two small questions: the day up to its last second (a server that
/// reads only the date answers nothing), and the day's last second (it answers the whole
/// day). For a day found big only by its first page, when no slice was planned yet.
pub async fn by_questions(client: &Client, day: NaiveDate) -> Result<TimeFilter> {
    let start = crate::timefmt::day_start(day);
    let last = start + Duration::seconds(86_399);
    let end = start + Duration::days(1);
    let ask = |a: DateTime<Utc>, b: DateTime<Utc>| {
        client.calls_url(&[
            ("StartTime>", &crate::timefmt::format_utc(a)),
            ("StartTime<", &crate::timefmt::format_utc(b)),
            ("PageSize", "20"),
        ])
    };
    let (early, late) = (ask(start, last), ask(last, end));
    let (early, late) = tokio::try_join!(
        client.get_page::<CallsPage>(&early),
        client.get_page::<CallsPage>(&late)
    )?;
    let second = !early.calls.is_empty()
        && within(&early.calls, start, last)
        && within(&late.calls, last, end);
    Ok(mode(second))
}

fn mode(second: bool) -> TimeFilter {
    if second {
        TimeFilter::Second
    } else {
        TimeFilter::Day
    }
}

/// A slice's bounds as instants.
fn span(part: &Partition) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (from, to) = part.span?;
    Some((
        DateTime::from_timestamp(from, 0)?,
        DateTime::from_timestamp(to, 0)?,
    ))
}

/// Every call started (or, never started, created) in `[from, to)`; a call without a
/// readable time tells nothing either way.
fn within(calls: &[Call], from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    calls.iter().all(|c| {
        c.start_time
            .as_deref()
            .or(c.date_created.as_deref())
            .and_then(crate::timefmt::parse_rfc2822)
            .is_none_or(|t| t >= from && t < to)
    })
}
