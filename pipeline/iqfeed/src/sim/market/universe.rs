//! The instruments the simulated market trades, and how each one behaves.
//!
//! The standard universe holds 20 familiar US stocks and ETFs and one index with 2024-ish
//! price levels, volatilities, dividend habits, share counts and trading activity, plus what
//! IQFeed says about them (company name, listed market, security type). Other tickers can be
//! added by name ([`Universe::with_symbols`], or a symbol list file read by
//! [`parse_symbol_list`]); their parameters are derived from the ticker alone, so the same
//! name behaves the same in every run, whatever the market seed.

use std::collections::HashMap;

use xlfeed_core::Symbol;
use xlfeed_core::option_symbol::MAX_ROOT_LEN;

use super::rng::Rng;
use crate::sim::SimError;
use SecurityKind::{Equity, Etf, Index};
use listed_market::{CBOE, NASDAQ_GLOBAL_SELECT as NGS, NYSE, NYSE_ARCA as ARCA};

/// IQFeed listed-market ids (the `SLM` table) used by the standard universe.
pub mod listed_market {
    /// NASDAQ, the exchange group of every NASDAQ tier.
    pub const NASDAQ: u32 = 5;
    /// NYSE.
    pub const NYSE: u32 = 7;
    /// NYSE Arca, where most ETFs list.
    pub const NYSE_ARCA: u32 = 11;
    /// Cboe, the home of the `.XO` indexes.
    pub const CBOE: u32 = 13;
    /// NASDAQ Global Select, the tier IQFeed reports for MSFT (shared/reference §5).
    pub const NASDAQ_GLOBAL_SELECT: u32 = 21;
}

/// IQFeed security-type ids (the `SST` table) the simulator uses.
pub mod security_type {
    /// Stocks and exchange-traded funds.
    pub const EQUITY: u32 = 1;
    /// Equity and index options.
    pub const IEOPTION: u32 = 2;
    /// Indexes.
    pub const INDEX: u32 = 6;
}

/// What kind of instrument a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityKind {
    /// A common stock.
    Equity,
    /// An exchange-traded fund (IQFeed files these as equities).
    Etf,
    /// An index: no volume, no quotes, no options in the simulator.
    Index,
}

impl SecurityKind {
    /// The IQFeed security-type id ([`security_type`]).
    pub fn security_type_id(self) -> u32 {
        match self {
            SecurityKind::Equity | SecurityKind::Etf => security_type::EQUITY,
            SecurityKind::Index => security_type::INDEX,
        }
    }
}

/// How an instrument pays dividends.
#[derive(Debug, Clone, PartialEq)]
pub struct DividendHabit {
    /// Cash per share of one payment in 2024; other years scale by [`DividendHabit::growth`].
    pub amount: f64,
    /// The months (1–12) that have an ex-dividend date: four for a quarterly payer.
    pub ex_months: Vec<u32>,
    /// The nominal day of the month of the ex-date (moved to the next trading day).
    pub ex_day: u32,
    /// Calendar days from the ex-date to the payment (moved to the next trading day).
    pub pay_lag_days: u32,
    /// Yearly growth of the payment, as a fraction (0.05 is 5% a year).
    pub growth: f64,
    /// No ex-date before this day, `yyyymmdd` (when the company started paying).
    pub since: u32,
}

/// One instrument and the parameters its simulated trading follows.
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    /// The IQFeed symbol (`AAPL`, `SPX.XO`); also the option root when it has options.
    pub symbol: String,
    /// Company or fund name, as IQFeed's symbol search and `F` message show it.
    pub name: String,
    /// Stock, ETF or index.
    pub kind: SecurityKind,
    /// IQFeed listed-market id ([`listed_market`]).
    pub listed_market: u32,
    /// Closing price on the reference day, 2024-01-02; the price path passes through it.
    pub reference_price: f64,
    /// Annualised volatility of the log price (0.25 is 25%).
    pub volatility: f64,
    /// Dividend habit, `None` for non-payers.
    pub dividend: Option<DividendHabit>,
    /// Shares (fund units) outstanding.
    pub shares_outstanding: i64,
    /// Earnings per share over the year to the reference day (`None` for funds and indexes).
    pub eps: Option<f64>,
    /// Month (1–12) the fiscal year ends.
    pub fiscal_year_end: u32,
    /// SIC industry code (0 when none).
    pub sic: u32,
    /// Trades in a full regular session at tick scale 1 (before the day's own variation).
    pub ticks_per_day: u32,
    /// Trades per day of a near-the-money, one-week option of this underlying at option scale 1.
    pub option_activity: f64,
    /// Whether the parameters were derived from the ticker rather than taken from the table.
    pub derived: bool,
}

impl Instrument {
    /// The IQFeed security-type id.
    pub fn security_type(&self) -> u32 {
        self.kind.security_type_id()
    }

    /// The exchange group id the `F` message carries (in hex) in its Exchange ID field.
    pub fn exchange_id(&self) -> u32 {
        match self.listed_market {
            1 | 2 | 5 | listed_market::NASDAQ_GLOBAL_SELECT => listed_market::NASDAQ,
            other => other,
        }
    }

    /// Whether the simulator lists options on it: stocks and ETFs whose symbol can be an
    /// option root.
    pub fn has_options(&self) -> bool {
        self.kind != SecurityKind::Index
            && (1..=MAX_ROOT_LEN).contains(&self.symbol.len())
            && self.symbol.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// An instrument for a ticker the table does not know, its parameters drawn from a
    /// generator seeded by the ticker alone: a price between $10 and $400, a volatility of
    /// 18–55%, a 50% chance of a quarterly dividend yielding 1–4%, 2,000–12,000 trades a day.
    pub fn derived(symbol: &Symbol) -> Instrument {
        let s = symbol.as_str();
        let mut rng = Rng::stream(0, s, 0, "universe");
        let price = round_to(10.0 * 40f64.powf(rng.unit()), 0.01);
        let volatility = round_to(0.18 + 0.37 * rng.unit(), 0.01);
        let pays = rng.unit() < 0.5;
        let yield_ = 0.01 + 0.03 * rng.unit();
        let first_month = 1 + rng.below(3) as u32;
        let ex_day = 1 + rng.below(25) as u32;
        let pay_lag_days = 10 + rng.below(25) as u32;
        let dividend = pays.then(|| DividendHabit {
            amount: round_to(price * yield_ / 4.0, 0.01).max(0.01),
            ex_months: (0..4).map(|q| first_month + 3 * q).collect(),
            ex_day,
            pay_lag_days,
            growth: 0.05,
            since: 20000101,
        });
        let listed_market = if rng.unit() < 0.5 {
            listed_market::NASDAQ_GLOBAL_SELECT
        } else {
            listed_market::NYSE
        };
        let shares_outstanding = (5e7 * 100f64.powf(rng.unit())).round() as i64;
        let eps = Some(round_to(price / (12.0 + 28.0 * rng.unit()), 0.01));
        Instrument {
            symbol: s.to_owned(),
            name: format!("{s} SYNTHETIC CORP"),
            kind: SecurityKind::Equity,
            listed_market,
            reference_price: price,
            volatility,
            dividend,
            shares_outstanding,
            eps,
            fiscal_year_end: 12,
            sic: 9999,
            ticks_per_day: 2_000 + rng.below(10_001) as u32,
            option_activity: round_to(10.0 + 30.0 * rng.unit(), 1.0),
            derived: true,
        }
    }
}

/// `x` rounded to a multiple of `step`.
fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// One row of the standard universe.
struct Row {
    symbol: &'static str,
    name: &'static str,
    kind: SecurityKind,
    listed_market: u32,
    price: f64,
    vol: f64,
    /// (amount, ex months, ex day, pay lag, since `yyyymmdd`).
    dividend: Option<(f64, &'static [u32], u32, u32, u32)>,
    shares_millions: i64,
    eps: Option<f64>,
    fiscal_year_end: u32,
    sic: u32,
    ticks: u32,
    options: f64,
}

const FEB: &[u32] = &[2, 5, 8, 11];
const JAN: &[u32] = &[1, 4, 7, 10];
const MAR: &[u32] = &[3, 6, 9, 12];
const MONTHLY: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// The standard universe. Prices are about the 2024-01-02 close (split-adjusted for NVDA and
/// WMT, which split in 2024); dividends are the 2024 amounts and usual ex-date months.
#[rustfmt::skip]
const STANDARD: &[Row] = &[
    Row { symbol: "AAPL", name: "APPLE INC", kind: Equity, listed_market: NGS, price: 185.64, vol: 0.22, dividend: Some((0.24, FEB, 10, 7, 20120801)), shares_millions: 15_460, eps: Some(6.13), fiscal_year_end: 9, sic: 3571, ticks: 44_000, options: 200.0 },
    Row { symbol: "MSFT", name: "MICROSOFT CORP", kind: Equity, listed_market: NGS, price: 370.87, vol: 0.24, dividend: Some((0.75, FEB, 15, 24, 20030201)), shares_millions: 7_430, eps: Some(9.81), fiscal_year_end: 6, sic: 7372, ticks: 30_000, options: 120.0 },
    Row { symbol: "AMZN", name: "AMAZON.COM INC", kind: Equity, listed_market: NGS, price: 149.93, vol: 0.32, dividend: None, shares_millions: 10_390, eps: Some(2.90), fiscal_year_end: 12, sic: 5961, ticks: 30_000, options: 120.0 },
    Row { symbol: "GOOGL", name: "ALPHABET INC CLASS A", kind: Equity, listed_market: NGS, price: 138.17, vol: 0.30, dividend: Some((0.20, MAR, 10, 6, 20240601)), shares_millions: 5_880, eps: Some(5.80), fiscal_year_end: 12, sic: 7370, ticks: 24_000, options: 100.0 },
    Row { symbol: "META", name: "META PLATFORMS INC CLASS A", kind: Equity, listed_market: NGS, price: 346.29, vol: 0.35, dividend: Some((0.50, MAR, 15, 11, 20240201)), shares_millions: 2_200, eps: Some(14.87), fiscal_year_end: 12, sic: 7370, ticks: 26_000, options: 120.0 },
    Row { symbol: "NVDA", name: "NVIDIA CORP", kind: Equity, listed_market: NGS, price: 48.17, vol: 0.50, dividend: Some((0.01, MAR, 5, 23, 20120901)), shares_millions: 24_600, eps: Some(1.19), fiscal_year_end: 1, sic: 3674, ticks: 40_000, options: 250.0 },
    Row { symbol: "TSLA", name: "TESLA INC", kind: Equity, listed_market: NGS, price: 248.42, vol: 0.55, dividend: None, shares_millions: 3_180, eps: Some(4.30), fiscal_year_end: 12, sic: 3711, ticks: 40_000, options: 250.0 },
    Row { symbol: "JPM", name: "JPMORGAN CHASE & CO", kind: Equity, listed_market: NYSE, price: 170.30, vol: 0.22, dividend: Some((1.15, JAN, 5, 26, 19900101)), shares_millions: 2_880, eps: Some(16.23), fiscal_year_end: 12, sic: 6021, ticks: 12_000, options: 30.0 },
    Row { symbol: "XOM", name: "EXXON MOBIL CORP", kind: Equity, listed_market: NYSE, price: 102.00, vol: 0.24, dividend: Some((0.95, FEB, 14, 25, 19900101)), shares_millions: 3_960, eps: Some(8.89), fiscal_year_end: 12, sic: 2911, ticks: 11_000, options: 30.0 },
    Row { symbol: "JNJ", name: "JOHNSON & JOHNSON", kind: Equity, listed_market: NYSE, price: 157.50, vol: 0.16, dividend: Some((1.24, FEB, 20, 16, 19900101)), shares_millions: 2_410, eps: Some(9.92), fiscal_year_end: 12, sic: 2834, ticks: 8_000, options: 20.0 },
    Row { symbol: "PG", name: "PROCTER & GAMBLE CO", kind: Equity, listed_market: NYSE, price: 146.60, vol: 0.17, dividend: Some((1.0065, JAN, 19, 27, 19900101)), shares_millions: 2_360, eps: Some(6.07), fiscal_year_end: 6, sic: 2840, ticks: 8_000, options: 20.0 },
    Row { symbol: "KO", name: "COCA-COLA CO", kind: Equity, listed_market: NYSE, price: 59.00, vol: 0.15, dividend: Some((0.485, MAR, 14, 17, 19900101)), shares_millions: 4_320, eps: Some(2.47), fiscal_year_end: 12, sic: 2080, ticks: 7_000, options: 20.0 },
    Row { symbol: "WMT", name: "WALMART INC", kind: Equity, listed_market: NYSE, price: 52.67, vol: 0.17, dividend: Some((0.2075, MAR, 8, 28, 19900101)), shares_millions: 8_050, eps: Some(1.92), fiscal_year_end: 1, sic: 5331, ticks: 10_000, options: 30.0 },
    Row { symbol: "DIS", name: "WALT DISNEY CO", kind: Equity, listed_market: NYSE, price: 90.30, vol: 0.28, dividend: Some((0.45, &[1, 7], 8, 20, 19900101)), shares_millions: 1_830, eps: Some(1.29), fiscal_year_end: 9, sic: 7990, ticks: 10_000, options: 30.0 },
    Row { symbol: "INTC", name: "INTEL CORP", kind: Equity, listed_market: NGS, price: 47.60, vol: 0.35, dividend: Some((0.125, FEB, 6, 25, 19920601)), shares_millions: 4_230, eps: Some(0.40), fiscal_year_end: 12, sic: 3674, ticks: 16_000, options: 40.0 },
    Row { symbol: "SPY", name: "SPDR S&P 500 ETF TRUST", kind: Etf, listed_market: ARCA, price: 472.65, vol: 0.14, dividend: Some((1.60, MAR, 15, 42, 19930301)), shares_millions: 920, eps: None, fiscal_year_end: 9, sic: 6726, ticks: 46_000, options: 300.0 },
    Row { symbol: "QQQ", name: "INVESCO QQQ TRUST SERIES 1", kind: Etf, listed_market: NGS, price: 402.00, vol: 0.18, dividend: Some((0.57, MAR, 18, 12, 19990301)), shares_millions: 570, eps: None, fiscal_year_end: 9, sic: 6726, ticks: 36_000, options: 200.0 },
    Row { symbol: "IWM", name: "ISHARES RUSSELL 2000 ETF", kind: Etf, listed_market: ARCA, price: 198.00, vol: 0.21, dividend: Some((0.70, MAR, 11, 5, 20000601)), shares_millions: 290, eps: None, fiscal_year_end: 3, sic: 6726, ticks: 20_000, options: 120.0 },
    Row { symbol: "DIA", name: "SPDR DOW JONES INDUSTRIAL AVERAGE ETF TRUST", kind: Etf, listed_market: ARCA, price: 374.00, vol: 0.13, dividend: Some((0.55, MONTHLY, 15, 30, 19980201)), shares_millions: 90, eps: None, fiscal_year_end: 10, sic: 6726, ticks: 5_000, options: 15.0 },
    Row { symbol: "GLD", name: "SPDR GOLD SHARES", kind: Etf, listed_market: ARCA, price: 190.70, vol: 0.13, dividend: None, shares_millions: 290, eps: None, fiscal_year_end: 9, sic: 6221, ticks: 6_000, options: 30.0 },
    Row { symbol: "SPX.XO", name: "S&P 500 INDEX", kind: Index, listed_market: CBOE, price: 4742.83, vol: 0.14, dividend: None, shares_millions: 0, eps: None, fiscal_year_end: 12, sic: 0, ticks: 23_400, options: 0.0 },
];

impl Row {
    fn instrument(&self) -> Instrument {
        Instrument {
            symbol: self.symbol.to_owned(),
            name: self.name.to_owned(),
            kind: self.kind,
            listed_market: self.listed_market,
            reference_price: self.price,
            volatility: self.vol,
            dividend: self
                .dividend
                .map(
                    |(amount, months, ex_day, pay_lag_days, since)| DividendHabit {
                        amount,
                        ex_months: months.to_vec(),
                        ex_day,
                        pay_lag_days,
                        growth: if self.kind == Etf { 0.04 } else { 0.06 },
                        since,
                    },
                ),
            shares_outstanding: self.shares_millions * 1_000_000,
            eps: self.eps,
            fiscal_year_end: self.fiscal_year_end,
            sic: self.sic,
            ticks_per_day: self.ticks,
            option_activity: self.options,
            derived: false,
        }
    }
}

/// The set of instruments a [`Market`](super::Market) trades, looked up by symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Universe {
    instruments: Vec<Instrument>,
    by_symbol: HashMap<String, usize>,
}

impl Default for Universe {
    fn default() -> Self {
        Universe::standard()
    }
}

impl Universe {
    /// The standard universe: AAPL, MSFT, AMZN, GOOGL, META, NVDA, TSLA, JPM, XOM, JNJ, PG,
    /// KO, WMT, DIS, INTC (stocks), SPY, QQQ, IWM, DIA, GLD (ETFs) and SPX.XO (the S&P 500
    /// index).
    pub fn standard() -> Universe {
        let instruments: Vec<Instrument> = STANDARD.iter().map(Row::instrument).collect();
        let by_symbol = instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.symbol.clone(), i))
            .collect();
        Universe {
            instruments,
            by_symbol,
        }
    }

    /// A universe of exactly these instruments; the error names a symbol given twice.
    pub fn new(instruments: Vec<Instrument>) -> Result<Universe, SimError> {
        let mut universe = Universe {
            instruments: Vec::with_capacity(instruments.len()),
            by_symbol: HashMap::with_capacity(instruments.len()),
        };
        for inst in instruments {
            universe.insert(inst)?;
        }
        Ok(universe)
    }

    /// The standard universe plus `symbols`: known ones are kept as they are, unknown ones
    /// get parameters derived from their name ([`Instrument::derived`]). The error names a
    /// symbol that does not parse.
    pub fn with_symbols(symbols: &[&str]) -> Result<Universe, SimError> {
        let mut universe = Universe::standard();
        for s in symbols {
            universe.add_symbol(&Symbol::parse(s)?);
        }
        Ok(universe)
    }

    /// The standard universe plus the symbols of a symbol list (see [`parse_symbol_list`]).
    pub fn from_symbol_list(text: &str) -> Result<Universe, SimError> {
        let mut universe = Universe::standard();
        for symbol in parse_symbol_list(text)? {
            universe.add_symbol(&symbol);
        }
        Ok(universe)
    }

    /// Adds `symbol` with derived parameters unless it is already there; returns it either way.
    pub fn add_symbol(&mut self, symbol: &Symbol) -> &Instrument {
        let i = match self.by_symbol.get(symbol.as_str()) {
            Some(&i) => i,
            None => {
                self.instruments.push(Instrument::derived(symbol));
                let i = self.instruments.len() - 1;
                self.by_symbol.insert(symbol.as_str().to_owned(), i);
                i
            }
        };
        &self.instruments[i]
    }

    /// Adds an instrument; the error names its symbol if the universe has it already.
    pub fn insert(&mut self, instrument: Instrument) -> Result<(), SimError> {
        if self.by_symbol.contains_key(&instrument.symbol) {
            return Err(SimError::DuplicateSymbol(instrument.symbol));
        }
        self.by_symbol
            .insert(instrument.symbol.clone(), self.instruments.len());
        self.instruments.push(instrument);
        Ok(())
    }

    /// The instrument for `symbol` (any case).
    pub fn get(&self, symbol: &str) -> Option<&Instrument> {
        self.index_of(symbol).map(|i| &self.instruments[i])
    }

    /// Every instrument, standard ones first, in the order they were added.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// Position of `symbol` in [`Universe::instruments`] (any case).
    pub(crate) fn index_of(&self, symbol: &str) -> Option<usize> {
        match self.by_symbol.get(symbol) {
            Some(&i) => Some(i),
            None => self
                .by_symbol
                .get(symbol.trim().to_ascii_uppercase().as_str())
                .copied(),
        }
    }
}

/// Parses a symbol list: one symbol per line, `#` starting a comment (on its own line or
/// after a symbol), blank lines ignored. The error names the line and the bad text.
///
/// ```
/// use xlfeed_iqfeed::sim::parse_symbol_list;
/// let symbols = parse_symbol_list("# my extras\nabc\n\nXYZ  # a comment\n")?;
/// assert_eq!(symbols.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["ABC", "XYZ"]);
/// # Ok::<(), xlfeed_iqfeed::sim::SimError>(())
/// ```
pub fn parse_symbol_list(text: &str) -> Result<Vec<Symbol>, SimError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        if content.split_whitespace().nth(1).is_some() {
            return Err(SimError::BadSymbolList {
                line: i + 1,
                reason: format!("\"{content}\" is more than one symbol"),
            });
        }
        let symbol = Symbol::parse(content).map_err(|e| SimError::BadSymbolList {
            line: i + 1,
            reason: e.to_string(),
        })?;
        out.push(symbol);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_universe_is_complete_and_plausible() {
        let u = Universe::standard();
        assert!(u.len() >= 20);
        for want in [
            "AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "JPM", "XOM", "JNJ", "PG",
            "KO", "WMT", "DIS", "INTC", "SPY", "QQQ", "IWM", "DIA", "GLD", "SPX.XO",
        ] {
            let i = u.get(want).unwrap_or_else(|| panic!("{want} missing"));
            assert!(!i.name.is_empty() && !i.derived);
            assert!(
                i.reference_price > 10.0 && i.reference_price < 5000.0,
                "{want}"
            );
            assert!(i.volatility > 0.1 && i.volatility < 0.6, "{want}");
            assert!([5, 7, 11, 13, 21].contains(&i.listed_market), "{want}");
            if let Some(d) = &i.dividend {
                assert!(d.amount > 0.0 && d.ex_months.iter().all(|m| (1..=12).contains(m)));
            }
        }
        assert_eq!(u.get("aapl").map(|i| i.symbol.as_str()), Some("AAPL"));
        assert_eq!(u.get("SPX.XO").map(Instrument::security_type), Some(6));
        assert_eq!(u.get("SPY").map(Instrument::security_type), Some(1));
        assert_eq!(u.get("MSFT").map(Instrument::exchange_id), Some(5));
        assert!(u.get("SPY").is_some_and(Instrument::has_options));
        assert!(!u.get("SPX.XO").is_some_and(Instrument::has_options));
        let quarterly = u.get("KO").and_then(|i| i.dividend.as_ref());
        assert_eq!(quarterly.map(|d| d.ex_months.len()), Some(4));
        assert!(u.get("AMZN").is_some_and(|i| i.dividend.is_none()));
    }

    #[test]
    fn unknown_tickers_get_parameters_from_their_name() {
        let u = Universe::with_symbols(&["zzzq", "AAPL", "ABCD"]).unwrap();
        assert_eq!(u.len(), Universe::standard().len() + 2);
        let a = u.get("ZZZQ").unwrap();
        assert!(a.derived && a.name.contains("ZZZQ"));
        assert!((10.0..=400.0).contains(&a.reference_price));
        assert!((0.18..=0.55).contains(&a.volatility));
        assert_eq!(
            Some(a),
            Universe::with_symbols(&["ZZZQ"]).unwrap().get("ZZZQ")
        );
        assert_ne!(a.reference_price, u.get("ABCD").unwrap().reference_price);
        assert!(!u.get("AAPL").unwrap().derived);
        let e = Universe::with_symbols(&["A:B"]).unwrap_err();
        assert!(e.to_string().contains("\"A:B\""), "{e}");
    }

    #[test]
    fn symbol_lists_skip_comments_and_name_bad_lines() {
        let text = "# extras\n\n  xyz \nQQQ # already there\nNEWCO\n";
        let u = Universe::from_symbol_list(text).unwrap();
        assert!(u.get("XYZ").is_some_and(|i| i.derived));
        assert!(u.get("NEWCO").is_some());
        assert_eq!(u.len(), Universe::standard().len() + 2);
        let e = parse_symbol_list("AAPL\nBAD:SYM\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "symbol list line 2: symbol \"BAD:SYM\" contains the character ':'"
        );
        let e = parse_symbol_list("AAPL MSFT\n").unwrap_err();
        assert!(e.to_string().contains("line 1") && e.to_string().contains("AAPL MSFT"));
        assert_eq!(e.kind(), xlfeed_core::ErrorKind::InvalidArgument);
    }

    #[test]
    fn a_custom_universe_rejects_duplicates() {
        let aapl = Universe::standard().get("AAPL").cloned().unwrap();
        let e = Universe::new(vec![aapl.clone(), aapl]).unwrap_err();
        assert_eq!(e.to_string(), "duplicate symbol \"AAPL\" in the universe");
    }
}
