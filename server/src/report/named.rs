//! Named reports: sheet layouts an analyst would build by hand, with native Excel charts.
//! Each is declared once in [`REPORTS`]: its name, the query function whose parameters it
//! takes (checked by that function's declaration), how it reads its tables through the query
//! layer, and how it lays them out.
//!
//! | report | takes | sheets |
//! |---|---|---|
//! | `history` | `history`'s parameters | OHLCV table, a close-price line chart, a volume column chart |
//! | `chain` | `chain`'s parameters | a sheet per expiry: calls and puts side by side by strike with IV and Greeks, in-the-money rows shaded, an IV smile chart |
//! | `compare` | `compare`'s parameters | the statistics, performance normalised to 100 with a line per symbol, the correlation matrix with a colour scale |
//! | `ivsurface` | `chain`'s parameters | per expiry: ATM IV, 25-delta call and put IV, risk reversal and butterfly; term-structure charts |

use std::collections::BTreeMap;

use rust_xlsxwriter::{
    Chart, ChartType, Color, ConditionalFormat3ColorScale, ConditionalFormatFormula, Format,
};

use super::About;
use super::book::{Book, xl};
use crate::error::{ApiError, ApiResult};
use crate::query::functions::BoxFuture;
use crate::query::{Args, QueryService};
use crate::table::{Cell, Table};

/// The tables a report read, each with the title of its sheet, and the underlying's price
/// where the layout needs it.
#[derive(Debug, Default)]
pub struct Tables {
    /// Sheet title and table, in sheet order.
    pub sheets: Vec<(String, Table)>,
    /// The underlying's price (chains).
    pub spot: Option<f64>,
}

impl Tables {
    /// Data rows in all.
    pub fn rows(&self) -> u64 {
        self.sheets.iter().map(|(_, t)| t.rows.len() as u64).sum()
    }
}

/// Reads a report's tables.
pub(crate) type Fetch = for<'a> fn(&'a QueryService, &'a Args) -> BoxFuture<'a, ApiResult<Tables>>;
/// Lays a report's tables out in a workbook.
pub(crate) type Write = fn(&mut Book, &mut About, &Args, Tables) -> ApiResult<()>;

/// A named report.
#[derive(Debug, Clone, Copy)]
pub struct NamedReport {
    /// Its name, as `/api/v1/report/{name}.xlsx` and `xlserver report` take it.
    pub name: &'static str,
    /// The query function whose parameters it takes.
    pub takes: &'static str,
    /// One line for the function list and `--help`.
    pub doc: &'static str,
    /// Arguments the report sets itself, over the caller's (the fields its layout needs).
    pub sets: &'static [(&'static str, &'static str)],
    pub(crate) fetch: Fetch,
    pub(crate) write: Write,
}

impl NamedReport {
    /// Checks `args` against the declaration of the function the report takes.
    pub fn check(&self, args: &Args) -> ApiResult<()> {
        crate::query::checked(self.takes, &self.args(args)).map(|_| ())
    }

    /// `args` with what the report sets itself.
    fn args(&self, args: &Args) -> Args {
        let mut a = args.clone();
        for (k, v) in self.sets {
            a.set(k, *v);
        }
        a
    }
}

/// The fields a chain report reads.
const CHAIN_FIELDS: &str =
    "contract,expiry,strike,right,bid,ask,last,volume,iv,delta,gamma,vega,theta,underlying_price";

/// Every named report.
pub const REPORTS: &[NamedReport] = &[
    NamedReport {
        name: "history",
        takes: "history",
        doc: "Bars of a symbol (history's parameters): an OHLCV table, a close-price line chart and a volume column chart.",
        sets: &[("fields", "open,high,low,close,volume")],
        fetch: |q, a| Box::pin(history_fetch(q, a)),
        write: history_write,
    },
    NamedReport {
        name: "chain",
        takes: "chain",
        doc: "An option chain (chain's parameters): a sheet per expiry with calls and puts side by side by strike, IV and Greeks, in-the-money rows shaded, an IV smile chart.",
        sets: &[("fields", CHAIN_FIELDS)],
        fetch: |q, a| Box::pin(chain_fetch(q, a)),
        write: chain_write,
    },
    NamedReport {
        name: "compare",
        takes: "compare",
        doc: "A comparison (compare's parameters): the statistics, performance normalised to 100 with a line per symbol, and the correlation matrix with a colour scale.",
        sets: &[("metric", "summary")],
        fetch: |q, a| Box::pin(compare_fetch(q, a)),
        write: compare_write,
    },
    NamedReport {
        name: "ivsurface",
        takes: "chain",
        doc: "Implied volatility by expiry (chain's parameters): ATM IV, 25-delta call and put IV, risk reversal and butterfly, with term-structure charts.",
        sets: &[("fields", CHAIN_FIELDS)],
        fetch: |q, a| Box::pin(ivsurface_fetch(q, a)),
        write: ivsurface_write,
    },
];

/// The report called `name`, or the 404 listing them.
pub fn report(name: &str) -> ApiResult<&'static NamedReport> {
    REPORTS.iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<&str> = REPORTS.iter().map(|r| r.name).collect();
        ApiError::not_found(format!(
            "no report {} (there are {})",
            xlfeed_core::quoted(name),
            names.join(", ")
        ))
    })
}

/// Chart size, pixels.
const CHART_W: u32 = 640;
const CHART_H: u32 = 300;
/// Rows a chart covers, with a gap.
const CHART_ROWS: u32 = 16;

/// Puts `chart` on sheet `sheet` at (`row`, `col`).
fn place(book: &mut Book, sheet: &str, row: u32, col: u16, chart: &mut Chart) -> ApiResult<()> {
    chart.set_width(CHART_W).set_height(CHART_H);
    book.worksheet(sheet)?
        .insert_chart(row, col, chart)
        .map_err(xl)?;
    Ok(())
}

/// A chart of `kind` titled `title` with a series per `(name, column)` over data rows
/// `1..=n` of `sheet`, categories in column `x`.
fn chart(
    kind: ChartType,
    title: &str,
    sheet: &str,
    n: u32,
    x: u16,
    series: &[(String, u16)],
) -> Chart {
    let mut c = Chart::new(kind);
    for (name, col) in series {
        c.add_series()
            .set_name(name.as_str())
            .set_categories((sheet, 1, x, n, x))
            .set_values((sheet, 1, *col, n, *col));
    }
    c.title().set_name(title);
    if series.len() < 2 {
        c.legend().set_hidden();
    }
    c
}

fn upper(args: &Args, name: &str) -> ApiResult<String> {
    Ok(args.text(name)?.to_ascii_uppercase())
}

// history -------------------------------------------------------------------------------

async fn history_fetch(q: &QueryService, args: &Args) -> ApiResult<Tables> {
    let r = report("history")?;
    let t = q.call("history", &r.args(args)).await?;
    Ok(Tables {
        sheets: vec![(format!("history {}", upper(args, "symbol")?), t)],
        spot: None,
    })
}

fn history_write(book: &mut Book, about: &mut About, args: &Args, tables: Tables) -> ApiResult<()> {
    let Some((title, t)) = tables.sheets.into_iter().next() else {
        return Ok(());
    };
    let name = book.table(&title, &t)?;
    about.rows(&name, t.rows.len() as u64, t.next.as_deref());
    let n = t.rows.len() as u32;
    if n == 0 {
        return Ok(());
    }
    let symbol = upper(args, "symbol")?;
    let right = t.columns.len() as u16 + 1;
    if let Some(close) = t.column("close") {
        let mut c = chart(
            ChartType::Line,
            &format!("{symbol} close"),
            &name,
            n,
            0,
            &[(format!("{symbol} close"), close as u16)],
        );
        c.x_axis().set_date_axis(true).set_num_format("yyyy-mm-dd");
        c.y_axis().set_num_format("0.00");
        place(book, &name, 1, right, &mut c)?;
    }
    if let Some(volume) = t.column("volume") {
        let mut c = chart(
            ChartType::Column,
            &format!("{symbol} volume"),
            &name,
            n,
            0,
            &[(format!("{symbol} volume"), volume as u16)],
        );
        c.x_axis().set_date_axis(true).set_num_format("yyyy-mm-dd");
        c.y_axis().set_num_format("#,##0");
        place(book, &name, 1 + CHART_ROWS, right, &mut c)?;
    }
    Ok(())
}

// chain ---------------------------------------------------------------------------------

/// One side's columns in a chain report, in order (`call_` or `put_` before each).
const SIDE: &[&str] = &[
    "bid", "ask", "last", "volume", "iv", "delta", "gamma", "vega", "theta",
];

/// The call and put rows at one strike (thousandths) of one expiry.
type Strikes = BTreeMap<i64, [Option<Vec<Cell>>; 2]>;

/// The chain as read: `(expiry, strike) → (call row, put row)`, and the underlying's price.
struct Chain {
    underlying: String,
    by_expiry: BTreeMap<u32, Strikes>,
    columns: Vec<String>,
    spot: Option<f64>,
}

/// Reads the chain of `args` (all its fields) and sorts it by expiry and strike.
async fn read_chain(q: &QueryService, args: &Args, r: &NamedReport) -> ApiResult<Chain> {
    let t = q.call("chain", &r.args(args)).await?;
    let col = |c: &str| {
        t.column(c).ok_or_else(|| {
            ApiError::new(
                xlfeed_core::ErrorKind::Internal,
                format!("chain has no {c}"),
            )
        })
    };
    let (expiry, strike, right, spot) = (
        col("expiry")?,
        col("strike")?,
        col("right")?,
        col("underlying_price")?,
    );
    let mut by_expiry: BTreeMap<u32, Strikes> = BTreeMap::new();
    let mut s = None;
    for row in &t.rows {
        let (Cell::Date(e), Some(k)) = (&row[expiry], row[strike].as_f64()) else {
            continue;
        };
        let side = match &row[right] {
            Cell::Text(r) if r.starts_with('C') || r.starts_with('c') => 0,
            Cell::Text(_) => 1,
            _ => continue,
        };
        if s.is_none() {
            s = row[spot].as_f64().filter(|v| v.is_finite() && *v > 0.0);
        }
        let key = (k * 1000.0).round() as i64;
        by_expiry.entry(*e).or_default().entry(key).or_default()[side] = Some(row.clone());
    }
    Ok(Chain {
        underlying: upper(args, "underlying")?,
        by_expiry,
        columns: t.columns.clone(),
        spot: s,
    })
}

async fn chain_fetch(q: &QueryService, args: &Args) -> ApiResult<Tables> {
    let r = report("chain")?;
    let chain = read_chain(q, args, r).await?;
    let mut columns: Vec<String> = SIDE.iter().map(|c| format!("call_{c}")).collect();
    columns.push("strike".into());
    columns.extend(SIDE.iter().map(|c| format!("put_{c}")));
    let at = |c: &str| chain.columns.iter().position(|x| x == c);
    let picks: Vec<Option<usize>> = SIDE.iter().map(|c| at(c)).collect();
    let mut sheets = Vec::new();
    for (expiry, strikes) in &chain.by_expiry {
        let mut t = Table::new(columns.clone());
        for (key, sides) in strikes {
            let mut row = Vec::with_capacity(columns.len());
            for (i, side) in sides.iter().enumerate() {
                if i == 1 {
                    row.push(Cell::Num(*key as f64 / 1000.0));
                }
                for p in &picks {
                    row.push(match (side, p) {
                        (Some(r), Some(p)) => r[*p].clone(),
                        _ => Cell::Empty,
                    });
                }
            }
            t.rows.push(row);
        }
        sheets.push((format!("chain {} {}", chain.underlying, day(*expiry)), t));
    }
    if sheets.is_empty() {
        sheets.push((format!("chain {}", chain.underlying), Table::new(columns)));
    }
    Ok(Tables {
        sheets,
        spot: chain.spot,
    })
}

/// `yyyymmdd` as `yyyy-mm-dd`.
fn day(d: u32) -> String {
    format!("{:04}-{:02}-{:02}", d / 10000, d / 100 % 100, d % 100)
}

/// The column letters of a 0-based column (A, B, ..., Z, AA, ...).
fn letters(mut col: u16) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn chain_write(book: &mut Book, about: &mut About, _args: &Args, tables: Tables) -> ApiResult<()> {
    let itm = Format::new().set_background_color(Color::RGB(0xE2EFDA));
    let side = SIDE.len() as u16;
    let strike = side;
    for (title, t) in tables.sheets {
        let name = book.table(&title, &t)?;
        about.rows(&name, t.rows.len() as u64, None);
        let n = t.rows.len() as u32;
        if n == 0 {
            continue;
        }
        if let Some(spot) = tables.spot {
            let k = letters(strike);
            // Calls are in the money below the spot, puts above it.
            for (first, last, op) in [(0, side - 1, '<'), (side + 1, 2 * side, '>')] {
                let rule = ConditionalFormatFormula::new()
                    .set_rule(format!("=${k}2{op}{spot}").as_str())
                    .set_format(&itm);
                book.worksheet(&name)?
                    .add_conditional_format(1, first, n, last, &rule)
                    .map_err(xl)?;
            }
            about.note(format!(
                "{name}: in-the-money rows shaded against the underlying at {spot}"
            ));
        }
        let iv = SIDE.iter().position(|c| *c == "iv").unwrap_or(4) as u16;
        let mut c = chart(
            ChartType::ScatterStraightWithMarkers,
            &format!("{title}: IV smile"),
            &name,
            n,
            strike,
            &[
                ("calls IV".to_owned(), iv),
                ("puts IV".to_owned(), strike + 1 + iv),
            ],
        );
        c.x_axis().set_name("strike");
        c.y_axis().set_num_format("0%");
        place(book, &name, 1, 2 * side + 2, &mut c)?;
    }
    Ok(())
}

// compare -------------------------------------------------------------------------------

async fn compare_fetch(q: &QueryService, args: &Args) -> ApiResult<Tables> {
    let r = report("compare")?;
    let stats = q.call("compare", &r.args(args)).await?;
    let mut c = args.clone();
    c.set("metric", "correlation");
    let corr = q.call("compare", &c).await?;
    let w = crate::query::compare::Window::parse(args, "summary", 2)?;
    let aligned = w.aligned(q.data()).await?;
    let mut perf = Table::new(
        std::iter::once("date".to_owned()).chain(w.symbols.iter().map(|s| s.to_string())),
    );
    for (i, d) in aligned.dates.iter().enumerate() {
        let mut row = vec![Cell::Date(*d)];
        row.extend(
            aligned
                .closes
                .iter()
                .map(|c| Cell::Num(100.0 * c[i] / c[0])),
        );
        perf.push(row)?;
    }
    Ok(Tables {
        sheets: vec![
            ("compare statistics".into(), stats),
            ("performance".into(), perf),
            ("correlation".into(), corr),
        ],
        spot: None,
    })
}

fn compare_write(
    book: &mut Book,
    about: &mut About,
    _args: &Args,
    tables: Tables,
) -> ApiResult<()> {
    let mut names = Vec::new();
    for (title, t) in &tables.sheets {
        let name = book.table(title, t)?;
        about.rows(&name, t.rows.len() as u64, None);
        names.push(name);
    }
    let (Some((_, perf)), Some((_, corr))) = (tables.sheets.get(1), tables.sheets.get(2)) else {
        return Ok(());
    };
    let n = perf.rows.len() as u32;
    if n > 0 {
        let series: Vec<(String, u16)> = perf.columns[1..]
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u16 + 1))
            .collect();
        let mut c = chart(
            ChartType::Line,
            "Performance (first common day = 100)",
            &names[1],
            n,
            0,
            &series,
        );
        c.x_axis().set_date_axis(true).set_num_format("yyyy-mm-dd");
        c.y_axis().set_num_format("0");
        place(book, &names[1], 1, perf.columns.len() as u16 + 1, &mut c)?;
    }
    let k = corr.rows.len() as u32;
    if k > 0 {
        let scale = ConditionalFormat3ColorScale::new()
            .set_minimum_color(Color::RGB(0xF8696B))
            .set_midpoint_color(Color::RGB(0xFFFFFF))
            .set_maximum_color(Color::RGB(0x63BE7B));
        let last = corr.columns.len().saturating_sub(1) as u16;
        book.worksheet(&names[2])?
            .add_conditional_format(1, 1, k, last.max(1), &scale)
            .map_err(xl)?;
    }
    Ok(())
}

// ivsurface ------------------------------------------------------------------------------

/// IV at `target` by linear interpolation in `(x, iv)` points (any order); `None` outside
/// their range.
fn interpolate(points: &mut [(f64, f64)], target: f64) -> Option<f64> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let first = points.first()?;
    let last = points.last()?;
    if target < first.0 || target > last.0 {
        return None;
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if (x0..=x1).contains(&target) {
            if x1 == x0 {
                return Some((y0 + y1) / 2.0);
            }
            return Some(y0 + (y1 - y0) * (target - x0) / (x1 - x0));
        }
    }
    (points.len() == 1).then_some(first.1)
}

/// The volatility summary of one expiry: ATM IV (each side's IV interpolated in strike at
/// the spot, then their mean), 25-delta call and put IV (interpolated in delta), risk
/// reversal (call − put) and butterfly (their mean − ATM).
pub(crate) fn smile_summary(
    calls: &[(f64, f64, f64)],
    puts: &[(f64, f64, f64)],
    spot: Option<f64>,
) -> [Option<f64>; 5] {
    let side_atm = |side: &[(f64, f64, f64)]| {
        let s = spot?;
        let mut pts: Vec<(f64, f64)> = side.iter().map(|(k, _, iv)| (*k, *iv)).collect();
        interpolate(&mut pts, s)
    };
    let atm = match (side_atm(calls), side_atm(puts)) {
        (Some(c), Some(p)) => Some((c + p) / 2.0),
        (a, b) => a.or(b),
    };
    let at_delta = |side: &[(f64, f64, f64)], d: f64| {
        let mut pts: Vec<(f64, f64)> = side.iter().map(|(_, delta, iv)| (*delta, *iv)).collect();
        interpolate(&mut pts, d)
    };
    let c25 = at_delta(calls, 0.25);
    let p25 = at_delta(puts, -0.25);
    let rr = c25.zip(p25).map(|(c, p)| c - p);
    let bf = match (c25, p25, atm) {
        (Some(c), Some(p), Some(a)) => Some((c + p) / 2.0 - a),
        _ => None,
    };
    [atm, c25, p25, rr, bf]
}

async fn ivsurface_fetch(q: &QueryService, args: &Args) -> ApiResult<Tables> {
    let r = report("ivsurface")?;
    let chain = read_chain(q, args, r).await?;
    let at = |c: &str| chain.columns.iter().position(|x| x == c);
    let (Some(iv), Some(delta)) = (at("iv"), at("delta")) else {
        return Err(ApiError::new(
            xlfeed_core::ErrorKind::Internal,
            "the chain has no iv or delta",
        ));
    };
    let date = args.day("date")?;
    let mut t = Table::new([
        "expiry",
        "days",
        "atm_iv",
        "call_iv_25d",
        "put_iv_25d",
        "risk_reversal_25d",
        "butterfly_25d",
    ]);
    for (expiry, strikes) in &chain.by_expiry {
        let mut sides: [Vec<(f64, f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for (key, rows) in strikes {
            for (i, r) in rows.iter().enumerate() {
                if let Some(r) = r
                    && let (Some(v), Some(d)) = (r[iv].as_f64(), r[delta].as_f64())
                    && v.is_finite()
                    && d.is_finite()
                {
                    sides[i].push((*key as f64 / 1000.0, d, v));
                }
            }
        }
        let s = smile_summary(&sides[0], &sides[1], chain.spot);
        let days = date
            .zip(xlfeed_core::TradingDay::from_yyyymmdd(*expiry).ok())
            .map(|(d, e)| (e.date() - d.date()).num_days());
        let mut row = vec![Cell::Date(*expiry), days.map_or(Cell::Empty, Cell::Int)];
        row.extend(s.iter().map(|v| Cell::opt(*v)));
        t.push(row)?;
    }
    Ok(Tables {
        sheets: vec![(format!("ivsurface {}", chain.underlying), t)],
        spot: chain.spot,
    })
}

fn ivsurface_write(
    book: &mut Book,
    about: &mut About,
    _args: &Args,
    tables: Tables,
) -> ApiResult<()> {
    let Some((title, t)) = tables.sheets.into_iter().next() else {
        return Ok(());
    };
    let name = book.table(&title, &t)?;
    about.rows(&name, t.rows.len() as u64, None);
    about.note(
        "ATM IV: each side's IV interpolated in strike at the underlying's price, then averaged; 25-delta IVs interpolated in delta; risk reversal = call − put; butterfly = their mean − ATM",
    );
    let n = t.rows.len() as u32;
    if n == 0 {
        return Ok(());
    }
    let right = t.columns.len() as u16 + 1;
    let mut c = chart(
        ChartType::Line,
        "IV term structure",
        &name,
        n,
        0,
        &[
            ("ATM IV".into(), 2),
            ("25-delta call IV".into(), 3),
            ("25-delta put IV".into(), 4),
        ],
    );
    c.x_axis().set_date_axis(true).set_num_format("yyyy-mm-dd");
    c.y_axis().set_num_format("0%");
    place(book, &name, 1, right, &mut c)?;
    let mut c = chart(
        ChartType::Line,
        "25-delta risk reversal and butterfly",
        &name,
        n,
        0,
        &[("risk reversal".into(), 5), ("butterfly".into(), 6)],
    );
    c.x_axis().set_date_axis(true).set_num_format("yyyy-mm-dd");
    c.y_axis().set_num_format("0.0%");
    place(book, &name, 1 + CHART_ROWS, right, &mut c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(letters(0), "A");
        assert_eq!(letters(9), "J");
        assert_eq!(letters(25), "Z");
        assert_eq!(letters(26), "AA");
        assert_eq!(letters(701), "ZZ");
        assert_eq!(letters(702), "AAA");
    }

    #[test]
    fn a_smile_summarises() {
        // Calls and puts at strikes 90..110; IV falls with strike (a skew), deltas linear.
        let calls: Vec<(f64, f64, f64)> = (0..=4)
            .map(|i| {
                let k = 90.0 + 5.0 * f64::from(i);
                (k, 0.9 - 0.2 * f64::from(i), 0.30 - 0.02 * f64::from(i))
            })
            .collect();
        let puts: Vec<(f64, f64, f64)> = calls.iter().map(|(k, d, v)| (*k, d - 1.0, *v)).collect();
        let [atm, c25, p25, rr, bf] = smile_summary(&calls, &puts, Some(100.0));
        assert!((atm.unwrap() - 0.26).abs() < 1e-12);
        // Call delta 0.25 lies between 0.3 (k 105, iv .24) and 0.1 (k 110, iv .22): .235.
        assert!((c25.unwrap() - 0.235).abs() < 1e-12, "{c25:?}");
        // Put deltas run −0.1 (k 90) to −0.9 (k 110): −0.25 lies between −0.1 (iv .30) and
        // −0.3 (k 95, iv .28): .285.
        assert!((p25.unwrap() - 0.285).abs() < 1e-12, "{p25:?}");
        assert!((rr.unwrap() - (0.235 - 0.285)).abs() < 1e-12);
        assert!((bf.unwrap() - ((0.235 + 0.285) / 2.0 - 0.26)).abs() < 1e-12);
        // No spot: no ATM, no butterfly.
        let [atm, _, _, _, bf] = smile_summary(&calls, &puts, None);
        assert!(atm.is_none() && bf.is_none());
        // Outside the deltas seen: nothing invented.
        assert_eq!(smile_summary(&calls[..1], &puts[..1], Some(90.0))[1], None);
    }
}
