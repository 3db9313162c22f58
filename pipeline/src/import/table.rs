//! An import file as a table: a header row, then rows of cells.
//!
//! This is the bottom of the import flow: CSV files are streamed with the `csv` crate, so a
//! tick file of any size is read in constant memory; spreadsheets (xlsx, xlsm, xlsb, xls, ods)
//! are loaded with calamine, one sheet. The importers above see only [`Header`], [`Row`] and
//! [`Cell`], and the cell readers here ([`Row::number`], [`Row::date`], ...) name the column
//! and the value in every error, so a bad row reads `column "Close": "abc" is not a number`.
//!
//! Row numbers are what a person sees: the line of a CSV record (the header is line 1), the
//! row number Excel or LibreOffice shows for a sheet.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use calamine::{Data, Reader};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use xlfeed_core::TradingDay;

/// The spreadsheet extensions calamine reads; any other file is read as CSV.
const SHEET_EXTENSIONS: &[&str] = &["xlsx", "xlsm", "xlsb", "xls", "ods"];

/// An import file, opened and checked: CSV (re-read on each pass) or one loaded sheet.
pub(crate) struct Source {
    shown: String,
    body: Body,
}

enum Body {
    Csv {
        path: PathBuf,
        delimiter: u8,
    },
    Sheet {
        /// The used range of the sheet.
        range: calamine::Range<Data>,
        /// Absolute (0-based) row and column of the range's first cell.
        start: (u32, u32),
    },
}

/// One column of the file, as bound by an importer.
#[derive(Debug, Clone)]
pub(crate) struct Col {
    /// Position in the row.
    pub(crate) index: usize,
    /// The header text, for messages.
    pub(crate) name: String,
}

/// The header row.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    names: Vec<String>,
}

/// One data row and its number as a person would see it.
pub(crate) struct Row<'a> {
    /// Line (CSV) or sheet row number, 1-based.
    pub(crate) number: u64,
    cells: Cells<'a>,
}

enum Cells<'a> {
    Csv(&'a csv::StringRecord),
    Sheet(&'a [Data]),
}

/// One cell's value, whatever the file type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Nothing (an empty CSV field is `Empty`, not `Text("")`).
    Empty,
    /// Text, trimmed.
    Text(&'a str),
    /// A spreadsheet number.
    Number(f64),
    /// A spreadsheet date or date-time.
    DateTime(NaiveDateTime),
    /// A spreadsheet error value (`#N/A`, `#DIV/0!`, ...) or a date-time no calendar has.
    Error(String),
}

/// What the source yields per data row: the row, or its number and why it cannot be read.
pub(crate) type RowItem<'a> = std::result::Result<Row<'a>, (u64, String)>;

/// What [`Source::scan`] passes on: the header once, then each data row.
pub(crate) enum Item<'a> {
    /// The header row.
    Header(&'a Header),
    /// A data row.
    Row(RowItem<'a>),
}

impl Source {
    /// Opens `path`: a spreadsheet by its extension (its first sheet, or `sheet`), anything
    /// else as CSV separated by `delimiter`. A spreadsheet that calamine cannot read, a
    /// missing sheet, or a "CSV" that is really a spreadsheet is an error here, before any row
    /// is looked at.
    pub(crate) fn open(path: &Path, delimiter: u8, sheet: Option<&str>) -> Result<Source> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let file = path.display().to_string();
        if SHEET_EXTENSIONS.contains(&ext.as_str()) {
            let mut book = calamine::open_workbook_auto(path)
                .map_err(|e| anyhow::anyhow!("{file} is not a readable .{ext} workbook: {e}"))?;
            let names = book.sheet_names();
            let name = match sheet {
                Some(s) => names
                    .iter()
                    .find(|n| n.as_str() == s)
                    .cloned()
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{file} has no sheet \"{s}\" (its sheets: {})",
                            names.join(", ")
                        )
                    })?,
                None => names
                    .first()
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("{file} has no sheets"))?,
            };
            let range = book
                .worksheet_range(&name)
                .map_err(|e| anyhow::anyhow!("{file}: cannot read sheet \"{name}\": {e}"))?;
            let start = range.start().unwrap_or((0, 0));
            return Ok(Source {
                shown: format!("{file}[{name}]"),
                body: Body::Sheet { range, start },
            });
        }
        if sheet.is_some() {
            bail!("--sheet is for spreadsheets, and {file} is read as CSV");
        }
        let mut head = [0u8; 8];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .with_context(|| format!("failed to read {file}"))?;
        let magic = &head[..n];
        if magic.starts_with(b"PK\x03\x04") || magic.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
            bail!(
                "{file} is a spreadsheet (zip or OLE container), not CSV: \
                 give it its .xlsx, .xls or .ods extension"
            );
        }
        Ok(Source {
            shown: file,
            body: Body::Csv {
                path: path.to_owned(),
                delimiter,
            },
        })
    }

    /// The file (and sheet) for messages: `rates.xlsx[Sheet1]`.
    pub(crate) fn name(&self) -> &str {
        &self.shown
    }

    /// Calls `f` with the header, then with each data row; rows whose cells are all empty are
    /// passed over. An error from `f` stops the scan and is returned.
    pub(crate) fn scan(&self, mut f: impl FnMut(Item<'_>) -> Result<()>) -> Result<()> {
        match &self.body {
            Body::Csv { path, delimiter } => {
                let mut rdr = csv::ReaderBuilder::new()
                    .delimiter(*delimiter)
                    .has_headers(false)
                    .flexible(true)
                    .from_path(path)
                    .with_context(|| format!("failed to open {}", self.shown))?;
                let mut rec = csv::StringRecord::new();
                let header = loop {
                    match rdr.read_record(&mut rec) {
                        Ok(false) => bail!("{} is empty: no header row", self.shown),
                        Ok(true) if rec.iter().all(|f| f.trim().is_empty()) => continue,
                        Ok(true) => break Header::new(rec.iter().map(str::to_owned).collect()),
                        Err(e) => bail!("{}: the header row cannot be read: {e}", self.shown),
                    }
                };
                f(Item::Header(&header))?;
                let width = header.names.len();
                loop {
                    let line = rdr.position().line();
                    match rdr.read_record(&mut rec) {
                        Ok(false) => break,
                        Ok(true) => {
                            let number = rec.position().map_or(line, |p| p.line());
                            if rec.iter().all(|f| f.trim().is_empty()) {
                                continue;
                            }
                            if rec.len() != width {
                                f(Item::Row(Err((
                                    number,
                                    format!(
                                        "has {} fields, the header has {width} \
                                         (a truncated or mangled line)",
                                        rec.len()
                                    ),
                                ))))?;
                                continue;
                            }
                            f(Item::Row(Ok(Row {
                                number,
                                cells: Cells::Csv(&rec),
                            })))?;
                        }
                        Err(e) => match e.kind() {
                            csv::ErrorKind::Utf8 { pos, .. } => {
                                let number = pos.as_ref().map_or(line, |p| p.line());
                                f(Item::Row(Err((
                                    number,
                                    "is not valid UTF-8 text".to_owned(),
                                ))))?;
                            }
                            _ => bail!("{}: cannot read line {line}: {e}", self.shown),
                        },
                    }
                }
                Ok(())
            }
            Body::Sheet { range, start } => {
                let mut rows = range.rows().enumerate().filter(|(_, r)| !all_empty(r));
                let Some((_, first)) = rows.next() else {
                    bail!("{} is empty: no header row", self.shown);
                };
                let header = Header::new(first.iter().map(header_text).collect());
                f(Item::Header(&header))?;
                for (i, cells) in rows {
                    f(Item::Row(Ok(Row {
                        number: u64::from(start.0) + i as u64 + 1,
                        cells: Cells::Sheet(cells),
                    })))?;
                }
                Ok(())
            }
        }
    }
}

fn all_empty(row: &[Data]) -> bool {
    row.iter().all(|c| match c {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    })
}

/// A header cell as text (a header of numbers or dates is unusual, but shown as it reads).
fn header_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.trim().to_owned(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// A header name reduced to what matching compares: lower-case letters and digits only, so
/// `Adj Close`, `adj_close` and `ADJ-CLOSE` are one name.
pub(crate) fn normalise(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Header {
    fn new(names: Vec<String>) -> Header {
        let names = names
            .iter()
            .map(|n| n.trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        Header { names }
    }

    /// The header cells as in the file.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The header for messages: `Date, Open, High`.
    pub(crate) fn shown(&self) -> String {
        self.names.join(", ")
    }

    /// The column whose normalised name is the first of `aliases` present; an error if two
    /// columns have that name.
    pub(crate) fn find(&self, aliases: &[&str]) -> Result<Option<Col>> {
        for alias in aliases {
            let want = normalise(alias);
            let hits: Vec<usize> = (0..self.names.len())
                .filter(|&i| normalise(&self.names[i]) == want)
                .collect();
            match hits.as_slice() {
                [] => continue,
                [i] => return Ok(Some(self.col(*i))),
                [a, b, ..] => bail!(
                    "columns {} and {} (\"{}\" and \"{}\") are the same field",
                    a + 1,
                    b + 1,
                    self.names[*a],
                    self.names[*b]
                ),
            }
        }
        Ok(None)
    }

    /// Like [`Header::find`], but the column must be there; the error names what was looked
    /// for and what the header holds.
    pub(crate) fn require(&self, what: &str, aliases: &[&str]) -> Result<Col> {
        self.find(aliases)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no {what} column (looked for {}); the header is: {}",
                aliases
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.shown()
            )
        })
    }

    /// The column at `index`.
    pub(crate) fn col(&self, index: usize) -> Col {
        Col {
            index,
            name: self.names[index].clone(),
        }
    }

    /// Header names not among `used`, non-empty ones only.
    pub(crate) fn unused(&self, used: &[&Col]) -> Vec<&str> {
        (0..self.names.len())
            .filter(|i| !used.iter().any(|c| c.index == *i) && !self.names[*i].is_empty())
            .map(|i| self.names[i].as_str())
            .collect()
    }
}

impl Row<'_> {
    /// The cell in `col`.
    pub(crate) fn cell(&self, col: &Col) -> Cell<'_> {
        match &self.cells {
            Cells::Csv(rec) => match rec.get(col.index).unwrap_or("").trim() {
                "" => Cell::Empty,
                s => Cell::Text(s),
            },
            Cells::Sheet(cells) => match cells.get(col.index).unwrap_or(&Data::Empty) {
                Data::Empty => Cell::Empty,
                Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => match s.trim() {
                    "" => Cell::Empty,
                    t => Cell::Text(t),
                },
                Data::Int(i) => Cell::Number(*i as f64),
                Data::Float(f) => Cell::Number(*f),
                Data::Bool(b) => Cell::Text(if *b { "TRUE" } else { "FALSE" }),
                Data::DateTime(dt) => sheet_datetime(dt),
                Data::Error(e) => Cell::Error(e.to_string()),
            },
        }
    }

    /// A number; `None` for an empty cell.
    pub(crate) fn number(&self, col: &Col) -> Result<Option<f64>, String> {
        cell_number(self.cell(col)).map_err(|e| in_column(col, &e))
    }

    /// A number that must be there.
    pub(crate) fn required_number(&self, col: &Col) -> Result<f64, String> {
        self.number(col)?.ok_or_else(|| in_column(col, "is empty"))
    }

    /// A whole number; `None` for an empty cell.
    pub(crate) fn integer(&self, col: &Col) -> Result<Option<i64>, String> {
        cell_integer(self.cell(col)).map_err(|e| in_column(col, &e))
    }

    /// A date; `None` for an empty cell.
    pub(crate) fn date(&self, col: &Col) -> Result<Option<TradingDay>, String> {
        cell_date(self.cell(col)).map_err(|e| in_column(col, &e))
    }

    /// A date that must be there.
    pub(crate) fn required_date(&self, col: &Col) -> Result<TradingDay, String> {
        self.date(col)?.ok_or_else(|| in_column(col, "is empty"))
    }

    /// The cell as text (numbers as they print); `None` for an empty cell.
    pub(crate) fn text(&self, col: &Col) -> Option<String> {
        match self.cell(col) {
            Cell::Empty => None,
            Cell::Text(t) => Some(t.to_owned()),
            Cell::Number(n) => Some(n.to_string()),
            Cell::DateTime(d) => Some(d.to_string()),
            Cell::Error(e) => Some(e),
        }
    }
}

/// `column "Close": <what>`.
pub(crate) fn in_column(col: &Col, what: &str) -> String {
    format!("column \"{}\": {what}", col.name)
}

fn sheet_datetime(dt: &calamine::ExcelDateTime) -> Cell<'static> {
    if dt.is_duration() {
        return Cell::Error(format!("duration {} is not a date", dt.as_f64()));
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    let date = NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d));
    let time =
        NaiveTime::from_hms_milli_opt(u32::from(h), u32::from(mi), u32::from(s), u32::from(ms));
    match (date, time) {
        (Some(date), Some(time)) => Cell::DateTime(date.and_time(time)),
        _ => Cell::Error(format!(
            "excel date serial {} is not a calendar date ({y:04}-{mo:02}-{d:02})",
            dt.as_f64()
        )),
    }
}

/// Quotes a value for a message.
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// A finite number from a cell.
pub(crate) fn cell_number(cell: Cell<'_>) -> Result<Option<f64>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Number(n) if n.is_finite() => Ok(Some(n)),
        Cell::Number(n) => Err(format!("{n} is not a finite number")),
        Cell::Text(t) => parse_number(t).map(Some),
        Cell::DateTime(d) => Err(format!("{d} is a date, not a number")),
        Cell::Error(e) => Err(format!("{} is not a number", quoted(&e))),
    }
}

/// A finite decimal number from text (`5.25`, `-0.1`, `1e3`); `inf` and `NaN` are refused.
pub(crate) fn parse_number(t: &str) -> Result<f64, String> {
    let bad = || format!("{} is not a number", quoted(t));
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return Err(bad());
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(bad()),
    }
}

/// A whole number from a cell: `100`, or a number with no fraction (`100.0`, `1e3`).
pub(crate) fn cell_integer(cell: Cell<'_>) -> Result<Option<i64>, String> {
    let shown = match &cell {
        Cell::Text(t) => {
            if let Ok(v) = t.parse::<i64>() {
                return Ok(Some(v));
            }
            quoted(t)
        }
        Cell::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let Some(v) = cell_number(cell)? else {
        return Ok(None);
    };
    // 2^63 is exactly representable; anything at or past it does not fit.
    if v.fract() != 0.0 || v.abs() >= 2f64.powi(63) {
        return Err(format!("{shown} is not a whole number"));
    }
    Ok(Some(v as i64))
}

/// A date from a cell: a spreadsheet date, or text as [`parse_date`] reads it, or a number
/// written as `yyyymmdd`.
pub(crate) fn cell_date(cell: Cell<'_>) -> Result<Option<TradingDay>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(t) => parse_date(t).map(Some),
        Cell::DateTime(d) => TradingDay::from_date(d.date())
            .map(Some)
            .map_err(|e| e.to_string()),
        Cell::Number(n) if n.fract() == 0.0 && (1.9e7..2.2e7).contains(&n) => {
            TradingDay::from_yyyymmdd(n as u32)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        Cell::Number(n) => Err(format!(
            "{n} is a number, not a date (format the column as dates, or write yyyymmdd)"
        )),
        Cell::Error(e) => Err(format!("{} is not a date", quoted(&e))),
    }
}

/// Parses a date: `YYYY-MM-DD`, `YYYYMMDD`, `YYYY/MM/DD` or US `MM/DD/YYYY` (`M/D/YYYY`),
/// optionally followed by a midnight time (`2024-01-02 00:00:00`, as pandas writes dates):
/// [`xlfeed_core::datetime::parse_date_only`], whose errors name the value and the part.
pub(crate) fn parse_date(t: &str) -> Result<TradingDay, String> {
    xlfeed_core::datetime::parse_date_only(t).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_in_the_forms_files_use() {
        let d = TradingDay::parse("2024-01-02").unwrap();
        for t in [
            "2024-01-02",
            "20240102",
            "01/02/2024",
            "1/2/2024",
            "2024/01/02",
            "2024-01-02 00:00:00",
            "2024-01-02T00:00:00Z",
            " 2024-01-02 ",
        ] {
            assert_eq!(parse_date(t), Ok(d), "{t}");
        }
        assert_eq!(
            parse_date("02/30/2024").unwrap_err(),
            "\"02/30/2024\" is not a calendar date"
        );
        assert!(parse_date("13/01/2024").unwrap_err().contains("calendar"));
        assert!(
            parse_date("2024-01-02 09:30:00")
                .unwrap_err()
                .contains("date-time")
        );
        for bad in ["", "abc", "2024-1-2", "1/2/24", "2024/1", "１/2/2024"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_and_integers() {
        assert_eq!(parse_number("5.25"), Ok(5.25));
        assert_eq!(parse_number("-1e-3"), Ok(-0.001));
        for bad in ["inf", "NaN", "1,5", "abc", "", "1e999"] {
            assert!(parse_number(bad).is_err(), "{bad}");
        }
        assert_eq!(cell_integer(Cell::Text("100")), Ok(Some(100)));
        assert_eq!(cell_integer(Cell::Text("100.0")), Ok(Some(100)));
        assert_eq!(cell_integer(Cell::Number(3.0)), Ok(Some(3)));
        assert_eq!(cell_integer(Cell::Empty), Ok(None));
        assert_eq!(
            cell_integer(Cell::Text("1.5")).unwrap_err(),
            "\"1.5\" is not a whole number"
        );
        assert!(cell_integer(Cell::Number(1e19)).is_err());
        assert_eq!(
            cell_date(Cell::Number(20240102.0)),
            Ok(Some(TradingDay::parse("2024-01-02").unwrap()))
        );
        assert!(
            cell_date(Cell::Number(45293.0))
                .unwrap_err()
                .contains("not a date")
        );
    }

    #[test]
    fn header_matching_ignores_case_and_punctuation() {
        let h = Header::new(vec![
            "\u{feff}Date".into(),
            "Adj Close".into(),
            "close".into(),
            "".into(),
        ]);
        assert_eq!(h.require("date", &["date"]).unwrap().index, 0);
        assert_eq!(h.find(&["adj_close"]).unwrap().unwrap().index, 1);
        assert_eq!(h.find(&["missing", "CLOSE"]).unwrap().unwrap().index, 2);
        let e = h.require("price", &["price", "last"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no price column (looked for \"price\", \"last\"); the header is: Date, Adj Close, close, "
        );
        let dup = Header::new(vec!["Close".into(), "close".into()]);
        assert!(
            dup.find(&["close"])
                .unwrap_err()
                .to_string()
                .contains("same field")
        );
        assert_eq!(h.unused(&[&h.col(0)]), vec!["Adj Close", "close"]);
    }

    proptest! {
        #[test]
        fn date_parsing_never_panics(s in "\\PC{0,24}") {
            let _ = parse_date(&s);
            let _ = parse_number(&s);
            let _ = cell_integer(Cell::Text(&s));
        }

        #[test]
        fn every_form_of_a_date_reads_back(days in 0u64..100_000) {
            let date = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Days::new(days);
            if let Ok(d) = TradingDay::from_date(date) {
                prop_assert_eq!(parse_date(&d.to_string()), Ok(d));
                prop_assert_eq!(parse_date(&d.yyyymmdd().to_string()), Ok(d));
                prop_assert_eq!(parse_date(&date.format("%m/%d/%Y").to_string()), Ok(d));
                prop_assert_eq!(parse_date(&date.format("%-m/%-d/%Y").to_string()), Ok(d));
                prop_assert_eq!(cell_date(Cell::Number(f64::from(d.yyyymmdd()))), Ok(Some(d)));
            }
        }

        #[test]
        fn integers_read_back(v in any::<i64>()) {
            prop_assert_eq!(cell_integer(Cell::Text(&v.to_string())), Ok(Some(v)));
        }
    }
}
