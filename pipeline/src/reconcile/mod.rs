//! Reconcile: an analyst's workbook checked, cell by cell, against SSDB-FEED.
//!
//! This sits beside the query side of the flow: `xlpipeline reconcile` and xlserver's
//! `POST /api/v1/reconcile` both call [`reconcile`]. A workbook goes through four layers,
//! one module each:
//!
//! - [`read`]: the bytes' format from their magic (xlsx/xlsm, xls, ods, csv), the limits
//!   (uncompressed size, cells), the refusals (password-protected, not a spreadsheet), and
//!   every sheet as a grid of cells with its merged regions;
//! - [`detect`]: the tables in those sheets, each of one shape (one file each, the same
//!   shape: [`history`], [`quote`], [`chain`]), and each table's symbol (parameter, a
//!   `symbol` column, a title cell, the sheet name, the About sheet);
//! - [`compare`]: each table's cells against what the query server answers for the same
//!   inputs, within a tolerance: the daily bars of `GET /api/v1/history`, the quote of
//!   `GET /api/v1/quote` as of a time, the chain of `GET /api/v1/chain` on a day (the rules
//!   themselves are shared with the server through `xlfeed_analytics`);
//! - [`output`]: the summary, and on request the analyst's sheets again with every mismatch
//!   filled and noted with our value, plus a "Differences" sheet.
//!
//! Bad input is [`ReconcileError::BadInput`] (HTTP 400) or [`ReconcileError::TooLarge`]
//! (413), naming the problem; nothing an uploaded file holds makes this panic or run
//! unbounded.

mod chain;
pub mod command;
mod compare;
mod detect;
mod history;
mod output;
mod quote;
mod read;

use serde::Serialize;
use xlfeed_core::datetime::{self, When};
use xlfeed_core::{ErrorKind, TradingDay, quoted};
use xlfeed_store::Store;

/// Our fields a mapping may name (history tables).
pub const FIELDS: &[&str] = &["date", "open", "high", "low", "close", "volume", "symbol"];
/// The parameters [`Options::from_pairs`] takes.
pub const PARAMS: &[&str] = &[
    "symbol", "abs_tol", "rel_tol", "map", "format", "at", "date",
];
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
    /// Quotes and chains as of this time (UTC nanoseconds), as `MKT.QUOTE`'s and
    /// `MKT.CHAIN`'s `at`. Default: the `at` argument on the workbook's About sheet (a
    /// report the server wrote says what it was asked), else none: the latest quote, the
    /// whole day's chain.
    pub at: Option<i64>,
    /// The day of chain tables, as `MKT.CHAIN`'s `date`. Default: the `date` argument on
    /// the About sheet, else the day of `at`, else the latest chain the store has.
    pub date: Option<TradingDay>,
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
            at: None,
            date: None,
        }
    }
}

impl Options {
    /// Options from query-string pairs: `symbol=AAPL`, `abs_tol=0.005`, `rel_tol=0`,
    /// `map=Date:date,Px Close:close` (repeatable), `format=json|xlsx`,
    /// `at=2024-06-28T15:30` (see [`parse_at`]), `date=2024-06-28`. Limits keep their
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
                "at" => o.at = Some(parse_at(v)?),
                "date" => {
                    o.date = Some(datetime::parse_date(v).map_err(|e| bad(format!("date: {e}")))?)
                }
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

/// A time as `at` takes it, as UTC nanoseconds: a date-time with `Z` or an offset; without
/// one, New York time (`2024-06-28T15:30`, `2024-06-28 15:30:00.250`); a date alone, or an
/// Excel serial without a time of day, the end of that day in New York (the last quote of
/// the day); an Excel date-time serial (1900 date system), New York time. As `MKT.QUOTE`'s
/// `at`, less `today`.
pub fn parse_at(text: &str) -> Result<i64, ReconcileError> {
    use xlfeed_core::calendar::new_york_to_utc_ns;
    let t = text.trim();
    let end_of = |d: chrono::NaiveDate| {
        d.succ_opt()
            .and_then(|next| new_york_to_utc_ns(next.and_time(chrono::NaiveTime::MIN)))
            .map(|ns| ns - 1)
    };
    let ns = match t.parse::<f64>() {
        Ok(serial) => {
            let local = xlfeed_core::DateSystem::Date1900
                .datetime_from_serial(serial)
                .map_err(|e| bad(format!("at: {e}")))?;
            if serial.fract() == 0.0 {
                end_of(local.date())
            } else {
                new_york_to_utc_ns(local)
            }
        }
        Err(_) => match datetime::parse_when(t).map_err(|e| bad(format!("at: {e}")))? {
            When::Date(d) => end_of(d.date()),
            When::DateTime(stamp) => match stamp.offset {
                Some(_) => stamp.utc_ns(),
                None => new_york_to_utc_ns(stamp.local),
            },
        },
    };
    ns.ok_or_else(|| {
        bad(format!(
            "at {} is not a time in New York (out of range, or skipped by a clock change)",
            quoted(t)
        ))
    })
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
    /// Days we have within a history table's dates that the table has not.
    pub missing_days: u64,
    /// Rows a table has that we have nothing for: a history table's days without a bar, a
    /// quote table's symbols without a quote, a chain table's contracts not in the chain.
    pub extra_days: u64,
    /// The mismatches (the first [`MAX_LISTED`]).
    pub mismatches: Vec<Mismatch>,
    /// The missing days, `sheet` and date (the first [`MAX_LISTED`]).
    pub missing: Vec<DayNote>,
    /// The extra rows, with the address of their key cell (the first [`MAX_LISTED`]).
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
    /// The shape recognised: `history`, `quote` or `chain`.
    pub shape: String,
    /// The symbol compared against (absent when a `symbol` column gives it per row).
    pub symbol: Option<String>,
    /// Where the symbol came from: parameter, column, title, sheet name, About sheet.
    pub symbol_from: String,
    /// Our fields compared, in column order.
    pub fields: Vec<String>,
    /// Data rows.
    pub rows: u64,
    /// What a quote or chain table was compared as of, and where that came from
    /// (`latest`, `at 2024-06-28 15:30:00.000 New York (parameter)`, `chain of 2024-06-28`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// One cell whose value differs from ours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// The sheet.
    pub sheet: String,
    /// The cell, A1 style.
    pub cell: String,
    /// The row's date, yyyy-mm-dd (a quote's: its day in New York; a chain's: the chain's).
    pub date: String,
    /// The row's symbol (a chain's: the option contract's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Our field (a chain report's sides: `call_bid`, `put_iv`, ...).
    pub field: String,
    /// Their value (`None` for an empty or non-numeric cell).
    pub theirs: Option<f64>,
    /// Their cell as text when it is not a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theirs_text: Option<String>,
    /// Our value (`None` where our answer leaves the cell empty, e.g. a contract that did
    /// not trade; a quote's `time` as an Excel serial in New York, 1900 date system).
    pub ours: Option<f64>,
    /// Theirs − ours (when both are numbers).
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
    /// The store failed, or a chain table was given without the POST store.
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

/// The stores a workbook is checked against.
#[derive(Clone)]
pub struct Stores {
    /// SSDB-FEED: daily bars, trades, quotes, the chains' contracts.
    pub feed: Store,
    /// SSDB-POST: option trades with IV and Greeks and their daily aggregates, which a chain
    /// table's values come from (without it, a chain table is refused).
    pub post: Option<Store>,
}

impl From<Store> for Stores {
    fn from(feed: Store) -> Stores {
        Stores { feed, post: None }
    }
}

impl From<&Store> for Stores {
    fn from(feed: &Store) -> Stores {
        Stores::from(feed.clone())
    }
}

impl From<&Stores> for Stores {
    fn from(stores: &Stores) -> Stores {
        stores.clone()
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("feed", &self.feed.url())
            .field("post", &self.post.as_ref().map(Store::url))
            .finish()
    }
}

/// Reconciles the workbook `bytes` against `stores` (SSDB-FEED, and SSDB-POST for chain
/// tables), all on the calling task. Reading and writing workbooks is CPU work (about a
/// second per 100,000 rows in a release build): a server should call [`reconcile_owned`],
/// which does those on blocking threads.
pub async fn reconcile(
    bytes: &[u8],
    opts: &Options,
    stores: impl Into<Stores>,
) -> Result<Outcome, ReconcileError> {
    let stores = stores.into();
    let book = read::Book::read(bytes, opts)?;
    let (summary, marks) = check(&book, opts, &stores).await?;
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
    stores: impl Into<Stores>,
) -> Result<Outcome, ReconcileError> {
    let stores = stores.into();
    let read_opts = opts.clone();
    let book = blocking(move || read::Book::read(&bytes, &read_opts)).await?;
    let (summary, marks) = check(&book, &opts, &stores).await?;
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
    stores: &Stores,
) -> Result<(Summary, Vec<compare::Mark>), ReconcileError> {
    let tables = detect::tables(book, opts, &stores.feed).await?;
    let result = compare::compare(book, &tables, opts, stores).await?;
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
