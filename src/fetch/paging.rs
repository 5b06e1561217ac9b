//! Paging partitions side by side: at most `--max-in-flight` at once (the client's adaptive
//! cap bounds the requests themselves), each from where a resumed fetch or the probe left it,
//! every page sent to the writer through a bounded channel, so memory stays a few pages deep.

use super::calls::Ahead;
use super::partitions::Partition;
use super::writer::Landed;
use crate::twilio::model::CallsPage;
use crate::twilio::{ApiError, Client};
use anyhow::Result;
use futures::StreamExt;
use std::collections::HashMap;
use tokio::sync::mpsc;
use url::Url;

/// Pages `wave`'s partitions side by side; each starts where a resumed fetch left it, or the
/// probe (`started`), or at its first page; finished ones are skipped.
pub(super) async fn page_wave(
    client: &Client,
    ahead: &Ahead<'_>,
    started: &HashMap<String, Option<Url>>,
    wave: &[&Partition],
    tx: &mpsc::Sender<Landed>,
) -> Result<()> {
    let mut starts = Vec::new();
    for part in wave {
        let resume = match started.get(&part.key).or(ahead.resume.get(&part.key)) {
            Some(None) => continue,
            Some(Some(url)) => Some(url.clone()),
            None => None,
        };
        let pairs: Vec<(&str, &str)> = part
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        starts.push((part.key.clone(), client.calls_url(&pairs), resume));
    }
    let mut running = futures::stream::iter(
        starts
            .into_iter()
            .map(|(key, first, resume)| page_partition(client, key, first, resume, tx)),
    )
    .buffer_unordered(ahead.opts.max_in_flight.max(1));
    while let Some(done) = running.next().await {
        done?;
    }
    Ok(())
}

/// Pages one partition from its resume point (or its first page), sending every page to the
/// writer; waits when the writer is behind, so memory stays bounded.
async fn page_partition(
    client: &Client,
    key: String,
    first: Url,
    resume: Option<Url>,
    tx: &mpsc::Sender<Landed>,
) -> Result<()> {
    let resumed = resume.is_some();
    let mut pager = client.pager(resume.unwrap_or_else(|| first.clone()));
    let mut fresh = !resumed;
    loop {
        if tx.is_closed() {
            // The writer stopped (an error, a stop): no more requests.
            return Ok(());
        }
        let page = match pager.next_page::<CallsPage>().await {
            Ok(Some(page)) => page,
            Ok(None) => return Ok(()),
            Err(e) if !fresh && stale_token(&e) => {
                tracing::warn!(
                    "{e:#}; the saved page token is stale, listing the partition again from its first page"
                );
                let restart = Landed::Restart { key: key.clone() };
                if tx.send(restart).await.is_err() {
                    return Ok(());
                }
                pager = client.pager(first.clone());
                fresh = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        fresh = true;
        let next = page.next_page_uri.filter(|u| !u.is_empty());
        let landed = Landed::Page {
            key: key.clone(),
            calls: page.calls,
            next,
        };
        if tx.send(landed).await.is_err() {
            // The writer stopped (an error, a stop): nothing more to do here.
            return Ok(());
        }
    }
}

/// A resumed page Twilio refuses as a request (not a passing fault): its token expired.
fn stale_token(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ApiError>()
        .and_then(ApiError::status)
        .is_some_and(|s| s == 400 || s == 404)
}
