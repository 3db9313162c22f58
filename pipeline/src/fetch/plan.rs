//! What a fetch run does: the universe, the kinds, the days, the shard, and the units of work
//! they make.
//!
//! A **unit** is the smallest piece of work that is fetched, committed and skipped on a
//! re-run as a whole: one (kind, symbol, day) for ticks, bars and options; one (kind, symbol)
//! over the whole range for daily bars (one request, one chunk per day); one symbol for the
//! Level 1 snapshot kinds (dividends, fundamentals).

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xlfeed_core::{Nyse, Symbol, TradingDay};
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
    /// `chain` and `otrade` under the underlying.
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

/// One shard of `count` (`--shard index/count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    /// This shard, from 0.
    pub(crate) index: u32,
    /// How many shards share the universe.
    pub(crate) count: u32,
}

impl Shard {
    /// The whole universe.
    pub(crate) const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/n`.
    pub(crate) fn parse(s: &str) -> Result<Shard> {
        let bad = || anyhow::anyhow!("bad shard {s:?}: expected i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(index, count).ok_or_else(bad)
    }

    /// A shard, if `index < count`.
    pub(crate) fn new(index: u32, count: u32) -> Option<Shard> {
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    /// The shard of a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` and the shard count in
    /// `XLFEED_SHARDS` (`None` when the job index is not set).
    pub(crate) fn from_env() -> Result<Option<Shard>> {
        let Ok(index) = std::env::var("JOB_COMPLETION_INDEX") else {
            return Ok(None);
        };
        let count = std::env::var("XLFEED_SHARDS").with_context(|| {
            format!(
                "JOB_COMPLETION_INDEX={index} is set but XLFEED_SHARDS (the number of shards, \
                 the Job's completions) is not"
            )
        })?;
        Shard::parse(&format!("{index}/{count}"))
            .with_context(|| "from JOB_COMPLETION_INDEX and XLFEED_SHARDS")
            .map(Some)
    }

    /// Whether `symbol` belongs to this shard: a CRC-32 of its name, so every shard (and a
    /// run without shards) agrees whatever the order or the rest of the universe.
    pub(crate) fn owns(&self, symbol: &Symbol) -> bool {
        crc32fast::hash(symbol.as_str().as_bytes()) % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Reads a universe file: one symbol per line, `#` starts a comment, blank lines skipped.
pub(crate) fn read_universe(path: &Path) -> Result<Vec<Symbol>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the symbols file {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let s = line.split('#').next().unwrap_or("").trim();
        if s.is_empty() {
            continue;
        }
        out.push(
            Symbol::parse(s)
                .with_context(|| format!("{}, line {}: bad symbol {s:?}", path.display(), n + 1))?,
        );
    }
    Ok(out)
}

/// The universe from `--symbols` and `--symbols-file`, deduplicated and sorted.
pub(crate) fn universe(symbols: &[String], file: Option<&Path>) -> Result<Vec<Symbol>> {
    let mut out = Vec::new();
    for s in symbols.iter().flat_map(|s| s.split(',')) {
        let s = s.trim();
        if !s.is_empty() {
            out.push(Symbol::parse(s).with_context(|| format!("bad symbol {s:?} in --symbols"))?);
        }
    }
    if let Some(f) = file {
        out.extend(read_universe(f)?);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        bail!("no symbols: give --symbols AAPL,MSFT or --symbols-file FILE");
    }
    Ok(out)
}

/// The trading days of `from..=to` (the calendar's; weekends and holidays are skipped).
pub(crate) fn trading_days(from: TradingDay, to: TradingDay) -> Result<Vec<TradingDay>> {
    if from > to {
        bail!("--from {from} is after --to {to}");
    }
    let days: Vec<TradingDay> = Nyse.trading_days(from, to).collect();
    if days.is_empty() {
        bail!("no trading days from {from} to {to} (weekends and NYSE holidays only)");
    }
    Ok(days)
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

    #[test]
    fn shards_partition_the_universe() {
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("1/0").is_err());
        assert!(Shard::parse("x").unwrap_err().to_string().contains("\"x\""));
        let syms: Vec<Symbol> = ["AAPL", "MSFT", "SPY", "QQQ", "IWM", "XOM", "T", "KO"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect();
        for n in 1..5 {
            for s in &syms {
                let owners = (0..n)
                    .filter(|&i| Shard::new(i, n).unwrap().owns(s))
                    .count();
                assert_eq!(owners, 1, "{s} in exactly one of {n} shards");
            }
        }
    }

    #[test]
    fn universe_files_skip_comments_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.txt");
        std::fs::write(&p, "# my universe\nAAPL\n\n msft # tech\nSPY\nAAPL\n").unwrap();
        let u = universe(&[], Some(&p)).unwrap();
        let names: Vec<&str> = u.iter().map(Symbol::as_str).collect();
        assert_eq!(names, ["AAPL", "MSFT", "SPY"]);
        std::fs::write(&p, "AAPL\nBAD SYMBOL\n").unwrap();
        let e = format!("{:#}", universe(&[], Some(&p)).unwrap_err());
        assert!(e.contains("line 2") && e.contains("BAD SYMBOL"), "{e}");
    }
}
