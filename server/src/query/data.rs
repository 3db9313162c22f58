//! Reading FEED and POST through the Store API, with an in-process cache of decoded chunks
//! bounded in bytes and a short-lived cache of the day indexes.
//!
//! A past trading day never changes once written, so its decoded chunk stays cached until the
//! byte bound evicts it (least recently and frequently used first); today's (New York) chunks
//! are read fresh each time, since fetch may still be writing them. Index listings (which
//! days a series has) are cached for `index_ttl`, so a new day shows up within that time.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, StoreError};

use crate::error::{ApiError, ApiResult};

use crate::metrics::{Metrics, StoreLabels};
/// A day of trades summed up, kept beside its chunk (see [`Data::summary`]).
pub use xlfeed_analytics::quote::DaySummary;

/// Cache sizes.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Upper bound of the decoded chunks kept, bytes (estimated).
    pub max_bytes: u64,
    /// How long a day index listing is reused.
    pub index_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 512 << 20,
            index_ttl: Duration::from_secs(2),
        }
    }
}

/// The stores and their caches.
#[derive(Clone)]
pub struct Data {
    feed: xlfeed_store::Store,
    post: xlfeed_store::Store,
    chunks: Cache<String, Arc<Records>>,
    index: Cache<String, Arc<Vec<TradingDay>>>,
    summaries: Cache<String, Arc<DaySummary>>,
    cache_chunks: bool,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Data")
            .field("feed", &self.feed.url())
            .field("post", &self.post.url())
            .finish_non_exhaustive()
    }
}

/// Estimated heap size of decoded rows.
fn weight(r: &Records) -> u32 {
    fn rows<T>(v: &[T]) -> usize {
        std::mem::size_of_val(v)
    }
    let text = |s: &str| s.len() + 24;
    let bytes = match r {
        Records::Trades(v) => rows(v),
        Records::Bars(v) => rows(v),
        Records::DailyBars(v) => rows(v),
        Records::Quotes(v) => rows(v),
        Records::Contracts(v) => {
            rows(v)
                + v.iter()
                    .map(|c| text(&c.symbol) + text(&c.occ) + text(&c.underlying))
                    .sum::<usize>()
        }
        Records::OptionTrades(v) => rows(v) + v.iter().map(|t| text(&t.contract)).sum::<usize>(),
        Records::Dividends(v) => rows(v),
        Records::Fundamentals(v) => rows(v),
        Records::RatePoints(v) => rows(v),
        Records::EnrichedOptionTrades(v) => {
            rows(v)
                + v.iter()
                    .map(|t| text(&t.contract) + text(&t.rate_curve))
                    .sum::<usize>()
        }
        Records::ContractDailies(v) => rows(v) + v.iter().map(|t| text(&t.contract)).sum::<usize>(),
        Records::IvTerms(v) => rows(v),
        Records::Lineages(v) => rows(v) + v.iter().map(|t| text(&t.input)).sum::<usize>(),
    };
    u32::try_from(bytes + 64).unwrap_or(u32::MAX)
}

/// Today in New York (the exchange's date, what `today` means everywhere), the day whose
/// chunks may still change.
pub fn today() -> Option<TradingDay> {
    xlfeed_core::calendar::new_york_day(chrono::Utc::now().timestamp_nanos_opt()?)
}

impl Data {
    /// Known symbol check: a symbol with nothing stored is `#N/A` naming it.
    pub async fn known(&self, symbol: &Symbol, kinds: &[Kind]) -> ApiResult<()> {
        for k in kinds {
            if !self.all_days(Dataset::Feed, *k, symbol).await?.is_empty() {
                return Ok(());
            }
        }
        Err(ApiError::not_found(format!("unknown symbol {symbol}")))
    }

    /// Reads `feed` and `post` with caches of `config`'s sizes, counting into `metrics`.
    pub fn new(
        feed: xlfeed_store::Store,
        post: xlfeed_store::Store,
        config: CacheConfig,
        metrics: Arc<Metrics>,
    ) -> Data {
        let chunks = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_k: &String, v: &Arc<Records>| weight(v))
            .build();
        let index = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(config.index_ttl)
            .build();
        Data {
            feed,
            post,
            chunks,
            index,
            summaries: Cache::builder().max_capacity(100_000).build(),
            cache_chunks: config.max_bytes > 0,
            metrics,
        }
    }

    /// The store of a dataset.
    pub fn store(&self, ds: Dataset) -> &xlfeed_store::Store {
        match ds {
            Dataset::Feed => &self.feed,
            Dataset::Post => &self.post,
        }
    }

    fn observe<T>(
        &self,
        ds: Dataset,
        op: &str,
        started: Instant,
        r: Result<T, StoreError>,
    ) -> ApiResult<T> {
        let labels = StoreLabels {
            dataset: ds.to_string(),
            op: op.to_owned(),
        };
        self.metrics
            .store_latency
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        r.map_err(|e| {
            self.metrics.store_errors.get_or_create(&labels).inc();
            ApiError::from(e)
        })
    }

    /// Every day a series has, ascending (cached for the index TTL).
    pub async fn all_days(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
    ) -> ApiResult<Arc<Vec<TradingDay>>> {
        let name = format!("{ds}:{kind}:{symbol}");
        if let Some(days) = self.index.get(&name) {
            return Ok(days);
        }
        let started = Instant::now();
        let r = self.store(ds).all_days(ds, kind, symbol).await;
        let days = Arc::new(self.observe(ds, "index", started, r)?);
        self.index.insert(name, days.clone());
        Ok(days)
    }

    /// The days of a series in `first..=last`.
    pub async fn days(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        first: TradingDay,
        last: TradingDay,
    ) -> ApiResult<Vec<TradingDay>> {
        let all = self.all_days(ds, kind, symbol).await?;
        let lo = all.partition_point(|d| *d < first);
        let hi = all.partition_point(|d| *d <= last);
        Ok(all[lo..hi.max(lo)].to_vec())
    }

    /// The latest day of a series at or before `at` (any day when `at` is `None`).
    pub async fn latest_day(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        at: Option<TradingDay>,
    ) -> ApiResult<Option<TradingDay>> {
        let all = self.all_days(ds, kind, symbol).await?;
        Ok(match at {
            None => all.last().copied(),
            Some(at) => {
                let i = all.partition_point(|d| *d <= at);
                i.checked_sub(1).map(|i| all[i])
            }
        })
    }

    /// Decoded chunks of one series on `days`, in order (`None` where a day has none).
    pub async fn chunks(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        days: &[TradingDay],
    ) -> ApiResult<Vec<Option<Arc<Records>>>> {
        self.chunks_with(ds, kind, symbol, days, true).await
    }

    /// [`Data::chunks`]; with `fill` false, the chunks read from the store are not kept in
    /// the cache (those already there are used).
    pub async fn chunks_with(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        days: &[TradingDay],
        fill: bool,
    ) -> ApiResult<Vec<Option<Arc<Records>>>> {
        crate::meter::checkpoint()?;
        let today = today();
        let mut out: Vec<Option<Arc<Records>>> = vec![None; days.len()];
        let mut missing = Vec::new();
        // One key buffer for the series: `{ds}:{kind}:{symbol}:` then the day's digits (the
        // chunk key), so a cache hit allocates nothing.
        let Some(&first) = days.first() else {
            return Ok(out);
        };
        let mut name = ChunkKey::new(ds, kind, symbol.clone(), first).chunk_key();
        let prefix = name.len().saturating_sub(8);
        for (i, d) in days.iter().enumerate() {
            name.truncate(prefix);
            let _ = write!(name, "{}", d.yyyymmdd());
            match self.chunks.get(name.as_str()) {
                Some(r) => {
                    self.metrics.cache_hits.inc();
                    out[i] = Some(r);
                }
                None => {
                    missing.push((i, ChunkKey::new(ds, kind, symbol.clone(), *d), name.clone()))
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        self.metrics.cache_misses.inc_by(missing.len() as u64);
        let keys: Vec<ChunkKey> = missing.iter().map(|(_, k, _)| k.clone()).collect();
        let started = Instant::now();
        let r = self.store(ds).get_chunks(&keys).await;
        let raw = self.observe(ds, "chunks", started, r)?;
        for ((i, key, name), bytes) in missing.into_iter().zip(raw) {
            let Some(bytes) = bytes else { continue };
            let records = Records::decode(&bytes).map_err(|source| {
                ApiError::from(StoreError::Corrupt {
                    key: key.chunk_key(),
                    source,
                })
            })?;
            let records = Arc::new(records);
            if fill && Some(key.day) != today && self.cache_chunks {
                self.chunks.insert(name, records.clone());
            }
            out[i] = Some(records);
        }
        self.metrics
            .cache_bytes
            .set(i64::try_from(self.chunks.weighted_size()).unwrap_or(i64::MAX));
        Ok(out)
    }

    /// One decoded chunk.
    pub async fn chunk(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        day: TradingDay,
    ) -> ApiResult<Option<Arc<Records>>> {
        Ok(self.chunks(ds, kind, symbol, &[day]).await?.pop().flatten())
    }

    /// Symbols that have `kind` in `ds`.
    pub async fn symbols(&self, ds: Dataset, kind: Kind) -> ApiResult<Vec<Symbol>> {
        let started = Instant::now();
        let r = self.store(ds).symbols(ds, kind).await;
        self.observe(ds, "index", started, r)
    }

    /// The summary of a past day's chunk, computed by `f` once (today's: every time).
    pub fn summary(
        &self,
        key: &ChunkKey,
        f: impl FnOnce() -> Option<DaySummary>,
    ) -> Option<Arc<DaySummary>> {
        if !self.cache_chunks || Some(key.day) == today() {
            return f().map(Arc::new);
        }
        let name = key.chunk_key();
        if let Some(s) = self.summaries.get(&name) {
            return Some(s);
        }
        let s = Arc::new(f()?);
        self.summaries.insert(name, s.clone());
        Some(s)
    }

    /// Drops every cached chunk and index (after an admin run rewrote days).
    pub fn invalidate(&self) {
        self.summaries.invalidate_all();
        self.chunks.invalidate_all();
        self.index.invalidate_all();
    }
}
