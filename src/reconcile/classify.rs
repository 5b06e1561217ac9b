//! One ledger row's verdict: its outcome and the error code that explains it (design.md,
//! "Error codes" and "Outcomes"). A pure function of the row's facts, so every rule is a
//! unit test.

use crate::codes::{self, UNREACHABLE_CATEGORIES};
use crate::twilio::model::{HookStatus, is_final};

/// An error code found on Twilio's side (Monitor alert or call notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioCode {
    pub code: i64,
    /// Twilio's own text for it, used when the code is in none of callrecon's tables.
    pub text: Option<String>,
}

/// Everything known about one ledger row.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// Why the row cannot be read; such a row gets an empty outcome.
    pub problem: Option<&'a str>,
    /// Remarks gathered while matching (an unknown SID…).
    pub note: Option<&'a str>,
    /// False when `to_number` cannot be a valid phone number.
    pub to_valid: bool,
    pub create_error_code: Option<i64>,
    pub webhook_status: Option<&'a str>,
    pub webhook_error_code: Option<i64>,
    pub webhook_sip_code: Option<i64>,
    /// Twilio's status of the matched call, when there is one.
    pub call_status: Option<&'a str>,
    /// Seconds from `intended_at` to `now`.
    pub age_secs: i64,
    pub match_delay_secs: i64,
    /// Twilio-side codes, best first: alerts (ERROR before WARNING), then notifications.
    pub alert: Option<TwilioCode>,
    pub notification: Option<TwilioCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub outcome: &'static str,
    pub error_code: Option<i64>,
    pub error_category: Option<String>,
    pub error_message: String,
    pub error_source: &'static str,
    pub sip_response_code: Option<i64>,
}

/// The outcome names, in the order the summary lists them.
pub const OUTCOMES: [&str; 8] = [
    "completed",
    "busy",
    "no-answer",
    "failed",
    "unreachable",
    "canceled",
    "not-placed",
    "pending",
];

pub fn classify(f: &Facts) -> Verdict {
    let mut messages: Vec<String> = Vec::new();
    if let Some(problem) = f.problem {
        return Verdict {
            outcome: "",
            error_message: problem.to_owned(),
            error_source: "callrecon",
            sip_response_code: f.webhook_sip_code,
            ..Verdict::default()
        };
    }
    let mut v = Verdict {
        sip_response_code: f.webhook_sip_code,
        ..Verdict::default()
    };
    let usable = |c: Option<i64>| c.filter(|c| !codes::is_about_webhook(*c));
    let sip = f
        .webhook_sip_code
        .filter(|s| codes::sip_category(*s).is_some());
    let twilio = |c: &Option<TwilioCode>| c.clone().filter(|c| !codes::is_about_webhook(c.code));
    if let Some(code) = usable(f.create_error_code) {
        set_code(&mut v, &mut messages, code, None, "ledger");
    } else if let Some(code) = usable(f.webhook_error_code) {
        set_code(&mut v, &mut messages, code, None, "webhook");
    } else if let Some(sip) = sip {
        v.error_category = codes::sip_category(sip).map(str::to_owned);
        v.error_source = "webhook-sip";
        messages.push(format!("SIP {sip} {}", codes::sip_reason(sip)));
    } else if let Some(c) = twilio(&f.alert) {
        set_code(&mut v, &mut messages, c.code, c.text, "alert");
    } else if let Some(c) = twilio(&f.notification) {
        set_code(&mut v, &mut messages, c.code, c.text, "notification");
    } else if !f.to_valid {
        v.error_category = Some("invalid_format".to_owned());
        v.error_source = "callrecon";
        messages.push("to_number cannot be a valid phone number".to_owned());
    }
    let unreachable = v
        .error_category
        .as_deref()
        .is_some_and(|c| UNREACHABLE_CATEGORIES.contains(&c));
    v.outcome = match f.call_status {
        Some("completed") => "completed",
        Some("busy") => "busy",
        Some("no-answer") => "no-answer",
        Some("canceled") => "canceled",
        Some("failed") if unreachable => "unreachable",
        Some("failed") => "failed",
        Some(_) => "pending",
        None if f.create_error_code.is_some() || f.age_secs >= f.match_delay_secs => {
            if unreachable {
                "unreachable"
            } else {
                "not-placed"
            }
        }
        None => "pending",
    };
    if let Some(status) = f.call_status.filter(|s| is_final(s)) {
        match HookStatus::read(f.webhook_status) {
            HookStatus::Final(hook) if hook != status => {
                messages.push(format!("the webhook said {hook}, Twilio says {status}"));
            }
            HookStatus::Other(value) => messages.push(format!(
                "the ledger's webhook_status {value:?} is no status callrecon knows; left as it is"
            )),
            _ => {}
        }
    }
    if let Some(note) = f.note {
        messages.push(note.to_owned());
    }
    v.error_message = messages.join("; ");
    v
}

fn set_code(
    v: &mut Verdict,
    messages: &mut Vec<String>,
    code: i64,
    text: Option<String>,
    source: &'static str,
) {
    let info = codes::lookup(code);
    v.error_code = Some(code);
    v.error_category = Some(info.category);
    v.error_source = source;
    if let Some(m) = info.message.or(text) {
        messages.push(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts {
            to_valid: true,
            age_secs: 86_400,
            match_delay_secs: 3_600,
            ..Facts::default()
        }
    }

    #[test]
    fn twilio_status_gives_the_outcome() {
        for (status, outcome) in [
            ("completed", "completed"),
            ("busy", "busy"),
            ("no-answer", "no-answer"),
            ("failed", "failed"),
            ("canceled", "canceled"),
            ("ringing", "pending"),
            ("in-progress", "pending"),
            ("queued", "pending"),
        ] {
            let v = classify(&Facts {
                call_status: Some(status),
                ..facts()
            });
            assert_eq!(v.outcome, outcome, "{status}");
        }
    }

    #[test]
    fn rows_without_a_call_are_pending_then_not_placed_or_unreachable() {
        let young = Facts {
            age_secs: 600,
            ..facts()
        };
        assert_eq!(classify(&young).outcome, "pending");
        assert_eq!(classify(&facts()).outcome, "not-placed");
        let invalid = Facts {
            create_error_code: Some(21211),
            age_secs: 5,
            ..facts()
        };
        let v = classify(&invalid);
        assert_eq!(
            (v.outcome, v.error_code, v.error_source),
            ("unreachable", Some(21211), "ledger")
        );
        assert_eq!(v.error_category.as_deref(), Some("invalid_number"));
        let blocked = Facts {
            create_error_code: Some(21216),
            ..facts()
        };
        assert_eq!(classify(&blocked).outcome, "not-placed");
    }

    #[test]
    fn sources_win_in_the_contract_order() {
        let all = Facts {
            call_status: Some("failed"),
            create_error_code: Some(21214),
            webhook_error_code: Some(32009),
            webhook_sip_code: Some(404),
            alert: Some(TwilioCode {
                code: 13224,
                text: None,
            }),
            notification: Some(TwilioCode {
                code: 32011,
                text: None,
            }),
            ..facts()
        };
        assert_eq!(classify(&all).error_source, "ledger");
        let f = Facts {
            create_error_code: None,
            ..all.clone()
        };
        assert_eq!(
            (classify(&f).error_source, classify(&f).error_code),
            ("webhook", Some(32009))
        );
        let f = Facts {
            webhook_error_code: None,
            ..f
        };
        let v = classify(&f);
        assert_eq!(
            (v.error_source, v.error_code, v.outcome),
            ("webhook-sip", None, "unreachable")
        );
        assert_eq!(v.error_message, "SIP 404 Not Found");
        let f = Facts {
            webhook_sip_code: None,
            ..f
        };
        assert_eq!(classify(&f).error_source, "alert");
        let f = Facts { alert: None, ..f };
        let v = classify(&f);
        assert_eq!((v.error_source, v.outcome), ("notification", "failed"));
    }

    #[test]
    fn webhook_endpoint_codes_never_become_the_call_code() {
        let f = Facts {
            call_status: Some("failed"),
            webhook_error_code: Some(15003),
            alert: Some(TwilioCode {
                code: 11200,
                text: None,
            }),
            notification: Some(TwilioCode {
                code: 32016,
                text: None,
            }),
            ..facts()
        };
        let v = classify(&f);
        assert_eq!(
            (v.error_code, v.error_source),
            (Some(32016), "notification")
        );
    }

    #[test]
    fn sip_code_is_shown_whenever_the_ledger_has_one() {
        let f = Facts {
            call_status: Some("busy"),
            create_error_code: Some(21214),
            webhook_sip_code: Some(486),
            ..facts()
        };
        assert_eq!(classify(&f).sip_response_code, Some(486));
        let ok = Facts {
            call_status: Some("completed"),
            webhook_sip_code: Some(200),
            ..facts()
        };
        let v = classify(&ok);
        assert_eq!((v.sip_response_code, v.error_source), (Some(200), ""));
    }

    #[test]
    fn unknown_codes_keep_twilios_text() {
        let f = Facts {
            call_status: Some("failed"),
            alert: Some(TwilioCode {
                code: 64999,
                text: Some("Something new".into()),
            }),
            ..facts()
        };
        let v = classify(&f);
        assert_eq!(v.error_category.as_deref(), Some("unknown"));
        assert_eq!(v.error_message, "Something new");
    }

    #[test]
    fn an_impossible_number_is_invalid_format_and_unreachable() {
        let f = Facts {
            to_valid: false,
            ..facts()
        };
        let v = classify(&f);
        assert_eq!((v.outcome, v.error_source), ("unreachable", "callrecon"));
        assert_eq!(v.error_category.as_deref(), Some("invalid_format"));
    }

    #[test]
    fn disagreement_and_unreadable_rows_are_said() {
        let f = Facts {
            call_status: Some("completed"),
            webhook_status: Some("busy"),
            ..facts()
        };
        assert_eq!(
            classify(&f).error_message,
            "the webhook said busy, Twilio says completed"
        );
        let stale = Facts {
            call_status: Some("completed"),
            webhook_status: Some("ringing"),
            ..facts()
        };
        assert_eq!(classify(&stale).error_message, "");
        let spelled = Facts {
            call_status: Some("completed"),
            webhook_status: Some("Completed"),
            ..facts()
        };
        assert_eq!(classify(&spelled).error_message, "");
        let odd = Facts {
            call_status: Some("completed"),
            webhook_status: Some("answered"),
            ..facts()
        };
        assert!(
            classify(&odd)
                .error_message
                .contains("\"answered\" is no status")
        );
        let bad = Facts {
            problem: Some("to_number is empty"),
            ..facts()
        };
        let v = classify(&bad);
        assert_eq!(
            (v.outcome, v.error_source, v.error_message.as_str()),
            ("", "callrecon", "to_number is empty")
        );
    }
}
