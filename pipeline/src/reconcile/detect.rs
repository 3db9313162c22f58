//! Finding the tables in a read workbook: a header row one of the shapes recognises, the
//! data rows below it down to the first row whose key cell is blank, and the symbol the
//! table is of.
//!
//! The shapes are tried in turn, each on the header row's text cells: [`chain`] first (a
//! `strike` column beside a chain's values, whose names include a quote's), then
//! [`history`] (a date column and OHLCV columns, or columns named by the mapping), then
//! [`quote`] (a quote's columns without a date).
//!
//! The symbol (a chain's: its underlying) comes, first found, from: the `symbol` parameter;
//! a `symbol` column (per row); a title cell in the three rows above the header; the sheet's
//! name (`history AAPL`, `quote SPY`, `chain SPY 2024-06-21`, as the server's reports name
//! them); the About sheet's `symbol` or `underlying` line. A word counts as a symbol only
//! when the store has data for it, so "history" is not one.
//!
//! [`chain`]: super::chain
//! [`history`]: super::history
//! [`quote`]: super::quote

use calamine::Data;
use xlfeed_core::{Symbol, quoted};
use xlfeed_store::{Dataset, Kind, Store};

use super::read::{Book, Sheet};
use super::{Options, ReconcileError, a1, bad, chain, history, quote};

/// Rows above a header searched for a title.
const TITLE_ROWS: u32 = 3;

/// Where a table's symbol comes from.
#[derive(Debug, Clone)]
pub(crate) enum SymbolFrom {
    /// One symbol for the whole table, and where it was found.
    Fixed(Symbol, &'static str),
    /// A column holding each row's symbol.
    Column(u32),
}

/// A table's columns, by shape.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    /// `MKT.HISTORY`'s daily bars.
    History(history::Layout),
    /// `MKT.QUOTE`'s quotes.
    Quote(quote::Layout),
    /// `MKT.CHAIN`'s contracts, or the chain report's calls beside puts.
    Chain(chain::Layout),
}

impl Layout {
    /// The shape's name in the summary.
    pub(crate) fn shape(&self) -> &'static str {
        match self {
            Layout::History(_) => "history",
            Layout::Quote(_) => "quote",
            Layout::Chain(_) => "chain",
        }
    }

    /// The column whose blank cell ends the table.
    fn key_col(&self) -> u32 {
        match self {
            Layout::History(l) => l.date_col,
            Layout::Quote(l) => l.key_col(),
            Layout::Chain(l) => l.key_col(),
        }
    }

    /// Every column the shape reads.
    fn columns(&self) -> Vec<u32> {
        match self {
            Layout::History(l) => l.columns(),
            Layout::Quote(l) => l.columns(),
            Layout::Chain(l) => l.columns(),
        }
    }

    /// A column holding each row's symbol.
    fn symbol_col(&self) -> Option<u32> {
        match self {
            Layout::History(l) => l.symbol_col,
            Layout::Quote(l) => l.symbol_col,
            Layout::Chain(_) => None,
        }
    }

    /// Our fields compared, in column order.
    pub(crate) fn fields(&self) -> Vec<String> {
        let mut f: Vec<(u32, &'static str)> = match self {
            Layout::History(l) => l.fields.clone(),
            Layout::Quote(l) => l.fields.clone(),
            Layout::Chain(l) => l.fields(),
        };
        f.sort_by_key(|(c, _)| *c);
        f.into_iter().map(|(_, n)| n.to_owned()).collect()
    }
}

/// One table found.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Index of its sheet in [`Book::sheets`].
    pub(crate) sheet: usize,
    /// Its header row (absolute, 0-based).
    pub(crate) header: u32,
    /// Its last data row.
    pub(crate) last: u32,
    /// Its columns.
    pub(crate) layout: Layout,
    /// Its symbol (a chain's: its underlying).
    pub(crate) symbol: SymbolFrom,
    /// Its first and last column.
    pub(crate) cols: (u32, u32),
}

/// A header's text without case, spaces or punctuation: `Prev Close` → `prevclose`.
pub(crate) fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The tables of `book`, each with its symbol; an error when there is none, or when one holds
/// merged cells or a formula without a cached value, or lacks the columns its shape needs.
pub(crate) async fn tables(
    book: &Book,
    opts: &Options,
    feed: &Store,
) -> Result<Vec<Table>, ReconcileError> {
    let mapping = history::Mapping::new(opts);
    let mut out = Vec::new();
    for (si, sheet) in book.sheets.iter().enumerate() {
        let (Some(start), Some(end)) = (sheet.cells.start(), sheet.cells.end()) else {
            continue;
        };
        let mut row = start.0;
        while row <= end.0 {
            let header: Vec<(u32, String)> = (start.1..=end.1)
                .filter_map(|col| match sheet.at(row, col) {
                    Data::String(s) => Some((col, normalise(s))),
                    _ => None,
                })
                .collect();
            let where_ = |last: u32, (lo, hi): (u32, u32)| {
                format!(
                    "the table at {}!{}:{}",
                    quoted(&sheet.name),
                    a1(row, lo),
                    a1(last, hi)
                )
            };
            let layout = match chain::header(&header) {
                Some(l) => Some(Layout::Chain(l)),
                None => match history::header(&header, &mapping) {
                    Some(l) => Some(Layout::History(l)),
                    None => quote::header(&header).map(Layout::Quote),
                },
            };
            let Some(layout) = layout else {
                row += 1;
                continue;
            };
            let key = layout.key_col();
            let mut last = row;
            while last < end.0 && !is_blank(sheet.at(last + 1, key)) {
                last += 1;
            }
            let columns = layout.columns();
            let lo = columns.iter().copied().min().unwrap_or(key);
            let hi = columns.iter().copied().max().unwrap_or(key);
            if let Layout::Chain(l) = &layout {
                l.check_columns(&where_(last, (lo, hi)))?;
            }
            check_cells(sheet, row, last, (lo, hi), &where_(last, (lo, hi)))?;
            let symbol = match (&opts.symbol, layout.symbol_col()) {
                (Some(s), _) => SymbolFrom::Fixed(
                    Symbol::parse(s).map_err(|e| bad(format!("symbol {}: {e}", quoted(s))))?,
                    "parameter",
                ),
                (None, Some(c)) => SymbolFrom::Column(c),
                (None, None) => match find_symbol(book, si, row, (lo, hi), feed).await? {
                    Some((s, from)) => SymbolFrom::Fixed(s, from),
                    None => {
                        return Err(bad(format!(
                            "{} does not say which symbol it is: give symbol=, a \
                             symbol column, a title above the header, or name the sheet \
                             after the symbol",
                            where_(last, (lo, hi))
                        )));
                    }
                },
            };
            out.push(Table {
                sheet: si,
                header: row,
                last,
                layout,
                symbol,
                cols: (lo, hi),
            });
            row = last + 1;
        }
    }
    if out.is_empty() {
        let names: Vec<String> = book.sheets.iter().map(|s| quoted(&s.name)).collect();
        return Err(bad(format!(
            "no recognisable table in the workbook (sheets {}): no header row with a date \
             column and open, high, low, close or volume columns (history), a quote's \
             columns (last, bid, ask, ...), or a chain's (strike with bid, ask, iv, ... or \
             call_bid, put_bid, ...); name yours with map=",
            names.join(", ")
        )));
    }
    Ok(out)
}

/// Refuses merged cells and formulas without a cached value inside a table.
fn check_cells(
    sheet: &Sheet,
    row: u32,
    last: u32,
    (lo, hi): (u32, u32),
    where_: &str,
) -> Result<(), ReconcileError> {
    for m in &sheet.merged {
        if m.start.0 <= last && m.end.0 >= row && m.start.1 <= hi && m.end.1 >= lo {
            return Err(bad(format!(
                "{where_} has merged cells {}:{}: unmerge them",
                a1(m.start.0, m.start.1),
                a1(m.end.0, m.end.1)
            )));
        }
    }
    for ((r, c), f) in &sheet.uncached {
        if (row..=last).contains(r) && (lo..=hi).contains(c) {
            return Err(bad(format!(
                "cell {}!{} holds a formula ({}) without a cached value: \
                 recalculate and save the workbook in Excel, or paste values",
                quoted(&sheet.name),
                a1(*r, *c),
                quoted(&format!("={f}"))
            )));
        }
    }
    Ok(())
}

pub(crate) fn is_blank(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The text cells in the [`TITLE_ROWS`] rows above `header`, columns `lo..=hi`.
pub(crate) fn titles(sheet: &Sheet, header: u32, (lo, hi): (u32, u32)) -> Vec<String> {
    let mut titles = Vec::new();
    for r in header.saturating_sub(TITLE_ROWS)..header {
        for c in lo..=hi {
            if let Data::String(s) = sheet.at(r, c) {
                titles.push(s.clone());
            }
        }
    }
    titles
}

/// The value beside the About sheet's line labelled `label` (`  symbol`, `  at`: the
/// arguments of the call a report answers), if there is one.
pub(crate) fn about<'a>(book: &'a Book, label: &str) -> Option<&'a Data> {
    for about in book
        .sheets
        .iter()
        .filter(|s| s.name.eq_ignore_ascii_case("about"))
    {
        let Some((start, end)) = about.cells.start().zip(about.cells.end()) else {
            continue;
        };
        for r in start.0..=end.0 {
            if let Data::String(l) = about.at(r, start.1)
                && normalise(l) == label
            {
                let v = about.at(r, start.1 + 1);
                if !is_blank(v) {
                    return Some(v);
                }
            }
        }
    }
    None
}

/// The symbol from a title above the header, the sheet name, or the About sheet.
async fn find_symbol(
    book: &Book,
    si: usize,
    header: u32,
    cols: (u32, u32),
    feed: &Store,
) -> Result<Option<(Symbol, &'static str)>, ReconcileError> {
    let sheet = &book.sheets[si];
    for t in &titles(sheet, header, cols) {
        if let Some(s) = known_word(t, feed).await? {
            return Ok(Some((s, "title")));
        }
    }
    if let Some(s) = known_word(&sheet.name, feed).await? {
        return Ok(Some((s, "sheet name")));
    }
    for label in ["symbol", "underlying"] {
        if let Some(Data::String(v)) = about(book, label)
            && let Ok(s) = Symbol::parse(&v.trim().to_ascii_uppercase())
        {
            return Ok(Some((s, "About sheet")));
        }
    }
    Ok(None)
}

/// The first word of `text` that is a symbol the store has data for.
async fn known_word(text: &str, feed: &Store) -> Result<Option<Symbol>, ReconcileError> {
    for w in text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';' | '(' | ')' | '|'))
        .filter(|w| !w.is_empty() && w.len() <= 12)
    {
        let Ok(s) = Symbol::parse(&w.to_ascii_uppercase()) else {
            continue;
        };
        for kind in [Kind::Daily, Kind::Trade, Kind::Quote, Kind::Chain] {
            if !feed.all_days(Dataset::Feed, kind, &s).await?.is_empty() {
                return Ok(Some(s));
            }
        }
    }
    Ok(None)
}
