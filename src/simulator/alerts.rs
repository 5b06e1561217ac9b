//! Monitor Alerts (`GET /v1/Alerts`, `GET /v1/Alerts/{Sid}`): the account-wide log of errors
//! and warnings, which callrecon sweeps once per window and joins on `resource_sid`.
//!
//! The Monitor API is a v1 API, unlike the 2010 Calls API: dates are ISO 8601, the envelope
//! is `{alerts, meta}` and its page links are ABSOLUTE URLs (notes §2.2), built here from the
//! request's `Host` so they lead back to this simulator. Filters are `LogLevel`, `StartDate`
//! (on or after) and `EndDate` (on or before), compared with `date_generated`; a bare
//! `EndDate` day counts whole, so `EndDate=D` includes alerts of D. Twilio keeps alerts for 30
//! days: older ones are never served, and a `StartDate` before that is refused with a 400.
//! Faults, auth and counting are the front door's (`server`); `--monitor-forbidden` is
//! answered here, because only Monitor refuses such a key.

use super::errors::alert_time;
use super::faults::Served;
use super::paging::{Paging, Step, first_values, scan};
use super::server::{bad_request, delay_per_record, forbidden, resource_not_found};
use super::{SimConfig, Simulator};
use crate::timefmt::day_start;
use crate::twilio::model::{Alert, AlertsPage, PageMeta};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Days, NaiveDate};
use std::collections::HashMap;
use std::sync::Arc;

/// How long Twilio keeps alerts: "Queries for alerts older than 30 days are not supported".
const RETENTION_S: i64 = 30 * 86_400;

/// `LogLevel` values the API accepts.
const LOG_LEVELS: [&str; 4] = ["error", "warning", "notice", "debug"];

/// Where each alert sits in the listing order, and when it was generated.
pub(super) struct AlertIndex {
    generated: Vec<Option<i64>>,
    by_sid: HashMap<String, usize>,
}

impl AlertIndex {
    pub fn new(alerts: &[Alert]) -> AlertIndex {
        AlertIndex {
            generated: alerts.iter().map(alert_time).collect(),
            by_sid: alerts
                .iter()
                .enumerate()
                .filter_map(|(i, a)| Some((a.sid.clone()?, i)))
                .collect(),
        }
    }
}

/// A parsed `/v1/Alerts` request.
#[derive(Debug)]
struct Query {
    /// The filters as sent, echoed into the page links.
    echo: Vec<(String, String)>,
    level: Option<String>,
    /// Earliest `date_generated` served: `StartDate`, or the retention horizon.
    lo: i64,
    /// Latest `date_generated` served, inclusive.
    hi: Option<i64>,
    paging: Paging,
}

/// Reads a raw query string against the clock `now`; the error is a 400 / 20001 message.
fn parse_query(raw: Option<&str>, now: i64) -> Result<Query, String> {
    let oldest = now - RETENTION_S;
    let mut q = Query {
        echo: Vec::new(),
        level: None,
        lo: oldest,
        hi: None,
        paging: Paging::default(),
    };
    for (key, value) in first_values(raw) {
        if q.paging.read(&key, &value)? {
            continue;
        }
        match key.as_str() {
            "LogLevel" if LOG_LEVELS.contains(&value.as_str()) => q.level = Some(value.clone()),
            "LogLevel" => {
                return Err(format!(
                    "LogLevel '{value}' is not one of {}",
                    LOG_LEVELS.join(", ")
                ));
            }
            "StartDate" => {
                let start = date(&key, &value, false)?;
                if start < oldest {
                    return Err(format!(
                        "StartDate '{value}' is more than 30 days ago: queries for alerts \
                         older than 30 days are not supported"
                    ));
                }
                q.lo = start;
            }
            "EndDate" => q.hi = Some(date(&key, &value, true)?),
            _ => continue,
        }
        q.echo.push((key, value));
    }
    Ok(q)
}

/// A `StartDate`/`EndDate` in Unix seconds: `YYYY-MM-DD` (its first second, or its last
/// when it ends a range) or a full `YYYY-MM-DDThh:mm:ssZ`.
fn date(key: &str, value: &str, end_of_day: bool) -> Result<i64, String> {
    let text = value.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(if end_of_day {
            day_start(day + Days::new(1)).timestamp() - 1
        } else {
            day_start(day).timestamp()
        });
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| {
            format!("{key} '{value}' is not a date; write YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
        })
}

/// The origin the client used, for absolute page links: the `Host` it sent, else the
/// configured listen address.
fn origin(headers: &HeaderMap, cfg: &SimConfig) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| cfg.listen.to_string());
    format!("http://{host}")
}

pub(super) async fn list(
    State(sim): State<Arc<Simulator>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if sim.cfg.faults.monitor_forbidden {
        return forbidden();
    }
    let q = match parse_query(raw.as_deref(), sim.dataset.now.timestamp()) {
        Ok(q) => q,
        Err(message) => return bad_request(message),
    };
    let (alerts, index) = (&sim.dataset.alerts, &sim.alert_index);
    let begin = match q.paging.begin(|sid| index.by_sid.get(sid).copied()) {
        Ok(begin) => begin,
        Err(message) => return bad_request(message),
    };
    let limit = q.paging.limit(&sim.cfg.faults);
    let sel = scan(alerts.len(), begin, limit, |i| match index.generated[i] {
        // Newest first: every alert from here on is older still.
        Some(t) if t < q.lo => Step::Stop,
        Some(t)
            if q.hi.is_none_or(|hi| t <= hi)
                && q.level
                    .as_ref()
                    .is_none_or(|l| alerts[i].log_level.as_ref() == Some(l)) =>
        {
            Step::Take
        }
        _ => Step::Skip,
    });
    let base = format!("{}/v1/Alerts", origin(&headers, &sim.cfg));
    let links = q.paging.links(&base, &q.echo, &sel, |i| {
        alerts[i].sid.as_deref().unwrap_or_default()
    });
    let page = AlertsPage {
        alerts: sel.indices.iter().map(|&i| alerts[i].clone()).collect(),
        meta: PageMeta {
            first_page_url: Some(links.first),
            key: Some("alerts".to_owned()),
            next_page_url: links.next,
            page: Some(q.paging.page as i64),
            page_size: Some(q.paging.page_size as i64),
            previous_page_url: None,
            url: Some(links.this),
        },
    };
    delay_per_record(&sim, page.alerts.len()).await;
    sim.counters.served(Served::Alerts, page.alerts.len(), true);
    Json(page).into_response()
}

pub(super) async fn fetch(
    State(sim): State<Arc<Simulator>>,
    Path(sid): Path<String>,
    uri: Uri,
) -> Response {
    if sim.cfg.faults.monitor_forbidden {
        return forbidden();
    }
    let oldest = sim.dataset.now.timestamp() - RETENTION_S;
    let index = &sim.alert_index;
    let found = index
        .by_sid
        .get(&sid)
        .copied()
        .filter(|&i| index.generated[i].is_some_and(|t| t >= oldest));
    let Some(i) = found else {
        return resource_not_found(uri.path());
    };
    delay_per_record(&sim, 1).await;
    sim.counters.served(Served::Alerts, 1, false);
    Json(&sim.dataset.alerts[i]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    #[test]
    fn a_bare_end_date_counts_its_whole_day_and_a_time_counts_to_the_second() {
        let now = at("2026-11-29T00:00:00Z");
        let q = parse_query(Some("StartDate=2026-11-27&EndDate=2026-11-27"), now).unwrap();
        assert_eq!(q.lo, at("2026-11-27T00:00:00Z"));
        assert_eq!(q.hi, Some(at("2026-11-27T23:59:59Z")));
        let raw = "StartDate=2026-11-27T06:00:00Z&EndDate=2026-11-27T07:00:00Z&LogLevel=error";
        let q = parse_query(Some(raw), now).unwrap();
        assert_eq!(
            (q.lo, q.hi),
            (at("2026-11-27T06:00:00Z"), Some(at("2026-11-27T07:00:00Z")))
        );
        assert_eq!(q.level.as_deref(), Some("error"));
        assert_eq!(q.echo.len(), 3);
    }

    #[test]
    fn without_a_start_date_the_retention_horizon_applies_and_older_is_refused() {
        let now = at("2026-11-29T00:00:00Z");
        assert_eq!(
            parse_query(None, now).unwrap().lo,
            at("2026-10-30T00:00:00Z")
        );
        assert!(parse_query(Some("StartDate=2026-10-30"), now).is_ok());
        let err = parse_query(Some("StartDate=2026-10-29"), now).unwrap_err();
        assert!(
            err.contains("older than 30 days are not supported"),
            "{err}"
        );
        for bad in ["LogLevel=fatal", "EndDate=yesterday", "PageSize=0"] {
            assert!(parse_query(Some(bad), now).is_err(), "{bad}");
        }
    }
}
