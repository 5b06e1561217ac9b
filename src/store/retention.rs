//! Retention: callrecon's own copies of Twilio's data (calls, alerts, notifications) and its
//! audit trail hold phone numbers, so they are pruned once older than `--retain-days`, after
//! a successful run. The application's `intended_calls` is never pruned: it is not ours.
//!
//! Deletes go in small batches so the application's writers never wait long. The file does
//! not shrink by itself (SQLite reuses the pages); README says how to reclaim the space.

use super::Store;
use anyhow::Result;
use rusqlite::params;

/// Rows per delete transaction.
const BATCH: i64 = 5_000;

/// What the horizon means for each table: its key and the column that dates a row.
const TABLES: [(&str, &str, &str); 8] = [
    ("recon_calls", "sid", "coalesce(call_time, landed_at)"),
    ("recon_alerts", "sid", "coalesce(generated_at, landed_at)"),
    (
        "recon_notifications",
        "sid",
        "coalesce(message_at, landed_at)",
    ),
    ("recon_lookups", "call_sid", "looked_up_at"),
    ("recon_unknown_sids", "sid", "checked_at"),
    ("recon_audit", "audit_id", "changed_at"),
    ("recon_followups", "ledger_id", "intended_ts"),
    ("recon_fetches", "fetch_id", "started_at"),
];

#[derive(Debug, Default, Clone, Copy)]
pub struct Pruned {
    pub rows: u64,
}

impl Store {
    /// Deletes callrecon's rows dated before `cutoff` (Unix seconds), and remembers the
    /// horizon so that a report of an older window is refused.
    pub fn prune(&mut self, cutoff: i64) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        for (table, key, date) in TABLES {
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {date} < ?1 LIMIT {BATCH})"
            );
            loop {
                let n = self.conn.execute(&sql, [cutoff])?;
                pruned.rows += n as u64;
                if (n as i64) < BATCH {
                    break;
                }
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
        self.conn.execute(
            "INSERT INTO recon_meta (key, value) VALUES ('retention_horizon', ?1)
             ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), excluded.value)",
            params![cutoff.to_string()],
        )?;
        Ok(pruned)
    }

    /// The oldest instant whose data is still complete, when a prune has run.
    pub fn retention_horizon(&self) -> Result<Option<i64>> {
        let value: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM recon_meta WHERE key = 'retention_horizon'",
                [],
                |r| r.get(0),
            )
            .ok();
        Ok(value.and_then(|v| v.parse().ok()))
    }
}
