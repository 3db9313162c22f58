//! `search`: symbols in the stores that start with or contain a text.

use xlfeed_store::{Dataset, Kind};

use super::args::Args;
use super::data::Data;
use super::functions::{Function, ParamType as T, p};
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// `search`, declared for the function table.
pub(super) const FUNCTION: Function = Function {
    name: "search",
    params: &[
        p(
            "text",
            T::Text,
            true,
            "What the symbols start with or contain.",
        ),
        p(
            "limit",
            T::Int(1, 1000),
            false,
            "Symbols at most (default 50).",
        ),
    ],
    doc: "Symbols in the stores that start with or contain text, with what is stored for them.",
    heavy: true,
    excel: &[],
    run: |data, args| Box::pin(run(data, args)),
};

/// Runs `search` on arguments that passed the declaration.
async fn run(data: &Data, args: &Args) -> ApiResult<Table> {
    let text = args.text("text")?.to_ascii_uppercase();
    let limit = args.int("limit")?.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad(format!(
            "limit {limit} is not between 1 and 1000"
        )));
    }
    let kinds = [
        (Dataset::Feed, Kind::Trade, "ticks"),
        (Dataset::Feed, Kind::Daily, "daily"),
        (Dataset::Feed, Kind::Chain, "options"),
        (Dataset::Feed, Kind::Dividend, "dividends"),
        (Dataset::Feed, Kind::Fundamental, "fundamentals"),
        (Dataset::Post, Kind::EnrichedTrade, "analytics"),
        (Dataset::Feed, Kind::Rate, "rate curve"),
    ];
    let mut found: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (ds, kind, label) in kinds {
        for s in data.symbols(ds, kind).await? {
            if s.as_str().contains(&text) {
                found.entry(s.to_string()).or_default().push(label);
            }
        }
    }
    let mut hits: Vec<(String, Vec<&str>)> = found.into_iter().collect();
    // Prefix matches first, then alphabetical.
    hits.sort_by_key(|(s, _)| (!s.starts_with(&text), s.len(), s.clone()));
    let mut t = Table::new(["symbol", "data"]);
    for (s, labels) in hits.into_iter().take(limit as usize) {
        t.rows
            .push(vec![Cell::Text(s), Cell::Text(labels.join(", "))]);
    }
    Ok(t)
}
