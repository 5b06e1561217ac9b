//! The HTTP side of the faults `chaos` decides: the answers that stand in for the API's (429s,
//! the 500 → 502 → 503 cycle, proxy and captive-portal HTML) and the two ways an API answer is
//! broken on its way out (a connection cut mid-body, with `cut`; a body cut short).
//!
//! The bodies are what callrecon meets in the wild: Twilio's JSON error body where Twilio
//! answers (429, 500), a proxy's HTML where something in front of it does (502, 503, a
//! captive portal's 200), so the client's "status first, body second" rules are exercised.

use super::chaos::Refusal;
use super::cut::CutSwitch;
use super::faults::Counters;
use super::server::error;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;

/// What a proxy in front of the API sends when the API is down: HTML, not JSON.
const PROXY_503_PAGE: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n\
<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n";

/// What a proxy sends when the API behind it answered nonsense or hung up.
const PROXY_502_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\
<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";

/// A captive portal (hotel, corporate proxy) intercepting the request and answering 200.
const CAPTIVE_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Network login</title></head>\n\
<body><h1>Sign in to continue</h1><p>Your network requires you to sign in before you can \
access the Internet.</p><form method=\"post\" action=\"/login\"><input name=\"user\">\
<button>Continue</button></form></body></html>\n";

/// The answer that stands in for the API's; 500, 502 and 503 take turns over the simulator's
/// life, so a short run already meets all three.
pub(super) fn refuse(refusal: Refusal, counters: &Counters) -> Response {
    match refusal {
        Refusal::TooMany { retry_after } => too_many_requests(retry_after),
        Refusal::ProxyUnavailable => html(StatusCode::SERVICE_UNAVAILABLE, PROXY_503_PAGE),
        Refusal::ServerError => {
            match counters.server_error_cycle.fetch_add(1, Ordering::SeqCst) % 3 {
                0 => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    20500,
                    "Internal Server Error".to_owned(),
                ),
                1 => html(StatusCode::BAD_GATEWAY, PROXY_502_PAGE),
                _ => html(StatusCode::SERVICE_UNAVAILABLE, PROXY_503_PAGE),
            }
        }
        Refusal::Html => html(StatusCode::OK, CAPTIVE_PAGE),
    }
}

/// 429 / 20429, with `Retry-After: SECS` when given.
pub(super) fn too_many_requests(retry_after: Option<u64>) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        20429,
        "Too Many Requests".to_owned(),
    );
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn html(status: StatusCode, page: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
}

/// Arms `switch` so the connection carries `response`'s head and half of its body, then is
/// cut (see `cut`).
///
/// Without a switch (the router driven in-process, with no connection to cut) the half body
/// is sent as a stream under the full `Content-Length`, which is as close as a body can get.
pub(super) async fn cut_connection(response: Response, switch: Option<CutSwitch>) -> Response {
    let (mut parts, body) = response.into_parts();
    let full = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(full) => full,
        Err(_) => return unreadable_body(),
    };
    let half = full.len() / 2;
    match switch {
        // An empty body has no middle; the switch would stay armed for the next response.
        Some(switch) if !full.is_empty() => {
            switch.arm(half);
            Response::from_parts(parts, Body::from(full))
        }
        _ => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
            let half = Body::from(full.slice(..half));
            Response::from_parts(parts, Body::from_stream(half.into_data_stream()))
        }
    }
}

/// `response` with the first half of its body only, and a `Content-Length` that says so: the
/// transport is whole, the JSON is not (no proper prefix of a JSON object decodes).
pub(super) async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let full = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(full) => full,
        Err(_) => return unreadable_body(),
    };
    // hyper sets the length from the (now shorter) body; a stale header would contradict it.
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(full.slice(..full.len() / 2)))
}

/// The routes answer from memory, so their bodies cannot fail to read; if one ever did, say
/// so as Twilio would rather than serve an empty body.
fn unreadable_body() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        20500,
        "Internal Server Error".to_owned(),
    )
}
