//! Finding the tables in a read workbook: a header row holding a date column and at least
//! one of open, high, low, close, volume (by name, or by the mapping the caller gave), the
//! data rows below it down to the first row without a date, and the symbol the table is of.
//!
//! The symbol comes, first found, from: the `symbol` parameter; a `symbol` column (per
//! row); a title cell in the three rows above the header; the sheet's name (`history AAPL`,
//! as the history report names it); the About sheet's `symbol` line. A word counts as a
//! symbol only when the store has daily bars or trades for it, so "history" is not one.

use calamine::Data;
use xlfeed_core::{Symbol, quoted};
use xlfeed_store::{Dataset, Kind, Store};

use super::read::Book;
use super::{Options, ReconcileError, a1, bad};

/// Our value fields of the history shape, in the order `MKT.HISTORY` gives them.
pub(crate) const VALUE_FIELDS: &[&str] = &["open", "high", "low", "close", "volume"];
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

/// One table found.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Index of its sheet in [`Book::sheets`].
    pub(crate) sheet: usize,
    /// Its header row (absolute, 0-based).
    pub(crate) header: u32,
    /// Its last data row.
    pub(crate) last: u32,
    /// The date column.
    pub(crate) date_col: u32,
    /// The compared columns and our field of each.
    pub(crate) fields: Vec<(u32, &'static str)>,
    /// Its symbol.
    pub(crate) symbol: SymbolFrom,
    /// Its first and last column.
    pub(crate) cols: (u32, u32),
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Our field a header names, by itself.
fn field_by_name(header: &str) -> Option<&'static str> {
    Some(match normalise(header).as_str() {
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

fn field_static(f: &str) -> &'static str {
    super::FIELDS
        .iter()
        .find(|x| **x == f)
        .copied()
        .unwrap_or("date")
}

/// The tables of `book`, each with its symbol; an error when there is none, or when one holds
/// merged cells or a formula without a cached value.
pub(crate) async fn tables(
    book: &Book,
    opts: &Options,
    feed: &Store,
) -> Result<Vec<Table>, ReconcileError> {
    let mapped: Vec<(String, &'static str)> = opts
        .mapping
        .iter()
        .map(|(h, f)| (normalise(h), field_static(f)))
        .collect();
    let header_field = |text: &str| -> Option<&'static str> {
        let n = normalise(text);
        if let Some((_, f)) = mapped.iter().find(|(h, _)| *h == n) {
            return Some(f);
        }
        let f = field_by_name(text)?;
        if mapped.iter().any(|(_, m)| *m == f) {
            return None;
        }
        Some(f)
    };
    let mut out = Vec::new();
    for (si, sheet) in book.sheets.iter().enumerate() {
        let (Some(start), Some(end)) = (sheet.cells.start(), sheet.cells.end()) else {
            continue;
        };
        let mut row = start.0;
        while row <= end.0 {
            let mut fields: Vec<(u32, &'static str)> = Vec::new();
            for col in start.1..=end.1 {
                if let Data::String(s) = sheet.at(row, col)
                    && let Some(f) = header_field(s)
                    && !fields.iter().any(|(_, g)| *g == f)
                {
                    fields.push((col, f));
                }
            }
            let date_col = fields.iter().find(|(_, f)| *f == "date").map(|(c, _)| *c);
            let values: Vec<(u32, &'static str)> = fields
                .iter()
                .filter(|(_, f)| VALUE_FIELDS.contains(f))
                .copied()
                .collect();
            let (Some(date_col), false) = (date_col, values.is_empty()) else {
                row += 1;
                continue;
            };
            let mut last = row;
            while last < end.0 && !is_blank(sheet.at(last + 1, date_col)) {
                last += 1;
            }
            let lo = fields.iter().map(|(c, _)| *c).min().unwrap_or(date_col);
            let hi = fields.iter().map(|(c, _)| *c).max().unwrap_or(date_col);
            let where_ = format!(
                "the table at {}!{}:{}",
                quoted(&sheet.name),
                a1(row, lo),
                a1(last, hi)
            );
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
            let symbol_col = fields.iter().find(|(_, f)| *f == "symbol").map(|(c, _)| *c);
            let symbol = match (&opts.symbol, symbol_col) {
                (Some(s), _) => SymbolFrom::Fixed(
                    Symbol::parse(s).map_err(|e| bad(format!("symbol {}: {e}", quoted(s))))?,
                    "parameter",
                ),
                (None, Some(c)) => SymbolFrom::Column(c),
                (None, None) => match find_symbol(book, si, row, (lo, hi), feed).await? {
                    Some((s, from)) => SymbolFrom::Fixed(s, from),
                    None => {
                        return Err(bad(format!(
                            "{where_} does not say which symbol it is: give symbol=, a \
                             symbol column, a title above the header, or name the sheet \
                             after the symbol"
                        )));
                    }
                },
            };
            out.push(Table {
                sheet: si,
                header: row,
                last,
                date_col,
                fields: values,
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
             column and open, high, low, close or volume columns; name yours with map=",
            names.join(", ")
        )));
    }
    Ok(out)
}

fn is_blank(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The symbol from a title above the header, the sheet name, or the About sheet.
async fn find_symbol(
    book: &Book,
    si: usize,
    header: u32,
    (lo, hi): (u32, u32),
    feed: &Store,
) -> Result<Option<(Symbol, &'static str)>, ReconcileError> {
    let sheet = &book.sheets[si];
    let mut titles = Vec::new();
    for r in header.saturating_sub(TITLE_ROWS)..header {
        for c in lo..=hi {
            if let Data::String(s) = sheet.at(r, c) {
                titles.push(s.clone());
            }
        }
    }
    for t in &titles {
        if let Some(s) = known_word(t, feed).await? {
            return Ok(Some((s, "title")));
        }
    }
    if let Some(s) = known_word(&sheet.name, feed).await? {
        return Ok(Some((s, "sheet name")));
    }
    for about in book
        .sheets
        .iter()
        .filter(|s| s.name.eq_ignore_ascii_case("about"))
    {
        let Some((start, end)) = about.cells.start().zip(about.cells.end()) else {
            continue;
        };
        for r in start.0..=end.0 {
            if let Data::String(label) = about.at(r, start.1)
                && normalise(label) == "symbol"
                && let Data::String(v) = about.at(r, start.1 + 1)
                && let Ok(s) = Symbol::parse(v.trim())
            {
                return Ok(Some((s, "About sheet")));
            }
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
        for kind in [Kind::Daily, Kind::Trade] {
            if !feed.all_days(Dataset::Feed, kind, &s).await?.is_empty() {
                return Ok(Some(s));
            }
        }
    }
    Ok(None)
}
