//! Corporate data of the simulated market: dividends, and the fundamentals snapshot behind
//! IQFeed's Level 1 `F` message (shared/reference/iqfeed-protocol.md §4.4).
//!
//! Dividends follow each instrument's [`DividendHabit`]: one payment in each of its ex-date
//! months, the ex-date on the habit's day of the month (or the next session), paid a fixed
//! number of days later (or the next session), the amount growing yearly from its 2024 value.
//! The price path does not drop on ex-dates; the option layer prices the dividends in as a
//! continuous yield instead ([`Market::dividend_yield`]).

use chrono::{Datelike, Days, NaiveDate};
use xlfeed_core::records::{Dividend, Fundamentals};
use xlfeed_core::{Nyse, TradingDay};

use super::Market;
use super::path::{REFERENCE_DAY, TRADING_DAYS_PER_YEAR, TREND_PER_YEAR, reference_number};
use super::universe::DividendHabit;
use crate::sim::SimError;
use crate::wire::history::DailyLine;

/// What IQFeed's `F` message says about an instrument on a day, as the simulator computes it.
///
/// Prices come from the sessions before `day` (a snapshot taken as `day` begins); the `F`
/// field each value fills is named on it. Dates are `yyyymmdd`, 0 when there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct FundamentalsSnapshot {
    /// Symbol (field 1).
    pub symbol: String,
    /// The day the snapshot is for, `yyyymmdd`.
    pub day: u32,
    /// Exchange group id (field 2, sent in hex).
    pub exchange_id: u32,
    /// Price/earnings ratio on the previous close (field 3); `None` without earnings.
    pub pe: Option<f64>,
    /// Average daily volume of the last 20 sessions, shares (field 4).
    pub average_volume: i64,
    /// Highest trade of the 52 weeks before `day` (field 5).
    pub high_52w: f64,
    /// Lowest trade of the 52 weeks before `day` (field 6).
    pub low_52w: f64,
    /// Highest trade of the calendar year so far (field 7).
    pub calendar_year_high: f64,
    /// Lowest trade of the calendar year so far (field 8).
    pub calendar_year_low: f64,
    /// Dividend yield, percent: the annual rate over the previous close (field 9).
    pub dividend_yield_pct: f64,
    /// The latest dividend paid or going ex by `day`, per share (field 10).
    pub dividend_amount: f64,
    /// The annualised dividend: amount times payments a year (field 11).
    pub dividend_rate: f64,
    /// Payment date of that dividend (field 12).
    pub pay_date: u32,
    /// Its ex-dividend date (field 13).
    pub ex_date: u32,
    /// Earnings per share, current year (field 14).
    pub current_year_eps: Option<f64>,
    /// Earnings per share expected next year (field 15).
    pub next_year_eps: Option<f64>,
    /// Month the fiscal year ends, 1–12 (field 17, sent as two digits).
    pub fiscal_year_end: u32,
    /// Company or fund name (field 18).
    pub company_name: String,
    /// Option roots, space-separated (field 19); empty without options.
    pub root_option_symbols: String,
    /// Shares outstanding (field 27 is in thousands).
    pub shares_outstanding: i64,
    /// SIC code (field 32); 0 when none.
    pub sic: u32,
    /// Annualised volatility of the last 20 daily returns, percent (field 33).
    pub historical_volatility_pct: f64,
    /// IQFeed security type id (field 34).
    pub security_type: u32,
    /// IQFeed listed market id (field 35).
    pub listed_market: u32,
    /// Date of the 52-week high (field 36).
    pub high_52w_date: u32,
    /// Date of the 52-week low (field 37).
    pub low_52w_date: u32,
    /// Date of the calendar-year high (field 38).
    pub calendar_year_high_date: u32,
    /// Date of the calendar-year low (field 39).
    pub calendar_year_low_date: u32,
    /// Close of the previous year's last session (field 40).
    pub year_end_close: f64,
    /// The previous session's close (not an `F` field: the `P` message's Close).
    pub previous_close: f64,
}

impl FundamentalsSnapshot {
    /// The record the stores keep, stamped `time` (UTC nanoseconds).
    pub fn to_record(&self, time: i64) -> Fundamentals {
        Fundamentals {
            time,
            dividend_amount: self.dividend_amount,
            dividend_yield_pct: self.dividend_yield_pct,
            dividend_rate: self.dividend_rate,
            pay_date: self.pay_date,
            ex_date: self.ex_date,
            shares_outstanding: self.shares_outstanding,
            high_52w: self.high_52w,
            low_52w: self.low_52w,
            pe: self.pe,
            eps: self.current_year_eps,
        }
    }
}

/// The first session on or after `date` (`None` past the supported dates).
fn session_on_or_after(date: NaiveDate) -> Option<TradingDay> {
    let day = TradingDay::from_date(date).ok()?;
    if Nyse.is_trading_day(day) {
        Some(day)
    } else {
        Nyse.next_trading_day(day)
    }
}

/// The day of the month `day` in `year`/`month`, or the month's last day.
fn day_in_month(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    (1..=day.clamp(1, 31))
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

impl Market {
    /// The dividends of instrument `i` with ex-dates in `years`, oldest first.
    fn dividend_schedule(&self, i: usize, years: std::ops::RangeInclusive<i32>) -> Vec<Dividend> {
        let Some(habit) = &self.inst(i).dividend else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for year in years {
            let mut months = habit.ex_months.clone();
            months.sort_unstable();
            for month in months {
                if let Some(d) = self.one_dividend(i, habit, year, month) {
                    out.push(d);
                }
            }
        }
        out
    }

    fn one_dividend(
        &self,
        i: usize,
        habit: &DividendHabit,
        year: i32,
        month: u32,
    ) -> Option<Dividend> {
        let ex = session_on_or_after(day_in_month(year, month, habit.ex_day)?)?;
        if ex.yyyymmdd() < habit.since {
            return None;
        }
        let pay = session_on_or_after(
            ex.date()
                .checked_add_days(Days::new(u64::from(habit.pay_lag_days)))?,
        )?;
        let years_from_2024 = year - REFERENCE_DAY.0;
        let amount = (habit.amount * (1.0 + habit.growth).powi(years_from_2024) * 10_000.0).round()
            / 10_000.0;
        let (_, close) = self.previous_close(i, ex);
        let annual = amount * habit.ex_months.len() as f64;
        Some(Dividend {
            ex_date: ex.yyyymmdd(),
            pay_date: pay.yyyymmdd(),
            amount,
            yield_pct: 100.0 * annual / close,
        })
    }

    /// The dividends of `symbol`: every one with an ex-date on or before `through`, from
    /// when the company started paying, and the next one (already announced), oldest first.
    /// Empty for a non-payer. Ex- and pay dates are sessions; `yield_pct` is the annual rate
    /// over the close before the ex-date.
    pub fn dividends(&self, symbol: &str, through: TradingDay) -> Result<Vec<Dividend>, SimError> {
        let i = self.index(symbol)?;
        let Some(habit) = &self.inst(i).dividend else {
            return Ok(Vec::new());
        };
        let first_year = (habit.since / 10_000) as i32;
        let last_year = through.date().year() + 1;
        let all = self.dividend_schedule(i, first_year.min(last_year)..=last_year);
        let cut = all.partition_point(|d| d.ex_date <= through.yyyymmdd());
        Ok(all.into_iter().take(cut + 1).collect())
    }

    /// The dividends an option on `symbol` traded on `day` and expiring on `expiry` lives
    /// through: those of the schedule going ex in `(day, expiry]` (the simulator knows its own
    /// future, announced or not), as (calendar days from `day` to the ex-date, amount).
    pub fn dividends_in_life(
        &self,
        symbol: &str,
        day: TradingDay,
        expiry: TradingDay,
    ) -> Result<Vec<(i64, f64)>, SimError> {
        let i = self.index(symbol)?;
        Ok(self.dividends_in_life_of(i, day, expiry))
    }

    pub(crate) fn dividends_in_life_of(
        &self,
        i: usize,
        day: TradingDay,
        expiry: TradingDay,
    ) -> Vec<(i64, f64)> {
        let years = day.date().year()..=expiry.date().year();
        self.dividend_schedule(i, years)
            .into_iter()
            .filter(|d| d.ex_date > day.yyyymmdd() && d.ex_date <= expiry.yyyymmdd())
            .filter_map(|d| {
                let ex = TradingDay::from_yyyymmdd(d.ex_date).ok()?;
                Some(((ex.date() - day.date()).num_days(), d.amount))
            })
            .collect()
    }

    /// The latest dividend of instrument `i` with an ex-date on or before `day`.
    fn latest_dividend(&self, i: usize, day: TradingDay) -> Option<Dividend> {
        let year = day.date().year();
        self.dividend_schedule(i, year - 1..=year)
            .into_iter()
            .rev()
            .find(|d| d.ex_date <= day.yyyymmdd())
    }

    /// The continuous dividend yield of `symbol` as `day` begins: `ln(1 + D/S)`, with `D` the
    /// latest dividend annualised and `S` the day's opening price (0 for non-payers). The
    /// option layer prices with it.
    pub fn dividend_yield(&self, symbol: &str, day: TradingDay) -> Result<f64, SimError> {
        let i = self.index(symbol)?;
        Ok(self.dividend_yield_of(i, day))
    }

    pub(crate) fn dividend_yield_of(&self, i: usize, day: TradingDay) -> f64 {
        let Some(habit) = &self.inst(i).dividend else {
            return 0.0;
        };
        let Some(latest) = self.latest_dividend(i, day) else {
            return 0.0;
        };
        let annual = latest.amount * habit.ex_months.len() as f64;
        (annual / self.spot(i, day)).ln_1p()
    }

    /// The fundamentals snapshot of `symbol` as `day` begins (what an `F` message sent that
    /// day carries). High, low, volume and volatility figures come from the daily bars of the
    /// sessions before `day`, so they agree with [`Market::daily`].
    pub fn fundamentals(
        &self,
        symbol: &str,
        day: TradingDay,
    ) -> Result<FundamentalsSnapshot, SimError> {
        let i = self.index(symbol)?;
        let inst = self.inst(i);
        let (prev_day, prev_close) = self.previous_close(i, day);
        let year_ago = day
            .date()
            .checked_sub_days(Days::new(364))
            .and_then(|d| TradingDay::from_date(d).ok())
            .unwrap_or(day);
        let mut lines = self.daily_lines(i, year_ago, prev_day);
        if lines.is_empty() {
            lines.push(DailyLine {
                date: prev_day.yyyymmdd(),
                high: prev_close,
                low: prev_close,
                open: prev_close,
                close: prev_close,
                volume: 0,
                open_interest: 0,
            });
        }
        let (high_52w, high_52w_date) = extreme(&lines, |l| l.high, |a, b| a > b);
        let (low_52w, low_52w_date) = extreme(&lines, |l| l.low, |a, b| a < b);
        let jan_first = day.date().year() * 10_000 + 101;
        let this_year: Vec<DailyLine> = match lines.iter().position(|l| l.date >= jan_first as u32)
        {
            Some(p) => lines[p..].to_vec(),
            None => lines[lines.len() - 1..].to_vec(),
        };
        let (calendar_year_high, calendar_year_high_date) =
            extreme(&this_year, |l| l.high, |a, b| a > b);
        let (calendar_year_low, calendar_year_low_date) =
            extreme(&this_year, |l| l.low, |a, b| a < b);
        let year_end_close = TradingDay::from_yyyymmdd(jan_first as u32)
            .map(|d| self.previous_close(i, d).1)
            .unwrap_or(prev_close);
        let recent = &lines[lines.len().saturating_sub(20)..];
        let average_volume = recent.iter().map(|l| l.volume).sum::<i64>() / recent.len() as i64;
        let closes: Vec<f64> = lines[lines.len().saturating_sub(21)..]
            .iter()
            .map(|l| l.close)
            .collect();
        let historical_volatility_pct = 100.0 * realised_volatility(&closes);
        let years = f64::from(super::path::day_number(day) - reference_number()) / 365.25;
        let eps = inst
            .eps
            .map(|e| (e * (TREND_PER_YEAR * years).exp() * 100.0).round() / 100.0);
        let latest = self.latest_dividend(i, day);
        let payments = inst.dividend.as_ref().map_or(0, |h| h.ex_months.len()) as f64;
        let dividend_amount = latest.as_ref().map_or(0.0, |d| d.amount);
        let dividend_rate = dividend_amount * payments;
        Ok(FundamentalsSnapshot {
            symbol: inst.symbol.clone(),
            day: day.yyyymmdd(),
            exchange_id: inst.exchange_id(),
            pe: eps
                .filter(|e| *e > 0.0)
                .map(|e| (prev_close / e * 10.0).round() / 10.0),
            average_volume,
            high_52w,
            low_52w,
            calendar_year_high,
            calendar_year_low,
            dividend_yield_pct: (100.0 * dividend_rate / prev_close * 100.0).round() / 100.0,
            dividend_amount,
            dividend_rate,
            pay_date: latest.as_ref().map_or(0, |d| d.pay_date),
            ex_date: latest.as_ref().map_or(0, |d| d.ex_date),
            current_year_eps: eps,
            next_year_eps: eps.map(|e| (e * 110.0).round() / 100.0),
            fiscal_year_end: inst.fiscal_year_end,
            company_name: inst.name.clone(),
            root_option_symbols: if inst.has_options() {
                inst.symbol.clone()
            } else {
                String::new()
            },
            shares_outstanding: inst.shares_outstanding,
            sic: inst.sic,
            historical_volatility_pct: (historical_volatility_pct * 100.0).round() / 100.0,
            security_type: inst.security_type(),
            listed_market: inst.listed_market,
            high_52w_date,
            low_52w_date,
            calendar_year_high_date,
            calendar_year_low_date,
            year_end_close,
            previous_close: prev_close,
        })
    }
}

/// The most extreme value of `lines` by `better`, and the first date it was reached.
fn extreme(
    lines: &[DailyLine],
    value: impl Fn(&DailyLine) -> f64,
    better: impl Fn(f64, f64) -> bool,
) -> (f64, u32) {
    let mut best = (value(&lines[0]), lines[0].date);
    for l in &lines[1..] {
        if better(value(l), best.0) {
            best = (value(l), l.date);
        }
    }
    best
}

/// Annualised standard deviation of the log returns between consecutive `closes`.
fn realised_volatility(closes: &[f64]) -> f64 {
    let returns: Vec<f64> = closes.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    if returns.len() < 2 {
        return 0.0;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (var * TRADING_DAYS_PER_YEAR).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Universe;

    fn day(s: &str) -> TradingDay {
        TradingDay::parse(s).unwrap()
    }

    #[test]
    fn dividends_are_quarterly_on_sessions_and_announced_ahead() {
        let m = Market::new(3, Universe::standard());
        let divs = m.dividends("AAPL", day("2024-06-30")).unwrap();
        assert_eq!(
            divs[0].ex_date / 10_000,
            2012,
            "AAPL started paying in 2012"
        );
        for year in 2013..=2023 {
            let in_year: Vec<&Dividend> =
                divs.iter().filter(|d| d.ex_date / 10_000 == year).collect();
            assert_eq!(in_year.len(), 4, "{year}");
            let months: Vec<u32> = in_year.iter().map(|d| d.ex_date / 100 % 100).collect();
            assert_eq!(months, [2, 5, 8, 11]);
        }
        for d in &divs {
            let ex = TradingDay::from_yyyymmdd(d.ex_date).unwrap();
            let pay = TradingDay::from_yyyymmdd(d.pay_date).unwrap();
            assert!(Nyse.is_trading_day(ex) && Nyse.is_trading_day(pay));
            assert!(pay > ex);
            assert!(
                d.amount > 0.0 && d.yield_pct > 0.05 && d.yield_pct < 5.0,
                "{d:?}"
            );
        }
        for w in divs.windows(2) {
            assert!(w[1].ex_date > w[0].ex_date);
        }
        // The 2024 amount is the table's, and the next (August) one is announced.
        let last = divs.last().unwrap();
        assert_eq!(last.ex_date / 100, 202408);
        assert_eq!(divs[divs.len() - 2].amount, 0.24);
        assert!(m.dividends("AMZN", day("2024-06-30")).unwrap().is_empty());
        let dia = m.dividends("DIA", day("2024-12-31")).unwrap();
        assert_eq!(
            dia.iter().filter(|d| d.ex_date / 10_000 == 2023).count(),
            12
        );
        // Adding another day does not change history.
        let later = m.dividends("AAPL", day("2025-06-30")).unwrap();
        assert_eq!(&later[..divs.len()], &divs[..]);
    }

    #[test]
    fn dividend_yield_is_continuous_and_small() {
        let m = Market::new(3, Universe::standard());
        let q = m.dividend_yield("KO", day("2024-06-12")).unwrap();
        assert!(q > 0.02 && q < 0.05, "{q}");
        assert_eq!(m.dividend_yield("TSLA", day("2024-06-12")).unwrap(), 0.0);
        assert_eq!(m.dividend_yield("GOOGL", day("2024-03-01")).unwrap(), 0.0);
        assert!(m.dividend_yield("GOOGL", day("2024-07-01")).unwrap() > 0.0);
    }

    #[test]
    fn fundamentals_agree_with_the_daily_path() {
        let m = Market::new(5, Universe::standard()).with_tick_scale(0.05);
        let d = day("2024-08-20");
        let f = m.fundamentals("JPM", d).unwrap();
        let lines = m
            .daily("JPM", day("2023-08-22"), day("2024-08-19"))
            .unwrap();
        let high = lines.iter().map(|l| l.high).fold(f64::MIN, f64::max);
        let low = lines.iter().map(|l| l.low).fold(f64::MAX, f64::min);
        assert_eq!((f.high_52w, f.low_52w), (high, low));
        assert!(
            lines
                .iter()
                .any(|l| l.date == f.high_52w_date && l.high == high)
        );
        assert!(f.calendar_year_high_date >= 20240102 && f.calendar_year_high <= high);
        assert_eq!(f.previous_close, lines.last().unwrap().close);
        assert_eq!(f.company_name, "JPMORGAN CHASE & CO");
        assert_eq!((f.security_type, f.listed_market, f.exchange_id), (1, 7, 7));
        assert_eq!(f.dividend_amount, 1.15);
        assert_eq!(f.dividend_rate, 4.6);
        assert_eq!(f.ex_date / 100, 202407);
        assert!(f.pay_date > f.ex_date);
        assert!(f.dividend_yield_pct > 1.0 && f.dividend_yield_pct < 6.0);
        assert!(f.pe.is_some_and(|pe| pe > 3.0 && pe < 40.0), "{:?}", f.pe);
        assert!(f.historical_volatility_pct > 5.0 && f.historical_volatility_pct < 60.0);
        assert!(f.average_volume > 0);
        assert_eq!(f.root_option_symbols, "JPM");
        let rec = f.to_record(1);
        assert_eq!((rec.high_52w, rec.eps), (f.high_52w, f.current_year_eps));
        let spx = m.fundamentals("SPX.XO", d).unwrap();
        assert_eq!(
            (spx.security_type, spx.pe, spx.dividend_amount),
            (6, None, 0.0)
        );
        assert!(spx.root_option_symbols.is_empty());
        // On the first session of a year the calendar-year figures fall back to the last one.
        let f = m.fundamentals("JPM", day("2024-01-02")).unwrap();
        assert_eq!(f.calendar_year_high_date, 20231229);
    }
}
