//! Twilio's wire types for the endpoints callrecon reads, exactly as the 2010 API sends them.
//!
//! Every Call property is nullable in Twilio's OpenAPI spec except `status`, and `duration`,
//! `price` and `queue_time` are strings (`"4"`, `"-0.200"`), so every field is an
//! `Option<String>` here and is interpreted only where it is used: money stays decimal text,
//! dates stay RFC 2822 until [`crate::timefmt::parse_rfc2822`] reads them. The simulator
//! serialises the same structs, so what it serves and what the client decodes cannot drift.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One Call resource (`api.v2010.account.call`). Field order follows Twilio's own payloads.
/// Properties callrecon never reads are served by the simulator but skipped when decoding
/// (`skip_deserializing`): a page of 1000 calls decodes in half the time without their
/// allocations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub account_sid: Option<String>,
    pub answered_by: Option<String>,
    #[serde(skip_deserializing)]
    pub api_version: Option<String>,
    #[serde(skip_deserializing)]
    pub caller_name: Option<String>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub direction: Option<String>,
    pub duration: Option<String>,
    pub end_time: Option<String>,
    #[serde(skip_deserializing)]
    pub forwarded_from: Option<String>,
    pub from: Option<String>,
    #[serde(skip_deserializing)]
    pub from_formatted: Option<String>,
    #[serde(skip_deserializing)]
    pub group_sid: Option<String>,
    pub parent_call_sid: Option<String>,
    #[serde(skip_deserializing)]
    pub phone_number_sid: Option<String>,
    pub price: Option<String>,
    pub price_unit: Option<String>,
    /// The only non-nullable property; kept as text so an unknown future status still lands.
    pub sid: String,
    pub start_time: Option<String>,
    pub status: String,
    #[serde(skip_deserializing)]
    pub subresource_uris: Option<BTreeMap<String, String>>,
    pub to: Option<String>,
    #[serde(skip_deserializing)]
    pub to_formatted: Option<String>,
    #[serde(skip_deserializing)]
    pub trunk_sid: Option<String>,
    #[serde(skip_deserializing)]
    pub uri: Option<String>,
    #[serde(skip_deserializing)]
    pub queue_time: Option<String>,
}

impl Call {
    /// The call as the client decodes it: the properties callrecon never reads cleared. For
    /// tests comparing what the simulator served with what the client read.
    #[doc(hidden)]
    pub fn as_decoded(&self) -> Call {
        Call {
            api_version: None,
            caller_name: None,
            forwarded_from: None,
            from_formatted: None,
            group_sid: None,
            phone_number_sid: None,
            subresource_uris: None,
            to_formatted: None,
            trunk_sid: None,
            uri: None,
            queue_time: None,
            ..self.clone()
        }
    }
}

/// The 2010 API list envelope for Calls (`ListCallResponse`). Paging is `next_page_uri`,
/// relative to the API host, and nothing else: there is no total count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallsPage {
    pub calls: Vec<Call>,
    pub end: Option<i64>,
    pub first_page_uri: Option<String>,
    pub next_page_uri: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
    pub previous_page_uri: Option<String>,
    pub start: Option<i64>,
    pub uri: Option<String>,
}

/// Twilio's classic error body `{code, message, more_info, status}`; every field optional
/// because proxies answer with HTML and newer APIs with RFC 9457 shapes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: Option<i64>,
    pub message: Option<String>,
    pub more_info: Option<String>,
    pub status: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One call notification (`api.v2010.account.call.call_notification`): a warning or error
/// Twilio logged for a call. `log` is `"0"` (ERROR) or `"1"` (WARNING); `error_code` is text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub account_sid: Option<String>,
    pub api_version: Option<String>,
    pub call_sid: Option<String>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub error_code: Option<String>,
    pub log: Option<String>,
    pub message_date: Option<String>,
    pub message_text: Option<String>,
    pub more_info: Option<String>,
    pub request_method: Option<String>,
    pub request_url: Option<String>,
    pub sid: Option<String>,
    pub uri: Option<String>,
}

/// The 2010 list envelope for a call's notifications.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NotificationsPage {
    pub notifications: Vec<Notification>,
    pub end: Option<i64>,
    pub first_page_uri: Option<String>,
    pub next_page_uri: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
    pub previous_page_uri: Option<String>,
    pub start: Option<i64>,
    pub uri: Option<String>,
}

/// One Monitor alert (`monitor.v1.alert`). Dates here are ISO 8601, unlike the 2010 API;
/// `resource_sid` is the SID of what the alert is about (a call, for voice errors).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub account_sid: Option<String>,
    pub alert_text: Option<String>,
    pub api_version: Option<String>,
    pub date_created: Option<String>,
    pub date_generated: Option<String>,
    pub date_updated: Option<String>,
    pub error_code: Option<String>,
    pub log_level: Option<String>,
    pub more_info: Option<String>,
    pub request_method: Option<String>,
    pub request_url: Option<String>,
    pub resource_sid: Option<String>,
    pub sid: Option<String>,
    pub url: Option<String>,
    pub service_sid: Option<String>,
}

/// The v1 list envelope: paging is `meta.next_page_url`, an absolute URL.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertsPage {
    pub alerts: Vec<Alert>,
    pub meta: PageMeta,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PageMeta {
    pub first_page_url: Option<String>,
    pub key: Option<String>,
    pub next_page_url: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
    pub previous_page_url: Option<String>,
    pub url: Option<String>,
}

/// A list page, whichever envelope it comes in: what matters for paging is the next link.
pub trait Paged: serde::de::DeserializeOwned {
    fn next_link(&self) -> Option<&str>;
    /// The first SID on the page that is not a Twilio SID of its kind, as (kind, SID).
    fn bad_sid(&self) -> Option<(&'static str, &str)>;
}

impl Paged for CallsPage {
    fn next_link(&self) -> Option<&str> {
        self.next_page_uri.as_deref()
    }
    fn bad_sid(&self) -> Option<(&'static str, &str)> {
        self.calls.iter().find_map(Call::bad_sid)
    }
}

impl Paged for NotificationsPage {
    fn next_link(&self) -> Option<&str> {
        self.next_page_uri.as_deref()
    }
    fn bad_sid(&self) -> Option<(&'static str, &str)> {
        self.notifications.iter().find_map(|n| {
            first_bad(&[
                ("notification", Some("NO"), n.sid.as_deref()),
                ("call", Some("CA"), n.call_sid.as_deref()),
                ("account", Some("AC"), n.account_sid.as_deref()),
            ])
        })
    }
}

impl Paged for AlertsPage {
    fn next_link(&self) -> Option<&str> {
        self.meta.next_page_url.as_deref()
    }
    fn bad_sid(&self) -> Option<(&'static str, &str)> {
        self.alerts.iter().find_map(|a| {
            first_bad(&[
                ("alert", Some("NO"), a.sid.as_deref()),
                // Monitor's spec: any resource, two letters and 32 hex digits.
                ("resource", None, a.resource_sid.as_deref()),
                ("account", Some("AC"), a.account_sid.as_deref()),
            ])
        })
    }
}

impl Call {
    /// The first of the call's SIDs that is not a Twilio SID of its kind, as (kind, SID).
    pub fn bad_sid(&self) -> Option<(&'static str, &str)> {
        first_bad(&[
            ("call", Some("CA"), Some(&self.sid)),
            ("parent call", Some("CA"), self.parent_call_sid.as_deref()),
            ("account", Some("AC"), self.account_sid.as_deref()),
        ])
    }
}

/// Whether `text` is a Twilio SID: the two-letter `prefix` (any two letters for `None`) and
/// 32 hex digits (the OpenAPI specs' patterns). Only such SIDs go into a URL or the ledger.
pub fn is_sid(text: &str, prefix: Option<&str>) -> bool {
    let b = text.as_bytes();
    b.len() == 34
        && match prefix {
            Some(p) => text.starts_with(p),
            None => b[..2].iter().all(u8::is_ascii_alphabetic),
        }
        && b[2..].iter().all(u8::is_ascii_hexdigit)
}

/// Empty or absent SIDs are absent values, not bad ones.
fn first_bad<'a>(
    sids: &[(&'static str, Option<&str>, Option<&'a str>)],
) -> Option<(&'static str, &'a str)> {
    sids.iter().find_map(|&(kind, prefix, sid)| match sid {
        Some(s) if !s.is_empty() && !is_sid(s, prefix) => Some((kind, s)),
        _ => None,
    })
}

/// Call statuses that are final: the call will not change again (notes §3.1).
pub const FINAL_STATUSES: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

/// Call statuses that may still change (`initiated` only ever appears in webhooks).
pub const TRANSIENT_STATUSES: [&str; 4] = ["queued", "initiated", "ringing", "in-progress"];

/// True for a final status, as Twilio or a webhook spells it.
pub fn is_final(status: &str) -> bool {
    FINAL_STATUSES.contains(&status)
}

/// What a `webhook_status` the application (or its receiver) wrote says, however it is
/// spelled (design.md, "Final is final, however it is spelled").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookStatus<'a> {
    /// NULL, or only blanks.
    Empty,
    /// One of Twilio's transient statuses: the call was still going when it was written.
    Transient(&'static str),
    /// One of Twilio's final statuses, in Twilio's spelling.
    Final(&'static str),
    /// Anything else: the application's own value, never overwritten.
    Other(&'a str),
}

impl<'a> HookStatus<'a> {
    /// The one normaliser: any case, `_` for `-`, surrounding blanks, and `cancelled`.
    pub fn read(text: Option<&'a str>) -> HookStatus<'a> {
        let Some(raw) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return HookStatus::Empty;
        };
        // Twilio's own spelling, the common case on every report row, without allocating.
        if let Some(s) = FINAL_STATUSES.iter().find(|s| **s == raw) {
            return HookStatus::Final(s);
        }
        if let Some(s) = TRANSIENT_STATUSES.iter().find(|s| **s == raw) {
            return HookStatus::Transient(s);
        }
        let folded = raw.to_ascii_lowercase().replace('_', "-");
        let folded = if folded == "cancelled" {
            "canceled"
        } else {
            folded.as_str()
        };
        if let Some(s) = FINAL_STATUSES.iter().find(|s| **s == folded) {
            HookStatus::Final(s)
        } else if let Some(s) = TRANSIENT_STATUSES.iter().find(|s| **s == folded) {
            HookStatus::Transient(s)
        } else {
            HookStatus::Other(raw)
        }
    }

    /// Whether write-back may fill it: empty, or a call still going.
    pub fn may_be_filled(self) -> bool {
        matches!(self, HookStatus::Empty | HookStatus::Transient(_))
    }

    /// The final status it names, in Twilio's spelling.
    pub fn final_status(self) -> Option<&'static str> {
        match self {
            HookStatus::Final(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's own example page (twilio-oai `readFullPage1`) decodes with every type intact.
    #[test]
    fn a_webhook_status_is_read_however_it_is_spelled() {
        use HookStatus::*;
        for (text, want) in [
            (None, Empty),
            (Some("  "), Empty),
            (Some("Completed"), Final("completed")),
            (Some("FAILED"), Final("failed")),
            (Some("no_answer"), Final("no-answer")),
            (Some("No-Answer "), Final("no-answer")),
            (Some("cancelled"), Final("canceled")),
            (Some("Busy"), Final("busy")),
            (Some("In_Progress"), Transient("in-progress")),
            (Some("RINGING"), Transient("ringing")),
            (Some("initiated"), Transient("initiated")),
            (Some("answered"), Other("answered")),
            (Some("done!"), Other("done!")),
        ] {
            assert_eq!(HookStatus::read(text), want, "{text:?}");
        }
        assert!(HookStatus::read(Some("queued")).may_be_filled());
        assert!(!HookStatus::read(Some("Completed")).may_be_filled());
        assert!(!HookStatus::read(Some("answered")).may_be_filled());
    }

    #[test]
    fn decodes_twilios_example_page() {
        let page: CallsPage =
            serde_json::from_str(include_str!("../../fixtures/calls_page.json")).unwrap();
        assert_eq!(page.calls.len(), 2);
        let call = &page.calls[0];
        assert_eq!(call.duration.as_deref(), Some("4"));
        assert_eq!(call.price.as_deref(), Some("-0.200"));
        assert_eq!(
            call.queue_time, None,
            "never read, so skipped when decoding"
        );
        assert_eq!(call.status, "completed");
        assert!(
            page.next_page_uri.is_none()
                || page
                    .next_page_uri
                    .as_deref()
                    .unwrap()
                    .starts_with("/2010-04-01/")
        );
    }

    #[test]
    fn decodes_error_bodies_and_tolerates_nulls() {
        let e: ErrorBody =
            serde_json::from_str(include_str!("../../fixtures/error_401.json")).unwrap();
        assert_eq!((e.code, e.status), (Some(20003), Some(401)));
        let c: Call = serde_json::from_str(
            r#"{"sid":"CA00000000000000000000000000000001","status":"no-answer","start_time":null,
                "end_time":null,"duration":null,"price":null,"unknown_future_field":1}"#,
        )
        .unwrap();
        assert_eq!((c.start_time, c.duration, c.price), (None, None, None));
    }
}
