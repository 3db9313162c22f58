//! `import rates`: rate curves into `rate`, one chunk per (curve, date).
//!
//! This is where USD LIBOR history, SOFR and the Treasury par curve enter the system; the
//! postprocess stage reads them to find each option's risk-free rate. A file has a date
//! column, a curve column (or `--curve` for the whole file) and one column per tenor, headed
//! `ON`, `1W`, `1M`, `3 Mo`, `6M`, `1Y`, `2 Yr`, `10Y`, ... with the rates in percent.
//! Every column must be one of these: a file with anything else is not a rate file.
//!
//! A tenor is stored in calendar days: overnight 1, `n`D n, `n`W 7n, `n`M 30n, `n`Y 365n.
//! A rate is stored as a fraction (5.25 becomes 0.0525, the decimal read as written, not
//! 5.25 / 100 rounded twice). An empty cell, `N/A`, `ND` or `.` (FRED) or a spreadsheet error
//! means the curve has no point at that tenor that day; a row with no point at all is
//! skipped and counted.
//!
//! The quoting convention comes from the curve: `USD_LIBOR` and `SOFR` are money-market
//! simple rates (act/360), `UST_PAR` is the Treasury's bond-equivalent par yield; other curve
//! names need `--convention`. Curve names are upper-cased with spaces and dashes as `_`, and
//! the usual spellings (`LIBOR`, `USD LIBOR`, `UST`, `Treasury`, `Term SOFR`) are read as the
//! names above.

use anyhow::{Result, bail};
use clap::ValueEnum;
use xlfeed_core::Symbol;
use xlfeed_core::records::{RatePoint, rate_convention};
use xlfeed_store::Kind;

use super::engine::{Format, Parsed, Unit};
use super::table::{Cell, Col, Header, Row, cell_number, in_column};

/// How a curve's rates are quoted (`--convention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Convention {
    /// Money-market simple rate, act/360 (LIBOR, SOFR and term SOFR).
    MoneyMarket,
    /// Bond-equivalent par yield, semi-annual (Treasury constant maturity).
    Par,
    /// Continuously compounded zero rate.
    Zero,
}

impl Convention {
    fn code(self) -> char {
        match self {
            Convention::MoneyMarket => rate_convention::MONEY_MARKET,
            Convention::Par => rate_convention::PAR,
            Convention::Zero => rate_convention::ZERO,
        }
    }
}

/// Curve names read as the system's names, and each known curve's convention.
const CURVES: &[(&str, &[&str], char)] = &[
    (
        "USD_LIBOR",
        &["USD_LIBOR", "LIBOR", "USDLIBOR", "USD_LIBOR_RATE"],
        rate_convention::MONEY_MARKET,
    ),
    (
        "SOFR",
        &["SOFR", "TERM_SOFR", "SOFR_TERM", "USD_SOFR"],
        rate_convention::MONEY_MARKET,
    ),
    (
        "UST_PAR",
        &[
            "UST_PAR",
            "UST",
            "TREASURY",
            "TREASURY_PAR",
            "UST_CMT",
            "CMT",
        ],
        rate_convention::PAR,
    ),
];

/// Cells that mean "no value".
const MISSING: &[&str] = &["N/A", "NA", "#N/A", "ND", ".", "-", "--"];

/// A curve name as stored: `USD LIBOR` → `USD_LIBOR`, then the known spellings to their
/// system name.
pub(crate) fn curve_name(text: &str) -> Result<Symbol, String> {
    let up: String = text
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    let name = CURVES
        .iter()
        .find(|(_, aliases, _)| aliases.contains(&up.as_str()))
        .map_or(up.as_str(), |c| c.0);
    Symbol::parse(name).map_err(|e| format!("curve name: {e}"))
}

/// The convention of a known curve.
fn known_convention(curve: &Symbol) -> Option<char> {
    CURVES
        .iter()
        .find(|(name, _, _)| *name == curve.as_str())
        .map(|c| c.2)
}

/// A tenor header (`ON`, `1W`, `3M`, `3 Mo`, `1.5 Month`, `2Y`, `10 Yr`) in calendar days,
/// rounded to the day.
pub(crate) fn tenor_days(header: &str) -> Option<i64> {
    let t: String = header
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if matches!(t.as_str(), "ON" | "O/N" | "OVERNIGHT") {
        return Some(1);
    }
    let len = t
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let number = &t[..len];
    if number.is_empty() || number.len() > 5 || !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let per = match &t[len..] {
        "D" | "DAY" | "DAYS" => 1.0,
        "W" | "WK" | "WEEK" | "WEEKS" => 7.0,
        "M" | "MO" | "MOS" | "MONTH" | "MONTHS" => 30.0,
        "Y" | "YR" | "YRS" | "YEAR" | "YEARS" => 365.0,
        _ => return None,
    };
    let days = (n * per).round() as i64;
    (days > 0).then_some(days)
}

/// A percentage as a fraction, read from its shortest decimal form: 5.31 becomes the double
/// nearest 0.0531, as if 0.0531 had been written.
pub(crate) fn fraction_of_percent(pct: f64) -> f64 {
    format!("{pct}e-2").parse().unwrap_or(pct / 100.0)
}

/// The rates format.
pub(crate) struct Rates {
    curve: Option<Symbol>,
    convention: Option<Convention>,
    cols: Option<Cols>,
}

struct Cols {
    date: Col,
    curve: Option<Col>,
    tenors: Vec<(Col, i64)>,
}

impl Rates {
    /// The format from `--curve` and `--convention`.
    pub(crate) fn new(curve: Option<&str>, convention: Option<Convention>) -> Result<Rates> {
        let curve = curve
            .map(|c| curve_name(c).map_err(|e| anyhow::anyhow!("--curve {c:?}: {e}")))
            .transpose()?;
        if let Some(c) = &curve
            && convention.is_none()
            && known_convention(c).is_none()
        {
            bail!(
                "curve {c} has no built-in quoting convention: give --convention \
                 (money-market, par or zero)"
            );
        }
        Ok(Rates {
            curve,
            convention,
            cols: None,
        })
    }
}

impl Format for Rates {
    type Record = RatePoint;
    const WHAT: &'static str = "rate curve";
    const KIND: Kind = Kind::Rate;
    const ONE_ROW_PER_DAY: bool = true;

    fn bind(&mut self, header: &Header) -> Result<Vec<String>> {
        let date = header.require("date", &["date", "as of", "as of date", "asof"])?;
        let curve = header.find(&["curve", "curve name", "name", "index"])?;
        match (&curve, &self.curve) {
            (Some(c), Some(_)) => bail!(
                "the file has a curve column (\"{}\"); --curve is for files without one",
                c.name
            ),
            (None, None) => bail!(
                "no curve column (looked for \"curve\", \"curve name\", \"name\", \"index\") \
                 and no --curve; the header is: {}",
                header.shown()
            ),
            _ => {}
        }
        let mut tenors: Vec<(Col, i64)> = Vec::new();
        for (i, name) in header.names().iter().enumerate() {
            if i == date.index || curve.as_ref().is_some_and(|c| c.index == i) || name.is_empty() {
                continue;
            }
            let Some(days) = tenor_days(name) else {
                bail!(
                    "column \"{name}\" is not a date, a curve or a tenor (ON, 1W, 1M, 3M, 1Y, \
                     10Y, \"3 Mo\", \"2 Yr\", ...); the header is: {}",
                    header.shown()
                );
            };
            if let Some((other, _)) = tenors.iter().find(|(_, d)| *d == days) {
                bail!(
                    "columns \"{}\" and \"{name}\" are the same tenor ({days} days)",
                    other.name
                );
            }
            tenors.push((header.col(i), days));
        }
        if tenors.is_empty() {
            bail!(
                "no tenor columns (1M, 3M, 1Y, ...); the header is: {}",
                header.shown()
            );
        }
        tenors.sort_by_key(|t| t.1);
        self.cols = Some(Cols {
            date,
            curve,
            tenors,
        });
        Ok(Vec::new())
    }

    fn parse(&self, row: &Row<'_>, out: &mut Vec<(Unit, RatePoint)>) -> Result<Parsed, String> {
        let Some(c) = &self.cols else {
            return Err("the header was not read".into());
        };
        let curve = match (&c.curve, &self.curve) {
            (Some(col), _) => {
                let text = row.text(col).ok_or_else(|| in_column(col, "is empty"))?;
                curve_name(&text).map_err(|e| in_column(col, &e))?
            }
            (None, Some(curve)) => curve.clone(),
            (None, None) => return Err("no curve".into()),
        };
        let convention = match (self.convention, known_convention(&curve)) {
            (Some(given), _) => given.code(),
            (None, Some(known)) => known,
            (None, None) => {
                let col = c.curve.as_ref().map_or("curve", |c| c.name.as_str());
                return Err(format!(
                    "column \"{col}\": curve {curve} has no built-in quoting convention \
                     (give --convention)"
                ));
            }
        };
        let day = row.required_date(&c.date)?;
        let start = out.len();
        for (col, days) in &c.tenors {
            let cell = row.cell(col);
            let missing = match &cell {
                Cell::Empty | Cell::Error(_) => true,
                Cell::Text(t) => MISSING.iter().any(|m| t.eq_ignore_ascii_case(m)),
                _ => false,
            };
            if missing {
                continue;
            }
            let pct = cell_number(cell)
                .map_err(|e| in_column(col, &e))?
                .unwrap_or_default();
            if pct.abs() >= 100.0 {
                return Err(in_column(
                    col,
                    &format!("{pct} is not a rate in percent (|rate| < 100)"),
                ));
            }
            out.push((
                (curve.clone(), day),
                RatePoint {
                    tenor_days: *days,
                    rate: fraction_of_percent(pct),
                    convention,
                },
            ));
        }
        if out.len() == start {
            return Ok(Parsed::Skipped("no rates"));
        }
        Ok(Parsed::Records)
    }

    fn finish(&self, records: &mut Vec<RatePoint>) {
        records.sort_by_key(|p| p.tenor_days);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenors_in_the_forms_sources_write() {
        for (h, d) in [
            ("ON", 1),
            ("O/N", 1),
            ("1D", 1),
            ("1W", 7),
            ("2 Wk", 14),
            ("1M", 30),
            ("1 Mo", 30),
            ("3 Month", 90),
            ("6M", 180),
            ("12M", 360),
            ("1Y", 365),
            ("2 Yr", 730),
            ("10y", 3650),
            ("30 Yr", 10950),
            ("1.5 Month", 45),
            ("0.5Y", 183),
        ] {
            assert_eq!(tenor_days(h), Some(d), "{h}");
        }
        for bad in [
            "", "M", "0M", "1X", "Close", ".5Y", "1.2.3M", "100000Y", "Date",
        ] {
            assert_eq!(tenor_days(bad), None, "{bad}");
        }
    }

    #[test]
    fn curve_names_and_conventions() {
        for (text, want) in [
            ("USD LIBOR", "USD_LIBOR"),
            ("libor", "USD_LIBOR"),
            ("SOFR", "SOFR"),
            ("Term SOFR", "SOFR"),
            ("Treasury", "UST_PAR"),
            ("ust-par", "UST_PAR"),
            ("EUR ESTR", "EUR_ESTR"),
        ] {
            assert_eq!(curve_name(text).unwrap().as_str(), want, "{text}");
        }
        assert!(curve_name("A:B").is_err());
        assert_eq!(
            known_convention(&curve_name("UST").unwrap()),
            Some(rate_convention::PAR)
        );
        assert!(Rates::new(Some("EUR_ESTR"), None).is_err());
        assert!(Rates::new(Some("EUR_ESTR"), Some(Convention::Zero)).is_ok());
    }

    #[test]
    fn percent_to_fraction_is_the_written_decimal() {
        assert_eq!(fraction_of_percent(5.31), 0.0531);
        assert_eq!(fraction_of_percent(5.25), 0.0525);
        assert_eq!(fraction_of_percent(-0.5), -0.005);
        assert_eq!(fraction_of_percent(0.0), 0.0);
    }

    proptest! {
        #[test]
        fn fractions_are_the_nearest_double(m in -99_999i64..100_000, k in 0u32..5) {
            // A percentage with k decimals, and its fraction written out.
            let pct: f64 = format!("{m}e-{k}").parse().unwrap();
            let want: f64 = format!("{m}e-{}", k + 2).parse().unwrap();
            prop_assert_eq!(fraction_of_percent(pct), want);
        }

        #[test]
        fn tenor_parsing_never_panics(s in "\\PC{0,12}") {
            let _ = tenor_days(&s);
            let _ = curve_name(&s);
        }
    }
}
