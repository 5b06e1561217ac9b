//! The simulator over real HTTP: each test binds its own loopback port, serves a small
//! dataset, and talks to it with reqwest the way callrecon's client does.

use super::*;
use crate::twilio::model::{Call, CallsPage};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The 401 body Twilio sends (notes §4.3), byte for byte.
const BODY_401: &str = r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;

/// A simulator serving on its own loopback port until dropped (also used by `tests_logs`).
pub(super) struct Running {
    pub base: String,
    pub sim: Arc<Simulator>,
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Running {
    pub async fn start(cfg: SimConfig) -> Running {
        let data = Dataset::generate(&cfg);
        Running::with_dataset(cfg, data).await
    }

    pub async fn with_dataset(cfg: SimConfig, data: Dataset) -> Running {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sim = Simulator::from_dataset(cfg, data);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, sim.clone(), async move {
            let _ = stopped.await;
        }));
        Running {
            base,
            sim,
            http: reqwest::Client::new(),
            _stop: stop,
        }
    }

    pub fn calls_path(&self) -> String {
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json")
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path_and_query}", self.base))
            .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
            .send()
            .await
            .unwrap()
    }

    /// Follows `next_page_uri` from `first` to the end; returns every page.
    async fn pages(&self, first: &str) -> Vec<CallsPage> {
        let mut pages = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(uri) = next {
            let response = self.get(&uri).await;
            assert_eq!(response.status(), 200, "{uri}");
            let page: CallsPage = response.json().await.unwrap();
            next = page.next_page_uri.clone();
            pages.push(page);
            assert!(pages.len() < 10_000, "paging does not end");
        }
        pages
    }
}

pub(super) fn config(calls: usize) -> SimConfig {
    SimConfig::new(calls, 11, NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(), 2)
}

fn sids<'a>(calls: impl IntoIterator<Item = &'a Call>) -> Vec<String> {
    calls.into_iter().map(|c| c.sid.clone()).collect()
}

#[tokio::test]
async fn paging_returns_every_call_once_in_order_across_short_pages() {
    let mut cfg = config(200);
    cfg.faults.short_page_every = Some(3);
    let sim = Running::start(cfg).await;
    let pages = sim.pages(&format!("{}?PageSize=7", sim.calls_path())).await;
    let served: Vec<String> = pages.iter().flat_map(|p| sids(&p.calls)).collect();
    assert_eq!(served, sids(&sim.sim.dataset().calls));
    // Page 3 (index 2) is short, yet not the end.
    assert_eq!(pages[2].calls.len(), 3);
    assert!(pages[2].next_page_uri.is_some());
    assert_eq!(pages[0].page, Some(0));
    assert_eq!(pages[1].page, Some(1));
    assert_eq!((pages[1].start, pages[1].end), (Some(7), Some(13)));
    let next = pages[0].next_page_uri.as_deref().unwrap();
    let want = format!("PageSize=7&Page=1&PageToken=PA{}", pages[0].calls[6].sid);
    assert!(next.ends_with(&want), "{next}");
    assert!(pages[0].previous_page_uri.is_none());
    let calls = sim.sim.dataset().calls.len() as u64;
    assert_eq!(sim.sim.stats().calls_served, calls);
}

#[tokio::test]
async fn a_page_that_ends_at_the_last_record_has_no_next_page() {
    let sim = Running::start(config(120)).await;
    let busy = sim
        .sim
        .dataset()
        .calls
        .iter()
        .filter(|c| c.status == "busy")
        .count();
    assert!(busy > 1);
    let query = format!("{}?Status=busy&PageSize={busy}", sim.calls_path());
    let pages = sim.pages(&query).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].calls.len(), busy);
    let uri = pages[0].uri.as_deref().unwrap();
    assert!(
        uri.starts_with(&sim.calls_path()) && uri.contains("Status=busy"),
        "{uri}"
    );
}

#[tokio::test]
async fn filters_select_exactly_the_matching_calls() {
    let sim = Running::start(config(400)).await;
    let data = sim.sim.dataset();
    let to = data.calls[5].to.clone().unwrap();
    let want: Vec<&Call> = data
        .calls
        .iter()
        .filter(|c| c.to.as_deref() == Some(to.as_str()))
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
    let pages = sim
        .pages(&format!("{}?To={encoded}&PageSize=2", sim.calls_path()))
        .await;
    let served: Vec<String> = pages.iter().flat_map(|p| sids(&p.calls)).collect();
    assert_eq!(served, sids(want));
}

/// Calls whose start (or date_created when never started) is on or after `from` and before
/// `to`, as the dataset says.
fn started_between(data: &Dataset, from: &str, to: &str) -> Vec<String> {
    let (from, to) = (parse_bound(from).unwrap(), parse_bound(to).unwrap());
    let start = |c: &Call| {
        let t = c.start_time.as_ref().or(c.date_created.as_ref()).unwrap();
        crate::timefmt::parse_rfc2822(t).unwrap()
    };
    let calls = data
        .calls
        .iter()
        .filter(|c| start(c) >= from && start(c) < to);
    sids(calls)
}

#[tokio::test]
async fn day_filters_ignore_the_time_and_second_filters_honour_it() {
    let query =
        "?StartTime%3E=2026-11-27T12:00:00Z&StartTime%3C=2026-11-28T06:00:00Z&PageSize=1000";
    let day = Running::start(config(600)).await;
    let pages = day.pages(&format!("{}{query}", day.calls_path())).await;
    let served: Vec<String> = pages.iter().flat_map(|p| sids(&p.calls)).collect();
    let whole_day = started_between(
        day.sim.dataset(),
        "2026-11-27T00:00:00Z",
        "2026-11-28T00:00:00Z",
    );
    assert_eq!(served, whole_day);

    let mut cfg = config(600);
    cfg.faults.time_filter = TimeFilter::Second;
    let second = Running::start(cfg).await;
    let pages = second
        .pages(&format!("{}{query}", second.calls_path()))
        .await;
    let served: Vec<String> = pages.iter().flat_map(|p| sids(&p.calls)).collect();
    let exact = started_between(
        second.sim.dataset(),
        "2026-11-27T12:00:00Z",
        "2026-11-28T06:00:00Z",
    );
    assert!(!exact.is_empty() && exact.len() < whole_day.len());
    assert_eq!(served, exact);
}

#[tokio::test]
async fn bad_credentials_get_twilios_401_and_good_ones_for_another_account_a_404() {
    let mut cfg = config(20);
    let key = format!("SK{}", "1".repeat(32));
    cfg.api_key = Some((key.clone(), "key-secret".to_owned()));
    let sim = Running::start(cfg).await;
    let url = format!("{}{}", sim.base, sim.calls_path());
    for auth in [None, Some((DEFAULT_ACCOUNT_SID, "wrong"))] {
        let mut request = sim.http.get(&url);
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let realm = response.headers()["www-authenticate"].to_str().unwrap();
        assert_eq!(realm, "Basic realm=\"Twilio API\"");
        assert_eq!(response.text().await.unwrap(), BODY_401);
    }
    let by_key = sim.http.get(&url).basic_auth(&key, Some("key-secret"));
    assert_eq!(by_key.send().await.unwrap().status(), 200);

    let other = format!("/2010-04-01/Accounts/AC{}/Calls.json", "2".repeat(32));
    let response = sim.get(&other).await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 20404);
    assert_eq!(sim.sim.stats().responses_401, 2);
}

#[tokio::test]
async fn fetch_by_sid_returns_the_call_or_twilios_404() {
    let sim = Running::start(config(30)).await;
    let call = sim.sim.dataset().calls[3].clone();
    let path = format!(
        "/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/{}.json",
        call.sid
    );
    let fetched: Call = sim.get(&path).await.json().await.unwrap();
    assert_eq!(fetched, call.as_decoded());
    let missing = format!(
        "/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/CA{}.json",
        "0".repeat(32)
    );
    let response = sim.get(&missing).await;
    assert_eq!(response.status(), 404);
    let want = format!(
        r#"{{"code":20404,"message":"The requested resource {missing} was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}}"#
    );
    assert_eq!(response.text().await.unwrap(), want);
    assert_eq!(sim.get("/2010-04-01/Nope.json").await.status(), 404);
}

#[tokio::test]
async fn malformed_queries_get_a_400_with_code_20001() {
    let sim = Running::start(config(30)).await;
    for query in [
        "StartTime%3E=27/11/2026",
        "PageSize=1001",
        "PageToken=PACAnot-a-sid",
    ] {
        let response = sim.get(&format!("{}?{query}", sim.calls_path())).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], 20001, "{query}");
    }
}

#[tokio::test]
async fn a_429_burst_refuses_len_of_every_period_with_retry_after() {
    let mut cfg = config(10);
    cfg.faults.burst_429 = Some(Burst { len: 2, every: 5 });
    cfg.faults.retry_after = Some(3);
    let sim = Running::start(cfg).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response = sim.get(&sim.calls_path()).await;
        let status = response.status().as_u16();
        if status == 429 {
            assert_eq!(response.headers()["retry-after"], "3");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], 20429);
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [429, 429, 200, 200, 200, 429, 429, 200, 200, 200]);
    let stats: Stats = sim.get("/__simulator/stats").await.json().await.unwrap();
    assert_eq!(
        (stats.requests, stats.responses_429, stats.pages_served),
        (10, 4, 6)
    );
}

#[tokio::test]
async fn a_503_burst_answers_with_a_proxys_html_page() {
    let mut cfg = config(10);
    cfg.faults.burst_503 = Some(Burst { len: 1, every: 2 });
    let sim = Running::start(cfg).await;
    assert_eq!(sim.get(&sim.calls_path()).await.status(), 200);
    let response = sim.get(&sim.calls_path()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert!(response.text().await.unwrap().starts_with("<html>"));
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_get_a_429() {
    let mut cfg = config(10);
    cfg.faults.max_concurrent = Some(1);
    cfg.faults.latency = std::time::Duration::from_millis(300);
    let sim = Running::start(cfg).await;
    let path = sim.calls_path();
    let (a, b) = tokio::join!(sim.get(&path), sim.get(&path));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 429]);
    assert_eq!(sim.sim.stats().max_in_flight, 2);
}
