//! The chain shape: what `MKT.CHAIN` produces (a row per contract: `contract`, `expiry`,
//! `strike`, `right` and some of `bid, ask, last, volume, trades, iv, delta, gamma, vega,
//! theta, rho, underlying_price`) and what the chain report lays out (a sheet per expiry,
//! a row per strike: `call_bid … call_theta, strike, put_bid … put_theta`), each contract's
//! cells compared with what `GET /api/v1/chain` answers for it (the shared rules of
//! `xlfeed_analytics::chain`: the contracts FEED lists for the day, their activity from
//! POST).
//!
//! A row finds its contract by its `contract` (or `occ`) cell, else by its expiry, strike and
//! right; a chain report's row by its strike, the sheet's expiry (an `expiry` column, else
//! a date in a title above the header or in the sheet's name: `chain SPY 2024-06-21`) and
//! the side. The chain's day is the `date` parameter, else the About sheet's `date`, else
//! the day of `at`, else the latest chain the store has; its values are as of `at` when
//! there is one (the whole day otherwise). A row whose contract is not in the chain is an
//! extra row; contracts the table leaves out are not counted (a chain is often filtered).

use std::collections::HashMap;

use xlfeed_analytics::chain::{self as rules, Activity, VALUE_FIELDS};
use xlfeed_core::records::OptionContract;
use xlfeed_core::{Right, Symbol, TradingDay, quoted};
use xlfeed_store::{Dataset, Kind, Records};

use super::compare::{CellCheck, Checked, Cx, RowCheck, day_of, number, read_chunk, shown};
use super::detect::{SymbolFrom, Table, normalise, titles};
use super::read::Sheet;
use super::{DayNote, ReconcileError, a1, bad};

/// A chain report's call columns, in [`VALUE_FIELDS`]' order.
const CALL: &[&str] = &[
    "call_bid",
    "call_ask",
    "call_last",
    "call_volume",
    "call_trades",
    "call_iv",
    "call_delta",
    "call_gamma",
    "call_vega",
    "call_theta",
    "call_rho",
    "call_underlying_price",
];
/// A chain report's put columns, in [`VALUE_FIELDS`]' order.
const PUT: &[&str] = &[
    "put_bid",
    "put_ask",
    "put_last",
    "put_volume",
    "put_trades",
    "put_iv",
    "put_delta",
    "put_gamma",
    "put_vega",
    "put_theta",
    "put_rho",
    "put_underlying_price",
];

/// How a row finds its contract.
#[derive(Debug, Clone)]
enum Key {
    /// By the IQFeed option symbol (`contract`) or the OCC symbol (`occ`) in this column.
    Contract { col: u32, occ: bool },
    /// By the expiry, strike and right columns.
    Columns {
        expiry: u32,
        strike: u32,
        right: u32,
    },
    /// A chain report's row: by its strike, the sheet's expiry and the side.
    Sides { strike: u32, expiry: Option<u32> },
    /// None: the header lacks the columns (named in the error).
    Missing,
}

/// A chain table's columns.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    key: Key,
    strike: u32,
    /// A flat table's value columns and our field of each.
    values: Vec<(u32, &'static str)>,
    /// A chain report's value columns: column, side, their header, our field.
    sides: Vec<(u32, Right, &'static str, &'static str)>,
}

impl Layout {
    /// The contract column, else the strike column.
    pub(crate) fn key_col(&self) -> u32 {
        match self.key {
            Key::Contract { col, .. } => col,
            _ => self.strike,
        }
    }

    pub(crate) fn columns(&self) -> Vec<u32> {
        let mut c = vec![self.strike];
        c.extend(self.values.iter().map(|(c, _)| *c));
        c.extend(self.sides.iter().map(|(c, ..)| *c));
        match self.key {
            Key::Contract { col, .. } => c.push(col),
            Key::Columns { expiry, right, .. } => c.extend([expiry, right]),
            Key::Sides {
                expiry: Some(e), ..
            } => c.push(e),
            _ => {}
        }
        c
    }

    /// Our fields compared, with their columns (a report's sides by their headers).
    pub(crate) fn fields(&self) -> Vec<(u32, &'static str)> {
        let mut f = self.values.clone();
        f.extend(self.sides.iter().map(|(c, _, name, _)| (*c, *name)));
        if let Key::Contract { .. } = self.key {
            f.push((self.strike, "strike"));
        }
        f
    }

    /// Refuses a flat table that cannot find its contracts, naming what it lacks.
    pub(crate) fn check_columns(&self, where_: &str) -> Result<(), ReconcileError> {
        match self.key {
            Key::Missing => Err(bad(format!(
                "{where_} looks like an option chain (a strike column and a chain's values) \
                 but has no contract (or occ) column, nor expiry and right columns beside \
                 the strike: add them, as MKT.CHAIN gives them"
            ))),
            _ => Ok(()),
        }
    }
}

/// A chain table's layout, when the header row (normalised text cells) has a `strike`
/// column and a chain's value columns (flat, or a report's `call_`/`put_` sides).
pub(crate) fn header(cells: &[(u32, String)]) -> Option<Layout> {
    let find = |name: &str| cells.iter().find(|(_, t)| t == name).map(|(c, _)| *c);
    let strike = find("strike")?;
    let mut values = Vec::new();
    let mut sides = Vec::new();
    for (col, text) in cells {
        for (i, f) in VALUE_FIELDS.iter().enumerate() {
            let n = normalise(f);
            if *text == n {
                values.push((*col, *f));
            } else if text.strip_prefix("call") == Some(n.as_str()) {
                sides.push((*col, Right::Call, CALL[i], *f));
            } else if text.strip_prefix("put") == Some(n.as_str()) {
                sides.push((*col, Right::Put, PUT[i], *f));
            }
        }
    }
    if values.is_empty() && sides.is_empty() {
        return None;
    }
    let key = match (find("contract"), find("occ"), find("expiry"), find("right")) {
        (Some(col), ..) => Key::Contract { col, occ: false },
        (None, Some(col), ..) => Key::Contract { col, occ: true },
        _ if !sides.is_empty() => Key::Sides {
            strike,
            expiry: find("expiry"),
        },
        (None, None, Some(expiry), Some(right)) => Key::Columns {
            expiry,
            strike,
            right,
        },
        _ => Key::Missing,
    };
    Some(Layout {
        key,
        strike,
        values,
        sides,
    })
}

/// The chain of one day: its contracts, found by symbol, OCC symbol, or expiry, strike and
/// right, and their activity.
struct Chain {
    contracts: Vec<OptionContract>,
    by_symbol: HashMap<String, usize>,
    by_terms: HashMap<(u32, i64, Right), usize>,
    activity: HashMap<String, Activity>,
}

/// A strike as the chain report keys it: thousandths.
fn strike_key(k: f64) -> i64 {
    (k * 1000.0).round() as i64
}

impl Chain {
    fn by_terms(&self, expiry: TradingDay, strike: f64, right: Right) -> Option<&OptionContract> {
        let i = self
            .by_terms
            .get(&(expiry.yyyymmdd(), strike_key(strike), right))?;
        self.contracts.get(*i)
    }
}

/// Each row of `t` against our chain.
pub(crate) async fn check(cx: &Cx<'_>, t: &Table, l: &Layout) -> Result<Checked, ReconcileError> {
    let sheet = &cx.book.sheets[t.sheet];
    let where_ = || {
        format!(
            "the chain table at {}!{}",
            quoted(&sheet.name),
            a1(t.header, t.cols.0)
        )
    };
    let post = cx.stores.post.as_ref().ok_or_else(|| {
        bad(format!(
            "{} needs the POST store for its values (xlpipeline reconcile --post URL)",
            where_()
        ))
    })?;
    let SymbolFrom::Fixed(und, _) = &t.symbol else {
        return Err(bad(format!("{} does not say its underlying", where_())));
    };
    let feed = &cx.stores.feed;
    let at = cx.at.map(|(ns, _)| ns);
    let (asked, asked_from) = match (cx.date, cx.at) {
        (Some((d, from)), _) => (Some(d), from),
        (None, Some((ns, from))) => (xlfeed_core::calendar::new_york_day(ns), from),
        (None, None) => (None, "latest"),
    };
    let days = feed.all_days(Dataset::Feed, Kind::Chain, und).await?;
    let i = match asked {
        Some(d) => days.partition_point(|x| *x <= d),
        None => days.len(),
    };
    let day = i.checked_sub(1).map(|i| days[i]);
    let mut out = Checked {
        as_of: Some(match (day, cx.at) {
            (None, _) => format!(
                "no chain of {und}{}",
                asked
                    .map(|d| format!(" on or before {d}"))
                    .unwrap_or_default()
            ),
            (Some(d), None) => format!("chain of {d} ({asked_from}), whole day"),
            (Some(d), Some((ns, from))) => format!(
                "chain of {d} ({asked_from}), as of {} ({from})",
                super::quote::shown_time(ns)
            ),
        }),
        ..Checked::default()
    };
    let chain = match day {
        Some(day) => Some(read_chain(cx, post, und, day, at).await?),
        None => None,
    };
    let date = day.map(|d| d.to_string()).unwrap_or_default();
    let fixed_expiry = match l.key {
        Key::Sides { expiry: None, .. } => Some(sheet_expiry(sheet, t)?),
        _ => None,
    };
    let none = Activity::default();
    for r in t.header + 1..=t.last {
        let extra = |out: &mut Checked, col: u32, symbol: String| {
            out.extra.push(DayNote {
                sheet: sheet.name.clone(),
                date: date.clone(),
                cell: Some(a1(r, col)),
                symbol,
            })
        };
        let row = |c: Option<&OptionContract>, cells: Vec<CellCheck>| RowCheck {
            row: r,
            date: date.clone(),
            symbol: c.map(|c| c.symbol.clone()).unwrap_or_default(),
            cells,
        };
        let activity = |c: Option<&OptionContract>| activity_of(chain.as_ref(), &none, c);
        match l.key {
            Key::Contract { col, occ } => {
                let text = shown(sheet.at(r, col));
                let found = chain.as_ref().and_then(|ch| {
                    let key = if occ {
                        text.trim().to_owned()
                    } else {
                        text.trim().to_ascii_uppercase()
                    };
                    ch.by_symbol.get(&key).and_then(|i| ch.contracts.get(*i))
                });
                let Some(c) = found else {
                    extra(&mut out, col, text);
                    continue;
                };
                let a = activity(Some(c));
                let mut cells = values(&l.values, a);
                cells.push(CellCheck {
                    col: l.strike,
                    field: "strike",
                    ours: Some(c.strike),
                    time: false,
                });
                out.rows.push(row(Some(c), cells));
            }
            Key::Columns {
                expiry,
                strike,
                right,
            } => {
                let e = expiry_at(cx, sheet, r, expiry)?;
                let k = strike_at(sheet, r, strike)?;
                let side = right_at(sheet, r, right)?;
                let Some(c) = chain.as_ref().and_then(|ch| ch.by_terms(e, k, side)) else {
                    extra(&mut out, strike, format!("{e} {k} {}", side.as_char()));
                    continue;
                };
                out.rows
                    .push(row(Some(c), values(&l.values, activity(Some(c)))));
            }
            Key::Sides { strike, expiry } => {
                let e = match (expiry, fixed_expiry) {
                    (Some(col), _) => expiry_at(cx, sheet, r, col)?,
                    (None, Some(e)) => e,
                    (None, None) => continue,
                };
                let k = strike_at(sheet, r, strike)?;
                let found = [Right::Call, Right::Put]
                    .map(|side| (side, chain.as_ref().and_then(|ch| ch.by_terms(e, k, side))));
                if found.iter().all(|(_, c)| c.is_none()) {
                    extra(&mut out, strike, format!("{e} {k}"));
                    continue;
                }
                for (side, c) in found {
                    let a = activity(c);
                    let cells = l
                        .sides
                        .iter()
                        .filter(|(_, s, ..)| *s == side)
                        .map(|(col, _, name, f)| CellCheck {
                            col: *col,
                            field: name,
                            ours: c.and(a.number(f)),
                            time: false,
                        })
                        .collect();
                    out.rows.push(row(c, cells));
                }
            }
            Key::Missing => {}
        }
    }
    Ok(out)
}

/// A contract's activity (none when it did not trade, or is not in the chain).
fn activity_of<'a>(
    chain: Option<&'a Chain>,
    none: &'a Activity,
    c: Option<&OptionContract>,
) -> &'a Activity {
    match (c, chain) {
        (Some(c), Some(ch)) => ch.activity.get(&c.symbol).unwrap_or(none),
        _ => none,
    }
}

/// Cells of a flat row: each value column against the contract's activity.
fn values(values: &[(u32, &'static str)], a: &Activity) -> Vec<CellCheck> {
    values
        .iter()
        .map(|(col, f)| CellCheck {
            col: *col,
            field: f,
            ours: a.number(f),
            time: false,
        })
        .collect()
}

/// The chain of `und` on `day`: FEED's contracts, POST's activity (as of `at`).
async fn read_chain(
    cx: &Cx<'_>,
    post: &xlfeed_store::Store,
    und: &Symbol,
    day: TradingDay,
    at: Option<i64>,
) -> Result<Chain, ReconcileError> {
    let contracts = match read_chunk(&cx.stores.feed, Dataset::Feed, Kind::Chain, und, day).await? {
        Some(Records::Contracts(c)) => c,
        _ => Vec::new(),
    };
    let trades = match read_chunk(post, Dataset::Post, Kind::EnrichedTrade, und, day).await? {
        Some(Records::EnrichedOptionTrades(t)) => Some(t),
        _ => None,
    };
    // The day's aggregates count only for a whole day.
    let days = match at {
        Some(_) => None,
        None => match read_chunk(post, Dataset::Post, Kind::ContractDaily, und, day).await? {
            Some(Records::ContractDailies(d)) => Some(d),
            _ => None,
        },
    };
    let activity = rules::activity(trades.as_deref(), days.as_deref(), at);
    let mut by_symbol = HashMap::new();
    let mut by_terms = HashMap::new();
    for (i, c) in contracts.iter().enumerate() {
        by_symbol.insert(c.symbol.to_ascii_uppercase(), i);
        by_symbol.insert(c.occ.trim().to_owned(), i);
        by_terms.insert((c.expiry, strike_key(c.strike), c.right), i);
    }
    Ok(Chain {
        contracts,
        by_symbol,
        by_terms,
        activity,
    })
}

fn cell_error(sheet: &Sheet, r: u32, c: u32, what: &str) -> ReconcileError {
    bad(format!(
        "cell {}!{} is not {what}: {}",
        quoted(&sheet.name),
        a1(r, c),
        quoted(&shown(sheet.at(r, c)))
    ))
}

fn expiry_at(cx: &Cx<'_>, sheet: &Sheet, r: u32, c: u32) -> Result<TradingDay, ReconcileError> {
    day_of(cx.book, sheet.at(r, c)).ok_or_else(|| cell_error(sheet, r, c, "an expiry date"))
}

fn strike_at(sheet: &Sheet, r: u32, c: u32) -> Result<f64, ReconcileError> {
    number(sheet.at(r, c)).ok_or_else(|| cell_error(sheet, r, c, "a strike"))
}

fn right_at(sheet: &Sheet, r: u32, c: u32) -> Result<Right, ReconcileError> {
    match normalise(&shown(sheet.at(r, c))).as_str() {
        "c" | "call" => Ok(Right::Call),
        "p" | "put" => Ok(Right::Put),
        _ => Err(cell_error(sheet, r, c, "a right (C or P)")),
    }
}

/// A chain report sheet's expiry: a date in a title above the header, else in the sheet's
/// name (`chain SPY 2024-06-21`).
fn sheet_expiry(sheet: &Sheet, t: &Table) -> Result<TradingDay, ReconcileError> {
    let texts = titles(sheet, t.header, t.cols)
        .into_iter()
        .chain(std::iter::once(sheet.name.clone()));
    for text in texts {
        if let Some(d) = text
            .split_whitespace()
            .find_map(|w| xlfeed_core::datetime::parse_date(w).ok())
        {
            return Ok(d);
        }
    }
    Err(bad(format!(
        "the chain table at {}!{} does not say its expiry: add an expiry column, a title \
         with the date above the header, or name the sheet like the chain report does \
         (\"chain SPY 2024-06-21\")",
        quoted(&sheet.name),
        a1(t.header, t.cols.0)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sides_are_named_after_the_value_fields() {
        for (i, f) in VALUE_FIELDS.iter().enumerate() {
            assert_eq!(CALL[i], format!("call_{f}"));
            assert_eq!(PUT[i], format!("put_{f}"));
        }
        assert_eq!(
            (CALL.len(), PUT.len()),
            (VALUE_FIELDS.len(), VALUE_FIELDS.len())
        );
    }
}
