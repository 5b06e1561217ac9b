//! The share fault knobs over real HTTP: each at 100 % is exactly its fault as a client sees it
//! (reqwest, or a raw socket where the bytes on the wire matter), at 0 % nothing happens, and
//! the same `--fault-seed` replays the same faults.

use super::tests::{Running, config};
use super::*;
use crate::twilio::model::CallsPage;
use clap::Parser;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one request came to, as a client would classify it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Status, `content-type`, `Retry-After`, and whether the body decoded as a calls page.
    Answer(u16, String, Option<String>, bool),
    /// The transport failed: the connection was cut or the client timed out.
    Failed,
}

impl Running {
    async fn outcome(&self, client: &reqwest::Client, path: &str) -> Outcome {
        let sent = client
            .get(format!("{}{path}", self.base))
            .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
            .send()
            .await;
        let Ok(response) = sent else {
            return Outcome::Failed;
        };
        let header = |name| {
            let value = response.headers().get(name)?;
            Some(value.to_str().unwrap().to_owned())
        };
        let content_type = header(CONTENT_TYPE).unwrap_or_default();
        let retry_after = header(RETRY_AFTER);
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(body) => {
                let decodes = serde_json::from_slice::<CallsPage>(&body).is_ok();
                Outcome::Answer(status, content_type, retry_after, decodes)
            }
            Err(_) => Outcome::Failed,
        }
    }

    /// The outcomes of `count` calls-list requests, one after the other.
    async fn outcomes(&self, count: usize) -> Vec<Outcome> {
        let mut all = Vec::with_capacity(count);
        for _ in 0..count {
            all.push(self.outcome(&self.http, &self.calls_path()).await);
        }
        all
    }
}

async fn running(faults: Faults) -> Running {
    let mut cfg = config(30);
    cfg.faults = faults;
    Running::start(cfg).await
}

fn page(status: u16) -> Outcome {
    Outcome::Answer(status, "application/json".to_owned(), None, status == 200)
}

#[tokio::test]
async fn with_every_share_at_zero_nothing_happens() {
    let sim = running(Faults::default()).await;
    assert!(sim.outcomes(50).await.iter().all(|o| *o == page(200)));
    let stats = sim.sim.stats();
    assert_eq!((stats.faults_injected, stats.responses_2xx), (0, 50));
}

#[tokio::test]
async fn rate_429_refuses_with_20429_and_retry_after_on_its_share() {
    for (share, with_header) in [(0.0, 0..=0), (100.0, 200..=200), (50.0, 70..=130)] {
        let sim = running(Faults {
            rate_429: 100.0,
            retry_after_share: share,
            ..Faults::default()
        })
        .await;
        let mut headers = 0;
        for _ in 0..200 {
            let response = sim.get(&sim.calls_path()).await;
            assert_eq!(response.status(), 429);
            if let Some(value) = response.headers().get(RETRY_AFTER) {
                assert_eq!(value, "1");
                headers += 1;
            }
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], 20429, "{body}");
        }
        assert!(with_header.contains(&headers), "{share}%: {headers}");
        let stats = sim.sim.stats();
        assert_eq!((stats.injected_429, stats.faults_injected), (200, 200));
    }
}

#[tokio::test]
async fn rate_5xx_cycles_500_json_then_502_and_503_html() {
    let sim = running(Faults {
        rate_5xx: 100.0,
        ..Faults::default()
    })
    .await;
    let html = |status| Outcome::Answer(status, "text/html".to_owned(), None, false);
    let json_500 = Outcome::Answer(500, "application/json".to_owned(), None, false);
    let want = [json_500, html(502), html(503)];
    assert_eq!(sim.outcomes(6).await, [want.clone(), want].concat());
    let body: serde_json::Value = sim.get(&sim.calls_path()).await.json().await.unwrap();
    assert_eq!(
        (&body["code"], &body["status"]),
        (&20500.into(), &500.into())
    );
    assert_eq!(sim.sim.stats().injected_5xx, 7);
}

#[tokio::test]
async fn burst_5xx_refuses_len_of_every_period_in_the_same_cycle() {
    let sim = running(Faults {
        burst_5xx: Some(Burst::parse("1/2").unwrap()),
        ..Faults::default()
    })
    .await;
    let statuses: Vec<u16> = sim
        .outcomes(6)
        .await
        .into_iter()
        .map(|o| match o {
            Outcome::Answer(status, ..) => status,
            Outcome::Failed => 0,
        })
        .collect();
    assert_eq!(statuses, [500, 200, 502, 200, 503, 200]);
}

#[tokio::test]
async fn a_reset_is_an_error_for_the_client_after_headers_and_half_a_body() {
    let sim = running(Faults {
        rate_reset: 100.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(sim.outcomes(3).await, vec![Outcome::Failed; 3]);

    // On the wire: the full length is announced, fewer bytes follow, then the socket closes.
    let addr = sim.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {}\r\n\r\n",
        sim.calls_path(),
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}")
        )
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut wire = Vec::new();
    let _ = socket.read_to_end(&mut wire).await; // ends at the close (or a reset)
    let text = String::from_utf8_lossy(&wire);
    let (head, body) = text.split_once("\r\n\r\n").expect("headers were sent");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert!(
        !body.is_empty() && body.len() < length,
        "{} of {length}",
        body.len()
    );
    assert_eq!(sim.sim.stats().resets, 4);
}

#[tokio::test]
async fn a_truncated_body_is_the_first_half_of_the_real_one_with_its_own_length() {
    let whole = running(Faults::default()).await;
    let want = whole.get(&whole.calls_path()).await.bytes().await.unwrap();
    let sim = running(Faults {
        rate_truncated: 100.0,
        ..Faults::default()
    })
    .await;
    let response = sim.get(&sim.calls_path()).await;
    assert_eq!(response.status(), 200);
    let length = response.headers()[CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.bytes().await.unwrap();
    assert_eq!(length, body.len().to_string());
    assert_eq!(body, want.slice(..want.len() / 2));
    assert!(serde_json::from_slice::<CallsPage>(&body).is_err());
    assert_eq!(sim.sim.stats().truncated, 1);
}

#[tokio::test]
async fn a_slow_answer_outlasts_a_client_timeout_and_then_arrives() {
    let slow = std::time::Duration::from_millis(300);
    let sim = running(Faults {
        rate_slow: 100.0,
        slow,
        ..Faults::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let path = sim.calls_path();
    assert_eq!(sim.outcome(&impatient, &path).await, Outcome::Failed);
    let started = std::time::Instant::now();
    assert_eq!(sim.outcome(&sim.http, &path).await, page(200));
    assert!(started.elapsed() >= slow);
    assert_eq!(sim.sim.stats().slow, 2);
}

#[tokio::test]
async fn rate_html_answers_200_with_a_page_on_every_route_but_stats() {
    let sim = running(Faults {
        rate_html: 100.0,
        ..Faults::default()
    })
    .await;
    let call = sim.sim.dataset().calls[0].sid.clone();
    let paths = [
        sim.calls_path(),
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/{call}.json"),
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/{call}/Notifications.json"),
        "/v1/Alerts".to_owned(),
    ];
    for path in &paths {
        let html = Outcome::Answer(200, "text/html".to_owned(), None, false);
        assert_eq!(sim.outcome(&sim.http, path).await, html, "{path}");
    }
    let stats: Stats = sim.get("/__simulator/stats").await.json().await.unwrap();
    assert_eq!((stats.html, stats.faults_injected), (4, 4));
    assert_eq!(stats.calls_served, 0, "no request reached a route");
}

#[tokio::test]
async fn the_same_fault_seed_replays_the_same_faults() {
    let soak = |seed| Faults {
        fault_seed: seed,
        slow: std::time::Duration::from_millis(1),
        ..Faults::chaos()
    };
    let first = running(soak(5)).await.outcomes(150).await;
    assert_eq!(running(soak(5)).await.outcomes(150).await, first);
    assert_ne!(running(soak(6)).await.outcomes(150).await, first);
    assert!(first.contains(&Outcome::Failed) && first.contains(&page(200)));
}

/// `callrecon simulate`'s flags alone, as the CLI reads them.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    sim: SimArgs,
}

fn faults_from(flags: &[&str]) -> anyhow::Result<Faults> {
    let args = ["simulate", "--start-day", "2026-11-27"]
        .iter()
        .chain(flags);
    let flags = Flags::try_parse_from(args)?;
    Ok(SimConfig::from_args(&flags.sim)?.faults)
}

#[test]
fn chaos_turns_on_the_soak_preset_under_explicit_flags() {
    let off = faults_from(&[]).unwrap();
    assert_eq!((off.fault_seed, off.rate_429, off.rate_html), (1, 0.0, 0.0));
    let chaos = faults_from(&["--chaos", "--rate-429", "10", "--fault-seed", "9"]).unwrap();
    assert_eq!((chaos.rate_429, chaos.retry_after_share), (10.0, 50.0));
    assert_eq!((chaos.rate_5xx, chaos.rate_slow), (5.0, 0.5));
    assert_eq!((chaos.slow.as_millis(), chaos.fault_seed), (5000, 9));
    let picked = faults_from(&["--rate-truncated", "0.5", "--burst-5xx", "2/9"]).unwrap();
    assert_eq!(picked.rate_truncated, 0.5);
    assert_eq!(picked.burst_5xx, Some(Burst { len: 2, every: 9 }));
    assert!(faults_from(&["--rate-429", "101"]).is_err());
    assert!(faults_from(&["--rate-429", "60", "--rate-5xx", "50"]).is_err());
}
