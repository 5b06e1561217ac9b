//! Landing: Twilio's calls into `recon_calls`, one transaction per page.
//!
//! A page is appended to a staging table (no index to update) and merged into `recon_calls`
//! by `sid`, in SID order. When the same call arrives twice (two partitions, a rerun, a
//! status that changed while the run paged), the copy with the newest `date_updated` wins, so
//! the order in which pages land does not matter.

use super::Store;
use crate::phone::Normalizer;
use crate::timefmt::parse_rfc2822;
use crate::twilio::model::{Alert, Call, Notification};
use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Appends calls to the staging table, in listing order (no index to update: the cost of a
/// page is its own rows).
const STAGE: &str = "INSERT INTO recon_staged (sid, account_sid, parent_call_sid, direction,
        from_raw, to_raw, from_norm, to_norm, status, date_created, date_updated, start_time,
        end_time, call_time, duration, price, price_unit, answered_by, landed_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

/// Moves staged calls up to a rowid into `recon_calls`, in the order they were staged, keeping
/// the newest copy of a call (`date_updated`; of two equally new copies, the later staged).
const MERGE: &str = "INSERT INTO recon_calls (sid, account_sid, parent_call_sid, direction,
        from_raw, to_raw, from_norm, to_norm, status, date_created, date_updated, start_time,
        end_time, call_time, duration, price, price_unit, answered_by, landed_at)
    SELECT sid, account_sid, parent_call_sid, direction, from_raw, to_raw, from_norm, to_norm,
        status, date_created, date_updated, start_time, end_time, call_time, duration, price,
        price_unit, answered_by, landed_at
    FROM recon_staged WHERE rowid <= ?1 ORDER BY rowid
    ON CONFLICT(sid) DO UPDATE SET
        account_sid = excluded.account_sid, parent_call_sid = excluded.parent_call_sid,
        direction = excluded.direction, from_raw = excluded.from_raw, to_raw = excluded.to_raw,
        from_norm = excluded.from_norm, to_norm = excluded.to_norm, status = excluded.status,
        date_created = excluded.date_created, date_updated = excluded.date_updated,
        start_time = excluded.start_time, end_time = excluded.end_time,
        call_time = excluded.call_time, duration = excluded.duration, price = excluded.price,
        price_unit = excluded.price_unit, answered_by = excluded.answered_by,
        landed_at = excluded.landed_at
    WHERE coalesce(excluded.date_updated, 0) >= coalesce(recon_calls.date_updated, 0)";

/// Staged rows merged per transaction: big enough to merge well, short enough that the
/// application's writers wait a fraction of a second.
const MERGE_CHUNK: i64 = 50_000;

/// Merges the first `limit` staged calls inside the caller's transaction; returns how many.
fn merge_chunk(tx: &Connection, limit: i64) -> Result<i64> {
    let (n, last, all): (i64, Option<i64>, Option<i64>) = tx.query_row(
        "SELECT count(*), max(rowid), (SELECT max(rowid) FROM recon_staged)
         FROM (SELECT rowid FROM recon_staged ORDER BY rowid LIMIT ?1)",
        [limit],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let Some(last) = last else {
        return Ok(0);
    };
    tx.execute(MERGE, [last])?;
    if Some(last) == all {
        // Everything: SQLite empties a table without reading it.
        tx.execute("DELETE FROM recon_staged", [])?;
    } else {
        tx.execute("DELETE FROM recon_staged WHERE rowid <= ?1", [last])?;
    }
    Ok(n)
}

/// Writes calls with `sql`, one prepared statement for the page.
/// Stages `calls` and merges them into `recon_calls`, inside the caller's transaction.
fn land_in(tx: &Connection, calls: &[Call], numbers: &mut Normalizer, now: i64) -> Result<()> {
    write_calls(tx, STAGE, calls, numbers, now)?;
    while merge_chunk(tx, MERGE_CHUNK)? > 0 {}
    Ok(())
}

fn write_calls(
    tx: &Connection,
    sql: &str,
    calls: &[Call],
    numbers: &mut Normalizer,
    now: i64,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(sql)?;
    for call in calls {
        let ts = |t: &Option<String>| t.as_deref().and_then(parse_rfc2822).map(|t| t.timestamp());
        let created = ts(&call.date_created);
        let start = ts(&call.start_time);
        let to_norm = call.to.as_deref().map(|n| numbers.key(n));
        let from_norm = call.from.as_deref().map(|n| numbers.key(n));
        stmt.execute(params![
            call.sid,
            call.account_sid,
            call.parent_call_sid,
            call.direction,
            call.from,
            call.to,
            from_norm,
            to_norm,
            call.status,
            created,
            ts(&call.date_updated),
            start,
            ts(&call.end_time),
            start.or(created),
            call.duration,
            call.price,
            call.price_unit,
            call.answered_by,
            now,
        ])?;
    }
    Ok(())
}

/// Where a listing stands, for resuming it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The next page to ask for; `None` before the first page.
    pub next_uri: Option<String>,
    pub done: bool,
    pub calls: i64,
}

/// A page of a partition, as landed: its calls, and what comes after it.
pub struct Page<'a> {
    pub fetch_id: i64,
    pub partition: &'a str,
    pub calls: &'a [Call],
    /// The page's `next_page_uri`; `None` when this was the last page.
    pub next_uri: Option<&'a str>,
}

impl Store {
    /// Lands calls straight into `recon_calls` (staged and merged in one transaction): for
    /// calls fetched one by one, and pages outside a resumable listing.
    pub fn land_calls(
        &mut self,
        calls: &[Call],
        numbers: &mut Normalizer,
        now: i64,
    ) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        land_in(&tx, calls, numbers, now)?;
        tx.commit()?;
        Ok(calls.len())
    }

    /// Moves every staged call into `recon_calls`. Idempotent, and safe to interrupt: each
    /// chunk moves and leaves the staging table in one transaction.
    pub fn merge_staged(&mut self) -> Result<u64> {
        let mut merged = 0u64;
        loop {
            let n = self.merge_staged_chunk(MERGE_CHUNK as u64)?;
            if n == 0 {
                return Ok(merged);
            }
            merged += n;
        }
    }

    /// Moves up to `limit` staged calls into `recon_calls` in one transaction; returns how
    /// many (0 when nothing is staged). The listing calls it between pages, while the next
    /// page is still on its way, so that little is left to merge when the listing ends.
    pub fn merge_staged_chunk(&mut self, limit: u64) -> Result<u64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = merge_chunk(&tx, limit as i64)?;
        if n > 0 {
            crate::failpoint::hit("merge.before-commit");
            tx.commit()?;
        }
        Ok(n as u64)
    }

    /// Stages calls without a partition's progress (the first page of a day that is listed
    /// again by its partitions): merged with the rest by [`Store::merge_staged`].
    pub fn stage_calls(
        &mut self,
        calls: &[Call],
        numbers: &mut Normalizer,
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_calls(&tx, STAGE, calls, numbers, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Lands a listed page (staged: [`Store::merge_staged`] moves it into `recon_calls`) and
    /// the partition's progress in one transaction: after a crash, the next run resumes at
    /// exactly the first page not landed.
    pub fn land_page(&mut self, page: &Page, numbers: &mut Normalizer, now: i64) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_calls(&tx, STAGE, page.calls, numbers, now)?;
        crate::failpoint::hit("land.before-progress");
        let done = page.next_uri.is_none();
        tx.execute(
            "INSERT INTO recon_progress (fetch_id, partition, next_uri, done, calls, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(fetch_id, partition) DO UPDATE SET next_uri = excluded.next_uri,
                 done = excluded.done, calls = recon_progress.calls + excluded.calls,
                 updated_at = excluded.updated_at",
            params![
                page.fetch_id,
                page.partition,
                page.next_uri,
                done,
                page.calls.len() as i64,
                now
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The fetch of this window and account that a killed or stopped run left unfinished, or
    /// a new one. Returns its id and whether it is resumed.
    pub fn open_fetch(&self, account: &str, from: i64, to: i64, now: i64) -> Result<(i64, bool)> {
        self.conn
            .pragma_update(None, "cache_size", super::LANDING_CACHE_KIB)?;
        let open: Option<i64> = self
            .conn
            .query_row(
                "SELECT fetch_id FROM recon_fetches
                 WHERE account_sid = ?1 AND window_from = ?2 AND window_to = ?3 AND finished_at IS NULL
                 ORDER BY fetch_id DESC LIMIT 1",
                params![account, from, to],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = open {
            return Ok((id, true));
        }
        self.conn.execute(
            "INSERT INTO recon_fetches (account_sid, window_from, window_to, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![account, from, to, now],
        )?;
        Ok((self.conn.last_insert_rowid(), false))
    }

    pub fn progress(&self, fetch_id: i64, partition: &str) -> Result<Progress> {
        Ok(self
            .conn
            .query_row(
                "SELECT next_uri, done, calls FROM recon_progress WHERE fetch_id = ?1 AND partition = ?2",
                params![fetch_id, partition],
                |r| Ok(Progress { next_uri: r.get(0)?, done: r.get(1)?, calls: r.get(2)? }),
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Every partition's progress in the fetch, by key.
    pub fn progress_of(&self, fetch_id: i64) -> Result<Vec<(String, Progress)>> {
        let mut stmt = self.conn.prepare(
            "SELECT partition, next_uri, done, calls FROM recon_progress WHERE fetch_id = ?1",
        )?;
        let rows = stmt
            .query_map([fetch_id], |r| {
                let progress = Progress {
                    next_uri: r.get(1)?,
                    done: r.get(2)?,
                    calls: r.get(3)?,
                };
                Ok((r.get(0)?, progress))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Forgets a partition's progress (its page token went stale): it restarts from page one.
    pub fn reset_progress(&self, fetch_id: i64, partition: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM recon_progress WHERE fetch_id = ?1 AND partition = ?2",
            params![fetch_id, partition],
        )?;
        Ok(())
    }

    /// Records a UTC day of an account as landed once every one of its partitions is done.
    pub fn mark_day_landed(
        &self,
        account: &str,
        day: &str,
        fetch_id: i64,
        keys: &[&str],
        now: i64,
    ) -> Result<bool> {
        let mut calls = 0;
        for key in keys {
            let progress = self.progress(fetch_id, key)?;
            if !progress.done {
                return Ok(false);
            }
            calls += progress.calls;
        }
        self.conn.execute(
            "INSERT INTO recon_days (account_sid, day, calls, landed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(account_sid, day) DO UPDATE SET calls = excluded.calls,
                 landed_at = excluded.landed_at",
            params![account, day, calls, now],
        )?;
        Ok(true)
    }

    pub fn finish_fetch(&self, fetch_id: i64, now: i64) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", super::CACHE_KIB)?;
        self.conn.execute(
            "UPDATE recon_fetches SET finished_at = ?2 WHERE fetch_id = ?1",
            params![fetch_id, now],
        )?;
        Ok(())
    }

    /// Days (`YYYY-MM-DD`) of `wanted` that no fetch has landed for the account.
    pub fn missing_days(&self, account_sid: &str, wanted: &[String]) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM recon_days WHERE account_sid = ?1 AND day = ?2")?;
        let mut missing = Vec::new();
        for day in wanted {
            if !stmt.exists(params![account_sid, day])? {
                missing.push(day.clone());
            }
        }
        Ok(missing)
    }

    /// Remembers a SID Twilio answered 404 for, so the report can say so.
    pub fn mark_sid_unknown(&self, sid: &str, now: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO recon_unknown_sids (sid, checked_at) VALUES (?1, ?2)
             ON CONFLICT(sid) DO UPDATE SET checked_at = excluded.checked_at",
            params![sid, now],
        )?;
        Ok(())
    }

    /// Lands a call fetched by SID and remembers that it was, and why (`ledger`, `transient`,
    /// `followup`), in one transaction: a kill in between would leave a landed call that is
    /// no longer its window's candidate, and the rerun's bound would take another in its place.
    pub fn land_looked_up(
        &mut self,
        call: &Call,
        reason: &str,
        numbers: &mut Normalizer,
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        land_in(&tx, std::slice::from_ref(call), numbers, now)?;
        tx.execute("DELETE FROM recon_unknown_sids WHERE sid = ?1", [&call.sid])?;
        tx.execute(
            "INSERT INTO recon_sid_lookups (sid, reason, looked_up_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(sid) DO UPDATE SET looked_up_at = excluded.looked_up_at",
            params![call.sid, reason, now],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Twilio's numeric text as a code; `None` for empty or non-numeric text (kept raw beside).
fn code_of(text: Option<&str>) -> Option<i64> {
    text.map(str::trim).and_then(|t| t.parse().ok())
}

/// The `Msg` of Twilio's URL-encoded `key=value&…` alert and notification texts, or the text
/// itself when it is not in that form.
pub fn message_of(text: Option<&str>) -> Option<String> {
    let text = text?.trim();
    if text.is_empty() {
        return None;
    }
    if text.contains('=') {
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            if k == "Msg" && !v.trim().is_empty() {
                return Some(v.trim().to_owned());
            }
        }
    }
    Some(text.to_owned())
}

impl Store {
    /// Upserts one page of Monitor alerts in one transaction.
    pub fn land_alerts(&mut self, alerts: &[Alert], now: i64) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut landed = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO recon_alerts (sid, account_sid, resource_sid, error_code,
                     error_code_raw, log_level, generated_at, text, landed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(sid) DO UPDATE SET resource_sid = excluded.resource_sid,
                     error_code = excluded.error_code, error_code_raw = excluded.error_code_raw,
                     log_level = excluded.log_level, generated_at = excluded.generated_at,
                     text = excluded.text, landed_at = excluded.landed_at",
            )?;
            for a in alerts {
                // An alert without a SID cannot be de-duplicated across reruns: skip it.
                let Some(sid) = a.sid.as_deref() else {
                    continue;
                };
                let generated = a
                    .date_generated
                    .as_deref()
                    .or(a.date_created.as_deref())
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp());
                stmt.execute(params![
                    sid,
                    a.account_sid,
                    a.resource_sid,
                    code_of(a.error_code.as_deref()),
                    a.error_code,
                    a.log_level.as_deref().map(str::to_ascii_lowercase),
                    generated,
                    message_of(a.alert_text.as_deref()),
                    now,
                ])?;
                landed += 1;
            }
        }
        tx.commit()?;
        Ok(landed)
    }

    /// Lands a call's notifications and records that the call was looked up, in one
    /// transaction. `None` (Twilio answered 404) is not recorded: it is asked again next run.
    pub fn land_notifications(
        &mut self,
        call_sid: &str,
        found: &[Notification],
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO recon_notifications (sid, call_sid, error_code, error_code_raw, log,
                     message_at, text, landed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(sid) DO UPDATE SET error_code = excluded.error_code,
                     error_code_raw = excluded.error_code_raw, log = excluded.log,
                     message_at = excluded.message_at, text = excluded.text,
                     landed_at = excluded.landed_at",
            )?;
            for n in found {
                let Some(sid) = n.sid.as_deref() else {
                    continue;
                };
                stmt.execute(params![
                    sid,
                    n.call_sid.as_deref().unwrap_or(call_sid),
                    code_of(n.error_code.as_deref()),
                    n.error_code,
                    n.log.as_deref().and_then(|l| l.trim().parse::<i64>().ok()),
                    n.message_date
                        .as_deref()
                        .and_then(parse_rfc2822)
                        .map(|t| t.timestamp()),
                    message_of(n.message_text.as_deref()),
                    now,
                ])?;
            }
            tx.execute(
                "INSERT INTO recon_lookups (call_sid, looked_up_at, found) VALUES (?1, ?2, ?3)
                 ON CONFLICT(call_sid) DO UPDATE SET looked_up_at = excluded.looked_up_at,
                     found = excluded.found",
                params![call_sid, now, !found.is_empty()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::message_of;

    #[test]
    fn reads_twilios_message_text() {
        let text = "statusCallback=http%3A%2F%2Fexample.com%2Ffoo.xml&ErrorCode=15003&LogLevel=WARN&Msg=Got+HTTP+404+response";
        assert_eq!(
            message_of(Some(text)).as_deref(),
            Some("Got HTTP 404 response")
        );
        assert_eq!(
            message_of(Some("plain words")).as_deref(),
            Some("plain words")
        );
        assert_eq!(message_of(Some("  ")), None);
    }
}
