//! `fundamentals`: the latest fundamentals of a symbol, or one field of them, from FEED.

use xlfeed_core::records::Fundamentals;
use xlfeed_store::{Dataset, Kind, Records};

use super::args::Args;
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// `fundamentals`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "fundamentals",
    params: &[
        p("symbol", T::Symbol, true, "The symbol."),
        p("field", T::Text, false, "One field (default: all)."),
    ],
    doc: "The latest fundamentals of a symbol (or one field of them).",
    heavy: false,
    excel: &[Excel {
        id: "FUNDAMENTAL",
        params: &[xreq("symbol", &["symbol"]), xreq("field", &["field"])],
    }],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `fundamentals` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let symbol = args.symbol("symbol")?;
    let field = args.opt_text("field")?.map(|f| f.to_ascii_lowercase());
    let Some(day) = data
        .latest_day(Dataset::Feed, Kind::Fundamental, &symbol, None)
        .await?
    else {
        return Err(ApiError::not_found(format!(
            "no fundamentals for {symbol} (fetch --kinds fundamentals)"
        )));
    };
    let rows: Vec<Fundamentals> = match data
        .chunk(Dataset::Feed, Kind::Fundamental, &symbol, day)
        .await?
        .as_deref()
    {
        Some(Records::Fundamentals(f)) => f.clone(),
        _ => Vec::new(),
    };
    let Some(f) = rows.last() else {
        return Err(ApiError::not_found(format!("no fundamentals for {symbol}")));
    };
    let date = |d: u32| if d == 0 { Cell::Empty } else { Cell::Date(d) };
    let mut cells: Vec<(&str, Cell)> = vec![
        ("symbol", Cell::Text(symbol.to_string())),
        ("as_of", Cell::Time(f.time)),
        ("dividend_amount", Cell::Num(f.dividend_amount)),
        ("dividend_yield_pct", Cell::Num(f.dividend_yield_pct)),
        ("dividend_rate", Cell::Num(f.dividend_rate)),
        ("pay_date", date(f.pay_date)),
        ("ex_date", date(f.ex_date)),
        ("shares_outstanding", Cell::Int(f.shares_outstanding)),
        ("high_52w", Cell::Num(f.high_52w)),
        ("low_52w", Cell::Num(f.low_52w)),
        ("pe", Cell::opt(f.pe)),
        ("eps", Cell::opt(f.eps)),
    ];
    if let Some(field) = field {
        let names: Vec<&str> = cells.iter().map(|(n, _)| *n).collect();
        if !names.contains(&field.as_str()) {
            return Err(ApiError::bad(format!(
                "field {} is not one of {}",
                xlfeed_core::quoted(&field),
                names.join(", ")
            )));
        }
        cells.retain(|(n, _)| *n == field);
        if matches!(cells.first(), Some((_, Cell::Empty))) {
            return Err(ApiError::no_number(format!(
                "{symbol} has no {field} reported"
            )));
        }
    }
    let mut t = Table::new(cells.iter().map(|(n, _)| *n));
    t.push(cells.into_iter().map(|(_, c)| c).collect())?;
    Ok(t)
}
