//! The client's error: enough to decide whether to retry and which exit code a failure gets.
//!
//! Classification is by HTTP status first and body second (design.md, "Responses that go
//! wrong"): a proxy's HTML 503 is still a retryable 503, and an undecodable 2xx body is treated
//! like a transient fault, not a bug in Twilio's schema.

use crate::error::Exit;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Twilio (or something in front of it) answered with a non-2xx status.
    #[error("{}", describe_status(*status, *code, message.as_deref(), url))]
    Status {
        status: u16,
        /// Twilio's own error code from the body (`20003`, `20429`…), when the body had one.
        code: Option<i64>,
        message: Option<String>,
        retry_after: Option<Duration>,
        /// Path and query only: callrecon never puts credentials in URLs, and hosts are noise.
        url: String,
    },
    /// The request never got a complete answer: connect, TLS, timeout, reset mid-body.
    #[error("no complete answer from Twilio for {url}: {reason}")]
    Transport { url: String, reason: String },
    /// A 2xx whose body is not the JSON expected (truncated, or HTML from a proxy).
    #[error("Twilio's answer for {url} is not the expected JSON: {reason}")]
    Decode { url: String, reason: String },
    /// A response handed back a link to another origin (scheme, host or port) than the one it
    /// came from: following it would send the account's credentials there.
    #[error(
        "Twilio's answer for {url} links to {link}, which is not {expected}; callrecon sends \
         credentials only to the origin it asked, so the run stopped here. Check --base-url, \
         --region and --edge, and whatever proxy answers there"
    )]
    ForeignLink {
        url: String,
        link: String,
        expected: String,
    },
    /// A body longer than the configured limit: a misbehaving server, not a page of calls.
    #[error(
        "Twilio's answer for {url} is longer than {limit} bytes (--max-body-mib); a page of \
         1,000 calls is about 2 MB, so the server is misbehaving"
    )]
    TooLarge { url: String, limit: u64 },
    /// A record whose SID is not a Twilio SID of its kind: it must not reach a URL or the ledger.
    #[error(
        "Twilio's answer for {url} holds a {kind} SID that is not one ({sid:?}); callrecon uses \
         SIDs in URLs and the ledger only when they are two letters and 32 hex digits, so the \
         run stopped here"
    )]
    BadSid {
        url: String,
        kind: &'static str,
        sid: String,
    },
    /// The server keeps handing out a page already read: following it would never end.
    #[error("Twilio returned a page already read ({url}); paging stopped to avoid an endless loop")]
    PageLoop { url: String },
    /// Retries ran out (attempts or total wait) on a transient fault.
    #[error("gave up after {attempts} attempt(s) and {:.1}s of waiting: {last}", waited.as_secs_f64())]
    Exhausted {
        attempts: u32,
        waited: Duration,
        last: Box<ApiError>,
    },
}

fn describe_status(status: u16, code: Option<i64>, message: Option<&str>, url: &str) -> String {
    let mut s = format!("Twilio answered HTTP {status} for {url}");
    if let Some(code) = code {
        s.push_str(&format!(" (error {code}"));
        if let Some(m) = message {
            s.push_str(&format!(": {m}"));
        }
        s.push_str(&format!(", https://www.twilio.com/docs/errors/{code})"));
    } else if let Some(m) = message {
        s.push_str(&format!(" ({m})"));
    }
    if status == 401 {
        s.push_str(&format!("; {CHECK_CREDENTIALS}"));
    }
    s
}

/// The advice for every credential failure, wherever it happens.
pub const CHECK_CREDENTIALS: &str = "check TWILIO_ACCOUNT_SID and the token or API key \
    (TWILIO_AUTH_TOKEN, --auth-token-file, or TWILIO_API_KEY + TWILIO_API_SECRET)";

impl ApiError {
    /// HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Exhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// True for faults that say nothing about the request itself: 429, 5xx, a broken
    /// connection, a body that did not decode. Only these are retried.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status == 429 || *status >= 500,
            ApiError::Transport { .. } | ApiError::Decode { .. } | ApiError::TooLarge { .. } => {
                true
            }
            ApiError::PageLoop { .. }
            | ApiError::Exhausted { .. }
            | ApiError::ForeignLink { .. }
            | ApiError::BadSid { .. } => false,
        }
    }

    /// An answer that tried to send callrecon (and its credentials) elsewhere, or to put a
    /// non-SID in a URL or the ledger: never skipped like a passing fault, it ends the run.
    pub fn is_hostile(&self) -> bool {
        match self {
            ApiError::ForeignLink { .. } | ApiError::BadSid { .. } => true,
            // A redirect points elsewhere: never followed, and never skipped as a passing fault.
            ApiError::Status { status, .. } => (300..=399).contains(status),
            ApiError::Exhausted { last, .. } => last.is_hostile(),
            _ => false,
        }
    }

    /// The exit code this error gets when it ends a run (design.md's table).
    pub fn exit(&self) -> Exit {
        match self {
            ApiError::Status { status, .. } => match status {
                401 | 403 => Exit::TwilioAuth,
                // Redirects are not followed (credentials would go along): a server that
                // answers one is not behaving as Twilio does.
                300..=399 | 429 | 500..=599 => Exit::TwilioUnavailable,
                _ => Exit::Usage,
            },
            ApiError::Transport { .. }
            | ApiError::Decode { .. }
            | ApiError::PageLoop { .. }
            | ApiError::ForeignLink { .. }
            | ApiError::TooLarge { .. }
            | ApiError::BadSid { .. }
            | ApiError::Exhausted { .. } => Exit::TwilioUnavailable,
        }
    }
}
