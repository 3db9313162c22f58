//! Reply bodies (data-line fields, one line each) into the records the stores keep.

use anyhow::{Context, Result};
use xlfeed_core::records::{
    Bar, DailyBar, Dividend, Fundamentals, OptionContract, OptionTrade, Trade,
};
use xlfeed_core::{OptionSymbol, TradingDay};
use xlfeed_iqfeed::wire::chain::parse_option_chain;
use xlfeed_iqfeed::wire::history::{Tick, parse_bar, parse_daily, parse_tick};
use xlfeed_iqfeed::wire::level1::{Fundamental, f_index};
use xlfeed_iqfeed::wire::num::Eastern;
use xlfeed_iqfeed::wire::scan::parse_tick_lines;

/// Contract size of standard US equity options.
const MULTIPLIER: i64 = 100;

/// The lines of a body, without their `\n` (and a stray `\r`).
fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The ticks of a body: the one-pass scan, and the line parser for whatever it leaves.
pub(crate) fn ticks(body: &[u8]) -> Result<Vec<Tick>> {
    let mut out = Vec::with_capacity(body.len() / 96 + 1);
    let mut clock = Eastern::new();
    let mut pos = 0;
    while pos < body.len() {
        pos += parse_tick_lines(&body[pos..], b"", &mut clock, &mut out);
        let Some(nl) = body[pos..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &body[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            out.push(parse_tick(line, &mut clock).context("a tick line that does not parse")?);
        }
        pos += nl + 1;
    }
    Ok(out)
}

/// Trades of a stock, appended to `out`.
pub(crate) fn trades(body: &[u8], out: &mut Vec<Trade>) -> Result<()> {
    out.extend(ticks(body)?.into_iter().map(|t| t.trade));
    Ok(())
}

/// Interval bars, appended to `out`.
pub(crate) fn bars(body: &[u8], out: &mut Vec<Bar>) -> Result<()> {
    let mut clock = Eastern::new();
    for l in lines(body) {
        out.push({
            let b = parse_bar(l, &mut clock).context("a bar line that does not parse")?;
            Bar {
                time: b.time,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.period_volume,
                trades: b.trades,
            }
        });
    }
    Ok(())
}

/// Daily bars, appended to `out`.
pub(crate) fn daily(body: &[u8], out: &mut Vec<DailyBar>) -> Result<()> {
    for l in lines(body) {
        let d = parse_daily(l).context("a daily line that does not parse")?;
        out.push(DailyBar {
            date: d.date,
            open: d.open,
            high: d.high,
            low: d.low,
            close: d.close,
            volume: d.volume,
            open_interest: d.open_interest,
        });
    }
    Ok(())
}

/// The contracts of a `CEO` reply that are still listed on `day` (expiry on or after it),
/// appended to `out` (sort and deduplicate when the reply is complete).
pub(crate) fn chain(
    body: &[u8],
    underlying: &str,
    day: TradingDay,
    out: &mut Vec<OptionContract>,
) -> Result<()> {
    for l in lines(body) {
        let part = parse_option_chain(l).context("a chain line that does not parse")?;
        for s in part.calls.iter().chain(&part.puts) {
            let o = OptionSymbol::parse_iqfeed(s)
                .with_context(|| format!("option symbol {s:?} in the chain of {underlying}"))?;
            let expiry = TradingDay::from_date(o.expiry())
                .with_context(|| format!("expiry of {s:?}"))?
                .yyyymmdd();
            if expiry < day.yyyymmdd() {
                continue;
            }
            out.push(OptionContract {
                symbol: o.to_iqfeed(),
                occ: o.to_occ(),
                underlying: underlying.to_owned(),
                expiry,
                strike: o.strike(),
                right: o.right(),
                multiplier: MULTIPLIER,
            });
        }
    }
    Ok(())
}

/// One contract's trades as option trades, appended to `out`.
pub(crate) fn option_trades(contract: &str, body: &[u8], out: &mut Vec<OptionTrade>) -> Result<()> {
    out.extend(
        ticks(body)
            .with_context(|| format!("trades of {contract}"))?
            .into_iter()
            .map(|t| OptionTrade::from_trade(contract.to_owned(), t.trade)),
    );
    Ok(())
}

/// The fundamentals snapshot, stamped `time` (the as-of session's close, so that re-runs
/// write the same bytes).
pub(crate) fn fundamentals(f: &Fundamental, time: i64) -> Fundamentals {
    let num = |i| f.number(i).unwrap_or(0.0);
    Fundamentals {
        time,
        dividend_amount: num(f_index::DIVIDEND_AMOUNT),
        dividend_yield_pct: num(f_index::DIVIDEND_YIELD),
        dividend_rate: num(f_index::DIVIDEND_RATE),
        pay_date: f.date(f_index::PAY_DATE).unwrap_or(0),
        ex_date: f.date(f_index::EX_DATE).unwrap_or(0),
        shares_outstanding: f
            .number(f_index::SHARES_OUTSTANDING)
            .map_or(0, |v| v as i64),
        high_52w: num(f_index::HIGH_52W),
        low_52w: num(f_index::LOW_52W),
        pe: f.number(f_index::PE),
        eps: f.number(f_index::EPS),
    }
}

/// The dividend in a fundamental message, if it has one (an amount and an ex-date).
pub(crate) fn dividend(f: &Fundamental) -> Option<Dividend> {
    let amount = f.number(f_index::DIVIDEND_AMOUNT).filter(|a| *a > 0.0)?;
    Some(Dividend {
        ex_date: f.date(f_index::EX_DATE)?,
        pay_date: f.date(f_index::PAY_DATE).unwrap_or(0),
        amount,
        yield_pct: f.number(f_index::DIVIDEND_YIELD).unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_take_the_scan_and_the_line_parser_alike() {
        // The first line is in the common shape; the second is a 6.0 line (no aggressor,
        // no day code) that only the line parser takes.
        let body =
            b"2024-06-12 09:30:00.100000,190.1200,100,1000,190.1100,190.1300,7,C,11,,1,02,\n\
                     2024-06-12 09:30:01.000000,190.1300,200,1200,190.1200,190.1400,8,C,11,3D,\n";
        let t = ticks(body).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].trade.size, 200);
        let bad = b"2024-06-12 09:30:00,x,\n";
        assert!(format!("{:#}", ticks(bad).unwrap_err()).contains("does not parse"));
    }
}
