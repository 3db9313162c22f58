//! `quote`: the latest values of a symbol, now or as of a time: from its quotes, else its
//! trades.

use xlfeed_analytics::quote::{self as rules, QuoteValues};
use xlfeed_core::calendar::utc_ns_to_new_york;
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records};

use super::args::{Args, DayEnd};
use super::data::Data;
use super::functions::{Excel, Function, ParamType as T, p, xopt, xreq};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// Fields a quote may be asked for (owned by the shared quote rules).
pub(crate) use xlfeed_analytics::quote::FIELDS as QUOTE_FIELDS;

/// `quote`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "quote",
    params: &[
        p("symbol", T::Symbol, true, "The symbol."),
        p(
            "field",
            T::OneOf(QUOTE_FIELDS),
            false,
            "One field (default: all).",
        ),
        p("at", T::Time, false, "As of this time (default: now)."),
    ],
    doc: "Latest values of a symbol (last, bid, ask, size, volume, change, change_pct, open, high, low, prev_close, time), now or as of a time; one field gives one value.",
    heavy: false,
    excel: &[
        Excel {
            id: "QUOTE",
            params: &[xreq("symbol", &["symbol"]), xopt("field", &["field"])],
        },
        // LIVE asks the same question again while the cell is on a sheet.
        Excel {
            id: "LIVE",
            params: &[xreq("symbol", &["symbol"]), xopt("field", &["field"])],
        },
    ],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `quote` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let symbol = args.symbol("symbol")?;
    let at = args.time("at", DayEnd::End)?;
    let field = args.opt_text("field")?.map(|f| f.to_ascii_lowercase());

    if let Some(f) = &field
        && !QUOTE_FIELDS.contains(&f.as_str())
    {
        return Err(ApiError::bad(format!(
            "field {} is not one of {}",
            xlfeed_core::quoted(f),
            QUOTE_FIELDS.join(", ")
        )));
    }
    let at_day = match at {
        Some(ns) => Some(TradingDay::from_date(utc_ns_to_new_york(ns).date())?),
        None => None,
    };
    let values = match quote_from_quotes(data, &symbol, at, at_day).await? {
        Some(v) => v,
        None => match quote_from_trades(data, &symbol, at, at_day).await? {
            Some(v) => v,
            None => {
                data.known(&symbol, &[Kind::Trade, Kind::Quote, Kind::Daily])
                    .await?;
                return Err(ApiError::not_found(format!(
                    "no trade of {symbol} at or before {}",
                    args.opt_text("at")?.unwrap_or_else(|| "now".into())
                )));
            }
        },
    };
    let mut cells: Vec<(&str, Cell)> = vec![
        ("symbol", Cell::Text(symbol.to_string())),
        ("time", Cell::Time(values.time)),
        ("last", Cell::Num(values.last)),
        ("size", Cell::Int(values.size)),
        ("bid", Cell::Num(values.bid)),
        ("ask", Cell::Num(values.ask)),
        ("volume", Cell::Int(values.volume)),
        ("change", Cell::opt(values.change())),
        ("change_pct", Cell::opt(values.change_pct())),
        ("open", Cell::opt(values.open)),
        ("high", Cell::opt(values.high)),
        ("low", Cell::opt(values.low)),
        ("prev_close", Cell::opt(values.prev_close)),
    ];
    if let Some(f) = field {
        cells.retain(|(n, _)| *n == f);
    }
    let mut t = Table::new(cells.iter().map(|(n, _)| *n));
    t.push(cells.into_iter().map(|(_, c)| c).collect())?;
    Ok(t)
}

async fn quote_from_quotes(
    data: &Data,
    symbol: &Symbol,
    at: Option<i64>,
    at_day: Option<TradingDay>,
) -> ApiResult<Option<QuoteValues>> {
    let Some(day) = data
        .latest_day(Dataset::Feed, Kind::Quote, symbol, at_day)
        .await?
    else {
        return Ok(None);
    };
    let Some(c) = data.chunk(Dataset::Feed, Kind::Quote, symbol, day).await? else {
        return Ok(None);
    };
    let Records::Quotes(q) = c.as_ref() else {
        return Ok(None);
    };
    Ok(rules::from_quotes(q, at))
}

async fn quote_from_trades(
    data: &Data,
    symbol: &Symbol,
    at: Option<i64>,
    at_day: Option<TradingDay>,
) -> ApiResult<Option<QuoteValues>> {
    let days = data.all_days(Dataset::Feed, Kind::Trade, symbol).await?;
    let upto = match at_day {
        Some(d) => days.partition_point(|x| *x <= d),
        None => days.len(),
    };
    // The latest day with a trade at or before `at`, and the day before it.
    for i in (0..upto).rev() {
        let day = days[i];
        let Some(c) = data.chunk(Dataset::Feed, Kind::Trade, symbol, day).await? else {
            continue;
        };
        let Records::Trades(trades) = c.as_ref() else {
            continue;
        };
        let upto_now = rules::trades_upto(trades, at);
        if upto_now.is_empty() {
            continue;
        }
        // The whole day's summary is kept; a quote as of a time inside it is summed anew.
        let sum = if upto_now.len() == trades.len() {
            let key = ChunkKey::new(Dataset::Feed, Kind::Trade, symbol.clone(), day);
            data.summary(&key, || rules::summarize(upto_now))
        } else {
            rules::summarize(upto_now).map(std::sync::Arc::new)
        };
        let Some(sum) = sum else { continue };
        let prev_close = match i.checked_sub(1) {
            Some(j) => close_of(data, symbol, days[j]).await?,
            None => None,
        };
        return Ok(rules::from_trades(upto_now, &sum, prev_close));
    }
    Ok(None)
}

/// A day's close: its stored daily bar, else its last trade (the trades read only when
/// there is no bar).
async fn close_of(data: &Data, symbol: &Symbol, day: TradingDay) -> ApiResult<Option<f64>> {
    if let Some(c) = data.chunk(Dataset::Feed, Kind::Daily, symbol, day).await?
        && let Records::DailyBars(b) = c.as_ref()
        && !b.is_empty()
    {
        return Ok(rules::close_of(Some(b), None));
    }
    let trades = data.chunk(Dataset::Feed, Kind::Trade, symbol, day).await?;
    Ok(match trades.as_deref() {
        Some(Records::Trades(t)) => rules::close_of(None, Some(t)),
        _ => None,
    })
}
