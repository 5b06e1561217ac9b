//! Property tests ("Never lose a night", item 5): everything callrecon reads from Twilio, from
//! the ledger or from the command line is other people's data, so no parser or decoder may
//! panic on any input; the ones with an inverse must round-trip.
//!
//! Failures are not persisted (`failure_persistence: None`): proptest would otherwise write a
//! `proptest-regressions` folder beside this file. A failure prints its minimal input instead.

use callrecon::cli::parse_duration;
use callrecon::ledger::{self, COLUMNS};
use callrecon::phone::Normalizer;
use callrecon::reconcile::classify::{Facts, OUTCOMES, TwilioCode, classify};
use callrecon::store::{OpenMode, Store};
use callrecon::timefmt::{
    format_rfc2822, format_utc, parse_bound, parse_day, parse_intended_at, parse_rfc2822,
};
use callrecon::twilio::ApiError;
use callrecon::twilio::model::{
    Alert, AlertsPage, Call, CallsPage, ErrorBody, Notification, NotificationsPage, PageMeta,
};
use callrecon::twilio::retry::{Decision, MAX_RETRY_AFTER, RetryPolicy, parse_retry_after};
use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseResult, TestRunner};
use rusqlite::types::Value as SqlValue;
use serde_json::Value as Json;
use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

const CALLS_PAGE: &[u8] = include_bytes!("../../fixtures/calls_page.json");
const ERROR_401: &[u8] = include_bytes!("../../fixtures/error_401.json");

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs a property that needs state shared across cases (an open database).
fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult) {
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Whole seconds from 1970-01-01 to the last second of 2200.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let last = Utc
        .with_ymd_and_hms(2200, 12, 31, 23, 59, 59)
        .unwrap()
        .timestamp();
    (0..=last).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

/// Like [`instant`], with a fraction of a second.
fn precise_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (instant(), 0u32..1_000_000_000)
        .prop_map(|(t, ns)| t + chrono::Duration::nanoseconds(ns.into()))
}

/// Strings that are almost Twilio dates: right shape, wrong parts, or a real one mangled.
fn near_miss_rfc2822() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z]{0,4}, [0-9]{0,3} [A-Za-z]{0,4} [0-9]{0,5} [0-9:]{0,9} [+-]?[0-9]{0,5}",
        "((Mon|Tue|Wed|Thu|Fri|Sat|Sun|Xyz),? ?)?[0-9]{1,3} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Foo) [0-9]{1,6} [0-9]{1,3}:[0-9]{1,3}(:[0-9]{1,3})? ?([+-][0-9]{1,5}|GMT|UT|[ECMP][SD]T|[A-Za-z]{1,3})?",
        (instant(), any::<prop::sample::Index>(), any::<char>()).prop_map(|(t, i, c)| {
            let mut chars: Vec<char> = format_rfc2822(t).chars().collect();
            let i = i.index(chars.len());
            chars[i] = c;
            chars.into_iter().collect()
        }),
        (instant(), any::<prop::sample::Index>()).prop_map(|(t, i)| {
            let s = format_rfc2822(t);
            s[..i.index(s.len() + 1)].to_owned()
        }),
    ]
}

/// Almost RFC 3339 / SQLite times.
fn near_miss_iso() -> impl Strategy<Value = String> {
    "[+-]?[0-9]{0,6}-[0-9]{0,3}-[0-9]{0,3}[Tt ]?[0-9]{0,3}:[0-9]{0,3}(:[0-9]{0,3})?(\\.[0-9]{0,12})?(Z|z|[+-][0-9]{0,3}:?[0-9]{0,3})?"
}

/// Any text a parser of ours could be handed: arbitrary unicode and every near-miss family.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        // Durations and delta-seconds, including ones too large for any type.
        "[ ]?[+-]?[0-9]{1,25}[smhdw ]?",
        near_miss_iso(),
        near_miss_rfc2822(),
    ]
}

fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(Json::Number),
        "\\PC{0,12}".prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Json::Array),
            btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

const CALL_FIELDS: [&str; 26] = [
    "account_sid",
    "answered_by",
    "api_version",
    "caller_name",
    "date_created",
    "date_updated",
    "direction",
    "duration",
    "end_time",
    "forwarded_from",
    "from",
    "from_formatted",
    "group_sid",
    "parent_call_sid",
    "phone_number_sid",
    "price",
    "price_unit",
    "sid",
    "start_time",
    "status",
    "subresource_uris",
    "to",
    "to_formatted",
    "trunk_sid",
    "uri",
    "queue_time",
];
const PAGE_FIELDS: [&str; 8] = [
    "end",
    "first_page_uri",
    "next_page_uri",
    "page",
    "page_size",
    "previous_page_uri",
    "start",
    "uri",
];
const NOTIFICATION_FIELDS: [&str; 14] = [
    "account_sid",
    "api_version",
    "call_sid",
    "date_created",
    "date_updated",
    "error_code",
    "log",
    "message_date",
    "message_text",
    "more_info",
    "request_method",
    "request_url",
    "sid",
    "uri",
];
const ALERT_FIELDS: [&str; 15] = [
    "account_sid",
    "alert_text",
    "api_version",
    "date_created",
    "date_generated",
    "date_updated",
    "error_code",
    "log_level",
    "more_info",
    "request_method",
    "request_url",
    "resource_sid",
    "sid",
    "url",
    "service_sid",
];
const META_FIELDS: [&str; 7] = [
    "first_page_url",
    "key",
    "next_page_url",
    "page",
    "page_size",
    "previous_page_url",
    "url",
];
const ERROR_FIELDS: [&str; 5] = ["code", "message", "more_info", "status", "detail"];

/// An object with a type's own field names, each absent, null, a string or any JSON at all.
fn object_of(fields: &'static [&'static str]) -> BoxedStrategy<Json> {
    let value = prop_oneof![
        1 => Just(None),
        2 => Just(Some(Json::Null)),
        2 => "\\PC{0,8}".prop_map(|s| Some(Json::from(s))),
        3 => json_value().prop_map(Some),
    ];
    vec(value, fields.len())
        .prop_map(move |values| {
            Json::Object(
                fields
                    .iter()
                    .zip(values)
                    .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v)))
                    .collect(),
            )
        })
        .boxed()
}

/// `object_of(fields)` plus a list field holding objects shaped like `items` (or anything).
fn envelope(
    fields: &'static [&'static str],
    list: &'static str,
    items: &'static [&'static str],
) -> impl Strategy<Value = Json> {
    let list_value = prop_oneof![
        3 => vec(object_of(items), 0..3).prop_map(Json::Array),
        1 => json_value(),
    ];
    (object_of(fields), prop::option::of(list_value)).prop_map(move |(mut obj, list_value)| {
        if let (Json::Object(map), Some(v)) = (&mut obj, list_value) {
            map.insert(list.to_owned(), v);
        }
        obj
    })
}

/// Pages and resources with their real field names and wrong types in them.
fn shaped_json() -> impl Strategy<Value = Json> {
    let alerts_page = (
        envelope(&[], "alerts", &ALERT_FIELDS),
        object_of(&META_FIELDS),
    )
        .prop_map(|(mut obj, meta)| {
            if let Json::Object(map) = &mut obj {
                map.insert("meta".to_owned(), meta);
            }
            obj
        });
    prop_oneof![
        envelope(&PAGE_FIELDS, "calls", &CALL_FIELDS),
        envelope(&PAGE_FIELDS, "notifications", &NOTIFICATION_FIELDS),
        alerts_page,
        object_of(&CALL_FIELDS),
        object_of(&ERROR_FIELDS),
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(any::<String>())
}

/// A Call with every field arbitrary (the 23 optional strings in declaration order).
fn call() -> impl Strategy<Value = Call> {
    (
        vec(opt_text(), 23),
        any::<String>(),
        any::<String>(),
        prop::option::of(btree_map(any::<String>(), any::<String>(), 0..3)),
    )
        .prop_map(|(fields, sid, status, subresource_uris)| {
            let mut fields = fields.into_iter();
            let mut next = || fields.next().unwrap();
            Call {
                account_sid: next(),
                answered_by: next(),
                api_version: next(),
                caller_name: next(),
                date_created: next(),
                date_updated: next(),
                direction: next(),
                duration: next(),
                end_time: next(),
                forwarded_from: next(),
                from: next(),
                from_formatted: next(),
                group_sid: next(),
                parent_call_sid: next(),
                phone_number_sid: next(),
                price: next(),
                price_unit: next(),
                sid,
                start_time: next(),
                status,
                subresource_uris,
                to: next(),
                to_formatted: next(),
                trunk_sid: next(),
                uri: next(),
                queue_time: next(),
            }
        })
}

fn calls_page() -> impl Strategy<Value = CallsPage> {
    (
        vec(call(), 0..4),
        vec(any::<Option<i64>>(), 4),
        vec(opt_text(), 4),
    )
        .prop_map(|(calls, n, t)| CallsPage {
            calls,
            end: n[0],
            first_page_uri: t[0].clone(),
            next_page_uri: t[1].clone(),
            page: n[1],
            page_size: n[2],
            previous_page_uri: t[2].clone(),
            start: n[3],
            uri: t[3].clone(),
        })
}

fn same_page(a: &CallsPage, b: &CallsPage) -> bool {
    a.calls.len() == b.calls.len()
        && a.calls
            .iter()
            .zip(&b.calls)
            .all(|(a, b)| a.as_decoded() == *b)
        && a.end == b.end
        && a.first_page_uri == b.first_page_uri
        && a.next_page_uri == b.next_page_uri
        && a.page == b.page
        && a.page_size == b.page_size
        && a.previous_page_uri == b.previous_page_uri
        && a.start == b.start
        && a.uri == b.uri
}

/// Decodes `bytes` as every wire type; any of them may refuse, none may panic.
fn decode_all(bytes: &[u8]) {
    let _ = serde_json::from_slice::<CallsPage>(bytes);
    let _ = serde_json::from_slice::<AlertsPage>(bytes);
    let _ = serde_json::from_slice::<NotificationsPage>(bytes);
    let _ = serde_json::from_slice::<Call>(bytes);
    let _ = serde_json::from_slice::<ErrorBody>(bytes);
}

/// Phone numbers as ledgers and Twilio spell them, and not.
fn phoneish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[+]?[0-9 ()\\-.]{0,24}",
        "\\+[0-9]{1,18}",
        "[+]?1?[ -]?\\(?[2-9][0-9]{2}\\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}( ?(x|ext\\.?|#|;ext=) ?[0-9]{1,6})?",
        "(\\+44|0|00 ?44)[ ]?[0-9]{2,4}[ ]?[0-9]{3,4}[ ]?[0-9]{3,4}",
        "(tel:)?[+0-9a-zA-Z ;=:@.*#-]{0,24}",
        "(sip:|SIP:|client:|sim:)?\\PC{0,16}",
        "[+]?[0-9\u{ff10}-\u{ff19}\u{0660}-\u{0669} ]{1,16}",
    ]
}

/// The address test `phone.rs` applies, on the key (an address's key is its trimmed text).
fn is_address(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.starts_with("sip:")
        || lower.starts_with("client:")
        || lower.starts_with("sim:")
        || key.contains('@')
}

pub(crate) fn sql_value() -> impl Strategy<Value = SqlValue> {
    prop_oneof![
        Just(SqlValue::Null),
        any::<i64>().prop_map(SqlValue::Integer),
        any::<f64>().prop_map(SqlValue::Real),
        select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            1e15,
            -1e15,
            999_999_999_999_999.0,
            9.223_372_036_854_776e18,
            -9.223_372_036_854_776e18,
            f64::MAX,
            f64::MIN_POSITIVE,
        ])
        .prop_map(SqlValue::Real),
        any::<String>().prop_map(SqlValue::Text),
        "[ \t]{0,2}[+-]?[0-9]{0,21}(\\.[0-9]{0,3})?[ \t]{0,2}".prop_map(SqlValue::Text),
        vec(any::<u8>(), 0..16).prop_map(SqlValue::Blob),
    ]
}

/// A CSV cell for an INTEGER column: mostly integers, sometimes empty or not a number.
fn int_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => (0i64..2000).prop_map(|n| n.to_string()),
        4 => any::<i64>().prop_map(|n| format!(" {n} ")),
        3 => Just(String::new()),
        2 => select(vec![" ", "+7", "-0", "1.5", "1e3", "9223372036854775808", "0x10"])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn text_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ ,\"\r\n;a-z0-9+:-]{0,12}",
        Just(String::new()),
    ]
}

/// A ledger CSV line: the contract's ten cells (rarely nine or eleven), or raw bytes.
#[derive(Debug, Clone)]
enum CsvLine {
    Cells(Vec<String>),
    Raw(Vec<u8>),
}

const INT_COLUMNS: [usize; 4] = [0, 6, 8, 9];

fn csv_line() -> impl Strategy<Value = CsvLine> {
    let cells: Vec<BoxedStrategy<String>> = (0..COLUMNS.len())
        .map(|i| {
            if INT_COLUMNS.contains(&i) {
                int_cell().boxed()
            } else {
                text_cell().boxed()
            }
        })
        .collect();
    prop_oneof![
        20 => cells.clone().prop_map(CsvLine::Cells),
        1 => cells.clone().prop_map(|mut c| {
            c.pop();
            CsvLine::Cells(c)
        }),
        1 => (cells, text_cell()).prop_map(|(mut c, extra)| {
            c.push(extra);
            CsvLine::Cells(c)
        }),
        1 => vec(any::<u8>(), 0..24).prop_map(CsvLine::Raw),
    ]
}

/// Whether `import_csv` must accept these lines (no raw line among them).
fn csv_is_valid(lines: &[CsvLine]) -> Option<bool> {
    let int_ok = |s: &str| s.trim().is_empty() || s.trim().parse::<i64>().is_ok();
    let mut valid = true;
    for line in lines {
        match line {
            CsvLine::Raw(_) => return None,
            CsvLine::Cells(c) => {
                valid &= c.len() == COLUMNS.len()
                    && !c[0].trim().is_empty()
                    && INT_COLUMNS.iter().all(|&i| int_ok(&c[i]));
            }
        }
    }
    Some(valid)
}

fn write_csv(path: &Path, lines: &[CsvLine]) {
    let mut out = Vec::new();
    {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(&mut out);
        w.write_record(COLUMNS).unwrap();
        w.flush().unwrap();
    }
    for line in lines {
        match line {
            CsvLine::Cells(cells) => {
                let mut w = csv::WriterBuilder::new()
                    .flexible(true)
                    .from_writer(&mut out);
                w.write_record(cells).unwrap();
                w.flush().unwrap();
            }
            CsvLine::Raw(bytes) => {
                out.extend_from_slice(bytes);
                out.push(b'\n');
            }
        }
    }
    std::fs::write(path, out).unwrap();
}

/// Twilio error codes: anything, and the neighbourhoods the tables care about.
fn code() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        select(vec![
            i64::MIN,
            i64::MAX,
            -1,
            0,
            15003,
            21211,
            21214,
            21216,
            32009,
            32011,
            64999
        ]),
        11190i64..11310,
        10000i64..70000,
        0i64..1000,
    ]
}

fn status() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "completed",
            "busy",
            "no-answer",
            "failed",
            "canceled",
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "",
            "COMPLETED",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

#[derive(Debug, Clone)]
struct OwnedFacts {
    problem: Option<String>,
    note: Option<String>,
    to_valid: bool,
    create_error_code: Option<i64>,
    webhook_status: Option<String>,
    webhook_error_code: Option<i64>,
    webhook_sip_code: Option<i64>,
    call_status: Option<String>,
    age_secs: i64,
    match_delay_secs: i64,
    alert: Option<TwilioCode>,
    notification: Option<TwilioCode>,
}

fn owned_facts() -> impl Strategy<Value = OwnedFacts> {
    let twilio_code = || {
        prop::option::of((code(), opt_text()).prop_map(|(code, text)| TwilioCode { code, text }))
    };
    let sip = prop_oneof![code(), 100i64..800];
    (
        (
            prop::option::weighted(0.1, any::<String>()),
            opt_text(),
            any::<bool>(),
        ),
        (
            prop::option::of(code()),
            prop::option::of(status()),
            prop::option::of(code()),
            prop::option::of(sip),
            prop::option::of(status()),
        ),
        (any::<i64>(), any::<i64>(), twilio_code(), twilio_code()),
    )
        .prop_map(
            |(
                (problem, note, to_valid),
                (
                    create_error_code,
                    webhook_status,
                    webhook_error_code,
                    webhook_sip_code,
                    call_status,
                ),
                (age_secs, match_delay_secs, alert, notification),
            )| OwnedFacts {
                problem,
                note,
                to_valid,
                create_error_code,
                webhook_status,
                webhook_error_code,
                webhook_sip_code,
                call_status,
                age_secs,
                match_delay_secs,
                alert,
                notification,
            },
        )
}

fn api_error() -> impl Strategy<Value = ApiError> {
    (
        0u8..4,
        any::<u16>(),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<u64>().prop_map(Duration::from_secs)),
    )
        .prop_map(|(kind, status, code, retry_after)| {
            let url = "/x".to_owned();
            match kind {
                0 => ApiError::Status {
                    status,
                    code,
                    message: None,
                    retry_after,
                    url,
                },
                1 => ApiError::Transport {
                    url,
                    reason: "reset".into(),
                },
                2 => ApiError::Decode {
                    url,
                    reason: "eof".into(),
                },
                _ => ApiError::PageLoop { url },
            }
        })
}

fn retry_policy() -> impl Strategy<Value = RetryPolicy> {
    let day = 86_400_000u64;
    prop_oneof![
        Just(RetryPolicy::default()),
        (0u32..20, 0..day, 0..day, 0..day).prop_map(|(max_attempts, base, cap, total)| {
            RetryPolicy {
                max_attempts,
                base: Duration::from_millis(base),
                cap: Duration::from_millis(cap),
                max_total_wait: Duration::from_millis(total),
            }
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config(512))]

    /// Guards against a Twilio date (or anything in its place) panicking the RFC 2822 parser.
    #[test]
    fn rfc2822_parser_never_panics(text in prop_oneof![any::<String>(), "\\PC{0,40}", near_miss_rfc2822()]) {
        let _ = parse_rfc2822(&text);
    }

    /// Guards against landing a different instant than the one Twilio wrote.
    #[test]
    fn rfc2822_round_trips(t in instant()) {
        let text = format_rfc2822(t);
        prop_assert_eq!(parse_rfc2822(&text), Some(t), "{}", text);
    }

    /// Guards against a ledger `intended_at` panicking its parser.
    #[test]
    fn intended_at_parser_never_panics(text in any_text()) {
        let _ = parse_intended_at(&text);
    }

    /// Guards against RFC 3339 times with an offset (or `Z`, or a space for `T`) being read
    /// as another instant.
    #[test]
    fn intended_at_reads_every_offset(
        t in precise_instant(),
        minutes in -840i32..=840,
        use_z in any::<bool>(),
        space in any::<bool>(),
    ) {
        let offset = FixedOffset::east_opt(minutes * 60).unwrap();
        let mut text = t.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::AutoSi, use_z);
        if space {
            text = text.replacen('T', " ", 1);
        }
        prop_assert_eq!(parse_intended_at(&text), Some(t), "{}", text);
    }

    /// Guards against SQLite's own `datetime('now')` form not being read as UTC.
    #[test]
    fn intended_at_reads_sqlite_times_as_utc(t in instant(), millis in prop::option::of(0u32..1000)) {
        let mut text = t.format("%Y-%m-%d %H:%M:%S").to_string();
        let mut want = t;
        if let Some(ms) = millis {
            text.push_str(&format!(".{ms:03}"));
            want += chrono::Duration::milliseconds(ms.into());
        }
        prop_assert_eq!(parse_intended_at(&text), Some(want), "{}", text);
    }

    /// Guards against a `--from`/`--to`/`--now` value panicking instead of exiting 2.
    #[test]
    fn bound_parser_never_panics(text in any_text()) {
        if let Ok(t) = parse_bound(&text) {
            prop_assert_eq!(parse_bound(&format_utc(t)), Ok(t));
        }
    }

    /// Guards against a `--day` value panicking instead of exiting 2.
    #[test]
    fn day_parser_never_panics(text in any_text()) {
        let _ = parse_day(&text);
    }

    /// Guards against a `--match-delay`/`--followup-max-age` value panicking instead of exiting 2.
    #[test]
    fn duration_parser_never_panics(text in any_text()) {
        let _ = parse_duration(&text);
    }

    /// Guards against a proxy's `Retry-After` header panicking the client.
    #[test]
    fn retry_after_parser_never_panics(
        text in any_text(),
        now in (DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp())
            .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
    ) {
        let got = parse_retry_after(&text, now);
        if let Ok(secs) = text.trim().parse::<u64>() {
            prop_assert_eq!(got, Some(Duration::from_secs(secs)));
        }
    }

    /// Guards against a retry schedule that panics, outlives its budget or retries a final error.
    #[test]
    fn retry_decisions_stay_within_budget(
        policy in retry_policy(),
        err in api_error(),
        attempts in 1u32..64,
        waited_share in 0.0f64..=1.0,
        jitter in 0.0f64..1.0,
    ) {
        let waited = policy.max_total_wait.mul_f64(waited_share);
        if let Decision::Retry(delay) = policy.decide(&err, attempts, waited, jitter) {
            prop_assert!(err.is_transient());
            prop_assert!(attempts < policy.max_attempts);
            prop_assert!(delay <= policy.cap.max(MAX_RETRY_AFTER));
            prop_assert!(waited + delay <= policy.max_total_wait);
        }
    }

    /// Guards against a garbled response body panicking the decoder instead of being retried.
    #[test]
    fn decoders_never_panic_on_bytes(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..256),
            any::<String>().prop_map(String::into_bytes),
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| {
                let mut page = CALLS_PAGE.to_vec();
                let i = i.index(page.len());
                page[i] = b;
                page
            }),
        ]
    ) {
        decode_all(&bytes);
    }

    /// Guards against a body with the right field names and wrong types (numbers for strings,
    /// nulls everywhere, objects for lists) panicking the decoder.
    #[test]
    fn decoders_never_panic_on_wrong_types(value in shaped_json()) {
        decode_all(&serde_json::to_vec(&value).unwrap());
    }

    /// Guards against a page the simulator serves decoding to something else in the client.
    #[test]
    fn calls_pages_round_trip(page in calls_page()) {
        let bytes = serde_json::to_vec(&page).unwrap();
        let back: CallsPage = serde_json::from_slice(&bytes).map_err(fail)?;
        prop_assert!(same_page(&page, &back), "{:?}\n{:?}", page, back);
    }

    /// Guards against a phone number panicking libphonenumber (landing or ledger reading),
    /// keys that change when normalised again, and "valid" keys that are not E.164.
    #[test]
    fn normalizer_is_total_idempotent_and_e164(
        raw in phoneish(),
        region in select(vec![Some("US"), Some("GB"), None]),
    ) {
        let got = Normalizer::new(region).unwrap().normalize(&raw);
        if got.valid && !is_address(&got.key) {
            let digits = got.key.strip_prefix('+');
            prop_assert!(
                digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
                "{:?} -> {:?}", raw, got
            );
        }
        if got.valid && got.key.starts_with('+') {
            let again = Normalizer::new(region).unwrap().normalize(&got.key);
            prop_assert_eq!(&again.key, &got.key, "{:?}", raw);
            prop_assert!(again.valid, "{:?} -> {:?} -> {:?}", raw, got, again);
        }
    }

    /// Guards against an odd value in an INTEGER ledger column panicking the row reader.
    #[test]
    fn int_value_never_panics(value in sql_value()) {
        let got = ledger::int_value(value.clone());
        match value {
            SqlValue::Null => prop_assert_eq!(got, Ok(None)),
            SqlValue::Integer(n) => prop_assert_eq!(got, Ok(Some(n))),
            SqlValue::Real(f) if !f.is_finite() => prop_assert!(got.is_err()),
            SqlValue::Real(f) => {
                if let Ok(Some(n)) = got {
                    prop_assert_eq!(n as f64, f);
                }
            }
            SqlValue::Text(s) => match s.trim().parse::<i64>() {
                Ok(n) => prop_assert_eq!(got, Ok(Some(n))),
                Err(_) if s.trim().is_empty() => prop_assert_eq!(got, Ok(None)),
                Err(_) => prop_assert_eq!(got, Err(s)),
            },
            SqlValue::Blob(_) => prop_assert!(got.is_err()),
        }
    }

    /// Guards against a ledger row's facts panicking the verdict or yielding an outcome
    /// outside the contract's eight.
    #[test]
    fn classify_is_total(f in owned_facts()) {
        let facts = Facts {
            problem: f.problem.as_deref(),
            note: f.note.as_deref(),
            to_valid: f.to_valid,
            create_error_code: f.create_error_code,
            webhook_status: f.webhook_status.as_deref(),
            webhook_error_code: f.webhook_error_code,
            webhook_sip_code: f.webhook_sip_code,
            call_status: f.call_status.as_deref(),
            age_secs: f.age_secs,
            match_delay_secs: f.match_delay_secs,
            alert: f.alert.clone(),
            notification: f.notification.clone(),
        };
        let v = classify(&facts);
        if f.problem.is_some() {
            prop_assert_eq!(v.outcome, "");
        } else {
            prop_assert!(OUTCOMES.contains(&v.outcome), "{:?}", v);
        }
        prop_assert!(
            ["", "ledger", "webhook", "webhook-sip", "alert", "notification", "callrecon"]
                .contains(&v.error_source),
            "{:?}", v
        );
        prop_assert_eq!(v.sip_response_code, f.webhook_sip_code);
    }
}

/// Guards against a response cut off mid-body panicking the decoder or decoding as a page.
#[test]
fn truncated_pages_never_panic_and_never_decode() {
    let alerts = serde_json::to_vec(&AlertsPage {
        alerts: vec![Alert {
            sid: Some("NO1".into()),
            alert_text: Some("Msg=x".into()),
            ..Alert::default()
        }],
        meta: PageMeta {
            next_page_url: Some("https://monitor.twilio.com/v1/Alerts?Page=1".into()),
            ..PageMeta::default()
        },
    })
    .unwrap();
    let notifications = serde_json::to_vec(&NotificationsPage {
        notifications: vec![Notification {
            sid: Some("NO1".into()),
            log: Some("0".into()),
            ..Notification::default()
        }],
        ..NotificationsPage::default()
    })
    .unwrap();
    for body in [CALLS_PAGE, &alerts, &notifications, ERROR_401] {
        for len in 0..=body.len() {
            decode_all(&body[..len]);
        }
    }
    for len in 0..CALLS_PAGE.len() {
        let whole = CALLS_PAGE[len..].iter().all(u8::is_ascii_whitespace);
        assert_eq!(
            serde_json::from_slice::<CallsPage>(&CALLS_PAGE[..len]).is_ok(),
            whole,
            "cut at {len}"
        );
    }
    assert!(serde_json::from_slice::<CallsPage>(CALLS_PAGE).is_ok());
}

/// Guards against a deeply nested body overflowing the stack (an abort, not a panic).
#[test]
fn deep_nesting_is_refused() {
    for open in [b'[', b'{'] {
        let mut body = b"{\"calls\":".to_vec();
        body.extend(std::iter::repeat_n(open, 100_000));
        decode_all(&body);
    }
}

fn open_store(dir: &tempfile::TempDir) -> RefCell<Store> {
    RefCell::new(Store::open(&dir.path().join("ledger.db"), OpenMode::CreateIfMissing).unwrap())
}

/// Lands one alert with `text` and reads back what `message_of` made of it.
fn land_alert_text(store: &RefCell<Store>, text: &str) -> Result<Option<String>, TestCaseError> {
    let mut store = store.borrow_mut();
    let alert = Alert {
        sid: Some("NO1".into()),
        alert_text: Some(text.to_owned()),
        ..Alert::default()
    };
    store.land_alerts(&[alert], 0).map_err(fail)?;
    store
        .conn
        .query_row("SELECT text FROM recon_alerts WHERE sid = 'NO1'", [], |r| {
            r.get(0)
        })
        .map_err(fail)
}

/// Guards against an alert's or notification's text panicking `message_of` while landing.
#[test]
fn message_of_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let text = prop_oneof![
        any::<String>(),
        "([A-Za-z%+]{0,5}=?[A-Za-z0-9%+ ]{0,6}&?){0,4}",
        "\\PC{0,30}",
    ];
    run(256, text, |text| {
        let got = land_alert_text(&store, &text)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            prop_assert_eq!(got, None);
        } else if !trimmed.contains('=') {
            prop_assert_eq!(got.as_deref(), Some(trimmed));
        } else {
            prop_assert!(got.is_some_and(|m| !m.trim().is_empty()));
        }
        Ok(())
    });
}

/// Guards against Twilio's URL-encoded `Msg=` losing or mangling the message it carries.
#[test]
fn message_of_decodes_msg() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let pair = (
        "[A-Za-z_]{0,6}".prop_filter("not Msg", |k| k != "Msg"),
        any::<String>(),
    );
    let strategy = (
        vec(pair.clone(), 0..3),
        any::<bool>(),
        any::<String>().prop_filter("a message", |m| !m.trim().is_empty()),
        vec(pair, 0..3),
    );
    run(256, strategy, |(before, blank_msg_first, msg, after)| {
        let mut text = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &before {
            text.append_pair(k, v);
        }
        if blank_msg_first {
            text.append_pair("Msg", " ");
        }
        text.append_pair("Msg", &msg);
        for (k, v) in &after {
            text.append_pair(k, v);
        }
        let text = text.finish();
        let got = land_alert_text(&store, &text)?;
        prop_assert_eq!(got.as_deref(), Some(msg.trim()), "{}", text);
        Ok(())
    });
}

/// Guards against a page of odd calls panicking the landing (normaliser, date parser, SQLite).
#[test]
fn landing_arbitrary_calls_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let calls = vec(call(), 0..4);
    run(64, calls, |calls| {
        let mut store = store.borrow_mut();
        let mut numbers = Normalizer::new(Some("US")).unwrap();
        let landed = store.land_calls(&calls, &mut numbers, 0).map_err(fail)?;
        prop_assert_eq!(landed, calls.len());
        Ok(())
    });
}

/// Guards against a bad ledger CSV panicking the import or half-importing it.
#[test]
fn ledger_import_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let csv_path = dir.path().join("ledger.csv");
    let count = |store: &Store| -> i64 {
        store
            .conn
            .query_row("SELECT count(*) FROM intended_calls", [], |r| r.get(0))
            .unwrap()
    };
    run(128, vec(csv_line(), 0..6), |lines| {
        let mut store = store.borrow_mut();
        write_csv(&csv_path, &lines);
        let before = count(&store);
        let result = ledger::import_csv(&mut store.conn, &csv_path);
        let after = count(&store);
        match &result {
            Ok(stats) => {
                prop_assert_eq!(after - before, stats.inserted as i64);
                if csv_is_valid(&lines).is_some() {
                    prop_assert_eq!(
                        (stats.inserted + stats.already_present) as usize,
                        lines.len()
                    );
                }
            }
            Err(_) => prop_assert_eq!(after, before, "a failed import changed the ledger"),
        }
        if let Some(valid) = csv_is_valid(&lines) {
            prop_assert_eq!(result.is_ok(), valid, "{:?}", result);
        }
        Ok(())
    });
}
