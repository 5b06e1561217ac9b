//! Retention: callrecon's own copies of Twilio's data (calls, alerts, notifications) and its
//! audit trail hold phone numbers, so they are pruned once older than `--retain-days`, after
//! a successful run. The application's `intended_calls` is never pruned: it is not ours.
//!
//! Deletes go in small batches so the application's writers never wait long. The file does
//! not shrink by itself (SQLite reuses the pages); README says how to reclaim the space.

use super::Store;
use anyhow::Result;
use rusqlite::{OptionalExtension, params};

/// Rows per delete transaction.
const BATCH: i64 = 5_000;

/// What the horizon means for each table: its key and the column that dates a row.
const TABLES: [(&str, &str, &str); 9] = [
    ("recon_calls", "sid", "coalesce(call_time, landed_at)"),
    ("recon_alerts", "sid", "coalesce(generated_at, landed_at)"),
    (
        "recon_notifications",
        "sid",
        "coalesce(message_at, landed_at)",
    ),
    ("recon_lookups", "call_sid", "looked_up_at"),
    ("recon_unknown_sids", "sid", "checked_at"),
    ("recon_sid_lookups", "sid", "looked_up_at"),
    ("recon_audit", "audit_id", "changed_at"),
    ("recon_followups", "ledger_id", "intended_ts"),
    ("recon_fetches", "fetch_id", "started_at"),
];

/// What a prune removed, per table, and the horizon it pruned to.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Pruned {
    pub rows: u64,
    pub by_table: Vec<(&'static str, u64)>,
    /// The horizon pruned to (Unix seconds), when there was data to date it by.
    pub horizon: Option<i64>,
}

/// Where retention stands: what the clock and the data allow now, and what earlier prunes
/// already removed.
#[derive(Debug, Clone, Copy)]
pub struct Horizon {
    /// `min(now, newest landed call, wall clock) − retain`: never later than the data allows, so
    /// a clock set years ahead cannot make today's data look old. `None` while no call is
    /// landed (nothing to date the data by: nothing is pruned, nothing refused for it).
    pub allowed: Option<i64>,
    /// The furthest any earlier prune went; it only moves forward.
    pub stored: Option<i64>,
}

impl Horizon {
    /// The oldest instant a report may start at: older data is gone, or is about to be.
    pub fn oldest_reportable(&self) -> Option<i64> {
        match (self.allowed, self.stored) {
            (Some(a), Some(s)) => Some(a.max(s)),
            (a, s) => a.or(s),
        }
    }
}

impl Store {
    /// The retention horizon for `now` and `retain_secs` (see [`Horizon`]).
    pub fn horizon(&self, now: i64, retain_secs: i64) -> Result<Horizon> {
        let newest: Option<i64> =
            self.conn
                .query_row("SELECT max(call_time) FROM recon_calls", [], |r| r.get(0))?;
        // Nor later than the machine's clock: a call dated in the future (a skewed server or
        // proxy) with a `--now` set ahead must not store a horizon that refuses every night.
        let wall = chrono::Utc::now().timestamp();
        Ok(Horizon {
            allowed: newest.map(|n| n.min(now).min(wall).saturating_sub(retain_secs)),
            stored: self.retention_horizon()?,
        })
    }

    /// Deletes callrecon's rows dated before the horizon that `now` and the data allow
    /// (never further than `min(now, newest landed call) − retain`), and remembers it so that
    /// a report of an older window is refused.
    pub fn prune(&mut self, now: i64, retain_secs: i64) -> Result<Pruned> {
        let Some(cutoff) = self.horizon(now, retain_secs)?.allowed else {
            return Ok(Pruned::default());
        };
        let mut pruned = Pruned {
            horizon: Some(cutoff),
            ..Pruned::default()
        };
        for (table, key, date) in TABLES {
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {date} < ?1 LIMIT {BATCH})"
            );
            let mut removed = 0u64;
            loop {
                let n = self.conn.execute(&sql, [cutoff])?;
                removed += n as u64;
                if (n as i64) < BATCH {
                    break;
                }
            }
            pruned.rows += removed;
            if removed > 0 {
                pruned.by_table.push((table, removed));
            }
        }
        let day = chrono::DateTime::from_timestamp(cutoff, 0)
            .map(|t| t.date_naive().to_string())
            .unwrap_or_default();
        self.conn
            .execute("DELETE FROM recon_days WHERE day < ?1", [day])?;
        self.conn.execute(
            "DELETE FROM recon_progress WHERE fetch_id NOT IN (SELECT fetch_id FROM recon_fetches)",
            [],
        )?;
        self.conn
            .execute("DELETE FROM recon_runs WHERE started_at < ?1", [cutoff])?;
        // Both sides as integers: SQLite orders any text above any integer, so comparing the
        // stored text with a number would let the horizon move backwards.
        self.conn.execute(
            "INSERT INTO recon_meta (key, value) VALUES ('retention_horizon', ?1)
             ON CONFLICT(key) DO UPDATE SET value = CAST(max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)",
            params![cutoff.to_string()],
        )?;
        Ok(pruned)
    }

    /// The furthest horizon any prune went to, when one has run.
    fn retention_horizon(&self) -> Result<Option<i64>> {
        let value: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM recon_meta WHERE key = 'retention_horizon'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(value.and_then(|v| v.trim().parse().ok()))
    }
}
