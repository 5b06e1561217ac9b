//! Every numeric and duration flag, driven with extreme values (issue: "No panic from any
//! flag"): a value out of its range is a usage error (exit 2) naming the flag, and no value
//! makes callrecon panic. Report flags run `report` over a fetched hand-made day; the
//! client's flags run `check` against a closed port (its short retry budget keeps each case
//! quick).

use crate::util::*;
use callrecon::limits::{self, Limit};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};

/// How a flag's value is judged: a whole number in a range, a percentage, or a duration.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Whole(&'static Limit),
    Percent,
    Duration,
}

const REPORT_FLAGS: [(&str, Kind); 5] = [
    ("--retain-days", Kind::Whole(&limits::RETAIN_DAYS)),
    ("--fail-if-missed-webhooks", Kind::Percent),
    ("--match-delay", Kind::Duration),
    ("--followup-max-age", Kind::Duration),
    ("--max-runtime", Kind::Duration),
];

const CLIENT_FLAGS: [(&str, Kind); 10] = [
    ("--rps", Kind::Whole(&limits::RPS)),
    ("--max-in-flight", Kind::Whole(&limits::MAX_IN_FLIGHT)),
    ("--max-attempts", Kind::Whole(&limits::MAX_ATTEMPTS)),
    ("--max-retry-wait", Kind::Whole(&limits::MAX_RETRY_WAIT)),
    ("--retry-base-ms", Kind::Whole(&limits::RETRY_BASE_MS)),
    ("--timeout", Kind::Whole(&limits::TIMEOUT)),
    ("--page-size", Kind::Whole(&limits::PAGE_SIZE)),
    ("--max-body-mib", Kind::Whole(&limits::MAX_BODY_MIB)),
    ("--max-notification-lookups", Kind::Whole(&limits::LOOKUPS)),
    ("--max-sid-lookups", Kind::Whole(&limits::LOOKUPS)),
];

/// Values at and past every edge, and arbitrary ones.
fn values() -> impl Strategy<Value = String> {
    let edges = select(vec![
        "0",
        "1",
        "-1",
        "100",
        "100.0",
        "1e9",
        "NaN",
        "inf",
        "-inf",
        "",
        " ",
        "36500",
        "36501",
        "3600",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "-9223372036854775808",
        "200000000",
        "9999999999d",
        "3650d",
        "3651d",
        "87600h",
        "1h",
        "0s",
        "90s",
        "1w",
        "1.5h",
        "2e3s",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        3 => edges,
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => (any::<u32>(), select(vec!["s", "m", "h", "d", "x", ""]))
            .prop_map(|(n, u)| format!("{n}{u}")),
    ]
}

/// Whether the value is one the flag accepts, judged independently of callrecon's parser.
fn accepted(kind: Kind, value: &str) -> bool {
    match kind {
        Kind::Whole(limit) => value
            .parse::<u64>()
            .is_ok_and(|n| (limit.lo..=limit.hi).contains(&n)),
        Kind::Percent => value
            .parse::<f64>()
            .is_ok_and(|p| p.is_finite() && (0.0..=100.0).contains(&p)),
        Kind::Duration => {
            let digits = value.trim_end_matches(['s', 'm', 'h', 'd']);
            let unit = &value[digits.len()..];
            let secs = match unit {
                "" | "s" => 1,
                "m" => 60,
                "h" => 3_600,
                "d" => 86_400,
                _ => return false,
            };
            unit.len() <= 1
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits
                    .parse::<u128>()
                    .is_ok_and(|n| n * secs <= limits::DURATION_DAYS as u128 * 86_400)
        }
    }
}

fn judge(flag: &str, kind: Kind, value: &str, out: &std::process::Output) -> Result<(), String> {
    let err = stderr(out);
    let code = out.status.code();
    if code.is_none() || code == Some(101) || err.contains("panicked") {
        return Err(format!("{flag} {value:?}: exit {code:?}\n{err}"));
    }
    if !accepted(kind, value) && (code != Some(2) || !err.contains(flag.trim_start_matches('-'))) {
        // A duration of 0 parses but is refused later for the flags that must be positive;
        // every refusal must be exit 2 naming the flag.
        return Err(format!(
            "{flag} {value:?} was not refused with exit 2\n{err}"
        ));
    }
    Ok(())
}

#[test]
fn no_flag_value_makes_callrecon_panic_and_out_of_range_is_a_usage_error() {
    let (cfg, data) = crate::scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    run(&mut crate::scenario::command(&sim, &dir, "fetch"), 0);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let flags: Vec<(&str, Kind, bool)> = REPORT_FLAGS
        .iter()
        .map(|&(f, k)| (f, k, true))
        .chain(CLIENT_FLAGS.iter().map(|&(f, k)| (f, k, false)))
        .collect();
    runner
        .run(
            &(select(flags), values()),
            |((flag, kind, report), value)| {
                let arg = format!("{flag}={value}");
                let out = if report {
                    let mut cmd = crate::scenario::command(&sim, &dir, "report");
                    cmd.arg(&arg).arg("--out").arg(dir.path("r.csv"));
                    cmd.output().unwrap()
                } else {
                    callrecon()
                        .args(["check", "--base-url", &closed, &arg])
                        .env("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
                        .env("TWILIO_AUTH_TOKEN", "flag-test-token")
                        .output()
                        .unwrap()
                };
                judge(flag, kind, &value, &out).map_err(TestCaseError::fail)
            },
        )
        .unwrap();
}

/// The cases the issue names, each once.
#[test]
fn the_values_that_used_to_panic_or_disable_the_alarm_are_refused() {
    let (cfg, data) = crate::scenario::dataset();
    let sim = Sim::with_dataset(cfg, data);
    let dir = TestDir::new();
    run(&mut crate::scenario::command(&sim, &dir, "fetch"), 0);
    for arg in [
        "--retain-days=200000000",
        "--match-delay=9999999999d",
        "--fail-if-missed-webhooks=NaN",
        "--timeout=1e9",
    ] {
        let mut cmd = crate::scenario::command(&sim, &dir, "run");
        cmd.arg(arg).arg("--out").arg(dir.path("r.csv"));
        let out = run(&mut cmd, 2);
        let name = arg.split('=').next().unwrap();
        assert!(stderr(&out).contains(name), "{arg}: {}", stderr(&out));
    }
}
