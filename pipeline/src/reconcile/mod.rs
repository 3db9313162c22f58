//! Reconcile: an analyst's workbook checked, cell by cell, against SSDB-FEED.
//!
//! This sits beside the query side of the flow: `xlpipeline reconcile` and xlserver's
//! `POST /api/v1/reconcile` both call [`reconcile`]. A workbook goes through four layers,
//! one module each:
//!
//! - [`read`]: the bytes' format from their magic (xlsx/xlsm, xls, ods, csv), the limits
//!   (uncompressed size, cells), the refusals (password-protected, not a spreadsheet), and
//!   every sheet as a grid of cells with its merged regions;
//! - [`detect`]: the tables in those sheets: the shape `MKT.HISTORY` and the history report
//!   produce (a date column and OHLCV columns), or columns named by a mapping, and each
//!   table's symbol (parameter, a `symbol` column, a title cell, the sheet name, the About
//!   sheet);
//! - [`compare`]: each table's values against the daily bars `GET /api/v1/history` answers
//!   (stored daily bars, and bars built from the session's trades on days without one),
//!   within a tolerance;
//! - [`output`]: the summary, and on request the analyst's sheets again with every mismatch
//!   filled and noted with our value, plus a "Differences" sheet.
//!
//! Bad input is [`ReconcileError::BadInput`] (HTTP 400) or [`ReconcileError::TooLarge`]
//! (413), naming the problem; nothing an uploaded file holds makes this panic or run
//! unbounded.

pub mod command;
mod compare;
mod detect;
mod output;
mod read;

use serde::Serialize;
use xlfeed_core::{ErrorKind, quoted};
use xlfeed_store::Store;

/// Our fields a mapping may name.
pub const FIELDS: &[&str] = &["date", "open", "high", "low", "close", "volume", "symbol"];
/// The parameters [`Options::from_pairs`] takes.
pub const PARAMS: &[&str] = &["symbol", "abs_tol", "rel_tol", "map", "format"];
/// Default cap on the uncompressed size of a zipped workbook (xlsx, xlsm, ods).
pub const DEFAULT_MAX_UNCOMPRESSED_BYTES: u64 = 256 << 20;
/// Default cap on the cells of all sheets together.
pub const DEFAULT_MAX_CELLS: u64 = 20_000_000;
/// Mismatches listed in the summary at most (all are counted, and all are in the xlsx).
pub const MAX_LISTED: usize = 1_000;

/// How to reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The symbol of every table, over anything the workbook says.
    pub symbol: Option<String>,
    /// Their header → our field (one of [`FIELDS`]); a field mapped here is not also
    /// recognised by its own name.
    pub mapping: Vec<(String, String)>,
    /// Values within this absolute difference match.
    pub abs_tol: f64,
    /// Values within this fraction of ours match.
    pub rel_tol: f64,
    /// A zipped workbook whose entries inflate past this is refused (413).
    pub max_uncompressed_bytes: u64,
    /// A workbook with more cells than this is refused (413).
    pub max_cells: u64,
    /// Also write the annotated workbook.
    pub want_xlsx: bool,
    /// The file's name, for the summary only (the format comes from the bytes).
    pub file_name: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            symbol: None,
            mapping: Vec::new(),
            abs_tol: 0.0,
            rel_tol: 0.0,
            max_uncompressed_bytes: DEFAULT_MAX_UNCOMPRESSED_BYTES,
            max_cells: DEFAULT_MAX_CELLS,
            want_xlsx: false,
            file_name: None,
        }
    }
}

impl Options {
    /// Options from query-string pairs: `symbol=AAPL`, `abs_tol=0.005`, `rel_tol=0`,
    /// `map=Date:date,Px Close:close` (repeatable), `format=json|xlsx`. Limits keep their
    /// defaults (set them on the result). Every bad value is an error naming it.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Options, ReconcileError> {
        let mut o = Options::default();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            match k {
                "symbol" => {
                    let s = v.trim();
                    xlfeed_core::Symbol::parse(s)
                        .map_err(|e| bad(format!("symbol {}: {e}", quoted(s))))?;
                    o.symbol = Some(s.to_ascii_uppercase());
                }
                "abs_tol" => o.abs_tol = tolerance(k, v)?,
                "rel_tol" => o.rel_tol = tolerance(k, v)?,
                "map" => o.mapping.extend(parse_mapping(v)?),
                "format" => {
                    o.want_xlsx = match v {
                        "json" => false,
                        "xlsx" => true,
                        _ => return Err(bad(format!("format {} is not json or xlsx", quoted(v)))),
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "unknown parameter {} (reconcile takes {})",
                        quoted(k),
                        PARAMS.join(", ")
                    )));
                }
            }
        }
        Ok(o)
    }
}

fn tolerance(name: &str, v: &str) -> Result<f64, ReconcileError> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(bad(format!(
            "{name} {} is not a number of 0 or more",
            quoted(v)
        ))),
    }
}

/// `Date:date,Px Close:close` → pairs; their header may hold colons, our field may not.
pub fn parse_mapping(text: &str) -> Result<Vec<(String, String)>, ReconcileError> {
    let mut out = Vec::new();
    for item in text.split(',').filter(|s| !s.trim().is_empty()) {
        let Some((theirs, ours)) = item.rsplit_once(':') else {
            return Err(bad(format!(
                "mapping {} is not \"their header:our field\"",
                quoted(item)
            )));
        };
        let (theirs, ours) = (theirs.trim(), ours.trim().to_ascii_lowercase());
        if theirs.is_empty() {
            return Err(bad(format!("mapping {} has no header", quoted(item))));
        }
        if !FIELDS.contains(&ours.as_str()) {
            return Err(bad(format!(
                "mapping {}: {} is not one of our fields ({})",
                quoted(item),
                quoted(&ours),
                FIELDS.join(", ")
            )));
        }
        out.push((theirs.to_owned(), ours));
    }
    Ok(out)
}

/// What a reconcile found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The file's name, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The format read from the bytes: xlsx, xls, ods or csv.
    pub format: String,
    /// The workbook's date system: 1900 or 1904.
    pub date_system: u16,
    /// The tables found.
    pub tables: Vec<TableSummary>,
    /// Cells compared with a value of ours.
    pub cells_compared: u64,
    /// Of those, within tolerance.
    pub matched: u64,
    /// Of those, not within tolerance.
    pub mismatched: u64,
    /// Days we have within a table's dates that the table has not.
    pub missing_days: u64,
    /// Days a table has that we have no bar for.
    pub extra_days: u64,
    /// The mismatches (the first [`MAX_LISTED`]).
    pub mismatches: Vec<Mismatch>,
    /// The missing days, `sheet` and date (the first [`MAX_LISTED`]).
    pub missing: Vec<DayNote>,
    /// The extra days, with the row's cell address (the first [`MAX_LISTED`]).
    pub extra: Vec<DayNote>,
}

impl Summary {
    /// True when every value matched and no day is missing or extra.
    pub fn all_matched(&self) -> bool {
        self.mismatched == 0 && self.missing_days == 0 && self.extra_days == 0
    }
}

/// One table found in the workbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSummary {
    /// Its sheet.
    pub sheet: String,
    /// Its cells, header included, as an A1 range.
    pub range: String,
    /// The shape recognised (`history`).
    pub shape: String,
    /// The symbol compared against (absent when a `symbol` column gives it per row).
    pub symbol: Option<String>,
    /// Where the symbol came from: parameter, column, title, sheet name, About sheet.
    pub symbol_from: String,
    /// Our fields compared, in column order.
    pub fields: Vec<String>,
    /// Data rows.
    pub rows: u64,
}

/// One cell whose value differs from ours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// The sheet.
    pub sheet: String,
    /// The cell, A1 style.
    pub cell: String,
    /// The row's date, yyyy-mm-dd.
    pub date: String,
    /// Our field.
    pub field: String,
    /// Their value (`None` for an empty or non-numeric cell).
    pub theirs: Option<f64>,
    /// Their cell as text when it is not a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theirs_text: Option<String>,
    /// Our value.
    pub ours: f64,
    /// Theirs − ours (when theirs is a number).
    pub difference: Option<f64>,
}

/// A missing or extra day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayNote {
    /// The sheet.
    pub sheet: String,
    /// The date, yyyy-mm-dd.
    pub date: String,
    /// The date's cell (extra days only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    /// The symbol.
    pub symbol: String,
}

/// What [`reconcile`] answers.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The summary (serialize it for the JSON answer).
    pub summary: Summary,
    /// The annotated workbook, when [`Options::want_xlsx`].
    pub xlsx: Option<Vec<u8>>,
}

/// Why a workbook could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The upload is not something we can reconcile (HTTP 400): the message names why.
    #[error("{0}")]
    BadInput(String),
    /// The upload is over a limit (HTTP 413): the message names which.
    #[error("{0}")]
    TooLarge(String),
    /// The store failed.
    #[error("failed to read the store: {0}")]
    Store(#[from] xlfeed_store::StoreError),
    /// Writing the annotated workbook failed (a bug or a full disk).
    #[error("failed to write the reconciled workbook: {0}")]
    Output(String),
}

impl ReconcileError {
    /// The error's kind: bad input is `InvalidArgument`, a limit `ResourceExhausted`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReconcileError::BadInput(_) => ErrorKind::InvalidArgument,
            ReconcileError::TooLarge(_) => ErrorKind::ResourceExhausted,
            ReconcileError::Store(e) => e.kind(),
            ReconcileError::Output(_) => ErrorKind::Internal,
        }
    }
}

pub(crate) fn bad(message: impl Into<String>) -> ReconcileError {
    ReconcileError::BadInput(message.into())
}

/// Reconciles the workbook `bytes` against `feed` (SSDB-FEED), all on the calling task.
/// Reading and writing workbooks is CPU work (about a second per 100,000 rows in a release
/// build): a server should call [`reconcile_owned`], which does those on blocking threads.
pub async fn reconcile(
    bytes: &[u8],
    opts: &Options,
    feed: &Store,
) -> Result<Outcome, ReconcileError> {
    let book = read::Book::read(bytes, opts)?;
    let (summary, marks) = check(&book, opts, feed).await?;
    let xlsx = if opts.want_xlsx {
        Some(output::write(&book, &marks, &summary)?)
    } else {
        None
    };
    Ok(Outcome { summary, xlsx })
}

/// [`reconcile`], reading and writing the workbooks on tokio's blocking threads (the store
/// reads stay on the calling task).
pub async fn reconcile_owned(
    bytes: Vec<u8>,
    opts: Options,
    feed: Store,
) -> Result<Outcome, ReconcileError> {
    let read_opts = opts.clone();
    let book = blocking(move || read::Book::read(&bytes, &read_opts)).await?;
    let (summary, marks) = check(&book, &opts, &feed).await?;
    if !opts.want_xlsx {
        return Ok(Outcome {
            summary,
            xlsx: None,
        });
    }
    blocking(move || {
        let xlsx = output::write(&book, &marks, &summary)?;
        Ok(Outcome {
            summary,
            xlsx: Some(xlsx),
        })
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReconcileError> + Send + 'static,
) -> Result<T, ReconcileError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReconcileError::Output(format!("the workbook task failed: {e}")))?
}

/// Tables found and compared: the summary and the marks for the annotated workbook.
async fn check(
    book: &read::Book,
    opts: &Options,
    feed: &Store,
) -> Result<(Summary, Vec<compare::Mark>), ReconcileError> {
    let tables = detect::tables(book, opts, feed).await?;
    let result = compare::compare(book, &tables, opts, feed).await?;
    let mut summary = result.summary;
    summary.file = opts.file_name.clone();
    Ok((summary, result.marks))
}

/// Reads and checks a workbook without a store: its format, date system and sheet names, or
/// the error reconcile would give for it (for a caller that wants to reject early).
pub fn read_workbook(
    bytes: &[u8],
    opts: &Options,
) -> Result<(String, u16, Vec<String>), ReconcileError> {
    let b = read::Book::read(bytes, opts)?;
    Ok((
        b.format.to_owned(),
        b.date_system(),
        b.sheets.iter().map(|s| s.name.clone()).collect(),
    ))
}

/// `(row, col)` (0-based) as `B7`.
pub(crate) fn a1(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut c = col + 1;
    while c > 0 {
        let r = (c - 1) % 26;
        letters.push(b'A' + r as u8);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", String::from_utf8_lossy(&letters), row + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_addresses() {
        assert_eq!(a1(0, 0), "A1");
        assert_eq!(a1(6, 1), "B7");
        assert_eq!(a1(0, 25), "Z1");
        assert_eq!(a1(0, 26), "AA1");
        assert_eq!(a1(9, 701), "ZZ10");
        assert_eq!(a1(0, 702), "AAA1");
    }

    #[test]
    fn options_from_pairs() {
        let o = Options::from_pairs([
            ("symbol", "aapl"),
            ("abs_tol", "0.005"),
            ("rel_tol", "0"),
            ("map", "Date:date,Px Close:close"),
            ("format", "xlsx"),
        ])
        .unwrap();
        assert_eq!(o.symbol.as_deref(), Some("AAPL"));
        assert_eq!(o.abs_tol, 0.005);
        assert!(o.want_xlsx);
        assert_eq!(
            o.mapping,
            vec![
                ("Date".to_owned(), "date".to_owned()),
                ("Px Close".to_owned(), "close".to_owned())
            ]
        );
        for (k, v, named) in [
            ("abs_tol", "-1", "\"-1\""),
            ("rel_tol", "abc", "\"abc\""),
            ("map", "Px Close", "\"Px Close\""),
            ("map", "Px:price", "\"price\""),
            ("format", "pdf", "\"pdf\""),
            ("colour", "red", "\"colour\""),
        ] {
            let e = Options::from_pairs([(k, v)]).unwrap_err();
            assert!(matches!(e, ReconcileError::BadInput(_)), "{e}");
            assert!(e.to_string().contains(named), "{e}");
        }
    }
}
