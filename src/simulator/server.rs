//! The simulator's HTTP face: the axum router, the Calls list and fetch, Basic auth, Twilio's
//! error bodies, and the fault layer in front of every route.
//!
//! Every request to the API paths (Calls, Call Notifications in `notifications`, Monitor
//! Alerts in `alerts`) passes one front door that counts it, applies the fault knobs (the
//! bursts, then the `--rate-*` shares, then the concurrency limit, as the layers in front of
//! Twilio's API would), checks credentials, and lets the route answer (late, cut or truncated
//! when a fault says so), so each route only answers its own question. Error bodies are the
//! client's own [`ErrorBody`] and pages its own [`CallsPage`], so what the simulator serves and
//! what callrecon decodes cannot drift apart.

use super::alerts::{self, AlertIndex};
use super::chaos::Fault;
use super::cut::{CutListener, CutSwitch};
use super::faults::{Counters, Served};
use super::inject;
use super::listing::{self, CallIndex};
use super::notifications;
use super::{Dataset, SimConfig, Stats};
use crate::twilio::model::{Call, CallsPage, ErrorBody};
use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The shared state of one running simulator.
pub struct Simulator {
    pub(super) cfg: SimConfig,
    pub(super) dataset: Dataset,
    pub(super) index: CallIndex,
    pub(super) alert_index: AlertIndex,
    pub(super) counters: Counters,
    /// The calls once every transient one has ended (`Faults::settle_after`).
    settled: Option<Vec<Call>>,
    /// Permits for `--max-concurrent`; a request that cannot take one gets a 429.
    limiter: Option<Arc<Semaphore>>,
}

impl Simulator {
    /// Generates the dataset of `cfg` and indexes it for listing.
    pub fn new(cfg: SimConfig) -> Arc<Simulator> {
        let dataset = Dataset::generate(&cfg);
        Simulator::from_dataset(cfg, dataset)
    }

    /// Serves a dataset built by hand (tests that place each call on purpose), with the
    /// credentials and faults of `cfg`. The calls must be newest first, as generated ones are
    /// ([`Dataset::from_parts`] and [`Dataset::with_alerts`] put them in that order).
    pub fn from_dataset(cfg: SimConfig, dataset: Dataset) -> Arc<Simulator> {
        let index = CallIndex::new(&dataset.calls);
        let alert_index = AlertIndex::new(&dataset.alerts);
        let limiter = cfg
            .faults
            .max_concurrent
            .map(|n| Arc::new(Semaphore::new(n)));
        let settled = cfg.faults.settle_after.map(|_| {
            dataset
                .calls
                .iter()
                .map(|c| settle(c, dataset.now))
                .collect()
        });
        Arc::new(Simulator {
            cfg,
            dataset,
            index,
            alert_index,
            counters: Counters::default(),
            settled,
            limiter,
        })
    }

    /// The calls as they are now: settled once enough requests have been served. Positions,
    /// SIDs and start times never change, so the listing index stays valid.
    pub(super) fn calls(&self) -> &[Call] {
        match (&self.settled, self.cfg.faults.settle_after) {
            (Some(settled), Some(after)) if self.stats().requests > after => settled,
            _ => &self.dataset.calls,
        }
    }

    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }
}

/// Serves the simulator on `listener` until `shutdown` resolves, then finishes the requests
/// in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Through `CutListener`, so `--rate-reset` can cut a connection mid-body.
    let app = router(sim).into_make_service_with_connect_info::<CutSwitch>();
    axum::serve(CutListener(listener), app)
        .with_graceful_shutdown(shutdown)
        .await
}

pub(super) fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Calls.json", get(list_calls))
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{sid}",
            get(fetch_call),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{sid}/Notifications.json",
            get(notifications::list),
        )
        // Monitor lives on its own host at Twilio; callrecon sends every request to one
        // origin (`--base-url`), so the simulator serves it beside the 2010 API.
        .route("/v1/Alerts", get(alerts::list))
        .route("/v1/Alerts/{sid}", get(alerts::fetch))
        .route("/__simulator/stats", get(stats))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), front_door))
        .with_state(sim)
}

/// Decrements the in-flight count however the request ends, even when the client hangs up
/// and the handler future is dropped.
struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn front_door(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/__simulator/") {
        return next.run(req).await;
    }
    let faults = &sim.cfg.faults;
    let (n, in_flight) = sim.counters.enter();
    let _guard = InFlight(&sim.counters);
    // Held until the response is made, so a slow answer keeps its slot as at Twilio.
    let permit = sim.limiter.as_ref().map(|l| l.clone().try_acquire_owned());
    let over_limit = matches!(permit, Some(Err(_)));
    let fault = faults.fault(n);
    if let Some(fault) = fault {
        sim.counters.injected(fault);
    }
    let mut response = match fault {
        Some(Fault::Refuse(refusal)) => inject::refuse(refusal, &sim.counters),
        Some(Fault::Slow) => {
            tokio::time::sleep(faults.slow).await;
            api(&sim, over_limit, req, next).await
        }
        Some(Fault::Reset) => {
            let switch = req.extensions().get::<ConnectInfo<CutSwitch>>();
            let switch = switch.map(|info| info.0.clone());
            inject::cut_connection(api(&sim, over_limit, req, next).await, switch).await
        }
        Some(Fault::Truncated) => inject::truncate(api(&sim, over_limit, req, next).await).await,
        None => api(&sim, over_limit, req, next).await,
    };
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    // Twilio suggests watching this header to stay under the concurrency limit (notes §4.1).
    response
        .headers_mut()
        .insert("Twilio-Concurrent-Requests", HeaderValue::from(in_flight));
    sim.counters.leave(response.status().as_u16());
    response
}

/// The API itself, past the faults: its concurrency limit, then credentials, then the route.
async fn api(sim: &Simulator, over_limit: bool, req: Request, next: Next) -> Response {
    if over_limit {
        inject::too_many_requests(sim.cfg.faults.retry_after)
    } else if !authorized(req.headers(), &sim.cfg) {
        unauthorized()
    } else {
        next.run(req).await
    }
}

/// HTTP Basic with the account SID and token, or the API key and its secret.
fn authorized(headers: &HeaderMap, cfg: &SimConfig) -> bool {
    let Some((user, password)) = basic_credentials(headers) else {
        return false;
    };
    (user == cfg.account_sid && password == cfg.auth_token)
        || cfg
            .api_key
            .as_ref()
            .is_some_and(|(key, secret)| user == *key && password == *secret)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

async fn list_calls(
    State(sim): State<Arc<Simulator>>,
    Path(account): Path<String>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    if account != sim.cfg.account_sid {
        return resource_not_found(uri.path());
    }
    let q = match listing::parse_query(raw.as_deref(), sim.cfg.faults.time_filter) {
        Ok(q) => q,
        Err(message) => return bad_request(message),
    };
    let calls = sim.calls();
    let limit = q.paging.limit(&sim.cfg.faults);
    let sel = match listing::select(&sim.index, calls, &q, limit) {
        Ok(sel) => sel,
        Err(message) => return bad_request(message),
    };
    let links = q
        .paging
        .links(uri.path(), &q.echo, &sel, |i| calls[i].sid.as_str());
    let page = CallsPage {
        calls: sel.indices.iter().map(|&i| calls[i].clone()).collect(),
        end: Some(links.end),
        first_page_uri: Some(links.first),
        next_page_uri: links.next,
        page: Some(q.paging.page as i64),
        page_size: Some(q.paging.page_size as i64),
        previous_page_uri: None,
        start: Some(links.start),
        uri: Some(links.this),
    };
    delay_per_record(&sim, page.calls.len()).await;
    sim.counters.served(Served::Calls, page.calls.len(), true);
    Json(page).into_response()
}

async fn fetch_call(
    State(sim): State<Arc<Simulator>>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let position = file
        .strip_suffix(".json")
        .filter(|_| account == sim.cfg.account_sid)
        .and_then(|sid| sim.index.position(sid));
    let Some(i) = position else {
        return resource_not_found(uri.path());
    };
    delay_per_record(&sim, 1).await;
    sim.counters.served(Served::Calls, 1, false);
    Json(&sim.calls()[i]).into_response()
}

/// `--per-record-us`: bigger answers take longer, whatever kind of record they carry.
pub(super) async fn delay_per_record(sim: &Simulator, records: usize) {
    let per_record = sim.cfg.faults.per_record;
    if !per_record.is_zero() && records > 0 {
        tokio::time::sleep(per_record.saturating_mul(records as u32)).await;
    }
}

async fn stats(State(sim): State<Arc<Simulator>>) -> Json<Stats> {
    Json(sim.stats())
}

async fn not_found(uri: Uri) -> Response {
    resource_not_found(uri.path())
}

pub(super) fn error(status: StatusCode, code: i64, message: String) -> Response {
    let body = ErrorBody {
        code: Some(code),
        message: Some(message),
        more_info: Some(format!("https://www.twilio.com/docs/errors/{code}")),
        status: Some(i64::from(status.as_u16())),
        detail: None,
    };
    (status, Json(body)).into_response()
}

pub(super) fn resource_not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        20404,
        format!("The requested resource {path} was not found"),
    )
}

pub(super) fn bad_request(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, 20001, message)
}

/// Valid credentials that may not use a product (`--monitor-forbidden`: an API key without
/// Monitor permission). Twilio answers 403 with code 20003, as it does for a bad login.
pub(super) fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, 20003, "Forbidden".to_owned())
}

fn unauthorized() -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, 20003, "Authenticate".to_owned());
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    response
}

/// A call that was still queued, ringing or in progress, a minute after the clock: completed
/// and priced, with a newer `date_updated`.
fn settle(call: &Call, now: chrono::DateTime<chrono::Utc>) -> Call {
    if !["queued", "ringing", "in-progress"].contains(&call.status.as_str()) {
        return call.clone();
    }
    let end = now + chrono::Duration::seconds(60);
    let start = call
        .start_time
        .clone()
        .or_else(|| call.date_created.clone());
    Call {
        status: "completed".into(),
        start_time: start,
        end_time: Some(crate::timefmt::format_rfc2822(end)),
        date_updated: Some(crate::timefmt::format_rfc2822(end)),
        duration: Some("60".into()),
        price: Some("-0.01400".into()),
        price_unit: Some("USD".into()),
        ..call.clone()
    }
}
