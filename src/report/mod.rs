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
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

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
    csv: csv::Writer<Out>,
    excel_safe: bool,
    pub rows: u64,
    /// What the file is, for messages: "the report", or the path of another CSV file.
    name: String,
}

/// Where rows go while they are written.
enum Out {
    /// Straight to the destination (invisible there until committed, for a file).
    Direct(OutFile),
    /// To an unnamed temporary file first: the report, whose rows may only reach their
    /// destination once the write-back behind them has committed (stdout, a device or a
    /// FIFO show what they are given at once), and whose `backfilled` column is corrected
    /// for the rows whose write-back did not commit.
    Spooled {
        spool: BufWriter<File>,
        dest: PathBuf,
    },
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Direct(f) => f.write(buf),
            Out::Spooled { spool, .. } => spool.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Direct(f) => f.flush(),
            Out::Spooled { spool, .. } => spool.flush(),
        }
    }
}

impl Writer {
    /// A report with the report's columns. `dest` is a file path, or `-` for stdout. Its
    /// rows are spooled until [`Writer::finish_correcting`].
    pub fn create(dest: &Path) -> Result<Writer> {
        let out = match output::target(dest)? {
            // A file appears only when committed: its rows go straight to its temporary file.
            output::Target::Atomic(_) => Out::Direct(OutFile::create(dest, output::PRIVATE)?),
            _ => {
                let spool = tempfile::tempfile().context("creating the report's spool file")?;
                Out::Spooled {
                    spool: BufWriter::with_capacity(1 << 16, spool),
                    dest: dest.to_owned(),
                }
            }
        };
        Writer::new(out, &COLUMNS, "the report".to_owned())
    }

    /// A CSV file with the given header, written the same careful way.
    pub fn with_header(dest: &Path, header: &[&str]) -> Result<Writer> {
        let out = OutFile::create(dest, output::PRIVATE)?;
        Writer::new(Out::Direct(out), header, dest.display().to_string())
    }

    fn new(out: Out, header: &[&str], name: String) -> Result<Writer> {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        // The header is written even when no row follows: an empty window is a header-only report.
        csv.write_record(header)
            .with_context(|| format!("writing {name}"))?;
        Ok(Writer {
            csv,
            excel_safe: false,
            rows: 0,
            name,
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
                .with_context(|| format!("writing {}", self.name))?;
        } else {
            self.csv
                .serialize(row)
                .with_context(|| format!("writing {}", self.name))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Flushes, syncs and renames the report into place.
    pub fn finish(self) -> Result<()> {
        self.finish_correcting(&HashSet::new())
    }

    /// Like [`Writer::finish`], with `backfilled` set to `false` on the rows of `not_backfilled`
    /// first: rows whose write-back did not commit (the application wrote the row in between)
    /// must not claim it.
    pub fn finish_correcting(self, not_backfilled: &HashSet<i64>) -> Result<()> {
        let name = self.name;
        let out = self
            .csv
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {name}"))?;
        match out {
            Out::Direct(mut f) if !not_backfilled.is_empty() => {
                // Rare (the application wrote rows during the run): the file is written
                // again, corrected, and the first attempt is dropped unseen.
                let Some(mut written) = f.written_so_far()? else {
                    return f.commit().with_context(|| format!("writing {name}"));
                };
                written.rewind().context("reading the report back")?;
                let dest = f.destination().to_owned();
                let mut target = OutFile::create(&dest, output::PRIVATE)?;
                correct_backfilled(written, &mut target, not_backfilled)?;
                drop(f);
                target.commit().with_context(|| format!("writing {name}"))
            }
            Out::Direct(f) => f.commit().with_context(|| format!("writing {name}")),
            Out::Spooled { spool, dest } => {
                let mut spool = spool
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .context("writing the report")?;
                spool.rewind().context("reading the report back")?;
                let mut target = OutFile::create(&dest, output::PRIVATE)?;
                correct_backfilled(spool, &mut target, not_backfilled)?;
                target.commit().context("writing the report")
            }
        }
    }
}

/// Copies a report from `source` to `target`, with `backfilled` set to `false` on the rows
/// whose ledger id is in `ids` (a plain copy when there are none). Re-serialising with the
/// same writer settings gives the same bytes for every other row.
fn correct_backfilled(
    mut source: impl std::io::Read,
    mut target: impl Write,
    ids: &HashSet<i64>,
) -> Result<()> {
    if ids.is_empty() {
        std::io::copy(&mut source, &mut target).context("writing the report")?;
        return target.flush().context("writing the report");
    }
    let column = COLUMNS
        .iter()
        .position(|c| *c == "backfilled")
        .expect("a report column");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(source);
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_writer(BufWriter::with_capacity(1 << 16, target));
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .context("reading the report back")?
    {
        let id = std::str::from_utf8(record.get(0).unwrap_or_default())
            .ok()
            .and_then(|t| t.parse::<i64>().ok());
        if id.is_some_and(|id| ids.contains(&id)) && record.len() > column {
            let fields: Vec<&[u8]> = record
                .iter()
                .enumerate()
                .map(|(i, f)| if i == column { &b"false"[..] } else { f })
                .collect();
            writer.write_record(&fields).context("writing the report")?;
        } else {
            writer
                .write_byte_record(&record)
                .context("writing the report")?;
        }
    }
    writer.flush().context("writing the report")?;
    Ok(())
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
