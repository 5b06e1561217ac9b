//! Twilio error codes: their category and meaning, from tables compiled into the binary.
//!
//! `data/voice-error-categories.csv` groups the voice codes that say why a call did not connect
//! (invalid_number, unreachable, blocked_permission, carrier_network, busy, declined,
//! no_answer, account_limit); `data/twilio-error-codes-voice.csv` is Twilio's dictionary of
//! voice-related codes, for the text of codes without a category. SIP response codes from
//! StatusCallbacks map to the same category names by RFC 3261 meaning (notes §6).

use std::collections::HashMap;
use std::sync::OnceLock;

const CATEGORIES_CSV: &str = include_str!("../data/voice-error-categories.csv");
const DICTIONARY_CSV: &str = include_str!("../data/twilio-error-codes-voice.csv");

/// Category of a code that is in neither table's category column.
pub const UNKNOWN: &str = "unknown";

/// Categories that make a failed or never-placed call `unreachable` (design.md, "Outcomes").
pub const UNREACHABLE_CATEGORIES: [&str; 3] = ["invalid_number", "invalid_format", "unreachable"];

struct Tables {
    categories: HashMap<i64, (String, String)>,
    messages: HashMap<i64, String>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut categories = HashMap::new();
        for row in csv::Reader::from_reader(CATEGORIES_CSV.as_bytes())
            .records()
            .flatten()
        {
            if let (Some(Ok(code)), Some(cat), Some(msg)) =
                (row.get(0).map(str::parse), row.get(1), row.get(2))
            {
                categories.insert(code, (cat.to_owned(), msg.to_owned()));
            }
        }
        let mut messages = HashMap::new();
        for row in csv::Reader::from_reader(DICTIONARY_CSV.as_bytes())
            .records()
            .flatten()
        {
            if let (Some(Ok(code)), Some(msg)) = (row.get(0).map(str::parse), row.get(3)) {
                messages.insert(code, msg.to_owned());
            }
        }
        Tables {
            categories,
            messages,
        }
    })
}

/// Category and text of a Twilio error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    pub category: String,
    pub message: Option<String>,
}

/// Looks a code up; a code in neither table is `unknown` with no text.
pub fn lookup(code: i64) -> CodeInfo {
    let t = tables();
    match t.categories.get(&code) {
        Some((category, message)) => CodeInfo {
            category: category.clone(),
            message: Some(message.clone()),
        },
        None => CodeInfo {
            category: UNKNOWN.to_owned(),
            message: t.messages.get(&code).cloned(),
        },
    }
}

/// Codes about the application's own webhook endpoint ("could not deliver the callback"):
/// they describe the application, never why a call failed, so they are never a call's code.
pub fn is_about_webhook(code: i64) -> bool {
    code == 15003 || (11200..=11299).contains(&code)
}

/// Category of a SIP final response from a StatusCallback's `SipResponseCode`; `None` for a
/// success (2xx) or something that is not a SIP final response.
pub fn sip_category(sip: i64) -> Option<&'static str> {
    Some(match sip {
        404 | 484 | 604 => "invalid_number",
        480 => "unreachable",
        486 | 600 => "busy",
        603 => "declined",
        408 | 487 => "no_answer",
        403 => "blocked_permission",
        500..=599 => "carrier_network",
        300..=699 => UNKNOWN,
        _ => return None,
    })
}

/// RFC 3261's reason phrase, for the report's `error_message`.
pub fn sip_reason(sip: i64) -> &'static str {
    match sip {
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => "SIP error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_categorised_code_loads() {
        assert_eq!(tables().categories.len(), 50);
        assert_eq!(lookup(21211).category, "invalid_number");
        // An unverified caller ID is refused by an account setting (README, categories).
        assert_eq!(lookup(13214).category, "blocked_permission");
        assert_eq!(lookup(21214).category, "unreachable");
        assert_eq!(lookup(31486).category, "busy");
        assert_eq!(
            lookup(21211).message.as_deref(),
            Some("Invalid 'To' Phone Number")
        );
    }

    #[test]
    fn uncategorised_codes_are_unknown_with_twilio_text_where_known() {
        let info = lookup(10001);
        assert_eq!(info.category, UNKNOWN);
        assert_eq!(info.message.as_deref(), Some("Account is not active"));
        assert_eq!(
            lookup(99999),
            CodeInfo {
                category: UNKNOWN.into(),
                message: None
            }
        );
    }

    #[test]
    fn webhook_codes_and_sip_codes() {
        assert!(is_about_webhook(15003));
        assert!(is_about_webhook(11200));
        assert!(!is_about_webhook(13224));
        assert_eq!(sip_category(486), Some("busy"));
        assert_eq!(sip_category(503), Some("carrier_network"));
        assert_eq!(sip_category(410), Some(UNKNOWN));
        assert_eq!(sip_category(200), None);
    }
}
