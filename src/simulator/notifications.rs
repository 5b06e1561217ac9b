//! Call Notifications (`GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Notifications.json`):
//! the errors and warnings Twilio logged for one call, which callrecon asks for the failed,
//! busy, no-answer and canceled calls still without a code.
//!
//! A 2010 API list: RFC 2822 dates, the `{notifications, …_page_uri}` envelope with relative
//! links, filters `Log` (`0` ERROR, `1` WARNING) and `MessageDate`, `MessageDate>`,
//! `MessageDate<` read by day like the Calls list's `StartTime*` (notes §2.1). An unknown call
//! is a 404, and so is a call created less than [`TOO_NEW_S`] before the clock: the Call
//! resource is eventually consistent right after creation (notes §1.7), so callrecon must
//! skip such a call and ask again next run. A known call with nothing logged gets an empty
//! page. Faults, auth and counting are the front door's (`server`).

use super::faults::Served;
use super::listing::{Range, bound};
use super::paging::{Paging, Step, first_values, scan};
use super::server::{bad_request, delay_per_record, resource_not_found};
use super::{Simulator, TimeFilter};
use crate::timefmt::parse_rfc2822;
use crate::twilio::model::{Notification, NotificationsPage};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A call younger than this at the simulator's clock is not found yet.
pub(super) const TOO_NEW_S: i64 = 2 * 60;

/// A parsed Notifications request.
#[derive(Debug, Default)]
struct Query {
    /// The filters as sent, echoed into the page URIs.
    echo: Vec<(String, String)>,
    log: Option<String>,
    dates: Range,
    paging: Paging,
}

/// Reads a raw query string; the error is a 400 / 20001 message.
fn parse_query(raw: Option<&str>) -> Result<Query, String> {
    let mut q = Query::default();
    for (key, value) in first_values(raw) {
        if q.paging.read(&key, &value)? {
            continue;
        }
        match key.as_str() {
            "Log" if value == "0" || value == "1" => q.log = Some(value.clone()),
            "Log" => return Err(format!("Log '{value}' must be 0 (ERROR) or 1 (WARNING)")),
            "MessageDate" | "MessageDate>" | "MessageDate<" => {
                let (lo, hi) = bound(&key, &value, TimeFilter::Day)?;
                q.dates.narrow(lo, hi);
            }
            _ => continue,
        }
        q.echo.push((key, value));
    }
    Ok(q)
}

fn matches(n: &Notification, q: &Query) -> bool {
    let logged = || n.message_date.as_deref().and_then(parse_rfc2822);
    q.log.as_ref().is_none_or(|l| n.log.as_ref() == Some(l))
        && (q.dates.is_open() || logged().is_some_and(|t| q.dates.contains(t.timestamp())))
}

pub(super) async fn list(
    State(sim): State<Arc<Simulator>>,
    Path((account, call_sid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    sim.counters
        .notification_requests
        .fetch_add(1, Ordering::SeqCst);
    let now = sim.dataset.now.timestamp();
    let visible = (account == sim.cfg.account_sid)
        .then(|| sim.index.position(&call_sid))
        .flatten()
        .filter(|&i| now - sim.index.created(i) >= TOO_NEW_S);
    if visible.is_none() {
        return resource_not_found(uri.path());
    }
    let q = match parse_query(raw.as_deref()) {
        Ok(q) => q,
        Err(message) => return bad_request(message),
    };
    let logged = sim
        .dataset
        .notifications
        .get(&call_sid)
        .map_or(&[][..], Vec::as_slice);
    let position = |sid: &str| logged.iter().position(|n| n.sid.as_deref() == Some(sid));
    let begin = match q.paging.begin(position) {
        Ok(begin) => begin,
        Err(message) => return bad_request(message),
    };
    let limit = q.paging.limit(&sim.cfg.faults);
    let sel = scan(logged.len(), begin, limit, |i| {
        if matches(&logged[i], &q) {
            Step::Take
        } else {
            Step::Skip
        }
    });
    let links = q.paging.links(uri.path(), &q.echo, &sel, |i| {
        logged[i].sid.as_deref().unwrap_or_default()
    });
    let page = NotificationsPage {
        notifications: sel.indices.iter().map(|&i| logged[i].clone()).collect(),
        end: Some(links.end),
        first_page_uri: Some(links.first),
        next_page_uri: links.next,
        page: Some(q.paging.page as i64),
        page_size: Some(q.paging.page_size as i64),
        previous_page_uri: None,
        start: Some(links.start),
        uri: Some(links.this),
    };
    delay_per_record(&sim, page.notifications.len()).await;
    sim.counters.served(Served::Notifications, 0, true);
    Json(page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_by_day_and_bad_values_refused() {
        let q = parse_query(Some("Log=1&MessageDate%3E=2026-11-27&PageSize=5")).unwrap();
        assert_eq!(q.log.as_deref(), Some("1"));
        assert_eq!(q.dates.lo, Some(1_795_737_600));
        assert_eq!(q.paging.page_size, 5);
        assert_eq!(q.echo.len(), 2);
        for bad in ["Log=2", "MessageDate=27/11/2026", "PageToken=NO1"] {
            assert!(parse_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
