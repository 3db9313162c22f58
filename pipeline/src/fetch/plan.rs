//! What a fetch run does: the kinds it fetches and the units of work they make over the
//! run's scope ([`crate::stage::Scope`]).
//!
//! A **unit** is a piece of work run as a whole: one (kind, symbol) over a run of
//! consecutive missing days for ticks, bars and options (asked of IQFeed in one request
//! per instrument, `--range-days` at most; one day with `--day-at-a-time`), each day
//! committed and skipped on a re-run on its own; one (kind, symbol)
//! over the whole range for daily bars (one request, one chunk per day); one symbol for the
//! Level 1 snapshot kinds (dividends, fundamentals).

use std::fmt;

use anyhow::{Result, bail};
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::Kind;

/// A kind of data to fetch, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum FetchKind {
    /// `ticks`: every trade (`HTT`), stored as `trade`.
    Ticks,
    /// `bars:<seconds>`: interval bars (`HIT`), stored as `bar<seconds>`.
    Bars(u32),
    /// `daily`: daily bars (`HDT`), stored as `daily`.
    Daily,
    /// `options`: the chain (`CEO`) and every listed contract's trades (`HTT`), stored as
    /// `chain` and `option_trade` under the underlying.
    Options,
    /// `dividends`: the dividend in the Level 1 fundamental message, stored as `dividend`
    /// under its ex-date.
    Dividends,
    /// `fundamentals`: the Level 1 fundamental message, stored as `fundamental` under the
    /// last day of the range.
    Fundamentals,
}

/// The kind names `--kinds` accepts.
pub(crate) const KIND_HELP: &str =
    "ticks, bars:<seconds> (e.g. bars:60), daily, options, dividends, fundamentals";

impl FetchKind {
    /// Parses one `--kinds` entry.
    pub(crate) fn parse(s: &str) -> Result<FetchKind> {
        let s = s.trim();
        Ok(match s {
            "ticks" => FetchKind::Ticks,
            "daily" => FetchKind::Daily,
            "options" => FetchKind::Options,
            "dividends" => FetchKind::Dividends,
            "fundamentals" => FetchKind::Fundamentals,
            _ => match s.strip_prefix("bars:") {
                Some(secs) => match secs.parse::<u32>() {
                    Ok(n) if (1..=86_400).contains(&n) => FetchKind::Bars(n),
                    _ => bail!(
                        "bad bar length {secs:?} in kind {s:?}: expected whole seconds from 1 to 86400"
                    ),
                },
                None => bail!("unknown kind {s:?}: expected {KIND_HELP}"),
            },
        })
    }

    /// The store kind whose index tells whether a unit of this kind is done.
    /// Whether the kind comes from IQFeed's Level 1 port (a snapshot per symbol), not from
    /// history requests.
    pub(crate) fn is_level1(self) -> bool {
        matches!(self, FetchKind::Fundamentals | FetchKind::Dividends)
    }

    pub(crate) fn store_kind(self) -> Kind {
        match self {
            FetchKind::Ticks => Kind::Trade,
            FetchKind::Bars(s) => Kind::Bar(s),
            FetchKind::Daily => Kind::Daily,
            FetchKind::Options => Kind::OptionTrade,
            FetchKind::Dividends => Kind::Dividend,
            FetchKind::Fundamentals => Kind::Fundamental,
        }
    }
}

impl fmt::Display for FetchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchKind::Ticks => f.write_str("ticks"),
            FetchKind::Bars(s) => write!(f, "bars:{s}"),
            FetchKind::Daily => f.write_str("daily"),
            FetchKind::Options => f.write_str("options"),
            FetchKind::Dividends => f.write_str("dividends"),
            FetchKind::Fundamentals => f.write_str("fundamentals"),
        }
    }
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Unit {
    /// What to fetch.
    pub(crate) kind: FetchKind,
    /// For which symbol (the underlying for options).
    pub(crate) symbol: Symbol,
    /// The days it covers: one for per-day kinds, the missing days of the range for daily,
    /// the last day of the range for the Level 1 kinds.
    pub(crate) days: Vec<TradingDay>,
}

impl Unit {
    /// The units of the report it stands for: one per day for the per-day kinds (a ranged
    /// unit asks for several days at once), one otherwise.
    pub(crate) fn weight(&self) -> u64 {
        match self.kind {
            FetchKind::Ticks | FetchKind::Bars(_) | FetchKind::Options => {
                self.days.len().max(1) as u64
            }
            _ => 1,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.days.as_slice() {
            [d] => write!(f, "{} {} {d}", self.kind, self.symbol),
            [a, .., b] => write!(f, "{} {} {a}..{b}", self.kind, self.symbol),
            [] => write!(f, "{} {}", self.kind, self.symbol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_name_bad_values() {
        assert_eq!(FetchKind::parse("bars:60").unwrap(), FetchKind::Bars(60));
        assert_eq!(FetchKind::parse(" ticks ").unwrap(), FetchKind::Ticks);
        let e = FetchKind::parse("bars:0").unwrap_err().to_string();
        assert!(e.contains("\"0\""), "{e}");
        let e = FetchKind::parse("tick").unwrap_err().to_string();
        assert!(
            e.contains("\"tick\"") && e.contains("bars:<seconds>"),
            "{e}"
        );
    }
}
