//! Comparing the tables found with SSDB-FEED: every value cell against the daily bar
//! `GET /api/v1/history` answers for its row's day (the stored daily bar, or on a day
//! without one the bar built from the session's trades), within the tolerance.
//!
//! A value matches when `|theirs − ours| ≤ abs_tol` or `|theirs − ours| ≤ rel_tol·|ours|`
//! (both 0: exactly equal). A day a table has and we do not is an extra day (its cells are
//! not compared); a day we have between a table's first and last date that it lacks is a
//! missing day.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use calamine::Data;
use xlfeed_core::{Nyse, Symbol, TradingDay, quoted};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store, StoreError};

use super::detect::{SymbolFrom, Table};
use super::read::Book;
use super::{
    DayNote, MAX_LISTED, Mismatch, Options, ReconcileError, Summary, TableSummary, a1, bad,
};

/// Our bar of a day: open, high, low, close, volume.
type Ours = [f64; 5];

/// A mismatch with where it sits: sheet index, row, column.
pub(crate) type Mark = (usize, u32, u32, Mismatch);

/// The comparison: the summary and every mismatch for the annotated workbook.
pub(crate) struct Compared {
    pub(crate) summary: Summary,
    pub(crate) marks: Vec<Mark>,
}

/// Compares `tables` of `book` with `feed`.
pub(crate) async fn compare(
    book: &Book,
    tables: &[Table],
    opts: &Options,
    feed: &Store,
) -> Result<Compared, ReconcileError> {
    let mut s = Summary {
        format: book.format.to_owned(),
        date_system: book.date_system(),
        ..Summary::default()
    };
    let mut marks = Vec::new();
    for t in tables {
        let sheet = &book.sheets[t.sheet];
        // Each data row: its day and symbol.
        let mut rows: Vec<(u32, TradingDay, Symbol)> = Vec::new();
        for r in t.header + 1..=t.last {
            let day = day_of(book, sheet.at(r, t.date_col)).ok_or_else(|| {
                bad(format!(
                    "cell {}!{} is not a date: {}",
                    quoted(&sheet.name),
                    a1(r, t.date_col),
                    quoted(&shown(sheet.at(r, t.date_col)))
                ))
            })?;
            let symbol = match &t.symbol {
                SymbolFrom::Fixed(s, _) => s.clone(),
                SymbolFrom::Column(c) => {
                    let text = shown(sheet.at(r, *c));
                    Symbol::parse(&text.to_ascii_uppercase()).map_err(|e| {
                        bad(format!("cell {}!{}: {e}", quoted(&sheet.name), a1(r, *c)))
                    })?
                }
            };
            rows.push((r, day, symbol));
        }
        // Their days per symbol, and ours over the same span.
        let mut theirs: BTreeMap<Symbol, BTreeSet<TradingDay>> = BTreeMap::new();
        for (_, d, sym) in &rows {
            theirs.entry(sym.clone()).or_default().insert(*d);
        }
        let mut ours: HashMap<Symbol, BTreeMap<TradingDay, Ours>> = HashMap::new();
        for (sym, days) in &theirs {
            let (Some(first), Some(last)) = (days.first(), days.last()) else {
                continue;
            };
            let bars = daily(feed, sym, *first, *last).await?;
            for d in bars.keys().filter(|d| !days.contains(d)) {
                s.missing_days += 1;
                if s.missing.len() < MAX_LISTED {
                    s.missing.push(DayNote {
                        sheet: sheet.name.clone(),
                        date: d.to_string(),
                        cell: None,
                        symbol: sym.to_string(),
                    });
                }
            }
            ours.insert(sym.clone(), bars);
        }
        for (r, day, sym) in &rows {
            let Some(bar) = ours.get(sym).and_then(|m| m.get(day)) else {
                s.extra_days += 1;
                if s.extra.len() < MAX_LISTED {
                    s.extra.push(DayNote {
                        sheet: sheet.name.clone(),
                        date: day.to_string(),
                        cell: Some(a1(*r, t.date_col)),
                        symbol: sym.to_string(),
                    });
                }
                continue;
            };
            for (c, field) in &t.fields {
                let Some(i) = super::detect::VALUE_FIELDS.iter().position(|f| f == field) else {
                    continue;
                };
                let our = bar[i];
                let cell = sheet.at(*r, *c);
                let their = number(cell);
                s.cells_compared += 1;
                let ok = their.is_some_and(|x| {
                    let d = (x - our).abs();
                    d <= opts.abs_tol || d <= opts.rel_tol * our.abs()
                });
                if ok {
                    s.matched += 1;
                    continue;
                }
                s.mismatched += 1;
                let m = Mismatch {
                    sheet: sheet.name.clone(),
                    cell: a1(*r, *c),
                    date: day.to_string(),
                    field: (*field).to_owned(),
                    theirs: their,
                    theirs_text: if their.is_none() {
                        Some(shown(cell))
                    } else {
                        None
                    },
                    ours: our,
                    difference: their.map(|x| x - our),
                };
                if s.mismatches.len() < MAX_LISTED {
                    s.mismatches.push(m.clone());
                }
                if opts.want_xlsx {
                    marks.push((t.sheet, *r, *c, m));
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
            shape: "history".to_owned(),
            symbol,
            symbol_from,
            fields: t.fields.iter().map(|(_, f)| (*f).to_owned()).collect(),
            rows: rows.len() as u64,
        });
    }
    Ok(Compared { summary: s, marks })
}

/// A cell as text, for messages.
fn shown(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// A value cell as a number: numbers, and text that reads as one (`1,234.5` too).
fn number(d: &Data) -> Option<f64> {
    match d {
        Data::Float(x) => Some(*x),
        Data::Int(i) => Some(*i as f64),
        Data::String(s) => s.trim().replace(',', "").parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// A date cell's day: a date cell, a serial number in the workbook's date system, or text.
fn day_of(book: &Book, d: &Data) -> Option<TradingDay> {
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

/// Daily bars of `symbol` over `first..=last` as `history` answers them: the stored daily
/// bar, or on a day without one, the bar of the session's trades.
async fn daily(
    feed: &Store,
    symbol: &Symbol,
    first: TradingDay,
    last: TradingDay,
) -> Result<BTreeMap<TradingDay, Ours>, ReconcileError> {
    let mut out = BTreeMap::new();
    let stored = feed
        .days(Dataset::Feed, Kind::Daily, symbol, first, last)
        .await?;
    for (key, chunk) in read(feed, Kind::Daily, symbol, &stored).await? {
        if let Records::DailyBars(rows) = chunk {
            for b in rows {
                if let Ok(d) = TradingDay::from_yyyymmdd(b.date) {
                    out.insert(d, [b.open, b.high, b.low, b.close, b.volume as f64]);
                }
            }
        } else {
            return Err(ReconcileError::Store(StoreError::InvalidArgument(format!(
                "chunk {} does not hold daily bars",
                key.chunk_key()
            ))));
        }
    }
    let traded: Vec<TradingDay> = feed
        .days(Dataset::Feed, Kind::Trade, symbol, first, last)
        .await?
        .into_iter()
        .filter(|d| !out.contains_key(d))
        .collect();
    for (key, chunk) in read(feed, Kind::Trade, symbol, &traded).await? {
        let Records::Trades(trades) = chunk else {
            continue;
        };
        let Some(session) = Nyse.session(key.day) else {
            continue;
        };
        let (open, close) = (session.open_utc_ns(), session.close_utc_ns());
        let mut bar: Option<Ours> = None;
        for t in trades.iter().filter(|t| t.time >= open && t.time <= close) {
            match &mut bar {
                None => bar = Some([t.price, t.price, t.price, t.price, t.size as f64]),
                Some(b) => {
                    b[1] = b[1].max(t.price);
                    b[2] = b[2].min(t.price);
                    b[3] = t.price;
                    b[4] += t.size as f64;
                }
            }
        }
        if let Some(b) = bar {
            out.insert(key.day, b);
        }
    }
    Ok(out)
}

/// Decoded chunks of a series on `days`, a few hundred keys a call.
async fn read(
    feed: &Store,
    kind: Kind,
    symbol: &Symbol,
    days: &[TradingDay],
) -> Result<Vec<(ChunkKey, Records)>, ReconcileError> {
    let mut out = Vec::with_capacity(days.len());
    for part in days.chunks(500) {
        let keys: Vec<ChunkKey> = part
            .iter()
            .map(|d| ChunkKey::new(Dataset::Feed, kind, symbol.clone(), *d))
            .collect();
        let raw = feed.get_chunks(&keys).await?;
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
