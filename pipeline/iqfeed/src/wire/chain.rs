//! Chain and symbol-search replies (port 9100, record types `LC` and `LS`).
//!
//! ```text
//! CEO/CFO   <ReqID>,LC,CALL1,CALL2,…,:,PUT1,PUT2,…,      (one long line; may end ", ")
//! CFU/CFS   <ReqID>,LC,SYM1,SYM2,…,
//! SBF       <ReqID>,LS,Symbol,ListedMarketID,SecurityTypeID,Description   (text may hold commas)
//! ```

use super::num::parse_u64;
use super::{Fields, WireError};

/// The contracts of an option chain reply, as IQFeed symbols.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    /// Call symbols, in the order sent.
    pub calls: Vec<String>,
    /// Put symbols, in the order sent.
    pub puts: Vec<String>,
}

/// Parses the fields of an option chain line (after `<ReqID>,LC,`).
pub fn parse_option_chain(fields: &[u8]) -> Result<Chain, WireError> {
    let mut chain = Chain::default();
    let mut puts = false;
    for f in Fields::new(fields) {
        let f = f.trim_ascii();
        if f.is_empty() {
            continue;
        }
        if f == b":" {
            if puts {
                return Err(WireError::new(fields, "two ':' separators in a chain"));
            }
            puts = true;
            continue;
        }
        let s = std::str::from_utf8(f)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| WireError::new(fields, "a chain symbol is not printable ASCII"))?;
        if puts {
            chain.puts.push(s.to_owned());
        } else {
            chain.calls.push(s.to_owned());
        }
    }
    Ok(chain)
}

/// Appends the fields of an option chain line: calls, `:`, puts, and IQConnect's `, ` ending.
pub fn write_option_chain(out: &mut Vec<u8>, chain: &Chain) {
    for c in &chain.calls {
        out.extend_from_slice(c.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(b":,");
    for p in &chain.puts {
        out.extend_from_slice(p.as_bytes());
        out.push(b',');
    }
    out.push(b' ');
}

/// One symbol-search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolMatch {
    /// The symbol.
    pub symbol: String,
    /// IQFeed listed market id (see `SLM`).
    pub listed_market: u32,
    /// IQFeed security type id (1 equity, 2 equity option, 6 index, ...).
    pub security_type: u32,
    /// Description; may contain commas.
    pub description: String,
}

/// Parses the fields of an `SBF` result line (after `<ReqID>,LS,`).
pub fn parse_symbol_match(fields: &[u8]) -> Result<SymbolMatch, WireError> {
    let mut f = Fields::new(fields);
    let symbol = f.next().unwrap_or(b"");
    if symbol.is_empty() {
        return Err(WireError::new(fields, "no symbol"));
    }
    let mut num = |name: &str| -> Result<u32, WireError> {
        f.next()
            .and_then(parse_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| WireError::new(fields, format!("{name} is not a number")))
    };
    let listed_market = num("listed market id")?;
    let security_type = num("security type id")?;
    let desc = f.remainder();
    let desc = desc.strip_suffix(b",").unwrap_or(desc);
    Ok(SymbolMatch {
        symbol: String::from_utf8_lossy(symbol).into_owned(),
        listed_market,
        security_type,
        description: String::from_utf8_lossy(desc).into_owned(),
    })
}

/// Appends the fields of an `SBF` result line.
pub fn write_symbol_match(out: &mut Vec<u8>, m: &SymbolMatch) {
    out.extend_from_slice(
        format!(
            "{},{},{},{},",
            m.symbol, m.listed_market, m.security_type, m.description
        )
        .as_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_calls_then_puts() {
        let c = parse_option_chain(b"AAPL2417A190,AAPL2417A195,:,AAPL2417M190, ").unwrap();
        assert_eq!(c.calls, vec!["AAPL2417A190", "AAPL2417A195"]);
        assert_eq!(c.puts, vec!["AAPL2417M190"]);
        let c = parse_option_chain(b":,").unwrap();
        assert!(c.calls.is_empty() && c.puts.is_empty());
        assert!(parse_option_chain(b"A,:,B,:,C,").is_err());
    }

    #[test]
    fn descriptions_keep_their_commas() {
        let m = parse_symbol_match(b"XOM,7,1,EXXON MOBIL, CORP,").unwrap();
        assert_eq!(m.symbol, "XOM");
        assert_eq!((m.listed_market, m.security_type), (7, 1));
        assert_eq!(m.description, "EXXON MOBIL, CORP");
        assert!(parse_symbol_match(b"XOM,x,1,EXXON,").is_err());
    }

    proptest! {
        #[test]
        fn chain_round_trip(calls in proptest::collection::vec("[A-Z]{1,5}[0-9]{4}[A-X][0-9]{1,4}", 0..30),
                            puts in proptest::collection::vec("[A-Z]{1,5}[0-9]{4}[A-X][0-9]{1,4}", 0..30)) {
            let chain = Chain { calls, puts };
            let mut out = Vec::new();
            write_option_chain(&mut out, &chain);
            prop_assert_eq!(parse_option_chain(&out).unwrap(), chain);
        }

        #[test]
        fn match_round_trip(sym in "[A-Z]{1,6}", lm in 0u32..100, st in 0u32..20, d in "[A-Z ,.&]{0,30}") {
            let m = SymbolMatch { symbol: sym, listed_market: lm, security_type: st, description: d };
            let mut out = Vec::new();
            write_symbol_match(&mut out, &m);
            prop_assert_eq!(parse_symbol_match(&out).unwrap(), m);
        }
    }
}
