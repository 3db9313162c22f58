//! Named reports: sheet layouts an analyst would build by hand, with native Excel charts.
//! Each is declared once in [`REPORTS`]: its name, the query function whose parameters it
//! takes (checked by that function's declaration), how it reads its tables, and how it lays
//! them out.
//!
//! | report | takes | sheets |
//! |---|---|---|
//! | `history` | `history`'s parameters | OHLCV table, a close-price line chart, a volume column chart |

use rust_xlsxwriter::{Chart, ChartType};

use super::About;
use super::book::Book;
use crate::error::{ApiError, ApiResult};
use crate::query::functions::BoxFuture;
use crate::query::{Args, QueryService};
use crate::table::Table;

/// The tables a report read, each with the title of its sheet.
#[derive(Debug, Default)]
pub struct Tables(pub Vec<(String, Table)>);

impl Tables {
    /// Data rows in all.
    pub fn rows(&self) -> u64 {
        self.0.iter().map(|(_, t)| t.rows.len() as u64).sum()
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
    pub(crate) fetch: Fetch,
    pub(crate) write: Write,
}

impl NamedReport {
    /// Checks `args` against the declaration of the function the report takes.
    pub fn check(&self, args: &Args) -> ApiResult<()> {
        crate::query::checked(self.takes, &self.args(args)).map(|_| ())
    }

    /// `args` with what the report sets itself (the fields its layout needs).
    fn args(&self, args: &Args) -> Args {
        let mut a = args.clone();
        if self.name == "history" {
            a.set("fields", "open,high,low,close,volume");
        }
        a
    }
}

/// Every named report.
pub const REPORTS: &[NamedReport] = &[NamedReport {
    name: "history",
    takes: "history",
    doc: "Bars of a symbol (history's parameters): an OHLCV table, a close-price line chart and a volume column chart.",
    fetch: |q, a| Box::pin(history_fetch(q, a)),
    write: history_write,
}];

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

async fn history_fetch(q: &QueryService, args: &Args) -> ApiResult<Tables> {
    let r = report("history")?;
    let t = q.call("history", &r.args(args)).await?;
    let symbol = args.text("symbol")?.to_ascii_uppercase();
    Ok(Tables(vec![(format!("history {symbol}"), t)]))
}

/// Chart size, pixels.
const CHART_W: u32 = 640;
const CHART_H: u32 = 300;

fn history_write(book: &mut Book, about: &mut About, args: &Args, tables: Tables) -> ApiResult<()> {
    let Some((title, t)) = tables.0.into_iter().next() else {
        return Ok(());
    };
    let name = book.table(&title, &t)?;
    about.rows(&name, t.rows.len() as u64, t.next.as_deref());
    let n = t.rows.len() as u32;
    if n == 0 {
        return Ok(());
    }
    let col = |c: &str| t.column(c).map(|i| i as u16);
    let symbol = args.text("symbol")?.to_ascii_uppercase();
    let width = t.columns.len() as u16 + 1;
    if let Some(close) = col("close") {
        let mut chart = Chart::new(ChartType::Line);
        chart
            .add_series()
            .set_name(&format!("{symbol} close"))
            .set_categories((name.as_str(), 1, 0, n, 0))
            .set_values((name.as_str(), 1, close, n, close));
        chart.title().set_name(&format!("{symbol} close"));
        chart
            .x_axis()
            .set_date_axis(true)
            .set_num_format("yyyy-mm-dd");
        chart.y_axis().set_num_format("0.00");
        chart.legend().set_hidden();
        chart.set_width(CHART_W).set_height(CHART_H);
        book.worksheet(&name)?
            .insert_chart(1, width, &chart)
            .map_err(super::book::xl)?;
    }
    if let Some(volume) = col("volume") {
        let mut chart = Chart::new(ChartType::Column);
        chart
            .add_series()
            .set_name(&format!("{symbol} volume"))
            .set_categories((name.as_str(), 1, 0, n, 0))
            .set_values((name.as_str(), 1, volume, n, volume));
        chart.title().set_name(&format!("{symbol} volume"));
        chart
            .x_axis()
            .set_date_axis(true)
            .set_num_format("yyyy-mm-dd");
        chart.y_axis().set_num_format("#,##0");
        chart.legend().set_hidden();
        chart.set_width(CHART_W).set_height(CHART_H);
        book.worksheet(&name)?
            .insert_chart(17, width, &chart)
            .map_err(super::book::xl)?;
    }
    Ok(())
}
