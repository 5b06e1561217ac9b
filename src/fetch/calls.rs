//! Listing the window's UTC days of calls, resumably.
//!
//! Each day is a partition whose progress (the first page not yet landed) is stored with every
//! landed page, in the same transaction. A fetch killed or stopped part-way is resumed by the
//! next one over the same window and account: finished partitions are skipped, the others
//! continue from their stored `next_page_uri`. A page token Twilio no longer accepts (HTTP
//! 400/404 on a resumed page) restarts that partition from its first page.

use super::{Options, Summary};
use crate::phone::Normalizer;
use crate::stop;
use crate::store::{Page, Store};
use crate::twilio::model::CallsPage;
use crate::twilio::{ApiError, Client};
use anyhow::{Context, Result};
use chrono::Utc;
use url::Url;

/// Lists every day of the window; returns the fetch id, to be marked finished by the caller.
pub async fn list_days(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    summary: &mut Summary,
) -> Result<i64> {
    let account = client.account_sid().to_owned();
    let now = Utc::now().timestamp();
    let (fetch_id, resumed) = store.open_fetch(
        &account,
        opts.window.from.timestamp(),
        opts.window.to.timestamp(),
        now,
    )?;
    if resumed {
        tracing::info!("resuming fetch {fetch_id} of this window where it stopped");
        summary.resumed = true;
    }
    for day in opts.window.days(opts.match_delay, opts.now) {
        let next = day.succ_opt().expect("a next day");
        let (from, to) = (day.to_string(), next.to_string());
        let partition = format!("calls:{from}");
        let page_size = opts.page_size.to_string();
        // `StartTime>` is "on or after", `StartTime<` "before": exactly day D (notes §1.2).
        let first = client.calls_url(&[
            ("StartTime>", from.as_str()),
            ("StartTime<", to.as_str()),
            ("PageSize", page_size.as_str()),
        ]);
        let progress = store.progress(fetch_id, &partition)?;
        if progress.done {
            summary.days.push(from);
            continue;
        }
        let start = match &progress.next_uri {
            Some(uri) => client.base_url().join(uri)?,
            None => first.clone(),
        };
        let target = Partition {
            fetch_id,
            partition: &partition,
            account: &account,
            day: &from,
        };
        let listed = list_partition(client, store, numbers, &target, start, summary).await;
        match listed {
            Err(e) if progress.next_uri.is_some() && stale_token(&e) => {
                tracing::warn!(
                    "{e:#}; the saved page token is stale, listing {from} again from its first page"
                );
                store.reset_progress(fetch_id, &partition)?;
                list_partition(client, store, numbers, &target, first, summary).await
            }
            other => other,
        }
        .with_context(|| format!("listing the calls of {from} for account {account}"))?;
        summary.days.push(from);
    }
    Ok(fetch_id)
}

struct Partition<'a> {
    fetch_id: i64,
    partition: &'a str,
    account: &'a str,
    day: &'a str,
}

async fn list_partition(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    target: &Partition<'_>,
    start: Url,
    summary: &mut Summary,
) -> Result<()> {
    client
        .list(start, |page: CallsPage| {
            let next = page.next_page_uri.as_deref().filter(|u| !u.is_empty());
            store.land_page(
                &Page {
                    fetch_id: target.fetch_id,
                    partition: target.partition,
                    calls: &page.calls,
                    next_uri: next,
                    day: (target.account, target.day),
                },
                numbers,
                Utc::now().timestamp(),
            )?;
            summary.calls_listed += page.calls.len() as u64;
            summary.pages += 1;
            crate::failpoint::hit("fetch.page");
            stop::check()?;
            Ok(true)
        })
        .await
}

/// A resumed page Twilio refuses as a request (not a passing fault): its token expired.
fn stale_token(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ApiError>()
        .and_then(ApiError::status)
        .is_some_and(|s| s == 400 || s == 404)
}
