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
//!
//! Opening checks the key layout ([`crate::key::LAYOUT_KEY`]): a store in the layout this
//! xlfeed writes opens; an empty one opens and gets the marker before its first chunk; one
//! holding data of another layout is refused ([`StoreError::OldLayout`],
//! [`StoreError::UnknownLayout`]) so that no reader or writer mixes two layouts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use xlfeed_core::{Symbol, TradingDay};

use crate::backend::embedded::Embedded;
use crate::backend::resp::Resp;
use crate::codec::{self, Columnar};
use crate::error::{Result, StoreError};
use crate::key::{ChunkKey, Dataset, Kind, LAYOUT_VERSION, SeriesName};
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
    /// Whether the layout marker must be written before the next chunk (an empty store
    /// without one).
    marker_pending: Arc<AtomicBool>,
}

/// What a store's layout marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Marker {
    /// No marker: an empty store, or one written by layout 1.
    Absent,
    /// A layout version.
    Version(u32),
    /// Something that is not a version number, as stored.
    Unknown(String),
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

    /// Opens the store at `location`, checking its key layout (see the module documentation).
    pub async fn open_at(location: StoreUrl) -> Result<Store> {
        let store = Store::connect(location).await?;
        let url = store.url.clone();
        match store.marker().await? {
            Marker::Version(LAYOUT_VERSION) => {}
            Marker::Version(found) if found < LAYOUT_VERSION => {
                return Err(StoreError::OldLayout { url, found });
            }
            Marker::Version(v) => {
                return Err(StoreError::UnknownLayout {
                    url,
                    found: v.to_string(),
                });
            }
            Marker::Unknown(found) => return Err(StoreError::UnknownLayout { url, found }),
            Marker::Absent if store.holds_data().await? => {
                return Err(StoreError::OldLayout { url, found: 1 });
            }
            Marker::Absent => store.marker_pending.store(true, Ordering::SeqCst),
        }
        Ok(store)
    }

    /// Opens the store at `location` whatever its layout, for the migration: nothing checked,
    /// no marker written.
    pub(crate) async fn connect(location: StoreUrl) -> Result<Store> {
        let shown = location.to_string();
        let backend = if let Some(dir) = location.embedded_dir() {
            let (dir, shown2) = (dir.to_path_buf(), shown.clone());
            let open = tokio::task::spawn_blocking(move || Embedded::open(&dir, &shown2));
            Backend::Embedded(open.await.map_err(|e| StoreError::Unavailable {
                url: shown.clone(),
                reason: e.to_string(),
            })??)
        } else {
            Backend::Resp(Resp::open(&location, &shown).await?)
        };
        Ok(Store {
            backend,
            url: shown,
            location,
            marker_pending: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The store's layout marker.
    pub(crate) async fn marker(&self) -> Result<Marker> {
        let raw = match &self.backend {
            Backend::Embedded(b) => b.layout().await?,
            Backend::Resp(b) => b.layout().await?,
        };
        Ok(match raw {
            None => Marker::Absent,
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                match text.trim().parse::<u32>() {
                    Ok(v) => Marker::Version(v),
                    Err(_) => Marker::Unknown(text),
                }
            }
        })
    }

    /// Writes the layout marker of [`LAYOUT_VERSION`].
    pub(crate) async fn write_marker(&self) -> Result<()> {
        let version = LAYOUT_VERSION.to_string();
        match &self.backend {
            Backend::Embedded(b) => b.set_layout(version).await?,
            Backend::Resp(b) => b.set_layout(version).await?,
        }
        self.marker_pending.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Whether any dataset registers a kind (holds, or held, data).
    async fn holds_data(&self) -> Result<bool> {
        for ds in [Dataset::Feed, Dataset::Post] {
            if !self.kind_names(ds).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
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
        if self.marker_pending.load(Ordering::SeqCst) {
            // Before the first chunk: a store never holds data without its marker.
            self.write_marker().await?;
        }
        self.put_unchecked(items).await
    }

    /// Writes encoded chunks as they are (the migration's copies), with the commit protocol.
    pub(crate) async fn put_unchecked(&self, items: Vec<(ChunkKey, Vec<u8>)>) -> Result<()> {
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
        self.get_named(keys.iter().map(ChunkKey::chunk_key).collect())
            .await
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
        self.index_named(&SeriesName::current(ds, kind, symbol), lo, hi)
            .await
    }

    /// The index entries of a series named as stored, within `lo..=hi` (yyyymmdd), with the
    /// chunk sizes the embedded backend keeps (0 on RESP).
    async fn index_named(&self, series: &SeriesName, lo: u32, hi: u32) -> Result<Vec<(u32, u64)>> {
        match &self.backend {
            Backend::Embedded(b) => b.days(series, lo, hi).await,
            Backend::Resp(b) => b.days(series, lo, hi).await,
        }
    }

    /// Every indexed day (yyyymmdd) of a series named as stored, ascending.
    pub(crate) async fn day_numbers(&self, series: &SeriesName) -> Result<Vec<u32>> {
        let (first, last) = day_bounds();
        let days = self
            .index_named(series, first.yyyymmdd(), last.yyyymmdd())
            .await?;
        Ok(days.into_iter().map(|(d, _)| d).collect())
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
        let names = self.symbol_names(ds, &kind.to_string()).await?;
        let mut out: Vec<Symbol> = names.iter().filter_map(|s| Symbol::parse(s).ok()).collect();
        out.sort();
        Ok(out)
    }

    /// Makes sure `symbols` (series of `kind` that have data) are in the registries, and
    /// registers those that are not; returns them. `put_chunks` registers a series with each
    /// chunk, but on a Redis Cluster the registries live on other slots than the series, and
    /// a master's failover can lose a write it acknowledged (replication is asynchronous): a
    /// series whose index survived would then be missing from `symbols`, stats and the
    /// server's listings, and a resumed run, skipping its days, would never write it again.
    /// Fetch and postprocess call this for the series whose days they skip.
    pub async fn ensure_registered(
        &self,
        ds: Dataset,
        kind: Kind,
        symbols: &[Symbol],
    ) -> Result<Vec<Symbol>> {
        if symbols.is_empty() {
            return Ok(Vec::new());
        }
        let name = kind.to_string();
        let have: std::collections::HashSet<String> =
            self.symbol_names(ds, &name).await?.into_iter().collect();
        let kind_known = self.kind_names(ds).await?.contains(&name);
        let missing: Vec<Symbol> = symbols
            .iter()
            .filter(|s| !have.contains(s.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() || !kind_known {
            let names = missing.iter().map(|s| s.to_string()).collect();
            match &self.backend {
                Backend::Embedded(b) => b.register(ds, name, names).await?,
                Backend::Resp(b) => b.register(ds, name, names).await?,
            }
        }
        Ok(missing)
    }

    /// The kinds present in a dataset.
    pub async fn kinds(&self, ds: Dataset) -> Result<Vec<Kind>> {
        let names = self.kind_names(ds).await?;
        let mut out: Vec<Kind> = names.iter().filter_map(|s| Kind::parse(s).ok()).collect();
        out.sort();
        Ok(out)
    }

    /// The symbols registered under a kind named as stored.
    pub(crate) async fn symbol_names(&self, ds: Dataset, kind: &str) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Embedded(b) => b.symbols(ds, kind).await,
            Backend::Resp(b) => b.symbols(ds, kind).await,
        }
    }

    /// The kinds a dataset registers, as stored (names of any layout).
    pub(crate) async fn kind_names(&self, ds: Dataset) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Embedded(b) => b.kinds(ds).await,
            Backend::Resp(b) => b.kinds(ds).await,
        }
    }

    /// Reads chunks by key as stored (`None` where a key has none).
    pub(crate) async fn get_named(&self, names: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        match &self.backend {
            Backend::Embedded(b) => b.get_chunks(names).await,
            Backend::Resp(b) => b.get_chunks(names).await,
        }
    }

    /// Removes a series named as stored: its index, the chunks of `days`, and, if
    /// `unregister`, its symbol registry entry, in that order.
    pub(crate) async fn remove_series(
        &self,
        series: SeriesName,
        days: Vec<u32>,
        unregister: bool,
    ) -> Result<()> {
        match &self.backend {
            Backend::Embedded(b) => b.remove_series(series, days, unregister).await,
            Backend::Resp(b) => b.remove_series(series, days, unregister).await,
        }
    }

    /// Removes a kind named as stored from its dataset's registry (its series removed first).
    pub(crate) async fn remove_kind(&self, ds: Dataset, kind: &str) -> Result<()> {
        match &self.backend {
            Backend::Embedded(b) => b.remove_kind(ds, kind.to_owned()).await,
            Backend::Resp(b) => b.remove_kind(ds, kind.to_owned()).await,
        }
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
