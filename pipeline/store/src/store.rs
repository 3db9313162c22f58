//! `Store`: the API every stage uses to read and write SSDB-FEED and SSDB-POST.
//!
//! A store is chosen by URL:
//!
//! - `embedded:///abs/dir` or `embedded://rel/dir`: fjall in this process (the default);
//! - `redis://[:password@]host:port[/db]`: SSDB, Kvrocks, Redis or Valkey.
//!
//! The API is in chunks: one chunk is one symbol-day of one kind, addressed by a
//! [`ChunkKey`]. Writes check that the chunk decodes as its kind's schema; reads verify the
//! checksum and report a damaged chunk as [`StoreError::Corrupt`] with its key.

use std::collections::BTreeMap;

use xlfeed_core::{Symbol, TradingDay};

use crate::backend::embedded::Embedded;
use crate::backend::resp::Resp;
use crate::codec::{self, Columnar};
use crate::error::{Result, StoreError};
use crate::key::{ChunkKey, Dataset, Kind};
use crate::records::Records;
use crate::url::StoreUrl;

/// Largest chunk accepted: SSDB refuses values over about 31 MB (storage.md §1.4).
pub const MAX_CHUNK_BYTES: usize = 30 << 20;

/// A handle to one store; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// `location` shown, password hidden.
    url: String,
    location: StoreUrl,
}

#[derive(Clone)]
enum Backend {
    Embedded(Embedded),
    Resp(Resp),
}

/// Chunks and bytes of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindStats {
    /// Series (symbols) with at least one day.
    pub series: u64,
    /// Chunks (symbol-days) indexed.
    pub chunks: u64,
    /// Bytes of those chunks as stored.
    pub bytes: u64,
}

/// What a dataset holds, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per kind, in kind order.
    pub kinds: BTreeMap<Kind, KindStats>,
}

impl Stats {
    /// Totals over every kind.
    pub fn total(&self) -> KindStats {
        self.kinds
            .values()
            .fold(KindStats::default(), |a, k| KindStats {
                series: a.series + k.series,
                chunks: a.chunks + k.chunks,
                bytes: a.bytes + k.bytes,
            })
    }
}

impl Store {
    /// Opens the store named by `url`; an unreachable store fails within a few seconds with
    /// an error naming the URL.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_at(StoreUrl::parse(url)?).await
    }

    /// Opens the store at `location`.
    pub async fn open_at(location: StoreUrl) -> Result<Store> {
        let shown = location.to_string();
        let backend = if let Some(dir) = location.embedded_dir() {
            let (dir, shown2) = (dir.to_path_buf(), shown.clone());
            let open = tokio::task::spawn_blocking(move || Embedded::open(&dir, &shown2));
            Backend::Embedded(open.await.map_err(|e| StoreError::Unavailable {
                url: shown.clone(),
                reason: e.to_string(),
            })??)
        } else {
            Backend::Resp(Resp::open(location.expose(), &shown).await?)
        };
        Ok(Store {
            backend,
            url: shown,
            location,
        })
    }

    /// The store URL, password removed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the store is: compare with [`StoreUrl`]'s `==` to know whether another URL
    /// names this store.
    pub fn location(&self) -> &StoreUrl {
        &self.location
    }

    fn check(&self, key: &ChunkKey, chunk: &[u8]) -> Result<()> {
        if chunk.len() > MAX_CHUNK_BYTES {
            return Err(StoreError::InvalidArgument(format!(
                "chunk {key} is {} bytes, over the {MAX_CHUNK_BYTES}-byte limit",
                chunk.len()
            )));
        }
        let header = codec::verify(chunk).map_err(|source| StoreError::Corrupt {
            key: key.chunk_key(),
            source,
        })?;
        let want = key.kind.schema();
        if header.schema != want.code {
            return Err(StoreError::InvalidArgument(format!(
                "chunk {key} holds {} records, but kind {} stores {want}",
                crate::records::schema_name(header.schema),
                key.kind
            )));
        }
        Ok(())
    }

    /// Writes encoded chunks, each replacing any chunk already at its key, and commits them:
    /// every chunk is durable before its index entry is written.
    pub async fn put_chunks(&self, items: Vec<(ChunkKey, Vec<u8>)>) -> Result<()> {
        for (key, chunk) in &items {
            self.check(key, chunk)?;
        }
        if items.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Embedded(b) => b.put_chunks(items).await,
            Backend::Resp(b) => b.put_chunks(items).await,
        }
    }

    /// Encodes and writes one day of rows.
    pub async fn put(&self, key: &ChunkKey, rows: &Records) -> Result<()> {
        self.put_chunks(vec![(key.clone(), rows.encode())]).await
    }

    /// Reads encoded chunks as stored (`None` where a key has none), in the keys' order.
    pub async fn get_chunks(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Vec<u8>>>> {
        let names: Vec<String> = keys.iter().map(ChunkKey::chunk_key).collect();
        match &self.backend {
            Backend::Embedded(b) => b.get_chunks(names).await,
            Backend::Resp(b) => b.get_chunks(names).await,
        }
    }

    /// Reads and decodes one day of rows of any kind.
    pub async fn get(&self, key: &ChunkKey) -> Result<Option<Records>> {
        let Some(chunk) = self
            .get_chunks(std::slice::from_ref(key))
            .await?
            .pop()
            .flatten()
        else {
            return Ok(None);
        };
        Records::decode(&chunk)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                key: key.chunk_key(),
                source,
            })
    }

    /// Reads and decodes one day of rows of a known record type.
    pub async fn get_rows<R: Columnar>(&self, key: &ChunkKey) -> Result<Option<Vec<R>>> {
        let Some(chunk) = self
            .get_chunks(std::slice::from_ref(key))
            .await?
            .pop()
            .flatten()
        else {
            return Ok(None);
        };
        codec::decode::<R>(&chunk)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                key: key.chunk_key(),
                source,
            })
    }

    async fn index(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        first: TradingDay,
        last: TradingDay,
    ) -> Result<Vec<(u32, u64)>> {
        if first > last {
            return Err(StoreError::InvalidArgument(format!(
                "first day {first} is after last day {last}"
            )));
        }
        let (lo, hi) = (first.yyyymmdd(), last.yyyymmdd());
        match &self.backend {
            Backend::Embedded(b) => b.days(ds, kind, symbol, lo, hi).await,
            Backend::Resp(b) => b.days(ds, kind, symbol, lo, hi).await,
        }
    }

    /// The days of a series present in `first..=last`, ascending. Only committed days
    /// are listed.
    pub async fn days(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        first: TradingDay,
        last: TradingDay,
    ) -> Result<Vec<TradingDay>> {
        self.index(ds, kind, symbol, first, last)
            .await?
            .into_iter()
            .map(|(d, _)| {
                TradingDay::from_yyyymmdd(d).map_err(|e| StoreError::Backend {
                    url: self.url.clone(),
                    reason: format!("index of {ds}:{kind}:{symbol}: {e}"),
                })
            })
            .collect()
    }

    /// Every day of a series, ascending.
    pub async fn all_days(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
    ) -> Result<Vec<TradingDay>> {
        let (first, last) = day_bounds();
        self.days(ds, kind, symbol, first, last).await
    }

    /// The symbols that have at least one day of `kind`, sorted.
    pub async fn symbols(&self, ds: Dataset, kind: Kind) -> Result<Vec<Symbol>> {
        let names = match &self.backend {
            Backend::Embedded(b) => b.symbols(ds, kind).await?,
            Backend::Resp(b) => b.symbols(ds, kind).await?,
        };
        let mut out: Vec<Symbol> = names.iter().filter_map(|s| Symbol::parse(s).ok()).collect();
        out.sort();
        Ok(out)
    }

    /// The kinds present in a dataset.
    pub async fn kinds(&self, ds: Dataset) -> Result<Vec<Kind>> {
        let names = match &self.backend {
            Backend::Embedded(b) => b.kinds(ds).await?,
            Backend::Resp(b) => b.kinds(ds).await?,
        };
        let mut out: Vec<Kind> = names.iter().filter_map(|s| Kind::parse(s).ok()).collect();
        out.sort();
        Ok(out)
    }

    /// Deletes one day: its index entry first, then its chunk. Returns whether it existed.
    pub async fn delete(&self, key: &ChunkKey) -> Result<bool> {
        match &self.backend {
            Backend::Embedded(b) => b.delete(key.clone()).await,
            Backend::Resp(b) => b.delete(key.clone()).await,
        }
    }

    /// Chunks and bytes per kind, counted from the indexes (what a reader can see).
    pub async fn stats(&self, ds: Dataset) -> Result<Stats> {
        let mut stats = Stats::default();
        for kind in self.kinds(ds).await? {
            let mut ks = KindStats::default();
            for symbol in self.symbols(ds, kind).await? {
                let one = self.series_stats(ds, kind, &symbol).await?;
                if one.chunks == 0 {
                    continue;
                }
                ks.series += 1;
                ks.chunks += one.chunks;
                ks.bytes += one.bytes;
            }
            stats.kinds.insert(kind, ks);
        }
        Ok(stats)
    }

    /// One series' chunks and their stored bytes (`series` is 1, or 0 when it has no day).
    pub async fn series_stats(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
    ) -> Result<KindStats> {
        let (first, last) = day_bounds();
        let days = self.index(ds, kind, symbol, first, last).await?;
        let bytes = match &self.backend {
            Backend::Embedded(_) => days.iter().map(|(_, n)| n).sum::<u64>(),
            Backend::Resp(b) => {
                let keys: Vec<String> = days
                    .iter()
                    .filter_map(|(d, _)| TradingDay::from_yyyymmdd(*d).ok())
                    .map(|d| ChunkKey::new(ds, kind, symbol.clone(), d).chunk_key())
                    .collect();
                b.sizes(&keys).await?.iter().sum::<u64>()
            }
        };
        Ok(KindStats {
            series: u64::from(!days.is_empty()),
            chunks: days.len() as u64,
            bytes,
        })
    }

    /// Bytes the embedded store uses on disk (all datasets); `None` for RESP stores.
    pub fn disk_space(&self) -> Option<u64> {
        match &self.backend {
            Backend::Embedded(b) => b.disk_space(),
            Backend::Resp(_) => None,
        }
    }

    /// Reads and decodes every indexed chunk of a dataset, returning the keys of the chunks
    /// that are missing or corrupt, with the reason. An empty list means every committed day
    /// is readable.
    pub async fn verify(&self, ds: Dataset) -> Result<Vec<(ChunkKey, StoreError)>> {
        let mut bad = Vec::new();
        for kind in self.kinds(ds).await? {
            for symbol in self.symbols(ds, kind).await? {
                let keys: Vec<ChunkKey> = self
                    .all_days(ds, kind, &symbol)
                    .await?
                    .into_iter()
                    .map(|d| ChunkKey::new(ds, kind, symbol.clone(), d))
                    .collect();
                for group in keys.chunks(64) {
                    let chunks = self.get_chunks(group).await?;
                    for (key, chunk) in group.iter().zip(chunks) {
                        let Some(chunk) = chunk else {
                            bad.push((
                                key.clone(),
                                StoreError::Corrupt {
                                    key: key.chunk_key(),
                                    source: codec::CodecError::Truncated,
                                },
                            ));
                            continue;
                        };
                        if let Err(e) = self.check(key, &chunk).and_then(|()| {
                            Records::decode(&chunk).map(drop).map_err(|source| {
                                StoreError::Corrupt {
                                    key: key.chunk_key(),
                                    source,
                                }
                            })
                        }) {
                            bad.push((key.clone(), e));
                        }
                    }
                }
            }
        }
        Ok(bad)
    }
}

/// The widest day range the store indexes.
fn day_bounds() -> (TradingDay, TradingDay) {
    match (
        TradingDay::from_yyyymmdd(19000101),
        TradingDay::from_yyyymmdd(21991231),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        _ => unreachable!("constant dates are valid"),
    }
}
