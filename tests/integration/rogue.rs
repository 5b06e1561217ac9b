//! Servers that misbehave in ways the simulator does not: a 2xx HTML page from a proxy, a
//! page that links to itself forever, a 4xx Twilio would answer to a bad request. Each is a
//! few lines of raw HTTP on a loopback port 0.

use crate::util::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// Answers every request with `respond(path_and_query)` → (status line, content type, body).
fn rogue(respond: fn(&str) -> (&'static str, &'static str, String)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                line.clear();
            }
            let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, kind, body) = respond(&target);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
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
