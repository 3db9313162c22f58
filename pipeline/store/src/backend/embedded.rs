//! The embedded backend: fjall (an LSM tree like SSDB's LevelDB), in process.
//!
//! Two keyspaces: `chunks` (chunk key → chunk, with key-value separation since chunks are
//! large) and `index` (the index entries and the symbol and kind registries, laid out like the
//! RESP backend's zsets but as ordered keys: `idx:feed:trade:AAPL:20240102` → chunk size).
//! A put writes every chunk and its index entries in one atomic batch and then persists the
//! journal with `SyncAll`: after `put` returns, the day survives a crash or a power cut. The
//! layout marker is the key `layout` of the index keyspace.

use std::fmt::Display;

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode};

use crate::error::{Result, StoreError};
use crate::key::{ChunkKey, Dataset, LAYOUT_KEY, SeriesName};

/// An open embedded store.
#[derive(Clone)]
pub(crate) struct Embedded {
    db: Database,
    chunks: Keyspace,
    index: Keyspace,
    url: String,
}

/// The prefix of a series' index entries: its index key (as the RESP backend names its zset)
/// and `:`, then each entry's `yyyymmdd`.
fn idx_prefix(series: &SeriesName) -> String {
    format!("{}:", series.index())
}

fn sym_prefix(ds: Dataset, kind: impl Display) -> String {
    format!("sym:{ds}:{kind}:")
}

fn kinds_prefix(ds: Dataset) -> String {
    format!("kinds:{ds}:")
}

impl Embedded {
    /// Opens (creating if needed) the store in `dir`.
    pub(crate) fn open(dir: &Path, url: &str) -> Result<Embedded> {
        let fail = |e: &dyn std::fmt::Display| StoreError::Unavailable {
            url: url.to_owned(),
            reason: format!("cannot open {}: {e}", dir.display()),
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let db = Database::builder(dir).open().map_err(|e| fail(&e))?;
        let chunks = db
            .keyspace("chunks", || {
                KeyspaceCreateOptions::default()
                    .with_kv_separation(Some(KvSeparationOptions::default()))
            })
            .map_err(|e| fail(&e))?;
        let index = db
            .keyspace("index", KeyspaceCreateOptions::default)
            .map_err(|e| fail(&e))?;
        Ok(Embedded {
            db,
            chunks,
            index,
            url: url.to_owned(),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    /// Runs blocking fjall work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Embedded) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| self.err(format!("worker failed: {e}")))?
    }

    pub(crate) async fn put_chunks(&self, items: Vec<(ChunkKey, Vec<u8>)>) -> Result<()> {
        self.blocking(move |me| {
            let mut batch = me.db.batch();
            for (key, bytes) in &items {
                let len = bytes.len() as u64;
                batch.insert(&me.chunks, key.chunk_key(), bytes.as_slice());
                let sym = format!("{}{}", sym_prefix(key.dataset, key.kind), key.symbol);
                batch.insert(&me.index, sym, "");
                let kind = format!("{}{}", kinds_prefix(key.dataset), key.kind);
                batch.insert(&me.index, kind, "");
                let series = SeriesName::current(key.dataset, key.kind, &key.symbol);
                let idx = format!("{}{}", idx_prefix(&series), key.day.yyyymmdd());
                batch.insert(&me.index, idx, len.to_le_bytes());
            }
            batch.commit().map_err(|e| me.err(e))?;
            me.db.persist(PersistMode::SyncAll).map_err(|e| me.err(e))
        })
        .await
    }

    pub(crate) async fn get_chunks(&self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        self.blocking(move |me| {
            keys.iter()
                .map(|k| {
                    me.chunks
                        .get(k)
                        .map(|v| v.map(|v| v.to_vec()))
                        .map_err(|e| me.err(e))
                })
                .collect()
        })
        .await
    }

    /// The index entries of a series within `lo..=hi` (yyyymmdd), with their chunk sizes.
    pub(crate) async fn days(
        &self,
        series: &SeriesName,
        lo: u32,
        hi: u32,
    ) -> Result<Vec<(u32, u64)>> {
        let prefix = idx_prefix(series);
        self.blocking(move |me| {
            let from = format!("{prefix}{lo:08}");
            let to = format!("{prefix}{hi:08}");
            let mut out = Vec::new();
            for guard in me.index.range(from.as_str()..=to.as_str()) {
                let (k, v) = guard.into_inner().map_err(|e| me.err(e))?;
                let day = std::str::from_utf8(&k[prefix.len()..])
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                    .ok_or_else(|| {
                        me.err(format!("bad index key {:?}", String::from_utf8_lossy(&k)))
                    })?;
                let size = <[u8; 8]>::try_from(&v[..]).map_or(0, u64::from_le_bytes);
                out.push((day, size));
            }
            Ok(out)
        })
        .await
    }

    /// The members of a registry (symbols of a kind, kinds of a dataset).
    async fn registry(&self, prefix: String) -> Result<Vec<String>> {
        self.blocking(move |me| {
            me.index
                .prefix(prefix.as_str())
                .map(|g| {
                    let k = g.key().map_err(|e| me.err(e))?;
                    Ok(String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
                })
                .collect()
        })
        .await
    }

    pub(crate) async fn symbols(&self, ds: Dataset, kind: &str) -> Result<Vec<String>> {
        self.registry(sym_prefix(ds, kind)).await
    }

    pub(crate) async fn kinds(&self, ds: Dataset) -> Result<Vec<String>> {
        self.registry(kinds_prefix(ds)).await
    }

    pub(crate) async fn delete(&self, key: ChunkKey) -> Result<bool> {
        self.blocking(move |me| {
            let prefix = idx_prefix(&SeriesName::current(key.dataset, key.kind, &key.symbol));
            let idx = format!("{prefix}{}", key.day.yyyymmdd());
            let existed = me.index.contains_key(&idx).map_err(|e| me.err(e))?;
            let mut batch = me.db.batch();
            batch.remove(&me.index, idx.as_str());
            batch.remove(&me.chunks, key.chunk_key());
            let others = me
                .index
                .prefix(prefix.as_str())
                .any(|g| g.key().is_ok_and(|k| k[..] != *idx.as_bytes()));
            if !others {
                let sym = format!("{}{}", sym_prefix(key.dataset, key.kind), key.symbol);
                batch.remove(&me.index, sym);
            }
            batch.commit().map_err(|e| me.err(e))?;
            me.db.persist(PersistMode::SyncAll).map_err(|e| me.err(e))?;
            Ok(existed)
        })
        .await
    }

    /// The layout marker, as stored.
    pub(crate) async fn layout(&self) -> Result<Option<Vec<u8>>> {
        self.blocking(|me| {
            me.index
                .get(LAYOUT_KEY)
                .map(|v| v.map(|v| v.to_vec()))
                .map_err(|e| me.err(e))
        })
        .await
    }

    /// Writes the layout marker, durably.
    pub(crate) async fn set_layout(&self, version: String) -> Result<()> {
        self.blocking(move |me| {
            me.index
                .insert(LAYOUT_KEY, version.as_bytes())
                .map_err(|e| me.err(e))?;
            me.db.persist(PersistMode::SyncAll).map_err(|e| me.err(e))
        })
        .await
    }

    /// Removes a series by name, in one batch: its index entries, the chunks of `days`
    /// (which may name days no longer indexed), and, if `unregister`, its symbol registry
    /// entry.
    pub(crate) async fn remove_series(
        &self,
        series: SeriesName,
        days: Vec<u32>,
        unregister: bool,
    ) -> Result<()> {
        self.blocking(move |me| {
            let prefix = idx_prefix(&series);
            let mut batch = me.db.batch();
            for g in me.index.prefix(prefix.as_str()) {
                batch.remove(&me.index, g.key().map_err(|e| me.err(e))?);
            }
            for d in days {
                batch.remove(&me.chunks, series.chunk(d));
            }
            if unregister {
                let (ds, kind, symbol) = (series.ds, &series.kind, &series.symbol);
                batch.remove(&me.index, format!("{}{symbol}", sym_prefix(ds, kind)));
            }
            batch.commit().map_err(|e| me.err(e))?;
            me.db.persist(PersistMode::SyncAll).map_err(|e| me.err(e))
        })
        .await
    }

    /// Registers `symbols` under `kind`, and `kind` in the dataset (what `put_chunks` does
    /// with each chunk).
    pub(crate) async fn register(
        &self,
        ds: Dataset,
        kind: String,
        symbols: Vec<String>,
    ) -> Result<()> {
        self.blocking(move |me| {
            let mut batch = me.db.batch();
            for s in &symbols {
                batch.insert(&me.index, format!("{}{s}", sym_prefix(ds, &kind)), "");
            }
            batch.insert(&me.index, format!("{}{kind}", kinds_prefix(ds)), "");
            batch.commit().map_err(|e| me.err(e))?;
            me.db.persist(PersistMode::SyncAll).map_err(|e| me.err(e))
        })
        .await
    }

    /// Removes a kind by name from a dataset's registry, with what is left of its symbols.
    pub(crate) async fn remove_kind(&self, ds: Dataset, kind: String) -> Result<()> {
        self.blocking(move |me| {
            let mut batch = me.db.batch();
            for g in me.index.prefix(sym_prefix(ds, &kind)) {
                batch.remove(&me.index, g.key().map_err(|e| me.err(e))?);
            }
            batch.remove(&me.index, format!("{}{kind}", kinds_prefix(ds)));
            batch.commit().map_err(|e| me.err(e))?;
            me.db.persist(PersistMode::SyncAll).map_err(|e| me.err(e))
        })
        .await
    }

    /// Bytes on disk used by the whole database.
    pub(crate) fn disk_space(&self) -> Option<u64> {
        self.db.disk_space().ok()
    }
}
