//! Listing the window's UTC days of calls.

use super::{Options, Summary};
use crate::phone::Normalizer;
use crate::store::Store;
use crate::twilio::Client;
use anyhow::{Context, Result};
use chrono::Utc;

pub async fn list_days(
    client: &Client,
    store: &mut Store,
    numbers: &mut Normalizer,
    opts: &Options,
    summary: &mut Summary,
) -> Result<()> {
    let account = client.account_sid().to_owned();
    for day in opts.window.days(opts.match_delay, opts.now) {
        let next = day.succ_opt().expect("a next day");
        let (from, to) = (day.to_string(), next.to_string());
        let page_size = opts.page_size.to_string();
        // `StartTime>` is "on or after", `StartTime<` "before": exactly day D (notes §1.2).
        let first = client.calls_url(&[
            ("StartTime>", from.as_str()),
            ("StartTime<", to.as_str()),
            ("PageSize", page_size.as_str()),
        ]);
        let mut landed = 0u64;
        client
            .list_calls(first, |page| {
                let n = store.land_calls(&page.calls, numbers, Utc::now().timestamp())?;
                landed += n as u64;
                summary.pages += 1;
                Ok(true)
            })
            .await
            .with_context(|| format!("listing the calls of {from} for account {account}"))?;
        store.mark_day_landed(&account, &from, landed, Utc::now().timestamp())?;
        summary.calls_listed += landed;
        summary.days.push(from);
    }
    Ok(())
}
