//! `Symbol`: a ticker as IQFeed and the stores know it, validated on parse.

use std::fmt;
use std::str::FromStr;

use crate::error::{ParseError, quoted};

/// Longest symbol accepted; IQFeed option symbols are well under this, OCC ones are 21.
pub const MAX_SYMBOL_LEN: usize = 40;

/// A market symbol (`AAPL`, `BRK.B`, `AAPL2417A190`, `SPX.XO`, `@ES#`), upper case.
///
/// Allowed: ASCII letters (upper-cased), digits and `. - / ^ @ # _ $ =` ; 1 to 40 characters.
/// Store keys use `:` as a separator, which a symbol can therefore never contain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol(String);

impl Symbol {
    /// Parses and normalises a symbol; the error names the bad input.
    pub fn parse(s: &str) -> Result<Symbol, ParseError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ParseError::new("symbol is empty"));
        }
        if t.len() > MAX_SYMBOL_LEN {
            return Err(ParseError::new(format!(
                "symbol {} is longer than {MAX_SYMBOL_LEN} characters",
                quoted(t)
            )));
        }
        if let Some(bad) = t
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".-/^@#_$=".contains(*c)))
        {
            return Err(ParseError::new(format!(
                "symbol {} contains the character {bad:?}",
                quoted(t)
            )));
        }
        Ok(Symbol(t.to_ascii_uppercase()))
    }

    /// The symbol text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Symbol {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Symbol::parse(s)
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(Symbol::parse(" aapl ").unwrap().as_str(), "AAPL");
        assert_eq!(Symbol::parse("brk.b").unwrap().as_str(), "BRK.B");
    }

    #[test]
    fn rejects_bad_symbols_naming_them() {
        let e = Symbol::parse("AA:PL").unwrap_err();
        assert!(e.to_string().contains("\"AA:PL\""), "{e}");
        assert!(Symbol::parse("").is_err());
        assert!(Symbol::parse(&"A".repeat(41)).is_err());
    }
}
