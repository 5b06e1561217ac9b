//! callrecon's own tables, as an append-only list of migrations.
//!
//! The version lives in `recon_meta` (not SQLite's `user_version`, which belongs to the
//! application that shares the file). Never edit or reorder an entry: add one at the end.

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
];
