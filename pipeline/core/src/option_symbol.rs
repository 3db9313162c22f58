//! `OptionSymbol`: one listed option contract, parsed from and formatted to the two symbol
//! forms the flow meets.
//!
//! IQFeed names contracts `ROOT YY DD M STRIKE` with no separators (`AAPL2417A190` is the AAPL
//! call expiring 2024-01-17 with strike 190): the month letter is `A`–`L` for calls January to
//! December and `M`–`X` for puts, and the strike is a plain decimal without trailing zeros
//! (`SPY2419M475.5`). The fetch and feed stages see this form. The OCC (OSI) form is 21
//! characters, `ROOT` padded with spaces to 6, `YYMMDD`, `C` or `P`, and the strike times 1000
//! as 8 digits (`AAPL  240117C00190000`); other vendors and the Excel side use it. Both forms
//! parse to the same value, so either can be turned into the other.
//!
//! Limits shared by both forms: a root of 1 to 6 ASCII letters or digits, an expiry in
//! 2000–2099 (both forms carry a two-digit year), and a strike from 0.001 to 99999.999 held
//! exactly in thousandths.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

use crate::error::{ParseError, quoted};

/// Longest root the OCC form can carry.
pub const MAX_ROOT_LEN: usize = 6;
/// Largest strike, in thousandths (99999.999, eight OCC digits).
pub const MAX_STRIKE_MILLI: u64 = 99_999_999;

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Right {
    /// The right to buy.
    Call,
    /// The right to sell.
    Put,
}

impl Right {
    /// `'C'` or `'P'`, as in the OCC form.
    pub fn as_char(self) -> char {
        match self {
            Right::Call => 'C',
            Right::Put => 'P',
        }
    }

    /// The right for `'C'` or `'P'` (either case).
    pub fn from_char(c: char) -> Option<Right> {
        match c.to_ascii_uppercase() {
            'C' => Some(Right::Call),
            'P' => Some(Right::Put),
            _ => None,
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Right::Call => "call",
            Right::Put => "put",
        })
    }
}

/// One option contract: root, expiry date, right and strike.
///
/// Ordered by root, then expiry, then right, then strike. `Display` and `FromStr` use the
/// IQFeed form; [`OptionSymbol::parse`] also accepts the OCC form.
///
/// ```
/// use xlfeed_core::{OptionSymbol, Right};
/// let o = OptionSymbol::parse("AAPL2417A190")?;
/// assert_eq!((o.root(), o.right(), o.strike_milli()), ("AAPL", Right::Call, 190_000));
/// assert_eq!(o.to_occ(), "AAPL  240117C00190000");
/// assert_eq!(OptionSymbol::parse("SPY   240119P00475500")?.to_iqfeed(), "SPY2419M475.5");
/// # Ok::<(), xlfeed_core::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OptionSymbol {
    root: String,
    expiry: NaiveDate,
    right: Right,
    strike_milli: u64,
}

impl OptionSymbol {
    /// A contract from its parts; the root is upper-cased. The error names the root, expiry
    /// or strike that is out of the limits in the module docs.
    pub fn new(
        root: &str,
        expiry: NaiveDate,
        right: Right,
        strike_milli: u64,
    ) -> Result<OptionSymbol, ParseError> {
        if !valid_root(root) {
            return Err(ParseError::new(format!(
                "option root {} is not 1 to {MAX_ROOT_LEN} ascii letters or digits",
                quoted(root)
            )));
        }
        if !(2000..=2099).contains(&expiry.year()) {
            return Err(ParseError::new(format!(
                "option expiry {expiry} is outside the years 2000..=2099"
            )));
        }
        if !(1..=MAX_STRIKE_MILLI).contains(&strike_milli) {
            return Err(ParseError::new(format!(
                "option strike {} is outside 0.001..=99999.999",
                format_strike(strike_milli)
            )));
        }
        Ok(OptionSymbol {
            root: root.to_ascii_uppercase(),
            expiry,
            right,
            strike_milli,
        })
    }

    /// Parses either form: the OCC form if the text ends in `YYMMDD`, `C`/`P` and eight
    /// digits (or holds a space), the IQFeed form otherwise.
    pub fn parse(s: &str) -> Result<OptionSymbol, ParseError> {
        if looks_like_occ(s.trim()) {
            OptionSymbol::parse_occ(s)
        } else {
            OptionSymbol::parse_iqfeed(s)
        }
    }

    /// Parses the IQFeed form `ROOT YY DD M STRIKE` (`AAPL2417A190`, `SPY2419M475.5`).
    pub fn parse_iqfeed(s: &str) -> Result<OptionSymbol, ParseError> {
        let t = s.trim();
        let bad = |why: &str| ParseError::new(format!("option symbol {} {why}", quoted(t)));
        if t.is_empty() {
            return Err(ParseError::new("option symbol is empty"));
        }
        if !t.is_ascii() {
            return Err(bad("is not ascii"));
        }
        let u = t.to_ascii_uppercase();
        // The strike is digits and a dot, so the month letter is the last letter.
        let Some(pos) = u.rfind(|c: char| c.is_ascii_alphabetic()) else {
            return Err(bad("has no month letter"));
        };
        let (head, letter, strike) = (&u[..pos], u.as_bytes()[pos], &u[pos + 1..]);
        let (right, month) = match letter {
            b'A'..=b'L' => (Right::Call, letter - b'A' + 1),
            b'M'..=b'X' => (Right::Put, letter - b'M' + 1),
            _ => {
                return Err(bad(&format!(
                    "has month letter '{}', not A-L (calls) or M-X (puts)",
                    char::from(letter)
                )));
            }
        };
        if head.len() < 5 {
            return Err(bad("is too short for ROOT YY DD before the month letter"));
        }
        let (root, yydd) = head.split_at(head.len() - 4);
        let (Some(yy), Some(dd)) = (digits(&yydd[..2]), digits(&yydd[2..])) else {
            return Err(bad("has no two-digit year and day before the month letter"));
        };
        let expiry = expiry_date(yy, u32::from(month), dd).ok_or_else(|| {
            bad(&format!(
                "has expiry 20{yy:02}-{month:02}-{dd:02}, which is not a calendar date"
            ))
        })?;
        let strike_milli = parse_strike(strike).ok_or_else(|| {
            bad(&format!(
                "has strike {}, not a decimal with at most 3 places",
                quoted(strike)
            ))
        })?;
        OptionSymbol::from_parts(root, expiry, right, strike_milli).map_err(|why| bad(&why))
    }

    /// Parses the OCC form `ROOT__YYMMDDCSSSSSSSS` (`AAPL  240117C00190000`); the root may
    /// also be given without its padding (`AAPL240117C00190000`).
    pub fn parse_occ(s: &str) -> Result<OptionSymbol, ParseError> {
        let t = s.trim();
        let bad = |why: &str| ParseError::new(format!("option symbol {} {why}", quoted(t)));
        if t.is_empty() {
            return Err(ParseError::new("option symbol is empty"));
        }
        if !t.is_ascii() {
            return Err(bad("is not ascii"));
        }
        if t.len() < 16 || t.len() > 21 {
            return Err(bad(
                "is not 16 to 21 characters (ROOT YYMMDD C/P 8-digit strike)",
            ));
        }
        let u = t.to_ascii_uppercase();
        let (head, tail) = u.split_at(u.len() - 15);
        let root = head.trim_end_matches(' ');
        if head.len() != root.len() && head.len() != MAX_ROOT_LEN {
            return Err(bad("has a root padded to other than 6 characters"));
        }
        let (Some(yy), Some(mm), Some(dd)) = (
            digits(&tail[0..2]),
            digits(&tail[2..4]),
            digits(&tail[4..6]),
        ) else {
            return Err(bad("has no YYMMDD expiry"));
        };
        let expiry = expiry_date(yy, mm, dd).ok_or_else(|| {
            bad(&format!(
                "has expiry 20{yy:02}-{mm:02}-{dd:02}, which is not a calendar date"
            ))
        })?;
        let Some(right) = Right::from_char(char::from(tail.as_bytes()[6])) else {
            return Err(bad("has no C or P after the expiry"));
        };
        let strike = &tail[7..];
        let strike_milli = digits(strike)
            .map(u64::from)
            .ok_or_else(|| bad(&format!("has strike {}, not 8 digits", quoted(strike))))?;
        OptionSymbol::from_parts(root, expiry, right, strike_milli).map_err(|why| bad(&why))
    }

    /// The root (`AAPL`, `SPXW`); not always the underlying's symbol.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The expiration date.
    pub fn expiry(&self) -> NaiveDate {
        self.expiry
    }

    /// Call or put.
    pub fn right(&self) -> Right {
        self.right
    }

    /// The strike in thousandths, exact (190 is `190_000`).
    pub fn strike_milli(&self) -> u64 {
        self.strike_milli
    }

    /// The strike as a float, for arithmetic (exact for every strike up to 3 decimals that
    /// `f64` can hold to that precision, which is all of them here).
    pub fn strike(&self) -> f64 {
        self.strike_milli as f64 / 1000.0
    }

    /// The IQFeed form, `AAPL2417A190`.
    pub fn to_iqfeed(&self) -> String {
        let month = u8::try_from(self.expiry.month0()).unwrap_or(0);
        let letter = match self.right {
            Right::Call => b'A' + month,
            Right::Put => b'M' + month,
        };
        format!(
            "{}{:02}{:02}{}{}",
            self.root,
            self.expiry.year() % 100,
            self.expiry.day(),
            char::from(letter),
            format_strike(self.strike_milli)
        )
    }

    /// The 21-character OCC form, `AAPL  240117C00190000`.
    pub fn to_occ(&self) -> String {
        format!(
            "{:<6}{:02}{:02}{:02}{}{:08}",
            self.root,
            self.expiry.year() % 100,
            self.expiry.month(),
            self.expiry.day(),
            self.right.as_char(),
            self.strike_milli
        )
    }

    /// Like [`OptionSymbol::new`] but with the reason alone, for the parsers to prefix.
    fn from_parts(
        root: &str,
        expiry: NaiveDate,
        right: Right,
        strike_milli: u64,
    ) -> Result<OptionSymbol, String> {
        if !valid_root(root) {
            return Err(format!(
                "has root {}, not 1 to {MAX_ROOT_LEN} ascii letters or digits",
                quoted(root)
            ));
        }
        if !(1..=MAX_STRIKE_MILLI).contains(&strike_milli) {
            return Err(format!(
                "has strike {}, outside 0.001..=99999.999",
                format_strike(strike_milli)
            ));
        }
        Ok(OptionSymbol {
            root: root.to_ascii_uppercase(),
            expiry,
            right,
            strike_milli,
        })
    }
}

impl fmt::Display for OptionSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iqfeed())
    }
}

impl FromStr for OptionSymbol {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OptionSymbol::parse(s)
    }
}

fn valid_root(root: &str) -> bool {
    (1..=MAX_ROOT_LEN).contains(&root.len()) && root.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether trimmed text has the OCC shape: a space, or `YYMMDD C/P 8 digits` at the end.
fn looks_like_occ(t: &str) -> bool {
    let b = t.as_bytes();
    if b.contains(&b' ') {
        return true;
    }
    b.len() >= 16 && {
        let tail = &b[b.len() - 15..];
        tail[..6].iter().all(u8::is_ascii_digit)
            && matches!(tail[6], b'C' | b'P' | b'c' | b'p')
            && tail[7..].iter().all(u8::is_ascii_digit)
    }
}

/// The value of a non-empty run of ASCII digits that fits in a `u32`.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn expiry_date(yy: u32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2000 + i32::try_from(yy).ok()?, month, day)
}

/// Thousandths from `190`, `475.5` or `12.125`; `None` for anything else (no sign, no
/// exponent, at most 3 decimals, at least one digit before the dot).
fn parse_strike(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if s.ends_with('.') || frac.len() > 3 {
        return None;
    }
    let int = u64::from(digits(int)?);
    let frac = if frac.is_empty() {
        0
    } else {
        // Right-pad to thousandths: ".5" is 500.
        u64::from(digits(frac)?) * 10u64.pow(3 - frac.len() as u32)
    };
    int.checked_mul(1000)?.checked_add(frac)
}

/// `190`, `475.5`, `12.125`: the strike without trailing zeros.
fn format_strike(milli: u64) -> String {
    let (int, frac) = (milli / 1000, milli % 1000);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:03}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn parses_iqfeed_form() {
        let o = OptionSymbol::parse_iqfeed("AAPL2417A190").unwrap();
        assert_eq!(o.root(), "AAPL");
        assert_eq!(o.expiry(), date("2024-01-17"));
        assert_eq!(o.right(), Right::Call);
        assert_eq!(o.strike_milli(), 190_000);
        assert_eq!(o.strike(), 190.0);
        let p = OptionSymbol::parse("spy2419m475.5").unwrap();
        assert_eq!((p.right(), p.expiry()), (Right::Put, date("2024-01-19")));
        assert_eq!(p.strike_milli(), 475_500);
        assert_eq!(p.to_string(), "SPY2419M475.5");
        let x = OptionSymbol::parse("SPXW2531X5000.125").unwrap();
        assert_eq!((x.right(), x.expiry()), (Right::Put, date("2025-12-31")));
        assert_eq!(x.strike_milli(), 5_000_125);
        // A root may end in a digit (adjusted contracts).
        let a = OptionSymbol::parse("AAPL12417A190").unwrap();
        assert_eq!(a.root(), "AAPL1");
    }

    #[test]
    fn parses_occ_form() {
        let o = OptionSymbol::parse_occ("AAPL  240117C00190000").unwrap();
        assert_eq!(o, OptionSymbol::parse("AAPL2417A190").unwrap());
        assert_eq!(OptionSymbol::parse("AAPL240117C00190000").unwrap(), o);
        assert_eq!(OptionSymbol::parse("AAPL  240117C00190000").unwrap(), o);
        let p = OptionSymbol::parse("SPY   240119P00475500").unwrap();
        assert_eq!(p.to_iqfeed(), "SPY2419M475.5");
        assert_eq!(p.to_occ(), "SPY   240119P00475500");
        let six = OptionSymbol::parse("GOOGL1250321C00000500").unwrap();
        assert_eq!((six.root(), six.strike_milli()), ("GOOGL1", 500));
        assert_eq!(six.to_iqfeed(), "GOOGL12521C0.5");
    }

    #[test]
    fn formats_strikes_without_trailing_zeros() {
        assert_eq!(format_strike(190_000), "190");
        assert_eq!(format_strike(475_500), "475.5");
        assert_eq!(format_strike(12_125), "12.125");
        assert_eq!(format_strike(1), "0.001");
        assert_eq!(format_strike(10), "0.01");
        assert_eq!(parse_strike("0190.50"), Some(190_500));
        assert_eq!(parse_strike(".5"), None);
        assert_eq!(parse_strike("5."), None);
        assert_eq!(parse_strike("1.2345"), None);
        assert_eq!(parse_strike("1e3"), None);
    }

    #[test]
    fn errors_name_the_input() {
        for (s, why) in [
            ("2417190", "has no month letter"),
            ("AAPL", "too short"),
            ("AAPL2417Z190", "month letter 'Z'"),
            ("AAPL2430B190", "2024-02-30"),
            ("AAPL24x7A190", "two-digit year and day"),
            ("2417A190", "too short"),
            ("AAPL2417A", "strike \"\""),
            ("AAPL2417A1.2345", "strike \"1.2345\""),
            ("AAPL2417A0", "strike 0,"),
            ("TOOLONG2417A190", "root \"TOOLONG\""),
            ("AA-L2417A190", "root \"AA-L\""),
            ("AAPL  241317C00190000", "2024-13-17"),
            ("AAPL  240117X00190000", "no C or P"),
            ("AAPL   240117C00190000", "not 16 to 21"),
            ("AAPL 240117C00190000", "padded"),
            ("AAPL  240117C0019000x", "strike \"0019000X\""),
            ("AAPL  240117C00000000", "strike 0,"),
        ] {
            let e = OptionSymbol::parse(s).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("option symbol \"{s}\" ")),
                "{s}: {e}"
            );
            assert!(e.contains(why), "{s}: {e}");
        }
        assert_eq!(
            OptionSymbol::parse("  ").unwrap_err().to_string(),
            "option symbol is empty"
        );
        assert!(OptionSymbol::parse("ÄAPL2417A190").is_err());
    }

    #[test]
    fn new_checks_its_parts() {
        let d = date("2024-01-17");
        assert!(OptionSymbol::new("aapl", d, Right::Call, 190_000).is_ok());
        let e = OptionSymbol::new("AAPL", date("1999-01-15"), Right::Put, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option expiry 1999-01-15 is outside the years 2000..=2099"
        );
        let e = OptionSymbol::new("AAPL", d, Right::Put, 100_000_000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option strike 100000 is outside 0.001..=99999.999"
        );
        let e = OptionSymbol::new("", d, Right::Put, 1).unwrap_err();
        assert!(e.to_string().contains("option root \"\""), "{e}");
    }

    fn any_option() -> impl Strategy<Value = OptionSymbol> {
        (
            "[A-Z0-9]{1,6}",
            0u64..36_525,
            prop_oneof![Just(Right::Call), Just(Right::Put)],
            1u64..=MAX_STRIKE_MILLI,
        )
            .prop_map(|(root, days, right, strike)| {
                let expiry = date("2000-01-01") + chrono::Days::new(days);
                OptionSymbol::new(&root, expiry, right, strike).unwrap()
            })
    }

    proptest! {
        #[test]
        fn iqfeed_round_trips(o in any_option()) {
            let s = o.to_iqfeed();
            prop_assert_eq!(&OptionSymbol::parse_iqfeed(&s).unwrap(), &o);
            prop_assert_eq!(&OptionSymbol::parse(&s).unwrap(), &o);
            prop_assert_eq!(s.parse::<OptionSymbol>().unwrap(), o);
        }

        #[test]
        fn occ_round_trips(o in any_option()) {
            let s = o.to_occ();
            prop_assert_eq!(s.len(), 21);
            prop_assert_eq!(&OptionSymbol::parse_occ(&s).unwrap(), &o);
            prop_assert_eq!(OptionSymbol::parse(&s).unwrap(), o);
        }

        #[test]
        fn forms_convert_both_ways(o in any_option()) {
            let from_occ = OptionSymbol::parse_occ(&o.to_occ()).unwrap();
            prop_assert_eq!(from_occ.to_iqfeed(), o.to_iqfeed());
            let from_iq = OptionSymbol::parse_iqfeed(&o.to_iqfeed()).unwrap();
            prop_assert_eq!(from_iq.to_occ(), o.to_occ());
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,30}") {
            let _ = OptionSymbol::parse(&s);
            let _ = OptionSymbol::parse_iqfeed(&s);
            let _ = OptionSymbol::parse_occ(&s);
        }

        #[test]
        fn symbol_like_text_never_panics(s in "[A-Za-z0-9 .]{0,24}") {
            if let Ok(o) = OptionSymbol::parse(&s) {
                prop_assert_eq!(OptionSymbol::parse(&o.to_occ()).unwrap(), o);
            }
            let _ = OptionSymbol::parse_iqfeed(&s);
            let _ = OptionSymbol::parse_occ(&s);
        }
    }
}
