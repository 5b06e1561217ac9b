//! Servers that misbehave in ways the simulator does not: a 2xx HTML page from a proxy, a
//! page that links to itself forever, a 4xx Twilio would answer to a bad request, links to
//! other origins, endless bodies, SIDs that are paths. Each is a few lines of raw HTTP on a
//! loopback port 0.

use crate::util::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Serves every connection with `handle(request target, stream)` on a thread of its own.
fn serve(handle: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let handle = handle.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                    line.clear();
                }
                let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                handle(&target, &mut stream);
            });
        }
    });
    url
}

/// Answers every request with `respond(path_and_query)` → (status line, content type, body).
fn rogue(
    respond: impl Fn(&str) -> (&'static str, &'static str, String) + Send + Sync + 'static,
) -> String {
    serve(move |target, stream| {
        let (status, kind, body) = respond(target);
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    })
}

/// A server that must never be asked anything: it counts the connections it gets.
fn honeypot() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let url = serve(move |_, stream| {
        counted.fetch_add(1, Ordering::SeqCst);
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
    });
    (url, hits)
}

const A_CALL: &str = r#"{"sid":"CA0123456789abcdef0123456789abcdef","account_sid":"AC00000000000000000000000000000000","status":"failed","direction":"outbound-api","to":"+14155550100","from":"+14155550199","date_created":"Tue, 03 Feb 2026 10:00:00 +0000","start_time":null}"#;

fn calls_page(next: &str) -> String {
    format!(r#"{{"calls":[{A_CALL}],"next_page_uri":{next},"page":0,"page_size":1000}}"#)
}

fn alerts_page(next: &str) -> String {
    format!(r#"{{"alerts":[],"meta":{{"next_page_url":{next},"page":0,"page_size":1000}}}}"#)
}

/// What `callrecon check` prints against `url`.
fn check(url: &str) -> String {
    let out = callrecon()
        .args(["check", "--base-url", url])
        .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
        .env("TWILIO_AUTH_TOKEN", "rogue-test-token")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fetch(url: &str, want: i32) -> String {
    let dir = TestDir::new();
    let db = dir.path("l.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let mut cmd = callrecon();
    cmd.args(["fetch", "--db"])
        .arg(&db)
        .args([
            "--from",
            "2026-02-03T00:00:00Z",
            "--to",
            "2026-02-04T00:00:00Z",
            "--now",
            "2026-02-05T00:00:00Z",
        ])
        .args([
            "--max-attempts",
            "3",
            "--retry-base-ms",
            "1",
            "--base-url",
            url,
        ])
        .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
        .env("TWILIO_AUTH_TOKEN", "rogue-test-token");
    stderr(&run(&mut cmd, want))
}

#[test]
fn an_html_page_with_status_200_is_retried_then_fails_with_exit_4() {
    let url = rogue(|_| {
        (
            "200 OK",
            "text/html",
            "<html><body>Gateway says hi</body></html>".into(),
        )
    });
    let err = fetch(&url, 4);
    assert!(
        err.contains("not the expected JSON") && err.contains("gave up after 3"),
        "{err}"
    );
}

#[test]
fn a_page_that_links_to_itself_stops_with_exit_4() {
    let url = rogue(|target| {
        let body =
            format!(r#"{{"calls":[],"next_page_uri":"{target}","page":0,"page_size":1000}}"#);
        ("200 OK", "application/json", body)
    });
    let err = fetch(&url, 4);
    assert!(err.contains("page already read"), "{err}");
}

#[test]
fn a_request_twilio_refuses_fails_with_its_code_and_exit_2() {
    let url = rogue(|_| {
        let body = r#"{"code":20001,"message":"Invalid PageSize","more_info":"https://www.twilio.com/docs/errors/20001","status":400}"#;
        ("400 Bad Request", "application/json", body.into())
    });
    let err = fetch(&url, 2);
    assert!(
        err.contains("HTTP 400") && err.contains("20001: Invalid PageSize"),
        "{err}"
    );
}

/// Each kind of foreign link, on the Calls list and on Monitor's alerts: the run stops with
/// exit 4 naming the foreign origin, and the other origin is never asked (the credentials
/// stay where they were meant to go).
#[test]
fn links_to_another_origin_are_never_followed() {
    let (pot, hits) = honeypot();
    let pot_port = pot.rsplit(':').next().unwrap().to_owned();
    let links = [
        format!("{pot}/2010-04-01/Accounts/AC00000000000000000000000000000000/Calls.json?Page=1"),
        format!("//127.0.0.1:{pot_port}/2010-04-01/Calls.json?Page=1"),
        // The same host and port, another scheme: https from http (and so http from https).
        "https://127.0.0.1:1/2010-04-01/Calls.json?Page=1".to_owned(),
    ];
    for link in links {
        for on_alerts in [false, true] {
            let json_link = format!("{link:?}");
            let url = rogue(move |target| {
                let body = match (target.starts_with("/v1/Alerts"), on_alerts) {
                    (true, true) => alerts_page(&json_link),
                    (true, false) => alerts_page("null"),
                    (false, false) => calls_page(&json_link),
                    (false, true) => calls_page("null"),
                };
                ("200 OK", "application/json", body)
            });
            let err = fetch(&url, 4);
            assert!(
                err.contains("links to") && err.contains("callrecon sends credentials only"),
                "{link} (alerts: {on_alerts}): {err}"
            );
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the foreign origin was asked"
    );
}

/// A redirect is not followed: its target would get the credentials.
#[test]
fn a_redirect_is_not_followed_and_fails_with_exit_4() {
    let (pot, hits) = honeypot();
    let url = serve(move |_, stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: {pot}/x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    });
    let err = fetch(&url, 4);
    assert!(
        err.contains("HTTP 302") && err.contains("does not follow"),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

/// An endless body is cut at --max-body-mib, retried within the budget, then exit 4, with the
/// process's memory flat (measured from /proc while it runs).
#[test]
fn an_endless_body_is_cut_at_the_limit_at_flat_memory() {
    let url = serve(|_, stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{\"calls\":[\""
        );
        let chunk = vec![b'a'; 1 << 16];
        while stream.write_all(&chunk).is_ok() {}
    });
    let dir = TestDir::new();
    let db = dir.path("l.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&db), 0);
    let mut child = callrecon()
        .args(["fetch", "--db"])
        .arg(&db)
        .args([
            "--from",
            "2026-02-03T00:00:00Z",
            "--to",
            "2026-02-04T00:00:00Z",
        ])
        .args(["--now", "2026-02-05T00:00:00Z", "--max-attempts", "3"])
        .args([
            "--retry-base-ms",
            "1",
            "--max-body-mib",
            "8",
            "--base-url",
            &url,
        ])
        .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
        .env("TWILIO_AUTH_TOKEN", "rogue-test-token")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let proc_status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&proc_status)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(err.contains("longer than 8388608 bytes"), "{err}");
    assert!(peak_kb < 200 * 1024, "peak RSS {peak_kb} kB: {err}");
}

/// A SID that is a path never reaches a URL or the ledger: the run stops at the page.
#[test]
fn a_sid_that_is_not_a_sid_stops_the_run_before_any_use() {
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = asked.clone();
    let url = rogue(move |target| {
        log.lock().unwrap().push(target.to_owned());
        let body =
            calls_page("null").replace("CA0123456789abcdef0123456789abcdef", "CA/../../Evil2");
        let body = if target.starts_with("/v1/Alerts") {
            alerts_page("null")
        } else {
            body
        };
        ("200 OK", "application/json", body)
    });
    let err = fetch(&url, 4);
    assert!(
        err.contains("\"CA/../../Evil2\"") && err.contains("call SID"),
        "{err}"
    );
    let asked = asked.lock().unwrap();
    assert!(asked.iter().all(|t| !t.contains("Evil2")), "{asked:?}");
}

/// Nothing listens: the message says so and names the host; `check` answers within seconds.
#[test]
fn a_refused_connection_is_named_and_check_answers_quickly() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let err = fetch(&url, 4);
    assert!(
        err.contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{err}"
    );
    let started = std::time::Instant::now();
    let text = check(&url);
    assert!(text.contains("connection refused"), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// https to a plain-http server: a TLS failure, with the hint that it may be plain http.
#[test]
fn https_to_a_plain_http_server_says_so() {
    // Like any http server handed a TLS ClientHello: it answers 400 in plain text at once.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        }
    });
    let https = format!("https://localhost:{port}");
    let err = fetch(&https, 4);
    assert!(
        err.contains("TLS handshake") && err.contains("is this an http server"),
        "{err}"
    );
}

/// Wrong credentials: every message says what to check, in `run` and in `check`.
#[test]
fn credential_failures_say_what_to_check() {
    let url = rogue(|_| {
        let body = r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;
        ("401 Unauthorized", "application/json", body.into())
    });
    let err = fetch(&url, 3);
    assert!(
        err.contains("check TWILIO_ACCOUNT_SID and the token or API key"),
        "{err}"
    );
    let text = check(&url);
    let monitor = text
        .lines()
        .find(|l| l.contains("monitor"))
        .unwrap_or_default();
    assert!(monitor.contains("check TWILIO_ACCOUNT_SID"), "{text}");
    assert!(!monitor.contains("permission"), "{text}");
}
