//! The one place a ledger value is read: any SQLite value (NULL, integer, real, text that is
//! not UTF-8, blob) becomes something callrecon can use, or a reason naming the column.
//!
//! SQLite lets the application store anything in any column, and one bad byte once ended
//! the whole night (`invalid utf-8 sequence … at index 0`, naming neither row nor column).
//! The rules (design.md, "A row callrecon cannot read"):
//! - `to_number` and `intended_at` are needed to reconcile a row: a value that is not text
//!   makes the row unreadable (reported with an empty outcome, never fatal);
//! - `external_ref` and `from_number` are shown lossily (U+FFFD for bad bytes), with a note,
//!   and the row is still reconciled (a garbled caller ID is not used for matching);
//! - a bad `call_sid` counts as no SID, with a note;
//! - an INTEGER column holding something that is not an integer is a problem of the row.

use rusqlite::types::ValueRef;
use std::borrow::Cow;

/// A ledger value as read, whatever its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    /// Not text callrecon can read: `lossy` shows it with U+FFFD, `what` says why.
    Bad {
        lossy: String,
        what: &'static str,
    },
}

impl Cell {
    pub fn from_ref(value: ValueRef<'_>) -> Cell {
        match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(n) => Cell::Integer(n),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => Cell::Text(s.to_owned()),
                Err(_) => Cell::Bad {
                    lossy: String::from_utf8_lossy(bytes).into_owned(),
                    what: "is not valid UTF-8",
                },
            },
            ValueRef::Blob(bytes) => Cell::Bad {
                lossy: String::from_utf8_lossy(bytes).into_owned(),
                what: "is a BLOB, not text",
            },
        }
    }

    /// Column `i` of a row; never fails on the value's type or bytes.
    pub fn get(row: &rusqlite::Row, i: usize) -> rusqlite::Result<Cell> {
        Ok(Cell::from_ref(row.get_ref(i)?))
    }

    /// The value as text when it is readable text or a number (numbers as SQLite shows them),
    /// borrowed where it can be: the scan reads every row of a window through here.
    pub fn text_cow(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Null | Cell::Bad { .. } => None,
            Cell::Integer(n) => Some(Cow::Owned(n.to_string())),
            Cell::Real(f) => Some(Cow::Owned(f.to_string())),
            Cell::Text(s) => Some(Cow::Borrowed(s)),
        }
    }

    /// `text_cow`, or the lossy text of a bad value.
    pub fn shown_cow(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Bad { lossy, .. } => Some(Cow::Borrowed(lossy)),
            other => other.text_cow(),
        }
    }

    /// [`Cell::text_cow`], owned.
    pub fn text(&self) -> Option<String> {
        self.text_cow().map(Cow::into_owned)
    }

    /// [`Cell::shown_cow`], owned.
    pub fn shown(&self) -> Option<String> {
        self.shown_cow().map(Cow::into_owned)
    }
}

/// Readable text without a copy, for scans that only count (the fetch's shape of a day):
/// anything else, bad bytes included, is none.
pub fn text_ref(value: ValueRef<'_>) -> Option<&str> {
    match value {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}

/// A column shown lossily: its text, and a note when it was not readable text.
pub fn lossy<'a>(column: &str, cell: &'a Cell, notes: &mut Vec<String>) -> Option<Cow<'a, str>> {
    if let Cell::Bad { what, .. } = cell {
        notes.push(format!(
            "{column} {what}; shown with U+FFFD for the bytes that are not text"
        ));
    }
    cell.shown_cow()
}

/// A column the row cannot be reconciled without: its text, or why it is unreadable.
pub fn required<'a>(column: &str, cell: &'a Cell) -> Result<Cow<'a, str>, String> {
    match cell {
        Cell::Bad { lossy, what } => Err(format!("{column} '{lossy}' {what}")),
        other => Ok(other.text_cow().unwrap_or_default()),
    }
}

/// An INTEGER column, read leniently: an integral real counts, empty text is empty; any
/// other value is returned as the text to quote.
pub fn integer(cell: &Cell) -> Result<Option<i64>, String> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Integer(n) => Ok(Some(*n)),
        Cell::Real(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(*f as i64)),
        Cell::Real(f) => Err(f.to_string()),
        Cell::Text(s) if s.trim().is_empty() => Ok(None),
        Cell::Text(s) => s.trim().parse().map(Some).map_err(|_| s.clone()),
        Cell::Bad { lossy, .. } => Err(lossy.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_value_is_read() {
        let bad = Cell::from_ref(ValueRef::Text(b"\xc3\x28"));
        assert!(matches!(&bad, Cell::Bad { lossy, .. } if lossy == "\u{fffd}("));
        let mut notes = Vec::new();
        assert_eq!(
            lossy("from_number", &bad, &mut notes).as_deref(),
            Some("\u{fffd}(")
        );
        assert!(
            notes[0].contains("from_number is not valid UTF-8"),
            "{notes:?}"
        );
        assert!(
            required("to_number", &Cell::from_ref(ValueRef::Blob(b"\x01")))
                .unwrap_err()
                .contains("to_number")
        );
        assert_eq!(
            required("to_number", &Cell::Integer(14155550100)).unwrap(),
            "14155550100"
        );
        assert_eq!(integer(&Cell::Real(13214.0)), Ok(Some(13214)));
        assert_eq!(integer(&Cell::Text(" ".into())), Ok(None));
        assert!(integer(&bad).is_err());
    }
}
