//! The history shape: what `MKT.HISTORY` and the history report produce, a date column and
//! open, high, low, close, volume columns (by name, or by the mapping the caller gave), each
//! row compared with the daily bar `GET /api/v1/history` answers for its day (the shared
//! rule of `xlfeed_analytics::bars`: the stored daily bar, or on a day without one the bar
//! of the session's trades).
//!
//! A day a table has and we do not is an extra day (its cells are not compared); a day we
//! have between a table's first and last date that it lacks is a missing day.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use xlfeed_analytics::bars::{self, Ohlcv};
use xlfeed_core::{Symbol, TradingDay, quoted};
use xlfeed_store::{Dataset, Kind, Records, StoreError};

use super::compare::{CellCheck, Checked, Cx, RowCheck, day_of, read_chunks, shown};
use super::detect::{SymbolFrom, Table};
use super::{DayNote, ReconcileError, a1, bad};

/// Our value fields, in the order `MKT.HISTORY` gives them.
const VALUE_FIELDS: &[&str] = &["open", "high", "low", "close", "volume"];

/// A history table's columns.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The date column.
    pub(crate) date_col: u32,
    /// A `symbol` column.
    pub(crate) symbol_col: Option<u32>,
    /// The compared columns and our field of each.
    pub(crate) fields: Vec<(u32, &'static str)>,
}

impl Layout {
    pub(crate) fn columns(&self) -> Vec<u32> {
        let mut c: Vec<u32> = self.fields.iter().map(|(c, _)| *c).collect();
        c.push(self.date_col);
        c.extend(self.symbol_col);
        c
    }
}

/// The caller's mapping, normalised: their header → our field.
pub(crate) struct Mapping(Vec<(String, &'static str)>);

impl Mapping {
    pub(crate) fn new(opts: &super::Options) -> Mapping {
        Mapping(
            opts.mapping
                .iter()
                .filter_map(|(h, f)| {
                    let f = super::FIELDS.iter().find(|x| **x == f.as_str())?;
                    Some((super::detect::normalise(h), *f))
                })
                .collect(),
        )
    }

    /// Our field a (normalised) header names: by the mapping, else by itself unless the
    /// mapping gave that field to another header.
    fn field(&self, header: &str) -> Option<&'static str> {
        if let Some((_, f)) = self.0.iter().find(|(h, _)| h == header) {
            return Some(f);
        }
        let f = field_by_name(header)?;
        if self.0.iter().any(|(_, m)| *m == f) {
            return None;
        }
        Some(f)
    }
}

/// Our field a normalised header names by itself.
fn field_by_name(header: &str) -> Option<&'static str> {
    Some(match header {
        "date" | "day" | "tradedate" | "sessiondate" => "date",
        "open" | "opn" => "open",
        "high" | "hi" => "high",
        "low" | "lo" => "low",
        "close" | "last" | "cls" => "close",
        "volume" | "vol" => "volume",
        "symbol" | "ticker" => "symbol",
        _ => return None,
    })
}

/// A history table's layout, when the header row (normalised text cells) has a date column
/// and at least one value column.
pub(crate) fn header(cells: &[(u32, String)], mapping: &Mapping) -> Option<Layout> {
    let mut fields: Vec<(u32, &'static str)> = Vec::new();
    for (col, text) in cells {
        if let Some(f) = mapping.field(text)
            && !fields.iter().any(|(_, g)| *g == f)
        {
            fields.push((*col, f));
        }
    }
    let date_col = fields.iter().find(|(_, f)| *f == "date").map(|(c, _)| *c)?;
    let symbol_col = fields.iter().find(|(_, f)| *f == "symbol").map(|(c, _)| *c);
    let values: Vec<(u32, &'static str)> = fields
        .into_iter()
        .filter(|(_, f)| VALUE_FIELDS.contains(f))
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(Layout {
        date_col,
        symbol_col,
        fields: values,
    })
}

/// Each row of `t` against our daily bars.
pub(crate) async fn check(cx: &Cx<'_>, t: &Table, l: &Layout) -> Result<Checked, ReconcileError> {
    let sheet = &cx.book.sheets[t.sheet];
    // Each data row: its day and symbol.
    let mut rows: Vec<(u32, TradingDay, Symbol)> = Vec::new();
    for r in t.header + 1..=t.last {
        let day = day_of(cx.book, sheet.at(r, l.date_col)).ok_or_else(|| {
            bad(format!(
                "cell {}!{} is not a date: {}",
                quoted(&sheet.name),
                a1(r, l.date_col),
                quoted(&shown(sheet.at(r, l.date_col)))
            ))
        })?;
        let symbol = match &t.symbol {
            SymbolFrom::Fixed(s, _) => s.clone(),
            SymbolFrom::Column(c) => {
                let text = shown(sheet.at(r, *c));
                Symbol::parse(&text.to_ascii_uppercase())
                    .map_err(|e| bad(format!("cell {}!{}: {e}", quoted(&sheet.name), a1(r, *c))))?
            }
        };
        rows.push((r, day, symbol));
    }
    // Their days per symbol, and ours over the same span.
    let mut out = Checked::default();
    let mut theirs: BTreeMap<Symbol, BTreeSet<TradingDay>> = BTreeMap::new();
    for (_, d, sym) in &rows {
        theirs.entry(sym.clone()).or_default().insert(*d);
    }
    let mut ours: HashMap<Symbol, BTreeMap<TradingDay, Ohlcv>> = HashMap::new();
    for (sym, days) in &theirs {
        let (Some(first), Some(last)) = (days.first(), days.last()) else {
            continue;
        };
        let bars = daily(cx, sym, *first, *last).await?;
        for d in bars.keys().filter(|d| !days.contains(d)) {
            out.missing.push(DayNote {
                sheet: sheet.name.clone(),
                date: d.to_string(),
                cell: None,
                symbol: sym.to_string(),
            });
        }
        ours.insert(sym.clone(), bars);
    }
    for (r, day, sym) in rows {
        let Some(bar) = ours.get(&sym).and_then(|m| m.get(&day)) else {
            out.extra.push(DayNote {
                sheet: sheet.name.clone(),
                date: day.to_string(),
                cell: Some(a1(r, l.date_col)),
                symbol: sym.to_string(),
            });
            continue;
        };
        let cells = l
            .fields
            .iter()
            .map(|(c, field)| CellCheck {
                col: *c,
                field,
                ours: Some(match *field {
                    "open" => bar.open,
                    "high" => bar.high,
                    "low" => bar.low,
                    "close" => bar.close,
                    _ => bar.volume as f64,
                }),
                time: false,
            })
            .collect();
        out.rows.push(RowCheck {
            row: r,
            date: day.to_string(),
            symbol: sym.to_string(),
            cells,
        });
    }
    Ok(out)
}

/// Daily bars of `symbol` over `first..=last` as `history` answers them.
async fn daily(
    cx: &Cx<'_>,
    symbol: &Symbol,
    first: TradingDay,
    last: TradingDay,
) -> Result<BTreeMap<TradingDay, Ohlcv>, ReconcileError> {
    let feed = &cx.stores.feed;
    let mut out = BTreeMap::new();
    let stored = feed
        .days(Dataset::Feed, Kind::Daily, symbol, first, last)
        .await?;
    for (key, chunk) in read_chunks(feed, Dataset::Feed, Kind::Daily, symbol, &stored).await? {
        let Records::DailyBars(rows) = chunk else {
            return Err(ReconcileError::Store(StoreError::InvalidArgument(format!(
                "chunk {} does not hold daily bars",
                key.chunk_key()
            ))));
        };
        bars::add_stored(&mut out, &rows);
    }
    let traded: Vec<TradingDay> = feed
        .days(Dataset::Feed, Kind::Trade, symbol, first, last)
        .await?
        .into_iter()
        .filter(|d| !out.contains_key(d))
        .collect();
    for (key, chunk) in read_chunks(feed, Dataset::Feed, Kind::Trade, symbol, &traded).await? {
        if let Records::Trades(trades) = chunk {
            bars::add_session(&mut out, key.day, &trades);
        }
    }
    Ok(out)
}
