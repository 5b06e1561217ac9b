//! The file's keys: what is accepted, and what each refusal says.

use super::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";

#[test]
fn a_full_file_is_read() {
    let text = format!(
        r#"
db = "/var/lib/app/ledger.db"
window = "yesterday"
tz = "Europe/Berlin"
match_delay = "90m"
followup_max_age = "2d"
default_region = "GB"
retain_days = 30
max_runtime = "2h"
log_format = "json"

[report]
include_completed = true
excel_safe = true
write_back = false
fail_if_missed_webhooks = 20
summary_json = "summary.json"

[twilio]
region = "ie1"
rps = 10
max_in_flight = 2

[accounts.main]
account_sid = "{SID}"
auth_token_env = "MAIN_TOKEN"

[accounts.eu]
account_sid = "AC00000000000000000000000000000001"
api_key = "SK0123456789abcdef0123456789abcdef"
api_secret_file = "/etc/callrecon/eu.secret"
region = "ie1"
edge = "dublin"
"#
    );
    let f = parse(&text).unwrap();
    assert_eq!(f.window, Some(Spec::Yesterday));
    assert_eq!(f.log_format, Some(LogFormat::Json));
    assert_eq!(f.twilio.rps, Some(10));
    assert_eq!(f.report.fail_if_missed_webhooks, Some(20.0));
    assert_eq!(
        f.accounts.keys().collect::<Vec<_>>(),
        ["eu", "main"],
        "accounts come in name order"
    );
}

fn refused(text: &str) -> String {
    parse(text).unwrap_err()
}

#[test]
fn unknown_keys_and_wrong_types_name_the_key() {
    let err = refused("[twilio]\nrsp = 3\n");
    assert!(
        err.contains("unknown field `rsp`") && err.contains("line 2"),
        "{err}"
    );
    let err = refused("[twilio]\nrps = \"fast\"\n");
    assert!(err.starts_with("twilio.rps: invalid type"), "{err}");
    let err = refused("retain_days = -1\n");
    assert!(err.starts_with("retain_days:"), "{err}");
    let err = refused("databse = \"x\"\n");
    assert!(err.contains("unknown field `databse`"), "{err}");
    let err = refused(&format!(
        "[accounts.main]\naccount_sid = \"{SID}\"\ntoken = \"T\"\n"
    ));
    assert!(
        err.starts_with("accounts.main") && err.contains("`token`"),
        "{err}"
    );
    let err = refused("log_format = \"xml\"\n");
    assert!(
        err.starts_with("log_format:") && err.contains("json"),
        "{err}"
    );
    let err = refused("window = \"tomorrow\"\n");
    assert!(
        err.starts_with("window:") && err.contains("last-24h"),
        "{err}"
    );
    let err = refused("this is not toml\n");
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn values_with_a_meaning_are_checked_and_named() {
    for (text, key) in [
        ("tz = \"Europe/Atlantis\"\n", "tz:"),
        ("match_delay = \"1w\"\n", "match_delay:"),
        ("match_delay = \"0s\"\n", "match_delay:"),
        ("default_region = \"XX\"\n", "default_region:"),
        ("retain_days = 0\n", "retain_days:"),
        (
            "[report]\nfail_if_missed_webhooks = 120\n",
            "report.fail_if_missed_webhooks:",
        ),
        ("[twilio]\nrps = 0\n", "twilio.rps:"),
        ("[twilio]\nregion = \"ie 1\"\n", "twilio.region"),
        (
            "[twilio]\nbase_url = \"http://example.com\"\n",
            "twilio.base_url:",
        ),
    ] {
        let err = refused(text);
        assert!(err.starts_with(key), "{text}: {err}");
    }
    let twice = format!(
        "[accounts.a]\naccount_sid = \"{SID}\"\nauth_token_env = \"A\"\n\
         [accounts.b]\naccount_sid = \"{SID}\"\nauth_token_env = \"B\"\n"
    );
    assert!(refused(&twice).contains("is also accounts.a"));
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrecon.toml");
    std::fs::write(
        &path,
        format!(
            "db = \"ledger.db\"\n[accounts.main]\naccount_sid = \"{SID}\"\nauth_token_file = \"main.token\"\n"
        ),
    )
    .unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.file.db, Some(dir.path().join("ledger.db")));
    assert_eq!(
        loaded.file.accounts["main"].auth_token_file,
        Some(dir.path().join("main.token"))
    );
    let missing = load(&dir.path().join("nope.toml")).unwrap_err();
    assert!(format!("{missing:#}").contains("nope.toml"));
}
