//! What went wrong on the wire, in words an operator can act on: reqwest's own message for a
//! refused connection is "error sending request", which names neither the cause nor the host.
//!
//! The cause is found by walking the error's source chain (hyper, the resolver, rustls and
//! the operating system each wrap the one below), so the wording does not depend on the
//! exact text of any one layer.

use std::error::Error as _;
use url::Url;

/// One line: what happened, to which host, and what to check.
pub(super) fn describe(e: &reqwest::Error, url: &Url) -> String {
    let host = match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => url.as_str().to_owned(),
    };
    let chain = chain(e);
    let io_kind = io_kind(e);
    use std::io::ErrorKind as K;
    if e.is_timeout() || io_kind == Some(K::TimedOut) {
        return format!("timed out talking to {host} (--timeout); is the host reachable?");
    }
    if io_kind == Some(K::ConnectionRefused) {
        return format!(
            "connection refused by {host}: nothing listens there; check --base-url, --region \
             and --edge"
        );
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return format!("could not resolve {host} (DNS): {chain}");
    }
    if has_tls_cause(e)
        || [
            "tls",
            "certificate",
            "corrupt message",
            "invalidcontenttype",
        ]
        .iter()
        .any(|w| lower.contains(w))
    {
        return format!(
            "TLS handshake with {host} failed ({chain}); is this an http server? Plain http is \
             only for a local simulator, written http://127.0.0.1:PORT"
        );
    }
    if matches!(
        io_kind,
        Some(K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof)
    ) {
        return format!("the connection to {host} was cut ({chain})");
    }
    format!("{host}: {chain}")
}

/// Every layer's message, outermost first, without repeats and without the URL.
fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let top = e.to_string();
    let top = top.split(" for url (").next().unwrap_or(&top).to_owned();
    parts.push(top);
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn io_kind(e: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

fn has_tls_cause(e: &reqwest::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // rustls reaches hyper inside an io::Error, whose `source` skips the error it wraps.
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        source = s.source();
    }
    false
}
