//! Error codes found on Twilio's side for a call: Monitor alerts and call notifications,
//! landed by `fetch`. Twilio files `<Dial>` errors on the parent call, so a child leg's codes
//! include its parent's.
//!
//! Within a source: ERROR before WARNING, then the latest, then the lowest SID (a stable
//! tie-break). Codes about the application's own webhook endpoint (15003, 112xx) and
//! non-numeric codes are never candidates.

use super::classify::TwilioCode;
use anyhow::Result;
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

pub(crate) const ALERT: &str = "SELECT error_code, text FROM recon_alerts
    WHERE resource_sid IN (?1, ?2) AND error_code IS NOT NULL
      AND log_level IN ('error', 'warning')
      AND error_code <> 15003 AND error_code NOT BETWEEN 11200 AND 11299
    ORDER BY log_level = 'error' DESC, generated_at DESC, sid LIMIT 1";

pub(crate) const NOTIFICATION: &str = "SELECT error_code, text FROM recon_notifications
    WHERE call_sid IN (?1, ?2) AND error_code IS NOT NULL AND log IN (0, 1)
      AND error_code <> 15003 AND error_code NOT BETWEEN 11200 AND 11299
    ORDER BY log, message_at DESC, sid LIMIT 1";

/// Whether a call or its parent has any alert or notification at all: four index probes,
/// where each of the queries above builds two temporary B-trees (its `IN` list, its `ORDER
/// BY`) even when nothing matches. Most calls have none.
pub(crate) const ANY: &str = "SELECT EXISTS (SELECT 1 FROM recon_alerts WHERE resource_sid = ?1)
    OR EXISTS (SELECT 1 FROM recon_alerts WHERE resource_sid = ?2)
    OR EXISTS (SELECT 1 FROM recon_notifications WHERE call_sid = ?1)
    OR EXISTS (SELECT 1 FROM recon_notifications WHERE call_sid = ?2)";

pub struct Finder<'c> {
    any: CachedStatement<'c>,
    alert: CachedStatement<'c>,
    notification: CachedStatement<'c>,
}

impl<'c> Finder<'c> {
    pub fn new(conn: &'c Connection) -> Result<Finder<'c>> {
        Ok(Finder {
            any: conn.prepare_cached(ANY)?,
            alert: conn.prepare_cached(ALERT)?,
            notification: conn.prepare_cached(NOTIFICATION)?,
        })
    }

    /// The best alert, else the best notification, of a call that did not connect; a
    /// completed or still running call is not looked up (two queries a row, on most rows of
    /// a big window, for codes that would explain nothing).
    pub fn codes(
        &mut self,
        call: &str,
        parent: Option<&str>,
        status: Option<&str>,
    ) -> Result<(Option<TwilioCode>, Option<TwilioCode>)> {
        if !matches!(status, Some("failed" | "busy" | "no-answer" | "canceled")) {
            return Ok((None, None));
        }
        self.best(call, parent)
    }

    /// The best alert, else the best notification, of a call (or its parent).
    pub fn best(
        &mut self,
        call: &str,
        parent: Option<&str>,
    ) -> Result<(Option<TwilioCode>, Option<TwilioCode>)> {
        if !self.any.query_row(params![call, parent], |r| r.get(0))? {
            return Ok((None, None));
        }
        let alert = self.alert(call, parent)?;
        let notification = match alert {
            Some(_) => None,
            None => self.notification(call, parent)?,
        };
        Ok((alert, notification))
    }

    pub fn alert(&mut self, call: &str, parent: Option<&str>) -> Result<Option<TwilioCode>> {
        find(&mut self.alert, call, parent)
    }

    pub fn notification(&mut self, call: &str, parent: Option<&str>) -> Result<Option<TwilioCode>> {
        find(&mut self.notification, call, parent)
    }
}

fn find(
    stmt: &mut CachedStatement,
    call: &str,
    parent: Option<&str>,
) -> Result<Option<TwilioCode>> {
    Ok(stmt
        .query_row(params![call, parent], |r| {
            Ok(TwilioCode {
                code: r.get(0)?,
                text: r.get(1)?,
            })
        })
        .optional()?)
}
