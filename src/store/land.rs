//! Landing: Twilio's calls into `recon_calls`, one transaction per page.
//!
//! A page is upserted by `sid`. When the same call arrives twice (two partitions, a rerun, a
//! status that changed while the run paged), the copy with the newest `date_updated` wins, so
//! the order in which pages land does not matter.

use super::Store;
use crate::phone::Normalizer;
use crate::timefmt::parse_rfc2822;
use crate::twilio::model::Call;
use anyhow::Result;
use rusqlite::params;

const UPSERT: &str = "INSERT INTO recon_calls (sid, account_sid, parent_call_sid, direction,
        from_raw, to_raw, from_norm, to_norm, status, date_created, date_updated, start_time,
        end_time, call_time, duration, price, price_unit, answered_by, landed_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
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

impl Store {
    /// Upserts one page of calls in one transaction. Returns how many calls it held.
    pub fn land_calls(
        &mut self,
        calls: &[Call],
        numbers: &mut Normalizer,
        now: i64,
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(UPSERT)?;
            for call in calls {
                let ts = |t: &Option<String>| {
                    t.as_deref().and_then(parse_rfc2822).map(|t| t.timestamp())
                };
                let created = ts(&call.date_created);
                let start = ts(&call.start_time);
                let to_norm = call.to.as_deref().map(|n| numbers.normalize(n).key);
                let from_norm = call.from.as_deref().map(|n| numbers.normalize(n).key);
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
        }
        tx.commit()?;
        Ok(calls.len())
    }

    /// Records that a UTC day of an account was listed completely.
    pub fn mark_day_landed(
        &self,
        account_sid: &str,
        day: &str,
        calls: u64,
        now: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO recon_days (account_sid, day, calls, landed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(account_sid, day) DO UPDATE SET calls = excluded.calls,
                 landed_at = excluded.landed_at",
            params![account_sid, day, calls as i64, now],
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

    /// Forgets a SID marked unknown, once Twilio has it after all (eventual consistency).
    pub fn clear_sid_unknown(&self, sid: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM recon_unknown_sids WHERE sid = ?1", [sid])?;
        Ok(())
    }
}
