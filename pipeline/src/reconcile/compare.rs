//! Comparing the tables found with the stores: each shape ([`history`], [`quote`],
//! [`chain`]) says, row by row, which cells hold which of our fields and our value of each;
//! this compares their cells with those values and keeps the score.
//!
//! A value matches when `|theirs − ours| ≤ abs_tol` or `|theirs − ours| ≤ rel_tol·|ours|`
//! (both 0: exactly equal); an empty cell matches where our answer is empty too (a contract
//! that did not trade). A quote's `time` matches when both are the same millisecond in New
//! York, whatever the tolerances. In a history table a value cell holding text is a mismatch
//! (their text is shown); in a quote or chain table it is bad input naming the cell and the
//! text, since those tables are the server's own answers.
//!
//! [`history`]: super::history
//! [`quote`]: super::quote
//! [`chain`]: super::chain

use calamine::Data;
use xlfeed_core::{DateSystem, Symbol, TradingDay, quoted};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store, StoreError};

use super::detect::{Layout, SymbolFrom, Table};
use super::read::{Book, Sheet};
use super::{
    DayNote, MAX_LISTED, Mismatch, Options, ReconcileError, Stores, Summary, TableSummary, a1, bad,
};

/// Milliseconds in a day, for comparing times as Excel serials.
const MS_PER_DAY: f64 = 86_400_000.0;
/// Days between the 1900 and 1904 date systems' serials.
const SERIALS_1904: f64 = 1462.0;

/// A mismatch with where it sits: sheet index, row, column.
pub(crate) type Mark = (usize, u32, u32, Mismatch);

/// The comparison: the summary and every mismatch for the annotated workbook.
pub(crate) struct Compared {
    pub(crate) summary: Summary,
    pub(crate) marks: Vec<Mark>,
}

/// What a shape's check works with.
pub(crate) struct Cx<'a> {
    pub(crate) book: &'a Book,
    pub(crate) stores: &'a Stores,
    /// Quotes and chains as of this time (UTC ns), and where it came from.
    pub(crate) at: Option<(i64, &'static str)>,
    /// The chain day asked, and where it came from.
    pub(crate) date: Option<(TradingDay, &'static str)>,
}

/// One cell to compare: its column, our field, our value (`None`: our answer leaves it
/// empty), and whether it is a time (compared to the millisecond as an Excel serial).
pub(crate) struct CellCheck {
    pub(crate) col: u32,
    pub(crate) field: &'static str,
    pub(crate) ours: Option<f64>,
    pub(crate) time: bool,
}

/// One row to compare.
pub(crate) struct RowCheck {
    pub(crate) row: u32,
    /// The row's day, yyyy-mm-dd.
    pub(crate) date: String,
    /// The row's symbol (a chain's: the contract's).
    pub(crate) symbol: String,
    pub(crate) cells: Vec<CellCheck>,
}

/// A shape's check of one table.
#[derive(Default)]
pub(crate) struct Checked {
    pub(crate) rows: Vec<RowCheck>,
    /// Days we have that the table lacks (history).
    pub(crate) missing: Vec<DayNote>,
    /// Rows we have nothing for.
    pub(crate) extra: Vec<DayNote>,
    /// What the table was compared as of (quotes and chains).
    pub(crate) as_of: Option<String>,
}

/// Compares `tables` of `book` with `stores`.
pub(crate) async fn compare(
    book: &Book,
    tables: &[Table],
    opts: &Options,
    stores: &Stores,
) -> Result<Compared, ReconcileError> {
    // The About sheet's at and date count only for quote and chain tables: a history
    // table's workbook is not refused for them.
    let timed = tables
        .iter()
        .any(|t| !matches!(t.layout, Layout::History(_)));
    let cx = Cx {
        book,
        stores,
        at: match opts.at {
            Some(ns) => Some((ns, "parameter")),
            None if timed => about_at(book)?.map(|ns| (ns, "About sheet")),
            None => None,
        },
        date: match opts.date {
            Some(d) => Some((d, "parameter")),
            None if timed => about_date(book)?.map(|d| (d, "About sheet")),
            None => None,
        },
    };
    let mut s = Summary {
        format: book.format.to_owned(),
        date_system: book.date_system(),
        ..Summary::default()
    };
    let mut marks = Vec::new();
    for t in tables {
        let sheet = &book.sheets[t.sheet];
        let (checked, strict) = match &t.layout {
            Layout::History(l) => (super::history::check(&cx, t, l).await?, false),
            Layout::Quote(l) => (super::quote::check(&cx, t, l).await?, true),
            Layout::Chain(l) => (super::chain::check(&cx, t, l).await?, true),
        };
        for (count, list, notes) in [
            (&mut s.missing_days, &mut s.missing, checked.missing),
            (&mut s.extra_days, &mut s.extra, checked.extra),
        ] {
            *count += notes.len() as u64;
            let room = MAX_LISTED.saturating_sub(list.len());
            list.extend(notes.into_iter().take(room));
        }
        for row in &checked.rows {
            for c in &row.cells {
                let cell = sheet.at(row.row, c.col);
                let (their, text) = theirs(book, sheet, row.row, c, strict)?;
                s.cells_compared += 1;
                let ok = match (their, c.ours) {
                    (None, None) => text.is_none(),
                    (Some(x), Some(o)) if c.time => {
                        (x * MS_PER_DAY).round() == (o * MS_PER_DAY).round()
                    }
                    (Some(x), Some(o)) => {
                        let d = (x - o).abs();
                        d <= opts.abs_tol || d <= opts.rel_tol * o.abs()
                    }
                    _ => false,
                };
                if ok {
                    s.matched += 1;
                    continue;
                }
                s.mismatched += 1;
                let m = Mismatch {
                    sheet: sheet.name.clone(),
                    cell: a1(row.row, c.col),
                    date: row.date.clone(),
                    symbol: Some(row.symbol.clone()),
                    field: c.field.to_owned(),
                    theirs: their,
                    theirs_text: text.or_else(|| {
                        their
                            .is_none()
                            .then(|| shown(cell))
                            .filter(|t| !t.is_empty())
                    }),
                    ours: c.ours,
                    difference: their.zip(c.ours).map(|(x, o)| x - o),
                };
                if s.mismatches.len() < MAX_LISTED {
                    s.mismatches.push(m.clone());
                }
                if opts.want_xlsx {
                    marks.push((t.sheet, row.row, c.col, m));
                }
            }
        }
        let (symbol, symbol_from) = match &t.symbol {
            SymbolFrom::Fixed(sym, from) => (Some(sym.to_string()), (*from).to_owned()),
            SymbolFrom::Column(c) => (None, format!("column {}", a1(t.header, *c))),
        };
        s.tables.push(TableSummary {
            sheet: sheet.name.clone(),
            range: format!("{}:{}", a1(t.header, t.cols.0), a1(t.last, t.cols.1)),
            shape: t.layout.shape().to_owned(),
            symbol,
            symbol_from,
            fields: t.layout.fields(),
            rows: u64::from(t.last - t.header),
            as_of: checked.as_of,
        });
    }
    Ok(Compared { summary: s, marks })
}

/// Their cell of `c` in row `r`: its number (a time's Excel serial in the 1900 system), and
/// its text when it is not one. A text that is not a number is bad input when `strict`.
fn theirs(
    book: &Book,
    sheet: &Sheet,
    r: u32,
    c: &CellCheck,
    strict: bool,
) -> Result<(Option<f64>, Option<String>), ReconcileError> {
    let cell = sheet.at(r, c.col);
    let shift = if book.date1904 { SERIALS_1904 } else { 0.0 };
    let value = if c.time {
        match cell {
            Data::DateTime(d) => Some(d.as_f64() + shift),
            Data::Float(x) => Some(x + shift),
            Data::Int(x) => Some(*x as f64 + shift),
            Data::DateTimeIso(s) | Data::String(s) => xlfeed_core::datetime::parse_datetime(s)
                .ok()
                .and_then(|t| DateSystem::Date1900.serial_from_datetime(t.local).ok()),
            _ => None,
        }
    } else {
        number(cell)
    };
    let blank = super::detect::is_blank(cell);
    match (value, cell) {
        (Some(x), _) if x.is_finite() => Ok((Some(x), None)),
        _ if blank => Ok((None, None)),
        (_, Data::Error(_)) => Ok((None, Some(shown(cell)))),
        _ if strict => Err(bad(format!(
            "cell {}!{} ({}) is not {}: {}",
            quoted(&sheet.name),
            a1(r, c.col),
            c.field,
            if c.time { "a date-time" } else { "a number" },
            quoted(&shown(cell))
        ))),
        _ => Ok((None, Some(shown(cell)))),
    }
}

/// The About sheet's `at`, if it has one.
fn about_at(book: &Book) -> Result<Option<i64>, ReconcileError> {
    let Some(v) = super::detect::about(book, "at") else {
        return Ok(None);
    };
    let text = match v {
        Data::DateTime(d) => {
            let t = super::read::datetime(d)
                .ok_or_else(|| bad("the About sheet's at is not a time"))?;
            t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
        }
        other => shown(other),
    };
    super::parse_at(&text)
        .map(Some)
        .map_err(|e| bad(format!("the About sheet's {e}")))
}

/// The About sheet's `date`, if it has one.
fn about_date(book: &Book) -> Result<Option<TradingDay>, ReconcileError> {
    match super::detect::about(book, "date") {
        None => Ok(None),
        Some(v) => day_of(book, v).map(Some).ok_or_else(|| {
            bad(format!(
                "the About sheet's date {} is not a date",
                quoted(&shown(v))
            ))
        }),
    }
}

/// A cell as text, for messages.
pub(crate) fn shown(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// A value cell as a number: numbers, and text that reads as one (`1,234.5` too).
pub(crate) fn number(d: &Data) -> Option<f64> {
    match d {
        Data::Float(x) => Some(*x),
        Data::Int(i) => Some(*i as f64),
        Data::String(s) => s.trim().replace(',', "").parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// A date cell's day: a date cell, a serial number in the workbook's date system, or text.
pub(crate) fn day_of(book: &Book, d: &Data) -> Option<TradingDay> {
    let date = match d {
        Data::DateTime(x) => super::read::datetime(x)?.date(),
        Data::Float(x) => book.dates().date_from_serial(x.floor() as i64).ok()?,
        Data::Int(x) => book.dates().date_from_serial(*x).ok()?,
        Data::DateTimeIso(s) => {
            return xlfeed_core::datetime::parse_date(s.get(..10).unwrap_or(s)).ok();
        }
        Data::String(s) => return xlfeed_core::datetime::parse_date(s).ok(),
        _ => return None,
    };
    TradingDay::from_date(date).ok()
}

/// Decoded chunks of a series on `days`, a few hundred keys a call (days without a chunk
/// are left out).
pub(crate) async fn read_chunks(
    store: &Store,
    ds: Dataset,
    kind: Kind,
    symbol: &Symbol,
    days: &[TradingDay],
) -> Result<Vec<(ChunkKey, Records)>, ReconcileError> {
    let mut out = Vec::with_capacity(days.len());
    for part in days.chunks(500) {
        let keys: Vec<ChunkKey> = part
            .iter()
            .map(|d| ChunkKey::new(ds, kind, symbol.clone(), *d))
            .collect();
        let raw = store.get_chunks(&keys).await?;
        for (key, bytes) in keys.into_iter().zip(raw) {
            let Some(bytes) = bytes else { continue };
            let records = Records::decode(&bytes).map_err(|source| StoreError::Corrupt {
                key: key.chunk_key(),
                source,
            })?;
            out.push((key, records));
        }
    }
    Ok(out)
}

/// One decoded chunk.
pub(crate) async fn read_chunk(
    store: &Store,
    ds: Dataset,
    kind: Kind,
    symbol: &Symbol,
    day: TradingDay,
) -> Result<Option<Records>, ReconcileError> {
    Ok(read_chunks(store, ds, kind, symbol, &[day])
        .await?
        .pop()
        .map(|(_, r)| r))
}
