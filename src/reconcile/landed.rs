//! Which of the SIDs the ledger names were landed, and the status and price of each, asked in
//! SID order.
//!
//! A window's rows name their calls in the order the application placed them, which is a
//! random order of SIDs. Asked row by row, every question lands on another page of the calls'
//! SID index, larger than the page cache, and its row on another page of the table: a read
//! from the file or two per row, a million for a big window, most of a report's time. So the
//! SID index is asked in SID order for the rowids, consecutive questions landing on the same
//! pages, and the rows are then read in rowid order (the order they were landed in), each
//! page of either read once.
//!
//! What a row needs of its call to be classified and counted (status, price, currency) is
//! kept in `temp.w_calls`, by ledger id: the report then reads the rest of a call (times,
//! direction…) only for the rows it writes, a fraction of a big window.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// Creates `temp.w_calls`: the status, price and currency of each matched row's call.
pub(crate) const CREATE: &str = "
    DROP TABLE IF EXISTS temp.w_calls;
    CREATE TEMP TABLE w_calls (ledger_id INTEGER PRIMARY KEY, status TEXT NOT NULL,
        price TEXT, price_unit TEXT);";

/// A SID's call, through the SID index alone.
pub(crate) const ROWID: &str = "SELECT rowid FROM recon_calls WHERE sid = ?1";

/// What `w_calls` keeps of a call.
pub(crate) const KEPT: &str = "SELECT status, price, price_unit FROM recon_calls WHERE rowid = ?1";

/// One row matched by SID: the SID, then its call's rowid, then what was found. A SID as
/// Twilio writes it (`CA` and 32 lowercase hex digits) is held as its 128-bit value in two
/// halves, whose order is the text's; others (uppercase hex) stay text, asked after the rest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Sid(u64, u64),
    Text(Box<str>),
    Row(i64),
    /// The call's status, price and currency, as indexes into [`Values`].
    Landed(u32, u32, u32),
    Missing,
}

fn pack(sid: &str) -> Slot {
    let hex = sid.strip_prefix("CA").filter(|h| h.len() == 32);
    let lower = |h: &str| {
        h.bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .then(|| u64::from_str_radix(h, 16).ok())
            .flatten()
    };
    match hex.map(|h| (lower(&h[..16]), lower(&h[16..]))) {
        Some((Some(hi), Some(lo))) => Slot::Sid(hi, lo),
        _ => Slot::Text(sid.into()),
    }
}

/// Writes a packed SID back as text, into `buf`.
fn unpack(hi: u64, lo: u64, buf: &mut String) -> &str {
    use std::fmt::Write;
    buf.clear();
    write!(buf, "CA{hi:016x}{lo:016x}").expect("writing to a String");
    buf
}

/// The distinct texts of a column (a handful of statuses and currencies, a few hundred
/// prices), each held once; NULL is `u32::MAX`.
#[derive(Default)]
struct Values {
    index: HashMap<String, u32>,
    texts: Vec<String>,
}

impl Values {
    fn intern(&mut self, text: Option<&str>) -> u32 {
        let Some(text) = text else {
            return u32::MAX;
        };
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.texts.len() as u32;
        self.texts.push(text.to_owned());
        self.index.insert(text.to_owned(), i);
        i
    }

    fn get(&self, i: u32) -> Option<&str> {
        self.texts.get(i as usize).map(String::as_str)
    }
}

/// The status, price and currency of calls, interned.
#[derive(Default)]
struct Calls {
    statuses: Values,
    prices: Values,
    units: Values,
}

impl Calls {
    /// A call read as `status, price, price_unit`.
    fn landed(&mut self, r: &rusqlite::Row) -> Result<Slot> {
        Ok(Slot::Landed(
            self.statuses.intern(r.get_ref(0)?.as_str_or_null()?),
            self.prices.intern(r.get_ref(1)?.as_str_or_null()?),
            self.units.intern(r.get_ref(2)?.as_str_or_null()?),
        ))
    }

    fn get(
        &self,
        status: u32,
        price: u32,
        unit: u32,
    ) -> (Option<&str>, Option<&str>, Option<&str>) {
        (
            self.statuses.get(status),
            self.prices.get(price),
            self.units.get(unit),
        )
    }
}

/// Replaces every SID slot, in order, with what `find` says of it.
fn ask(slots: &mut [(Slot, i64)], mut find: impl FnMut(&str) -> Result<Slot>) -> Result<()> {
    let mut buf = String::with_capacity(34);
    for (slot, _) in slots {
        let sid = match slot {
            Slot::Sid(hi, lo) => unpack(*hi, *lo, &mut buf),
            Slot::Text(text) => &**text,
            _ => continue,
        };
        *slot = find(sid)?;
    }
    Ok(())
}

/// SIDs asked at once, 32 bytes each: whatever the window, this holds at most 32 MiB. A
/// window with more asks the calls' table once per chunk, each time in SID order.
const CHUNK: usize = 1 << 20;

/// Finds the call of every row matched by SID (`matched_by = 'sid'`), fills `temp.w_calls`
/// for those landed and returns the ids of the rows whose call is not in `recon_calls`.
pub(crate) fn probe(conn: &Connection) -> Result<Vec<i64>> {
    probe_in_chunks(conn, CHUNK)
}

fn probe_in_chunks(conn: &Connection, chunk: usize) -> Result<Vec<i64>> {
    let mut read = conn.prepare(
        "SELECT sid, ledger_id FROM w_rows WHERE matched_by = 'sid' AND ledger_id >= ?1
         ORDER BY ledger_id LIMIT ?2",
    )?;
    let mut insert = conn.prepare(
        "INSERT OR REPLACE INTO w_calls (ledger_id, status, price, price_unit)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut values = Calls::default();
    let mut missing = Vec::new();
    let mut from = Some(i64::MIN);
    while let Some(first) = from {
        let mut slots: Vec<(Slot, i64)> = Vec::new();
        let mut rows = read.query(params![first, chunk as i64])?;
        while let Some(r) = rows.next()? {
            slots.push((pack(r.get_ref(0)?.as_str()?), r.get(1)?));
        }
        drop(rows);
        // Rows come in ledger id order: the next chunk starts after the last.
        from = match slots.last() {
            Some(&(_, last)) if slots.len() == chunk => last.checked_add(1),
            _ => None,
        };
        find(conn, &mut slots, &mut values)?;
        // Written in ledger id order: appended to the table's B-tree, never inserted between.
        slots.sort_unstable_by_key(|(_, id)| *id);
        for (slot, id) in &slots {
            match slot {
                Slot::Landed(s, p, u) => {
                    let (status, price, unit) = values.get(*s, *p, *u);
                    insert.execute(params![id, status, price, unit])?;
                }
                _ => missing.push(*id),
            }
        }
    }
    Ok(missing)
}

/// Replaces each SID with its call's status, price and currency, or `Missing`.
fn find(conn: &Connection, slots: &mut [(Slot, i64)], values: &mut Calls) -> Result<()> {
    // Packed SIDs sort before text ones, each in text order.
    slots.sort_unstable();
    let mut rowid = conn.prepare_cached(ROWID)?;
    ask(slots, |sid| {
        Ok(rowid
            .query_row([sid], |r| r.get(0))
            .optional()?
            .map_or(Slot::Missing, Slot::Row))
    })?;
    slots.sort_unstable();
    let mut call = conn.prepare_cached(KEPT)?;
    for (slot, _) in slots.iter_mut() {
        if let Slot::Row(rowid) = *slot {
            let mut rows = call.query([rowid])?;
            *slot = match rows.next()? {
                Some(r) => values.landed(r)?,
                None => Slot::Missing,
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_sids_pack_in_text_order_and_others_stay_text() {
        let a = "CA0123456789abcdef0123456789abcdef";
        let b = "CA0123456789abcdef0123456789abcdf0";
        let (pa, pb) = (pack(a), pack(b));
        assert!(pa < pb);
        let Slot::Sid(hi, lo) = pa else {
            panic!("a lowercase SID packs")
        };
        assert_eq!(unpack(hi, lo, &mut String::new()), a);
        assert_eq!(
            pack("CA0123456789ABCDEF0123456789abcdef"),
            Slot::Text("CA0123456789ABCDEF0123456789abcdef".into())
        );
        assert!(matches!(pack("CA12"), Slot::Text(_)));
    }

    /// In chunks smaller than the rows, on callrecon's own schema.
    #[test]
    fn finds_every_landed_call_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(
            &dir.path().join("l.db"),
            crate::store::OpenMode::CreateIfMissing,
        )
        .unwrap();
        let conn = &store.conn;
        let sid = |n: u32| format!("CA{n:032x}");
        let upper = "CA0000000000000000000000000000000B";
        conn.execute_batch(
            "CREATE TEMP TABLE w_rows (ledger_id INTEGER PRIMARY KEY, sid TEXT, matched_by TEXT);",
        )
        .unwrap();
        conn.execute_batch(CREATE).unwrap();
        // Landed in another order than the SIDs'; one SID in uppercase hex.
        let calls = [
            (sid(7), "busy", Some("0.00000")),
            (sid(3), "completed", None),
            (sid(5), "completed", Some("-0.01400")),
            (upper.to_owned(), "failed", None),
        ];
        for (sid, status, price) in &calls {
            conn.execute(
                "INSERT INTO recon_calls (sid, status, price, price_unit, landed_at)
                 VALUES (?1, ?2, ?3, 'USD', 0)",
                params![sid, status, price],
            )
            .unwrap();
        }
        let rows = [
            (10, sid(5), Some("sid")),
            (11, sid(4), Some("sid")),
            (12, sid(3), Some("sid")),
            (13, upper.to_owned(), Some("sid")),
            (14, sid(7), None),
            (15, sid(7), Some("sid")),
            (16, upper.replace('B', "C"), Some("sid")),
        ];
        for (id, sid, by) in &rows {
            conn.execute(
                "INSERT INTO w_rows VALUES (?1, ?2, ?3)",
                params![id, sid, by],
            )
            .unwrap();
        }
        assert_eq!(probe_in_chunks(conn, 2).unwrap(), vec![11, 16]);
        let found: Vec<(i64, String, Option<String>)> = conn
            .prepare("SELECT ledger_id, status, price FROM w_calls ORDER BY ledger_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let want = [
            (10, "completed", Some("-0.01400")),
            (12, "completed", None),
            (13, "failed", None),
            (15, "busy", Some("0.00000")),
        ]
        .map(|(id, s, p)| (id, s.to_owned(), p.map(str::to_owned)));
        assert_eq!(found, want);
    }
}
