//! The key layout shared by every backend: datasets, kinds, chunk keys and index keys.
//!
//! ```text
//! {<dataset>:<kind>:<symbol>}:<yyyymmdd>   string  one chunk (one symbol-day of one kind)
//! idx:{<dataset>:<kind>:<symbol>}          zset    member and score yyyymmdd: the days present
//! sym:<dataset>:<kind>                     zset    member symbol, score 0: the symbols of a kind
//! kinds:<dataset>                          zset    member kind, score 0: the kinds present
//! layout                                   string  the key layout's version: "3"
//! ```
//!
//! The braces are literal: `{feed:trade:AAPL}:20240102`, `idx:{feed:trade:AAPL}`. They are a
//! Redis Cluster hash tag: a cluster hashes only the text between them, so a series' chunks
//! and its day index live in one hash slot, on one node, and the commit of a series (chunks,
//! then index entries) and the reads of a series (one MGET) never cross slots. SSDB, Kvrocks
//! and a single Redis treat the braces as two more bytes of the key. A series' name without
//! the braces (`feed:trade:AAPL:20240102`, [`ChunkKey`]'s `Display`) is what messages and
//! lineage rows show.
//!
//! The `layout` key ([`LAYOUT_KEY`], [`LAYOUT_VERSION`]) is written before a store's first
//! chunk. A store of an older layout is refused until `xlpipeline migrate` rewrites it
//! ([`crate::migrate`]): layout 1 (no marker) abbreviated four kind names; layout 2 had no
//! braces ([`chunk_name_in`], [`index_key_in`] name the keys of each layout).
//!
//! The chunk is written first and its index entry last: the index entry is the commit marker,
//! and readers reach chunks only through the index. Scores are `yyyymmdd` integers, exact on
//! every backend (SSDB casts scores to int64, Redis keeps doubles), always queried with
//! inclusive bounds (shared/reference/storage.md §2.2).

use std::fmt;
use std::str::FromStr;

use xlfeed_core::{ParseError, Symbol, TradingDay};

use crate::codec::Columnar;
use crate::codec::Schema;
use xlfeed_core::records::{
    Bar, ContractDaily, DailyBar, Dividend, EnrichedOptionTrade, Fundamentals, IvTerm, Lineage,
    OptionContract, OptionTrade, Quote, RatePoint, Trade,
};

/// The key that holds the version of the key layout a store was written with, the same key
/// on both backends.
pub const LAYOUT_KEY: &str = "layout";

/// The key layout this xlfeed reads and writes: 3 since a series' keys carry a hash tag
/// (layout 2 had none; layout 1, unmarked, also abbreviated four kind names).
pub const LAYOUT_VERSION: u32 = 3;

/// Which logical store: raw market data (SSDB-FEED) or post-processed (SSDB-POST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    /// SSDB-FEED: what fetch and the importers write.
    Feed,
    /// SSDB-POST: what postprocess writes.
    Post,
}

impl Dataset {
    /// `feed` or `post`, the key prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::Feed => "feed",
            Dataset::Post => "post",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dataset {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "feed" => Ok(Dataset::Feed),
            "post" => Ok(Dataset::Post),
            _ => Err(ParseError::new(format!(
                "dataset \"{s}\" is not one of feed, post"
            ))),
        }
    }
}

/// What a series holds. Each kind stores one record type (its [`Schema`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Trades (ticks): [`Trade`].
    Trade,
    /// Interval bars of this many seconds: [`Bar`].
    Bar(u32),
    /// Daily bars: [`DailyBar`].
    Daily,
    /// Level 1 quote snapshots: [`Quote`].
    Quote,
    /// The option chain listed for an underlying on a day: [`OptionContract`].
    Chain,
    /// Option trades of an underlying's contracts: [`OptionTrade`].
    OptionTrade,
    /// Dividends: [`Dividend`].
    Dividend,
    /// Fundamentals snapshots: [`Fundamentals`].
    Fundamental,
    /// A rate curve (the symbol is the curve name): [`RatePoint`].
    Rate,
    /// Post-processed option trades: [`EnrichedOptionTrade`].
    EnrichedTrade,
    /// Per-contract daily aggregates: [`ContractDaily`].
    ContractDaily,
    /// Per-underlying daily IV summary: [`IvTerm`].
    IvSummary,
    /// What a derived day was computed from: [`Lineage`].
    Lineage,
}

/// The kinds with a fixed name, and their names: the one place a kind's name is written.
/// (`bar<seconds>` is the one kind whose name carries a number.)
const NAMED: &[(Kind, &str)] = &[
    (Kind::Trade, "trade"),
    (Kind::Daily, "daily"),
    (Kind::Quote, "quote"),
    (Kind::Chain, "chain"),
    (Kind::OptionTrade, "option_trade"),
    (Kind::Dividend, "dividend"),
    (Kind::Fundamental, "fundamental"),
    (Kind::Rate, "rate"),
    (Kind::EnrichedTrade, "enriched_trade"),
    (Kind::ContractDaily, "contract_daily"),
    (Kind::IvSummary, "iv_summary"),
    (Kind::Lineage, "lineage"),
];

/// The kind names, for parsing and help texts.
pub const KIND_NAMES: &[&str] = &[
    "trade",
    "bar<seconds>",
    "daily",
    "quote",
    "chain",
    "option_trade",
    "dividend",
    "fundamental",
    "rate",
    "enriched_trade",
    "contract_daily",
    "iv_summary",
    "lineage",
];

impl Kind {
    /// The record schema this kind stores.
    pub fn schema(self) -> Schema {
        match self {
            Kind::Trade => Trade::SCHEMA,
            Kind::Bar(_) => Bar::SCHEMA,
            Kind::Daily => DailyBar::SCHEMA,
            Kind::Quote => Quote::SCHEMA,
            Kind::Chain => OptionContract::SCHEMA,
            Kind::OptionTrade => OptionTrade::SCHEMA,
            Kind::Dividend => Dividend::SCHEMA,
            Kind::Fundamental => Fundamentals::SCHEMA,
            Kind::Rate => RatePoint::SCHEMA,
            Kind::EnrichedTrade => EnrichedOptionTrade::SCHEMA,
            Kind::ContractDaily => ContractDaily::SCHEMA,
            Kind::IvSummary => IvTerm::SCHEMA,
            Kind::Lineage => Lineage::SCHEMA,
        }
    }

    /// Parses a kind name (`trade`, `bar60`, `option_trade`, ...); the error names the value.
    pub fn parse(s: &str) -> Result<Kind, ParseError> {
        if let Some(&(kind, _)) = NAMED.iter().find(|(_, name)| *name == s) {
            return Ok(kind);
        }
        match s.strip_prefix("bar").map(str::parse::<u32>) {
            Some(Ok(secs)) if secs > 0 && secs <= 86_400 && !s[3..].starts_with('0') => {
                Ok(Kind::Bar(secs))
            }
            _ => Err(ParseError::new(format!(
                "kind \"{s}\" is not one of {}",
                KIND_NAMES.join(", ")
            ))),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Kind::Bar(secs) = self {
            return write!(f, "bar{secs}");
        }
        // Every other kind is in NAMED (a test checks).
        let name = NAMED.iter().find(|(k, _)| k == self).map_or("", |(_, n)| n);
        f.write_str(name)
    }
}

impl FromStr for Kind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::parse(s)
    }
}

/// The address of one chunk: (dataset, kind, symbol, day).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    /// FEED or POST.
    pub dataset: Dataset,
    /// What the chunk holds.
    pub kind: Kind,
    /// Whose data it is (an underlying for option kinds, a curve name for rates).
    pub symbol: Symbol,
    /// The session date.
    pub day: TradingDay,
}

impl ChunkKey {
    /// A chunk key.
    pub fn new(dataset: Dataset, kind: Kind, symbol: Symbol, day: TradingDay) -> Self {
        ChunkKey {
            dataset,
            kind,
            symbol,
            day,
        }
    }

    /// The key of the chunk's blob: `{feed:trade:AAPL}:20240102`.
    pub fn chunk_key(&self) -> String {
        chunk_name(self.dataset, self.kind, &self.symbol, self.day.yyyymmdd())
    }

    /// The index zset of the chunk's series: `idx:{feed:trade:AAPL}`.
    pub fn index_key(&self) -> String {
        index_key(self.dataset, self.kind, &self.symbol)
    }
}

/// The chunk's name, `feed:trade:AAPL:20240102`: its key without the hash tag's braces, as
/// messages and lineage rows name a chunk (the same in every layout).
impl fmt::Display for ChunkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.dataset,
            self.kind,
            self.symbol,
            self.day.yyyymmdd()
        )
    }
}

/// The index zset of a series (`kind` and `symbol` as names: the migration also names the
/// kinds of older layouts).
pub(crate) fn index_key(ds: Dataset, kind: impl fmt::Display, symbol: impl fmt::Display) -> String {
    index_key_in(LAYOUT_VERSION, ds, kind, symbol)
}

/// The index zset of a series in key layout `layout`.
pub(crate) fn index_key_in(
    layout: u32,
    ds: Dataset,
    kind: impl fmt::Display,
    symbol: impl fmt::Display,
) -> String {
    if layout >= 3 {
        format!("idx:{{{ds}:{kind}:{symbol}}}")
    } else {
        format!("idx:{ds}:{kind}:{symbol}")
    }
}

/// A series named as stored in a key layout (the migration reads series of older layouts,
/// whose kinds may have names no [`Kind`] has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesName {
    /// The key layout whose keys to name.
    pub layout: u32,
    /// FEED or POST.
    pub ds: Dataset,
    /// The kind's name in that layout.
    pub kind: String,
    /// The symbol.
    pub symbol: String,
}

impl SeriesName {
    /// A series in the current layout.
    pub(crate) fn current(ds: Dataset, kind: impl fmt::Display, symbol: impl fmt::Display) -> Self {
        SeriesName::of(LAYOUT_VERSION, ds, kind, symbol)
    }

    /// A series in key layout `layout`.
    pub(crate) fn of(
        layout: u32,
        ds: Dataset,
        kind: impl fmt::Display,
        symbol: impl fmt::Display,
    ) -> Self {
        SeriesName {
            layout,
            ds,
            kind: kind.to_string(),
            symbol: symbol.to_string(),
        }
    }

    /// Its index zset.
    pub(crate) fn index(&self) -> String {
        index_key_in(self.layout, self.ds, &self.kind, &self.symbol)
    }

    /// The key of its chunk of day `yyyymmdd`.
    pub(crate) fn chunk(&self, yyyymmdd: u32) -> String {
        chunk_name_in(self.layout, self.ds, &self.kind, &self.symbol, yyyymmdd)
    }
}

/// The zset of the symbols of a kind.
pub(crate) fn symbols_key(ds: Dataset, kind: impl fmt::Display) -> String {
    format!("sym:{ds}:{kind}")
}

/// The zset of the kinds of a dataset.
pub(crate) fn kinds_key(ds: Dataset) -> String {
    format!("kinds:{ds}")
}

/// The key of a chunk by names (see [`ChunkKey::chunk_key`]).
pub(crate) fn chunk_name(
    ds: Dataset,
    kind: impl fmt::Display,
    symbol: impl fmt::Display,
    yyyymmdd: u32,
) -> String {
    chunk_name_in(LAYOUT_VERSION, ds, kind, symbol, yyyymmdd)
}

/// The key of a chunk by names in key layout `layout`.
pub(crate) fn chunk_name_in(
    layout: u32,
    ds: Dataset,
    kind: impl fmt::Display,
    symbol: impl fmt::Display,
    yyyymmdd: u32,
) -> String {
    if layout >= 3 {
        format!("{{{ds}:{kind}:{symbol}}}:{yyyymmdd}")
    } else {
        format!("{ds}:{kind}:{symbol}:{yyyymmdd}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_bad_kinds_are_named() {
        let every = NAMED.iter().map(|(k, _)| *k);
        for k in every.chain([Kind::Bar(1), Kind::Bar(60), Kind::Bar(86_400)]) {
            let name = k.to_string();
            assert!(!name.is_empty(), "{k:?} has no name");
            assert_eq!(Kind::parse(&name).unwrap(), k);
        }
        for bad in [
            "bar0", "bar060", "bar", "bar-5", "ticks", "bar86401", "", "otrade", "etrade",
        ] {
            let e = Kind::parse(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("\"{bad}\"")), "{e}");
        }
    }

    #[test]
    fn the_help_lists_every_name() {
        let mut names: Vec<&str> = NAMED.iter().map(|(_, n)| *n).collect();
        names.push("bar<seconds>");
        let mut listed = KIND_NAMES.to_vec();
        names.sort_unstable();
        listed.sort_unstable();
        assert_eq!(names, listed);
    }

    #[test]
    fn key_layout() {
        let k = ChunkKey::new(
            Dataset::Feed,
            Kind::Bar(60),
            Symbol::parse("AAPL").unwrap(),
            TradingDay::parse("2024-01-02").unwrap(),
        );
        assert_eq!(k.chunk_key(), "{feed:bar60:AAPL}:20240102");
        assert_eq!(k.index_key(), "idx:{feed:bar60:AAPL}");
        assert_eq!(k.to_string(), "feed:bar60:AAPL:20240102");
        assert_eq!(
            chunk_name_in(2, Dataset::Post, "etrade", "SPY", 20240102),
            "post:etrade:SPY:20240102"
        );
        assert_eq!(
            index_key_in(2, Dataset::Post, "etrade", "SPY"),
            "idx:post:etrade:SPY"
        );
    }
}
