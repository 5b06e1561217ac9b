//! The report files: RFC 4180 CSV with design.md's columns, written atomically; the orphans
//! and numbers files share the writer.
//!
//! A report file is written to a temporary file in the destination's folder, synced, and
//! renamed over the destination only when complete: a reader (or the next morning's mail)
//! never sees half a report, and a failed run leaves the previous one untouched. Files are
//! created with mode 0600 because phone numbers are personal data. `-` streams to stdout; a
//! device or FIFO is written in place ([`crate::output`] owns those rules).

pub mod numbers;
pub mod orphans;
pub mod spend;

use crate::output::{self, OutFile};
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

/// One report row. Field order is the column order; new columns only ever go at the end.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Row {
    pub ledger_id: Option<i64>,
    pub external_ref: Option<String>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub intended_at: Option<String>,
    pub call_sid: Option<String>,
    pub outcome: String,
    pub twilio_status: Option<String>,
    pub error_code: Option<i64>,
    pub error_category: Option<String>,
    pub error_message: String,
    pub error_source: String,
    pub sip_response_code: Option<i64>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub duration_s: Option<String>,
    pub price: Option<String>,
    pub price_unit: Option<String>,
    pub direction: Option<String>,
    pub answered_by: Option<String>,
    pub matched_by: Option<String>,
    pub backfilled: bool,
    pub account_sid: Option<String>,
}

/// The header, for documentation and tests.
pub const COLUMNS: [&str; 23] = [
    "ledger_id",
    "external_ref",
    "to",
    "from",
    "intended_at",
    "call_sid",
    "outcome",
    "twilio_status",
    "error_code",
    "error_category",
    "error_message",
    "error_source",
    "sip_response_code",
    "start_time",
    "end_time",
    "duration_s",
    "price",
    "price_unit",
    "direction",
    "answered_by",
    "matched_by",
    "backfilled",
    "account_sid",
];

/// Writes rows as they come; nothing is visible at a file destination until
/// [`Writer::finish`] (see [`crate::output`] for what each kind of destination gets).
pub struct Writer {
    csv: csv::Writer<OutFile>,
    excel_safe: bool,
    pub rows: u64,
}

impl Writer {
    /// A report with the report's columns. `dest` is a file path, or `-` for stdout.
    pub fn create(dest: &Path) -> Result<Writer> {
        Writer::with_header(dest, &COLUMNS)
    }

    /// A CSV file with the given header, written the same careful way.
    pub fn with_header(dest: &Path, header: &[&str]) -> Result<Writer> {
        let out = OutFile::create(dest, output::PRIVATE)?;
        Writer::new(out, header)
    }

    fn new(out: OutFile, header: &[&str]) -> Result<Writer> {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        // The header is written even when no row follows: an empty window is a header-only report.
        csv.write_record(header).context("writing the report")?;
        Ok(Writer {
            csv,
            excel_safe: false,
            rows: 0,
        })
    }

    /// Neutralises cells a spreadsheet would run as a formula (see [`excel_safe`]).
    pub fn excel_safe(mut self, on: bool) -> Writer {
        self.excel_safe = on;
        self
    }

    pub fn write<S: Serialize>(&mut self, row: &S) -> Result<()> {
        if self.excel_safe {
            let record: Vec<String> = to_fields(row)?.iter().map(excel_safe).collect();
            self.csv
                .write_record(&record)
                .context("writing the report")?;
        } else {
            self.csv.serialize(row).context("writing the report")?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Flushes, syncs and renames the report into place.
    pub fn finish(self) -> Result<()> {
        let out = self
            .csv
            .into_inner()
            .map_err(|e| e.into_error())
            .context("writing the report")?;
        out.commit().context("writing the report")
    }
}

/// A row's fields as text, exactly as `serialize` would write them.
fn to_fields<S: Serialize>(row: &S) -> Result<csv::StringRecord> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.serialize(row)?;
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    Ok(r.records().next().transpose()?.unwrap_or_default())
}

/// OWASP's CSV-injection defence: a cell a spreadsheet would evaluate (starting with `=`,
/// `+`, `-`, `@`, tab or carriage return) gets a leading `'`. Plain numbers, E.164 numbers
/// (`+14155550100`) and signed decimals (`-0.01300`) are left alone: they are data, and a
/// `+`/`-` followed by more than digits (`-2+3+cmd|…`) is not.
pub fn excel_safe(cell: &str) -> String {
    let Some(first) = cell.chars().next() else {
        return String::new();
    };
    let plain_number = |s: &str| {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        let mut parts = digits.splitn(2, '.');
        let whole = parts.next().unwrap_or_default();
        let frac = parts.next();
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    match first {
        '+' | '-' if plain_number(cell) => cell.to_owned(),
        '=' | '+' | '-' | '@' | '\t' | '\r' => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_are_not() {
        for (cell, want) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("+cmd", "'+cmd"),
            ("\tx", "'\tx"),
            ("+14155550100", "+14155550100"),
            ("-0.01300", "-0.01300"),
            ("42", "42"),
            ("cust-1/inv-2", "cust-1/inv-2"),
            ("", ""),
        ] {
            assert_eq!(excel_safe(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn a_report_appears_whole_with_mode_0600_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("r.csv");
        let mut w = Writer::create(&dest).unwrap();
        w.write(&Row {
            ledger_id: Some(7),
            outcome: "busy".into(),
            price: Some("-0.01300".into()),
            ..Row::default()
        })
        .unwrap();
        assert!(!dest.exists(), "nothing at the destination before finish");
        w.finish().unwrap();
        let text = std::fs::read_to_string(&dest).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "7,,,,,,busy,,,,,,,,,,-0.01300,,,,,false,"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let abandoned = Writer::create(&dir.path().join("other.csv")).unwrap();
        drop(abandoned);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.csv")]);
    }
}
