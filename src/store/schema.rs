//! callrecon's own tables, as an append-only list of migrations.
//!
//! The version lives in `recon_meta` (not SQLite's `user_version`, which belongs to the
//! application that shares the file). Never edit or reorder an entry: add one at the end.

/// Refuses (exit 2) a database written by a newer callrecon.
pub fn check_version(path: &std::path::Path, version: usize) -> anyhow::Result<()> {
    if version > MIGRATIONS.len() {
        return Err(crate::error::UsageError::new(format!(
            "{} was written by a newer callrecon (schema {version}, this one knows {}); \
             upgrade callrecon",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    Ok(())
}

/// Each entry moves the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: landed calls, landed days, and an index on the ledger's call_sid.
    "CREATE TABLE recon_calls (
        sid             TEXT PRIMARY KEY,
        account_sid     TEXT,
        parent_call_sid TEXT,
        direction       TEXT,
        from_raw        TEXT,
        to_raw          TEXT,
        from_norm       TEXT,
        to_norm         TEXT,
        status          TEXT NOT NULL,
        date_created    INTEGER,
        date_updated    INTEGER,
        start_time      INTEGER,
        end_time        INTEGER,
        call_time       INTEGER,
        duration        TEXT,
        price           TEXT,
        price_unit      TEXT,
        answered_by     TEXT,
        landed_at       INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX recon_calls_to_created ON recon_calls (to_norm, date_created);
    CREATE INDEX recon_calls_parent ON recon_calls (parent_call_sid) WHERE parent_call_sid IS NOT NULL;
    CREATE INDEX recon_calls_call_time ON recon_calls (call_time);
    CREATE TABLE recon_days (
        account_sid TEXT NOT NULL,
        day         TEXT NOT NULL,
        calls       INTEGER NOT NULL,
        landed_at   INTEGER NOT NULL,
        PRIMARY KEY (account_sid, day)
    ) WITHOUT ROWID;
    CREATE TABLE recon_unknown_sids (
        sid        TEXT PRIMARY KEY,
        checked_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS recon_intended_call_sid ON intended_calls (call_sid);",
    // 2: error codes from Twilio (alerts, notifications), write-back audit, runs, follow-ups.
    "CREATE TABLE recon_alerts (
        sid            TEXT PRIMARY KEY,
        account_sid    TEXT,
        resource_sid   TEXT,
        error_code     INTEGER,   -- NULL when Twilio's text is not a number
        error_code_raw TEXT,
        log_level      TEXT,
        generated_at   INTEGER,
        text           TEXT,      -- Twilio's own message, decoded from alert_text
        landed_at      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX recon_alerts_resource ON recon_alerts (resource_sid);
    CREATE INDEX recon_alerts_generated ON recon_alerts (generated_at);
    CREATE TABLE recon_notifications (
        sid            TEXT PRIMARY KEY,
        call_sid       TEXT NOT NULL,
        error_code     INTEGER,
        error_code_raw TEXT,
        log            INTEGER,   -- 0 ERROR, 1 WARNING
        message_at     INTEGER,
        text           TEXT,
        landed_at      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX recon_notifications_call ON recon_notifications (call_sid);
    CREATE TABLE recon_lookups (
        call_sid     TEXT PRIMARY KEY,
        looked_up_at INTEGER NOT NULL,
        found        INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE recon_runs (
        run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
        command     TEXT NOT NULL,
        window_from INTEGER NOT NULL,
        window_to   INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER
    );
    CREATE TABLE recon_audit (
        audit_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        ledger_id  INTEGER NOT NULL,
        column     TEXT NOT NULL,
        old_value  TEXT,
        new_value  TEXT,
        run_id     INTEGER NOT NULL,
        changed_at INTEGER NOT NULL
    );
    CREATE INDEX recon_audit_ledger ON recon_audit (ledger_id, column);
    CREATE TABLE recon_followups (
        ledger_id     INTEGER PRIMARY KEY,
        reason        TEXT NOT NULL,      -- pending | unpriced
        window_from   INTEGER NOT NULL,   -- the window whose report first saw it unresolved
        window_to     INTEGER NOT NULL,
        intended_ts   INTEGER NOT NULL,
        call_sid      TEXT,
        resolved_from INTEGER,            -- the window whose run resolved it
        resolved_to   INTEGER,
        resolved_at   INTEGER,
        expired_at    INTEGER
    );
    CREATE INDEX recon_followups_open ON recon_followups (resolved_from, expired_at);",
    // 3: resumable fetches: each run's progress per partition.
    "CREATE TABLE recon_fetches (
        fetch_id    INTEGER PRIMARY KEY AUTOINCREMENT,
        account_sid TEXT NOT NULL,
        window_from INTEGER NOT NULL,
        window_to   INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER
    );
    CREATE TABLE recon_progress (
        fetch_id   INTEGER NOT NULL,
        partition  TEXT NOT NULL,
        next_uri   TEXT,      -- the first page not yet landed
        done       INTEGER NOT NULL,
        calls      INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (fetch_id, partition)
    ) WITHOUT ROWID;",
    // 4: find a window's ledger rows through an index instead of reading the whole ledger:
    // every accepted intended_at form starts with its date (offsets move it a day at most).
    "CREATE INDEX IF NOT EXISTS recon_intended_day ON intended_calls (substr(intended_at, 1, 10));
    CREATE INDEX IF NOT EXISTS recon_intended_dated ON intended_calls (
        intended_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*');
    CREATE INDEX IF NOT EXISTS recon_intended_from ON intended_calls (from_number);",
    // 5: listed pages land in a staging table (append-only, no index: cheap per page) and
    // are merged into recon_calls in SID order once the listing is done.
    "CREATE TABLE recon_staged (
        sid TEXT NOT NULL, account_sid TEXT, parent_call_sid TEXT, direction TEXT,
        from_raw TEXT, to_raw TEXT, from_norm TEXT, to_norm TEXT, status TEXT NOT NULL,
        date_created INTEGER, date_updated INTEGER, start_time INTEGER, end_time INTEGER,
        call_time INTEGER, duration TEXT, price TEXT, price_unit TEXT, answered_by TEXT,
        landed_at INTEGER NOT NULL
    );",
    // 6: recon_calls as a rowid table (rows of ~300 bytes land appended, only the SID index
    // takes random inserts: landing is several times faster than in a WITHOUT ROWID table
    // keyed by random SIDs), and an index of the calls still queued, ringing or in progress,
    // looked up again by SID every fetch.
    "CREATE TABLE recon_calls_rowid (
        id              INTEGER PRIMARY KEY,
        sid             TEXT NOT NULL UNIQUE,
        account_sid     TEXT,
        parent_call_sid TEXT,
        direction       TEXT,
        from_raw        TEXT,
        to_raw          TEXT,
        from_norm       TEXT,
        to_norm         TEXT,
        status          TEXT NOT NULL,
        date_created    INTEGER,
        date_updated    INTEGER,
        start_time      INTEGER,
        end_time        INTEGER,
        call_time       INTEGER,
        duration        TEXT,
        price           TEXT,
        price_unit      TEXT,
        answered_by     TEXT,
        landed_at       INTEGER NOT NULL
    );
    INSERT INTO recon_calls_rowid (sid, account_sid, parent_call_sid, direction, from_raw,
        to_raw, from_norm, to_norm, status, date_created, date_updated, start_time, end_time,
        call_time, duration, price, price_unit, answered_by, landed_at)
    SELECT sid, account_sid, parent_call_sid, direction, from_raw, to_raw, from_norm, to_norm,
        status, date_created, date_updated, start_time, end_time, call_time, duration, price,
        price_unit, answered_by, landed_at
    FROM recon_calls ORDER BY call_time;
    DROP TABLE recon_calls;
    ALTER TABLE recon_calls_rowid RENAME TO recon_calls;
    CREATE INDEX recon_calls_to_created ON recon_calls (to_norm, date_created);
    CREATE INDEX recon_calls_parent ON recon_calls (parent_call_sid) WHERE parent_call_sid IS NOT NULL;
    CREATE INDEX recon_calls_call_time ON recon_calls (call_time);
    CREATE INDEX recon_calls_unsettled ON recon_calls (call_time)
        WHERE status IN ('queued', 'ringing', 'in-progress');",
    // 7: the calls fetched one by one, and why, so that which SIDs a window looks up within
    // its bound is decided by the window alone: a call a killed run already fetched stays a
    // candidate of the rerun instead of making room for another.
    "CREATE TABLE recon_sid_lookups (
        sid          TEXT PRIMARY KEY,
        reason       TEXT NOT NULL,
        looked_up_at INTEGER NOT NULL
    );",
];
