//! The one Twilio client every request goes through.
//!
//! It owns the three things that must be shared by all requests of a run, or they do not work:
//! the `governor` rate limiter (awaited before *every* attempt, retries included), the cap on
//! requests in flight (Twilio limits concurrency per account, answering 429/20429), and the
//! retry policy of [`super::retry`]. Pages are followed by the server's `next_page_uri` only;
//! callrecon never builds a page token.

use super::error::ApiError;
use super::inflight::InFlight;
use super::model::{Call, ErrorBody, Notification, NotificationsPage, Paged, is_sid};
use super::retry::{Decision, RetryPolicy, parse_retry_after};
use anyhow::{Context, Result};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use url::Url;

/// Twilio's production origin for the 2010 API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Monitor's production origin (alerts live there, not on api.twilio.com).
pub const DEFAULT_MONITOR_URL: &str = "https://monitor.twilio.com";

/// Twilio's maximum page size for list endpoints (notes §1.2): fewer round trips per call.
pub const PAGE_SIZE: u32 = 1000;

/// HTTP Basic credentials: Account SID + Auth Token, or API Key SID + Secret.
#[derive(Clone)]
pub struct Credentials {
    pub account_sid: String,
    pub username: String,
    password: String,
}

impl Credentials {
    pub fn new(account_sid: String, username: String, password: String) -> Credentials {
        Credentials {
            account_sid,
            username,
            password,
        }
    }
}

/// Never prints the secret, so a `{:?}` anywhere cannot leak it.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: Url,
    pub credentials: Credentials,
    /// Requests per second the limiter lets through (bursts of the same size).
    pub rps: NonZeroU32,
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    /// Per attempt, connect to last byte.
    pub timeout: Duration,
    /// Longest response body read (a page of 1,000 calls is about 2 MB).
    pub max_body: u64,
}

/// Default for [`ClientConfig::max_body`]: 32 MiB, sixteen times the biggest page of calls,
/// so a server that streams without end costs a bounded amount of memory per request.
pub const DEFAULT_MAX_BODY_MIB: u64 = 32;

/// Counters a run reports in its summary.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// Monitor's origin: `monitor.twilio.com`, or `base` when the base URL was overridden
    /// (`--base-url` sends every request to one origin).
    monitor: Url,
    credentials: Credentials,
    limiter: DefaultDirectRateLimiter,
    in_flight: InFlight,
    retry: RetryPolicy,
    max_body: u64,
    pub stats: Arc<ClientStats>,
}

/// Refuses plain `http://` unless the host is loopback: credentials and phone numbers must
/// not cross a network in clear, while the simulator on 127.0.0.1 needs no TLS.
pub fn check_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| {
        format!("base URL '{text}' is not a URL ({e}); write it like https://api.twilio.com")
    })?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if !loopback {
                return Err(format!(
                    "base URL '{text}' is plain http to a host that is not loopback; use https \
                     (http is only accepted for a local simulator on 127.0.0.1)"
                ));
            }
        }
        other => return Err(format!("base URL '{text}' has scheme '{other}'; use https")),
    }
    if url.host().is_none() {
        return Err(format!("base URL '{text}' has no host"));
    }
    Ok(url)
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client> {
        // reqwest is built without a bundled crypto provider (ring is lighter to build than
        // aws-lc); install it once per process. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("callrecon/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the credentials to wherever it points; Twilio's API does
            // not redirect, so one is a misbehaving server (exit 4), never followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        let quota = Quota::per_second(config.rps);
        // monitor.twilio.com beside api.twilio.com, the regional Monitor host beside a
        // regional API host, and the one origin of a simulator or proxy otherwise.
        let monitor = super::region::monitor_origin(&config.base_url);
        Ok(Client {
            http,
            monitor,
            base: config.base_url,
            credentials: config.credentials,
            limiter: RateLimiter::direct(quota),
            in_flight: InFlight::new(config.max_in_flight),
            retry: config.retry,
            max_body: config.max_body,
            stats: Arc::new(ClientStats::default()),
        })
    }

    /// The API origin requests go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn account_sid(&self) -> &str {
        &self.credentials.account_sid
    }

    /// `…/Accounts/{sid}/Calls.json` with the given query.
    pub fn calls_url(&self, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "/2010-04-01/Accounts/{}/Calls.json",
            self.credentials.account_sid
        ));
        url.query_pairs_mut().clear().extend_pairs(query);
        url
    }

    /// `…/Accounts/{sid}/Calls/{call}.json`.
    pub fn call_url(&self, call_sid: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "/2010-04-01/Accounts/{}/Calls/{}.json",
            self.credentials.account_sid, call_sid
        ));
        url
    }

    /// Resolves a link a response handed back (`next_page_uri`, relative, or `meta.next_page_url`,
    /// absolute) against the URL of the request it came from, and refuses it unless it has that
    /// request's scheme, host and port: every request carries the credentials, which must
    /// reach Twilio's origins only (design.md, "Credentials go to Twilio's origins only").
    pub fn follow(&self, from: &Url, link: &str) -> Result<Url, ApiError> {
        let url = from.join(link).map_err(|e| ApiError::Decode {
            url: short(from),
            reason: format!("the next-page link {link:?} is not a usable URI: {e}"),
        })?;
        if url.origin() != from.origin() || url.scheme() != from.scheme() {
            return Err(ApiError::ForeignLink {
                url: short(from),
                link: origin_of(&url),
                expected: origin_of(from),
            });
        }
        Ok(url)
    }

    /// Follows a listing from `first`, handing each page to `on_page` before asking for the
    /// next, so that a page is landed before the next request and memory stays one page
    /// deep. `on_page` may stop early by returning `Ok(false)`.
    pub async fn list<P, F>(&self, first: Url, mut on_page: F) -> Result<()>
    where
        P: Paged,
        F: FnMut(P) -> Result<bool>,
    {
        let mut pager = self.pager(first);
        while let Some(page) = pager.next_page::<P>().await? {
            if !on_page(page)? {
                break;
            }
        }
        Ok(())
    }

    /// A listing to page through by hand (see [`Pager`]).
    pub fn pager(&self, first: Url) -> Pager<'_> {
        Pager {
            client: self,
            next: Some(first),
            seen: HashSet::new(),
        }
    }

    /// `/v1/Alerts` on Monitor's origin (the `--base-url` origin when one was given).
    pub fn alerts_url(&self, query: &[(&str, &str)]) -> Url {
        let mut url = self.monitor.clone();
        url.set_path("/v1/Alerts");
        url.query_pairs_mut().clear().extend_pairs(query);
        url
    }

    /// A call's notifications, every page; `Ok(None)` when Twilio answers 404 (a call too new
    /// for the subresource, or unknown).
    pub async fn call_notifications(&self, call_sid: &str) -> Result<Option<Vec<Notification>>> {
        if !is_sid(call_sid, Some("CA")) {
            // Never put a non-SID in a path (`CA/../..` would reach another resource).
            return Ok(None);
        }
        let mut url = self.base.clone();
        url.set_path(&format!(
            "/2010-04-01/Accounts/{}/Calls/{}/Notifications.json",
            self.credentials.account_sid, call_sid
        ));
        url.query_pairs_mut()
            .clear()
            .append_pair("PageSize", "1000");
        let mut all = Vec::new();
        let listed = self
            .list(url, |page: NotificationsPage| {
                all.extend(page.notifications);
                Ok(true)
            })
            .await;
        match listed {
            Ok(()) => Ok(Some(all)),
            Err(e) if e.downcast_ref::<ApiError>().and_then(ApiError::status) == Some(404) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One call by SID; `Ok(None)` when Twilio does not know it (404).
    pub async fn fetch_call(&self, call_sid: &str) -> Result<Option<Call>, ApiError> {
        if !is_sid(call_sid, Some("CA")) {
            // A ledger value that cannot be a SID is unknown to Twilio, and no path for one.
            return Ok(None);
        }
        let url = self.call_url(call_sid);
        match self.get_json::<Call>(&url).await {
            Ok(call) => match call.bad_sid() {
                Some((kind, sid)) => Err(bad_sid(&url, kind, sid)),
                // Another call than the one asked for is not that call's answer.
                None if call.sid != call_sid => Err(ApiError::Decode {
                    url: short(&url),
                    reason: format!("the answer is call {}, not {call_sid}", call.sid),
                }),
                None => Ok(Some(call)),
            },
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of a listing, its SIDs checked: a record whose SID is not one stops the run
    /// before the SID can reach a URL or the ledger.
    pub async fn get_page<P: Paged>(&self, url: &Url) -> Result<P, ApiError> {
        let page: P = self.get_json(url).await?;
        match page.bad_sid() {
            Some((kind, sid)) => Err(bad_sid(url, kind, sid)),
            None => Ok(page),
        }
    }

    /// GET with the limiter, the in-flight cap and the retry policy.
    async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ApiError> {
        let mut attempts = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            attempts += 1;
            let err = match self.attempt(url).await {
                Ok(value) => {
                    self.in_flight.succeeded();
                    return Ok(value);
                }
                Err(err) => err,
            };
            if err.status() == Some(429) {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                self.in_flight.throttled();
            }
            match self
                .retry
                .decide(&err, attempts, waited, rand::random::<f64>())
            {
                Decision::Retry(delay) => {
                    tracing::warn!(
                        "{err}; retrying in {} ms ({} attempt(s) left)",
                        delay.as_millis(),
                        self.retry.max_attempts - attempts
                    );
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    waited += delay;
                }
                Decision::GiveUp if err.is_transient() => {
                    return Err(ApiError::Exhausted {
                        attempts,
                        waited,
                        last: Box::new(err),
                    });
                }
                Decision::GiveUp => return Err(err),
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ApiError> {
        self.limiter.until_ready().await;
        let slot = self.in_flight.acquire().await;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let transport = |e: reqwest::Error| ApiError::Transport {
            url: short(url),
            reason: super::transport::describe(&e, url),
        };
        let response = self
            .http
            .get(url.clone())
            .basic_auth(&self.credentials.username, Some(&self.credentials.password))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere given")
                .to_owned();
            return Err(ApiError::Status {
                status: status.as_u16(),
                code: None,
                message: Some(format!(
                    "a redirect to {to}, which callrecon does not follow: the credentials would go along"
                )),
                retry_after,
                url: short(url),
            });
        }
        let body = read_bounded(response, self.max_body, url, transport).await?;
        // The request is over: decoding must not hold a slot another request could use.
        drop(slot);
        if !status.is_success() {
            // The body is Twilio's JSON error, or a proxy's HTML: use what decodes.
            let err: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            return Err(ApiError::Status {
                status: status.as_u16(),
                code: err.code,
                message: err.message,
                retry_after,
                url: short(url),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::Decode {
            url: short(url),
            reason: e.to_string(),
        })
    }
}

/// Pages of one listing, in order. The next link is taken verbatim from each page (relative
/// `next_page_uri` in the 2010 API, absolute `meta.next_page_url` in v1 APIs); a link already
/// followed ends the listing with [`ApiError::PageLoop`] instead of looping forever.
pub struct Pager<'c> {
    client: &'c Client,
    next: Option<Url>,
    seen: HashSet<String>,
}

impl Pager<'_> {
    /// The next page, or `None` after the last.
    pub async fn next_page<P: Paged>(&mut self) -> Result<Option<P>> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        if !self.seen.insert(url.as_str().to_owned()) {
            return Err(ApiError::PageLoop { url: short(&url) }.into());
        }
        let page: P = self.client.get_page(&url).await?;
        self.next = match page.next_link() {
            Some(link) if !link.is_empty() => Some(self.client.follow(&url, link)?),
            _ => None,
        };
        Ok(Some(page))
    }
}

/// The body, read chunk by chunk and given up past `limit` bytes, so that a server streaming
/// without end costs at most `limit` of memory (the announced length is checked first).
async fn read_bounded(
    mut response: reqwest::Response,
    limit: u64,
    url: &Url,
    transport: impl Fn(reqwest::Error) -> ApiError,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::TooLarge {
        url: short(url),
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Reserved on the server's word only up to a few pages' worth: the rest grows as it comes.
    let announced = response.content_length().unwrap_or(0).min(4 << 20);
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response.chunk().await.map_err(&transport)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn bad_sid(url: &Url, kind: &'static str, sid: &str) -> ApiError {
    ApiError::BadSid {
        url: short(url),
        kind,
        sid: sid.chars().take(80).collect(),
    }
}

/// `scheme://host:port` of a URL, for messages.
fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Path and query of a URL: what a human needs to find the request, without the origin.
fn short(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        Client::new(ClientConfig {
            base_url: Url::parse(base).unwrap(),
            credentials: Credentials::new("AC1".into(), "AC1".into(), "secret".into()),
            rps: NonZeroU32::new(10).unwrap(),
            max_in_flight: 1,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(1),
            max_body: 1 << 20,
        })
        .unwrap()
    }

    #[test]
    fn links_are_followed_only_to_the_origin_they_came_from() {
        let c = client("https://api.twilio.com");
        let from = Url::parse("https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json").unwrap();
        let ok = c
            .follow(&from, "/2010-04-01/Accounts/AC1/Calls.json?Page=1")
            .unwrap();
        assert_eq!(ok.host_str(), Some("api.twilio.com"));
        assert!(c.follow(&from, "https://api.twilio.com:443/x").is_ok());
        for foreign in [
            "http://api.twilio.com/x",
            "https://api.twilio.com:8443/x",
            "//evil.example/x",
            "https://api.twilio.com.evil.example/x",
            "https://evil.example/x",
        ] {
            let err = c.follow(&from, foreign).unwrap_err();
            assert!(
                matches!(err, ApiError::ForeignLink { .. }),
                "{foreign}: {err}"
            );
            assert!(err.is_hostile() && err.exit() == crate::error::Exit::TwilioUnavailable);
        }
        let redirect = ApiError::Status {
            status: 302,
            code: None,
            message: None,
            retry_after: None,
            url: "/x".into(),
        };
        assert!(
            redirect.is_hostile(),
            "a redirect on a per-call lookup ends the run"
        );
    }
}
