//! The accounts a run fetches: their credentials and the origin their requests go to.
//!
//! One account comes from Twilio's environment conventions (`TWILIO_ACCOUNT_SID` with
//! `TWILIO_AUTH_TOKEN`, or `TWILIO_API_KEY` + `TWILIO_API_SECRET`) or `--account-sid`; several
//! (an account and its subaccounts) come from the configuration file's `[accounts.NAME]`
//! tables, each naming the environment variable or the file its secret is in. The
//! environment and flags override the file here as everywhere: an account SID given there
//! replaces the file's accounts for that run.
//!
//! Every account is resolved, secrets read and origins worked out, before the first request,
//! so that a missing token on the second account fails the run at once (exit 2) instead of
//! after an hour of fetching the first.

use super::{Account as AccountKeys, Loaded};
use crate::cli::{OriginArgs, TwilioArgs};
use crate::error::UsageError;
use crate::twilio::region::{Named, api_origin};
use crate::twilio::{Client, Credentials, client};
use anyhow::Result;
use url::Url;

/// An account ready to be fetched.
#[derive(Debug, Clone)]
pub struct Account {
    /// The name in the configuration file; `default` for the environment's account.
    pub name: String,
    pub credentials: Credentials,
    /// The 2010 API's origin for this account (Monitor's follows from it).
    pub base_url: Url,
    /// Where the secret was read (`env TWILIO_AUTH_TOKEN`, `file /etc/…`), never the secret.
    pub secret_from: String,
}

impl Account {
    pub fn sid(&self) -> &str {
        &self.credentials.account_sid
    }

    /// The client for this account, with the run's limits and retry budget.
    pub fn client(&self, twilio: &TwilioArgs) -> Result<Client> {
        let mut args = twilio.clone();
        args.base_url = self.base_url.to_string();
        crate::app::build_client_with(&args, self.credentials.clone())
    }
}

/// Checks one `[accounts.NAME]` table of the file; errors name the key.
pub(super) fn validate(name: &str, a: &AccountKeys) -> Result<(), String> {
    let key = |k: &str| format!("accounts.{name}.{k}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "accounts.{name}: an account name is letters, digits, - and _"
        ));
    }
    for (k, present) in [
        ("auth_token", a.auth_token.is_some()),
        ("api_secret", a.api_secret.is_some()),
    ] {
        if present {
            return Err(format!(
                "{}: a configuration file never holds a secret (it ends up in backups and \
                 diffs); put it in an environment variable named by {k}_env, or in a file \
                 only the job's user can read, named by {k}_file",
                key(k)
            ));
        }
    }
    check_sid(&key("account_sid"), &a.account_sid, "AC")?;
    for (k, v) in [
        ("auth_token_env", &a.auth_token_env),
        ("api_secret_env", &a.api_secret_env),
    ] {
        if let Some(var) = v {
            let ok = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!(
                    "{}: '{var}' is not an environment variable name; name the variable that \
                     holds the secret, like MAIN_TWILIO_AUTH_TOKEN",
                    key(k)
                ));
            }
        }
    }
    let token_sources = a.auth_token_env.is_some() as u8 + a.auth_token_file.is_some() as u8;
    let secret_sources = a.api_secret_env.is_some() as u8 + a.api_secret_file.is_some() as u8;
    match (&a.api_key, token_sources, secret_sources) {
        (None, 0, 0) => {
            return Err(format!(
                "accounts.{name}: account {} has no credentials; set auth_token_env or \
                 auth_token_file, or api_key with api_secret_env or api_secret_file",
                a.account_sid
            ));
        }
        (None, 1, 0) => {}
        (None, 2, _) => {
            return Err(format!(
                "accounts.{name}: set auth_token_env or auth_token_file, not both"
            ));
        }
        (None, _, _) => {
            return Err(format!(
                "accounts.{name}: api_secret_env/api_secret_file need api_key (the SK… key SID)"
            ));
        }
        (Some(sk), 0, 1) => check_sid(&key("api_key"), sk, "SK")?,
        (Some(_), 0, _) => {
            return Err(format!(
                "accounts.{name}: api_key needs exactly one of api_secret_env and api_secret_file"
            ));
        }
        (Some(_), _, _) => {
            return Err(format!(
                "accounts.{name}: use an auth token or an API key, not both"
            ));
        }
    }
    super::check_origin(&format!("accounts.{name}"), &a.region, &a.edge, &a.base_url)
}

/// `AC…`/`SK…`: two letters and 32 hex digits.
fn check_sid(key: &str, sid: &str, prefix: &str) -> Result<(), String> {
    let ok = sid.len() == 34
        && sid.starts_with(prefix)
        && sid[2..].chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key}: '{sid}' is not a SID; expected {prefix} followed by 32 hex digits"
        ))
    }
}

/// The run's accounts, in the order they are fetched.
pub fn resolve(
    twilio: &TwilioArgs,
    origin: &OriginArgs,
    config: Option<&Loaded>,
) -> Result<Vec<Account>> {
    let named = config.filter(|c| !c.file.accounts.is_empty());
    let from_env = twilio
        .account_sid
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty());
    let Some(loaded) = named.filter(|_| !from_env) else {
        if let (Some(c), true) = (named, from_env) {
            tracing::warn!(
                "TWILIO_ACCOUNT_SID (or --account-sid) is set: it replaces the {} account(s) of \
                 {} for this run",
                c.file.accounts.len(),
                c.path.display()
            );
        }
        let credentials = crate::app::credentials(twilio)?;
        let secret_from = secret_source(twilio);
        return Ok(vec![Account {
            name: "default".to_owned(),
            base_url: base_url(twilio, origin, config, None)?,
            credentials,
            secret_from,
        }]);
    };
    let mut accounts = Vec::new();
    for (name, keys) in &loaded.file.accounts {
        let (secret, secret_from) = read_secret(loaded, name, keys)?;
        let username = keys.api_key.clone().unwrap_or(keys.account_sid.clone());
        accounts.push(Account {
            name: name.clone(),
            credentials: Credentials::new(keys.account_sid.clone(), username, secret),
            base_url: base_url(twilio, origin, config, Some((name, keys)))?,
            secret_from,
        });
    }
    Ok(accounts)
}

/// Where the environment account's secret comes from, as `app::credentials` reads it.
fn secret_source(twilio: &TwilioArgs) -> String {
    let set = |v: &str| std::env::var(v).is_ok_and(|v| !v.trim().is_empty());
    if set("TWILIO_API_KEY") {
        "env TWILIO_API_KEY + TWILIO_API_SECRET".to_owned()
    } else if let Some(path) = &twilio.auth_token_file {
        format!("file {}", path.display())
    } else {
        "env TWILIO_AUTH_TOKEN".to_owned()
    }
}

/// Reads an account's secret from the variable or file its table names.
fn read_secret(loaded: &Loaded, name: &str, keys: &AccountKeys) -> Result<(String, String)> {
    let (env_key, file_key, var, file) = match &keys.api_key {
        Some(_) => (
            "api_secret_env",
            "api_secret_file",
            &keys.api_secret_env,
            &keys.api_secret_file,
        ),
        None => (
            "auth_token_env",
            "auth_token_file",
            &keys.auth_token_env,
            &keys.auth_token_file,
        ),
    };
    if let Some(var) = var {
        let value = std::env::var(var).unwrap_or_default().trim().to_owned();
        if value.is_empty() {
            return Err(UsageError::new(format!(
                "{}: names {var}, which is not set or is empty; export the secret of account \
                 {} as {var}",
                loaded.key(&format!("accounts.{name}.{env_key}")),
                keys.account_sid
            )));
        }
        return Ok((value, format!("env {var}")));
    }
    let path = file.as_ref().expect("validated: one secret source");
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError::new(format!(
            "{}: cannot read {}: {e}",
            loaded.key(&format!("accounts.{name}.{file_key}")),
            path.display()
        ))
    })?;
    warn_if_readable_by_others(path);
    let value = text.lines().next().unwrap_or_default().trim().to_owned();
    if value.is_empty() {
        return Err(UsageError::new(format!(
            "{}: {} is empty; its first line must be the secret",
            loaded.key(&format!("accounts.{name}.{file_key}")),
            path.display()
        )));
    }
    Ok((value, format!("file {}", path.display())))
}

#[cfg(unix)]
pub(crate) fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "{} holds a secret but others may read it (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

#[cfg(not(unix))]
pub(crate) fn warn_if_readable_by_others(_: &std::path::Path) {}

/// An account's origin. Layers, most specific first: `--base-url`/`CALLRECON_BASE_URL`, then
/// the account's own `base_url`, then `twilio.base_url`; failing those, the region and edge
/// (`--region`/`TWILIO_REGION`, then the account's, then `twilio.*`); failing those, Twilio's
/// global origin. A base URL at any layer wins over a region or edge at any layer.
fn base_url(
    twilio: &TwilioArgs,
    origin: &OriginArgs,
    config: Option<&Loaded>,
    account: Option<(&String, &AccountKeys)>,
) -> Result<Url> {
    let usage = |e: String| UsageError::new(e);
    if origin.base_url_explicit {
        return client::check_base_url(&twilio.base_url)
            .map_err(|e| usage(format!("--base-url (or CALLRECON_BASE_URL): {e}")));
    }
    let file = config.map(|c| &c.file);
    let key = |k: &str| config.map(|c| c.key(k)).unwrap_or_default();
    let account_key = |k: &str| account.map(|(n, _)| key(&format!("accounts.{n}.{k}")));
    let candidates = [
        (
            account.and_then(|(_, a)| a.base_url.clone()),
            account_key("base_url"),
        ),
        (
            file.and_then(|f| f.twilio.base_url.clone()),
            Some(key("twilio.base_url")),
        ),
    ];
    for (url, name) in candidates {
        if let Some(url) = url {
            return client::check_base_url(&url)
                .map_err(|e| usage(format!("{}: {e}", name.unwrap_or_default())));
        }
    }
    let pick = |flag: &Option<String>, flag_name: &str, k: &str| -> Option<(String, String)> {
        if let Some(v) = flag {
            return Some((v.clone(), flag_name.to_owned()));
        }
        let own = account.and_then(|(n, a)| {
            let v = if k == "region" { &a.region } else { &a.edge };
            v.clone().map(|v| (v, key(&format!("accounts.{n}.{k}"))))
        });
        own.or_else(|| {
            let v = file.and_then(|f| {
                if k == "region" {
                    f.twilio.region.clone()
                } else {
                    f.twilio.edge.clone()
                }
            });
            v.map(|v| (v, key(&format!("twilio.{k}"))))
        })
    };
    let region = pick(&origin.region, "TWILIO_REGION (or --region)", "region");
    let edge = pick(&origin.edge, "TWILIO_EDGE (or --edge)", "edge");
    fn named(p: &Option<(String, String)>) -> Option<Named<'_>> {
        p.as_ref().map(|(value, name)| Named {
            value: value.as_str(),
            name: name.as_str(),
        })
    }
    match api_origin(named(&region), named(&edge)).map_err(usage)? {
        Some(url) => Ok(url),
        None => {
            client::check_base_url(&twilio.base_url).map_err(|e| usage(format!("--base-url: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(toml: &str) -> Result<(), String> {
        let f = super::super::parse(toml)?;
        assert_eq!(f.accounts.len(), 1);
        Ok(())
    }

    #[test]
    fn an_account_needs_exactly_one_secret_source_and_never_a_literal_secret() {
        let sid = "AC0123456789abcdef0123456789abcdef";
        let ok = format!("[accounts.main]\naccount_sid = \"{sid}\"\nauth_token_env = \"T\"\n");
        keys(&ok).unwrap();
        let none = format!("[accounts.main]\naccount_sid = \"{sid}\"\n");
        assert!(keys(&none).unwrap_err().contains("has no credentials"));
        let literal = format!("{ok}auth_token = \"hunter2\"\n");
        let err = keys(&literal).unwrap_err();
        assert!(
            err.contains("accounts.main.auth_token") && err.contains("never holds a secret"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "the secret is not echoed: {err}");
        let both = format!("{ok}auth_token_file = \"/t\"\n");
        assert!(keys(&both).unwrap_err().contains("not both"));
        let key_only = format!(
            "[accounts.main]\naccount_sid = \"{sid}\"\napi_key = \"SK0123456789abcdef0123456789abcdef\"\n"
        );
        assert!(
            keys(&key_only)
                .unwrap_err()
                .contains("exactly one of api_secret_env")
        );
        let bad_sid = "[accounts.main]\naccount_sid = \"AC123\"\nauth_token_env = \"T\"\n";
        assert!(
            keys(bad_sid)
                .unwrap_err()
                .starts_with("accounts.main.account_sid")
        );
        let bad_var =
            format!("[accounts.main]\naccount_sid = \"{sid}\"\nauth_token_env = \"MY TOKEN\"\n");
        assert!(
            keys(&bad_var)
                .unwrap_err()
                .contains("not an environment variable name")
        );
    }
}
