//! `import dividends`: dividends into `dividend`, one chunk per (symbol, ex-date).
//!
//! Columns, matched by name in any order: the ex-dividend date (`Ex Date`, `Ex-Dividend
//! Date`, or `Date` as in Yahoo Finance's dividend download) and the cash amount per share
//! (`Amount`, `Dividend`, `Dividends`, `Cash Amount`) are required; `Pay Date` (`Payment
//! Date`) and `Yield` (percent) are optional and stored as 0 when absent or empty. The symbol
//! comes from a `Symbol` (`Ticker`) column or, for a file of one symbol, `--symbol`.
//!
//! A symbol may have more than one dividend on an ex-date (a regular and a special one): they
//! share the (symbol, ex-date) chunk, ordered by pay date, amount and yield so that the order
//! of the file does not change the bytes stored.

use anyhow::{Result, bail};
use xlfeed_core::Symbol;
use xlfeed_core::records::Dividend;
use xlfeed_store::Kind;

use super::engine::{Format, Parsed, Unit};
use super::table::{Col, Header, Row, in_column};

/// The dividends format.
pub(crate) struct Dividends {
    symbol: Option<Symbol>,
    cols: Option<Cols>,
}

struct Cols {
    symbol: Option<Col>,
    ex_date: Col,
    amount: Col,
    pay_date: Option<Col>,
    yield_pct: Option<Col>,
}

impl Dividends {
    /// The format, with `--symbol` for files without a symbol column.
    pub(crate) fn new(symbol: Option<Symbol>) -> Dividends {
        Dividends { symbol, cols: None }
    }
}

impl Format for Dividends {
    type Record = Dividend;
    const WHAT: &'static str = "dividend";
    const KIND: Kind = Kind::Dividend;
    const ONE_ROW_PER_DAY: bool = false;

    fn bind(&mut self, header: &Header) -> Result<Vec<String>> {
        let symbol = header.find(&["symbol", "ticker"])?;
        match (&symbol, &self.symbol) {
            (Some(c), Some(_)) => bail!(
                "the file has a symbol column (\"{}\"); --symbol is for files without one",
                c.name
            ),
            (None, None) => bail!(
                "no symbol column (looked for \"symbol\", \"ticker\") and no --symbol; \
                 the header is: {}",
                header.shown()
            ),
            _ => {}
        }
        let cols = Cols {
            symbol,
            ex_date: header.require(
                "ex-date",
                &["ex date", "ex-dividend date", "ex dividend date", "date"],
            )?,
            amount: header.require(
                "amount",
                &["amount", "dividend", "dividends", "cash amount"],
            )?,
            pay_date: header.find(&["pay date", "payment date", "payable date"])?,
            yield_pct: header.find(&["yield", "yield %", "yield pct", "dividend yield"])?,
        };
        let used: Vec<&Col> = [
            cols.symbol.as_ref(),
            Some(&cols.ex_date),
            Some(&cols.amount),
            cols.pay_date.as_ref(),
            cols.yield_pct.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let unused = header.unused(&used);
        let notes = if unused.is_empty() {
            Vec::new()
        } else {
            vec![format!("columns not imported: {}", unused.join(", "))]
        };
        self.cols = Some(cols);
        Ok(notes)
    }

    fn parse(&self, row: &Row<'_>, out: &mut Vec<(Unit, Dividend)>) -> Result<Parsed, String> {
        let Some(c) = &self.cols else {
            return Err("the header was not read".into());
        };
        let symbol = match (&c.symbol, &self.symbol) {
            (Some(col), _) => {
                let text = row.text(col).ok_or_else(|| in_column(col, "is empty"))?;
                Symbol::parse(&text).map_err(|e| in_column(col, &e.to_string()))?
            }
            (None, Some(s)) => s.clone(),
            (None, None) => return Err("no symbol".into()),
        };
        let ex = row.required_date(&c.ex_date)?;
        let amount = row.required_number(&c.amount)?;
        if amount <= 0.0 {
            return Err(in_column(
                &c.amount,
                &format!("amount {amount} is not positive"),
            ));
        }
        let pay_date = match &c.pay_date {
            Some(col) => row.date(col)?.map_or(0, |d| d.yyyymmdd()),
            None => 0,
        };
        if pay_date != 0 && pay_date < ex.yyyymmdd() {
            let col = c.pay_date.as_ref().map_or("pay date", |c| c.name.as_str());
            return Err(format!(
                "column \"{col}\": pay date {} is before the ex-date {ex}",
                row.text(c.pay_date.as_ref().unwrap_or(&c.ex_date))
                    .unwrap_or_default()
            ));
        }
        let yield_pct = match &c.yield_pct {
            Some(col) => {
                let y = row.number(col)?.unwrap_or(0.0);
                if y < 0.0 {
                    return Err(in_column(col, &format!("yield {y} is negative")));
                }
                y
            }
            None => 0.0,
        };
        out.push((
            (symbol, ex),
            Dividend {
                ex_date: ex.yyyymmdd(),
                pay_date,
                amount,
                yield_pct,
            },
        ));
        Ok(Parsed::Records)
    }

    fn finish(&self, records: &mut Vec<Dividend>) {
        records.sort_by(|a, b| {
            (a.pay_date, a.amount, a.yield_pct)
                .partial_cmp(&(b.pay_date, b.amount, b.yield_pct))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
}
