//! Monitor Alerts and Call Notifications over real HTTP, through the same front door as the
//! Calls routes: absolute v1 paging, the 30-day limit, 403 without Monitor permission, and
//! the 404s callrecon must skip and retry.

use super::tests::{Running, config};
use super::*;
use crate::timefmt::format_rfc2822;
use crate::twilio::model::{Alert, AlertsPage, Call, Notification, NotificationsPage};
use chrono::DateTime;

impl Running {
    /// Follows `meta.next_page_url` (absolute, as Twilio's v1 APIs give it) from `first`.
    async fn alert_pages(&self, first: &str) -> Vec<AlertsPage> {
        let mut pages = Vec::new();
        let mut next = Some(format!("{}{first}", self.base));
        while let Some(url) = next {
            let response = self
                .http
                .get(&url)
                .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{url}");
            let page: AlertsPage = response.json().await.unwrap();
            next = page.meta.next_page_url.clone();
            pages.push(page);
            assert!(pages.len() < 10_000, "paging does not end");
        }
        pages
    }

    fn notifications_path(&self, call_sid: &str) -> String {
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/{call_sid}/Notifications.json")
    }

    async fn error_code(&self, path: &str, status: u16) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], status, "{body}");
        body
    }
}

fn alert_sids<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> Vec<String> {
    alerts.into_iter().map(|a| a.sid.clone().unwrap()).collect()
}

#[tokio::test]
async fn alert_pages_link_absolutely_and_give_every_alert_of_the_range_once() {
    let mut cfg = config(1500);
    cfg.faults.short_page_every = Some(3);
    let sim = Running::start(cfg).await;
    let query = "/v1/Alerts?StartDate=2026-11-28&EndDate=2026-11-28T23:59:59Z&PageSize=7";
    let pages = sim.alert_pages(query).await;
    let served: Vec<String> = pages.iter().flat_map(|p| alert_sids(&p.alerts)).collect();
    let day = |a: &&Alert| {
        a.date_generated
            .as_deref()
            .unwrap()
            .starts_with("2026-11-28")
    };
    let want = alert_sids(sim.sim.dataset().alerts.iter().filter(day));
    assert!(want.len() > 20 && want.len() < sim.sim.dataset().alerts.len());
    assert_eq!(served, want);
    assert_eq!(
        pages[2].alerts.len(),
        3,
        "the third page is short, not the end"
    );
    let meta = &pages[0].meta;
    let next = meta.next_page_url.as_deref().unwrap();
    let token = format!("PageToken=PA{}", pages[0].alerts[6].sid.as_deref().unwrap());
    assert!(next.starts_with(&format!("{}/v1/Alerts?StartDate=2026-11-28&", sim.base)));
    assert!(
        next.contains("PageSize=7&Page=1&") && next.ends_with(&token),
        "{next}"
    );
    assert_eq!(meta.key.as_deref(), Some("alerts"));
    assert_eq!(meta.first_page_url, meta.url);
    assert!(pages.last().unwrap().meta.next_page_url.is_none());
    let stats = sim.sim.stats();
    assert_eq!(stats.alerts_served, want.len() as u64);
    assert_eq!(stats.pages_served, pages.len() as u64);

    let warnings = sim
        .alert_pages("/v1/Alerts?LogLevel=warning&PageSize=1000")
        .await;
    let levels: Vec<&str> = warnings[0]
        .alerts
        .iter()
        .map(|a| a.log_level.as_deref().unwrap())
        .collect();
    assert!(!levels.is_empty() && levels.iter().all(|l| *l == "warning"));
}

#[tokio::test]
async fn an_alert_is_fetched_by_sid_and_an_unknown_one_is_a_404() {
    let sim = Running::start(config(400)).await;
    let alert = sim.sim.dataset().alerts[3].clone();
    let path = format!("/v1/Alerts/{}", alert.sid.as_deref().unwrap());
    let fetched: Alert = sim.get(&path).await.json().await.unwrap();
    assert_eq!(fetched, alert);
    let body = sim
        .error_code(&format!("/v1/Alerts/NO{}", "0".repeat(32)), 404)
        .await;
    assert_eq!(body["code"], 20404);
    assert_eq!(sim.sim.stats().alerts_served, 1);
}

#[tokio::test]
async fn alerts_older_than_30_days_are_refused_with_a_400() {
    let sim = Running::start(config(50)).await;
    // The clock is 2026-11-29T00:00:00Z: 30 days back is 2026-10-30.
    assert_eq!(
        sim.get("/v1/Alerts?StartDate=2026-10-30").await.status(),
        200
    );
    let body = sim
        .error_code("/v1/Alerts?StartDate=2026-10-29T23:59:59Z", 400)
        .await;
    assert_eq!(body["code"], 20001);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("older than 30 days are not supported"),
        "{message}"
    );
    assert_eq!(
        sim.error_code("/v1/Alerts?LogLevel=fatal", 400).await["code"],
        20001
    );
}

#[tokio::test]
async fn without_monitor_permission_alerts_are_a_403_and_calls_still_list() {
    let mut cfg = config(50);
    cfg.faults.monitor_forbidden = true;
    let sim = Running::start(cfg).await;
    let body = sim.error_code("/v1/Alerts?PageSize=1000", 403).await;
    assert_eq!(body["code"], 20003);
    assert_eq!(body["message"], "Forbidden");
    sim.error_code("/v1/Alerts/NO00000000000000000000000000000000", 403)
        .await;
    assert_eq!(sim.get(&sim.calls_path()).await.status(), 200);
    let stats = sim.sim.stats();
    assert_eq!((stats.responses_403, stats.responses_2xx), (2, 1));
}

#[tokio::test]
async fn monitor_and_notifications_pass_the_same_front_door_as_calls() {
    let mut cfg = config(50);
    cfg.faults.burst_429 = Some(Burst { len: 1, every: 3 });
    let sim = Running::start(cfg).await;
    let call = sim.sim.dataset().calls[10].sid.clone();
    for path in ["/v1/Alerts".to_owned(), sim.notifications_path(&call)] {
        assert_eq!(sim.get(&path).await.status(), 429, "{path}");
        assert_eq!(sim.get(&path).await.status(), 200, "{path}");
        let url = format!("{}{path}", sim.base);
        let anonymous = sim.http.get(url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    let stats = sim.sim.stats();
    assert_eq!(
        (stats.requests, stats.responses_429, stats.responses_401),
        (6, 2, 2)
    );
    assert_eq!(stats.notification_requests, 1);
}

/// A call of the generated data, copied under a new SID and created at `created`.
fn copy_of(call: &Call, sid: &str, created: DateTime<chrono::Utc>) -> Call {
    Call {
        sid: sid.to_owned(),
        date_created: Some(format_rfc2822(created)),
        ..call.clone()
    }
}

#[tokio::test]
async fn notifications_page_and_filter_and_a_young_or_unknown_call_is_a_404() {
    let cfg = config(300);
    let generated = Dataset::generate(&cfg);
    let now = generated.now;
    let old = generated
        .calls
        .iter()
        .find(|c| c.status == "failed")
        .unwrap();
    let (quiet, young) = (
        format!("CA{}", "1".repeat(32)),
        format!("CA{}", "2".repeat(32)),
    );
    let mut calls = generated.calls.clone();
    calls.push(copy_of(old, &quiet, now - chrono::Duration::hours(3)));
    calls.push(copy_of(old, &young, now - chrono::Duration::seconds(90)));
    let logged: Vec<Notification> = (0..3)
        .map(|i| Notification {
            call_sid: Some(old.sid.clone()),
            sid: Some(format!("NO{i:032}")),
            log: Some(if i == 1 { "0" } else { "1" }.to_owned()),
            error_code: Some(["15003", "32009", "13224"][i].to_owned()),
            message_date: Some(format_rfc2822(now - chrono::Duration::hours(i as i64 + 1))),
            ..Notification::default()
        })
        .chain([Notification {
            call_sid: Some(young.clone()),
            ..Notification::default()
        }])
        .collect();
    let data = Dataset::from_parts(calls, generated.ledger.clone(), now).with_notifications(logged);
    let sim = Running::with_dataset(cfg, data).await;

    let mut next = Some(format!("{}?PageSize=1", sim.notifications_path(&old.sid)));
    let mut served = Vec::new();
    while let Some(uri) = next {
        let page: NotificationsPage = sim.get(&uri).await.json().await.unwrap();
        assert!(
            page.next_page_uri
                .as_deref()
                .is_none_or(|u| u.starts_with("/2010-04-01/"))
        );
        next = page.next_page_uri;
        served.extend(page.notifications.into_iter().map(|n| n.sid.unwrap()));
    }
    let want: Vec<String> = (0..3).map(|i| format!("NO{i:032}")).collect();
    assert_eq!(served, want, "newest first, every one once");
    let warnings: NotificationsPage = sim
        .get(&format!("{}?Log=1", sim.notifications_path(&old.sid)))
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<String> = warnings
        .notifications
        .into_iter()
        .map(|n| n.error_code.unwrap())
        .collect();
    assert_eq!(codes, ["15003", "13224"]);

    let empty: NotificationsPage = sim
        .get(&sim.notifications_path(&quiet))
        .await
        .json()
        .await
        .unwrap();
    assert!(empty.notifications.is_empty() && empty.next_page_uri.is_none());
    for sid in [young, format!("CA{}", "0".repeat(32))] {
        let path = sim.notifications_path(&sid);
        let body = sim.error_code(&path, 404).await;
        assert_eq!(body["code"], 20404);
        assert_eq!(
            body["message"],
            format!("The requested resource {path} was not found")
        );
    }
    assert_eq!(sim.sim.stats().notification_requests, 7);
}
