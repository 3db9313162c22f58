//! The migration of a store to the current key layout: what `xlpipeline migrate` runs.
//!
//! Layout 1 (no `layout` key) abbreviated four kind names ([`RENAMED`]); layout 2 spelled them
//! out and marked the store; layout 3 puts a hash tag in a series' keys
//! (`{feed:trade:AAPL}:20240102`, `idx:{feed:trade:AAPL}`: [`crate::key`]). [`migrate`]
//! rewrites a store of layout 1 or 2 in place, in the order that lets a migration killed at
//! any point be run again and finish:
//!
//! 1. per kind and series, the chunks are copied, byte for byte, from their old keys to their
//!    new ones with the store's commit protocol (chunks and registries, then index entries);
//! 2. then the old series is removed (index, chunks and, for a renamed kind, its symbol
//!    registry entry) and, when all its series are, a renamed kind's registry entry;
//! 3. the `lineage` rows that name an input by an old kind name are rewritten with the new
//!    one (otherwise postprocess would find every day's inputs changed and redo it);
//! 4. the layout marker is written last.
//!
//! Until the marker is there, every reader and writer refuses the store, so nothing sees it
//! half migrated. A re-run copies again what is still under old keys (the same bytes) and
//! skips what a killed run already moved. Registries (`sym:…`, `kinds:…`) and the marker keep
//! their names in every layout.

use std::collections::BTreeSet;

use xlfeed_core::records::Lineage;
use xlfeed_core::{Symbol, TradingDay, quoted};

use crate::codec;
use crate::error::{Result, StoreError};
use crate::key::{ChunkKey, Dataset, Kind, LAYOUT_VERSION, SeriesName};
use crate::records::Records;
use crate::store::{Marker, Store};
use crate::url::StoreUrl;

/// The kind names layout 1 abbreviated, and the kinds they are now.
pub const RENAMED: &[(&str, Kind)] = &[
    ("otrade", Kind::OptionTrade),
    ("etrade", Kind::EnrichedTrade),
    ("cdaily", Kind::ContractDaily),
    ("ivsummary", Kind::IvSummary),
];

/// Chunks copied per round trip.
const BATCH: usize = 64;

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// The layout the store was in (1 for data without a marker; 0 for an empty store).
    pub from: u32,
    /// Per renamed kind: dataset, old name, new kind, series and chunks moved.
    pub renamed: Vec<Renamed>,
    /// Series moved to the current layout's keys, renamed kinds' included.
    pub series: u64,
    /// Chunks copied, renamed kinds' included.
    pub chunks: u64,
    /// `lineage` chunks whose rows were rewritten with the new kind names.
    pub lineages: u64,
    /// Keys indexed under an old name whose chunk was missing (nothing to copy; the day is
    /// left out of the new index) or, for lineage, that do not decode (left as they are).
    pub skipped: Vec<String>,
}

/// One kind renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// FEED or POST.
    pub dataset: Dataset,
    /// The layout 1 name.
    pub from: &'static str,
    /// The kind (its new name is its `Display`).
    pub to: Kind,
    /// Series (symbols) moved.
    pub series: u64,
    /// Chunks copied.
    pub chunks: u64,
}

impl Migration {
    /// Whether the store was already in the current layout (nothing was done).
    pub fn was_current(&self) -> bool {
        self.from == LAYOUT_VERSION
    }
}

/// Migrates the store at `location` to [`LAYOUT_VERSION`] (see the module documentation).
/// A store already there is left as it is; one with a marker this xlfeed does not know is
/// refused with [`StoreError::UnknownLayout`]. Nothing else may use the store meanwhile.
pub async fn migrate(location: StoreUrl) -> Result<Migration> {
    let store = Store::connect(location).await?;
    let mut report = Migration::default();
    match store.marker().await? {
        Marker::Version(LAYOUT_VERSION) => {
            report.from = LAYOUT_VERSION;
            return Ok(report);
        }
        Marker::Version(v) if v < LAYOUT_VERSION => report.from = v,
        Marker::Version(v) => {
            return Err(StoreError::UnknownLayout {
                url: store.url().to_owned(),
                found: v.to_string(),
            });
        }
        Marker::Unknown(found) => {
            return Err(StoreError::UnknownLayout {
                url: store.url().to_owned(),
                found,
            });
        }
        Marker::Absent => {
            let holds = !store.kind_names(Dataset::Feed).await?.is_empty()
                || !store.kind_names(Dataset::Post).await?.is_empty();
            report.from = u32::from(holds);
        }
    }
    if report.from > 0 {
        for ds in [Dataset::Feed, Dataset::Post] {
            for old in store.kind_names(ds).await? {
                let moved = move_kind(&store, report.from, ds, &old, &mut report.skipped).await?;
                report.series += moved.series;
                report.chunks += moved.chunks;
                let renamed = RENAMED.iter().find(|(o, _)| report.from == 1 && *o == old);
                if let Some(&(from, to)) = renamed {
                    report.renamed.push(Renamed {
                        dataset: ds,
                        from,
                        to,
                        series: moved.series,
                        chunks: moved.chunks,
                    });
                }
            }
        }
    }
    for ds in [Dataset::Feed, Dataset::Post] {
        report.lineages += rewrite_lineage(&store, ds, &mut report.skipped).await?;
    }
    store.write_marker().await?;
    Ok(report)
}

/// Series and chunks one kind's move copied.
struct Moved {
    series: u64,
    chunks: u64,
}

/// Moves every series of the kind named `old` in `ds` from key layout `from`'s keys to the
/// current layout's (and, from layout 1, to the kind's new name if [`RENAMED`] renames it).
/// A kind name no layout knows is left where it is, its keys listed in `skipped`.
async fn move_kind(
    store: &Store,
    from: u32,
    ds: Dataset,
    old: &str,
    skipped: &mut Vec<String>,
) -> Result<Moved> {
    let renamed = RENAMED
        .iter()
        .find(|(o, _)| from == 1 && *o == old)
        .map(|(_, k)| *k);
    let mut done = Moved {
        series: 0,
        chunks: 0,
    };
    let Some(kind) = renamed.or_else(|| Kind::parse(old).ok()) else {
        skipped.push(format!("{ds}:{old} (not a kind of layout {from})"));
        return Ok(done);
    };
    for name in store.symbol_names(ds, old).await? {
        let symbol = Symbol::parse(&name).map_err(|e| StoreError::Backend {
            url: store.url().to_owned(),
            reason: format!("symbol {} of {ds}:{old}: {e}", quoted(&name)),
        })?;
        let before = SeriesName::of(from, ds, old, &name);
        let old_days = store.day_numbers(&before).await?;
        let moved: BTreeSet<u32> = store
            .day_numbers(&SeriesName::current(ds, kind, &name))
            .await?
            .into_iter()
            .collect();
        for group in old_days.chunks(BATCH) {
            let names = group.iter().map(|d| before.chunk(*d));
            let chunks = store.get_named(names.collect()).await?;
            let mut items = Vec::with_capacity(group.len());
            for (&d, chunk) in group.iter().zip(chunks) {
                match (chunk, TradingDay::from_yyyymmdd(d)) {
                    (Some(bytes), Ok(day)) => {
                        items.push((ChunkKey::new(ds, kind, symbol.clone(), day), bytes));
                    }
                    // Moved by a run that was killed before it removed the old index.
                    (None, Ok(_)) if moved.contains(&d) => {}
                    _ => skipped.push(before.chunk(d)),
                }
            }
            done.chunks += items.len() as u64;
            store.put_unchecked(items).await?;
        }
        let every: BTreeSet<u32> = old_days.iter().copied().chain(moved).collect();
        store
            .remove_series(before, every.into_iter().collect(), renamed.is_some())
            .await?;
        done.series += 1;
    }
    if renamed.is_some() {
        store.remove_kind(ds, old).await?;
    }
    Ok(done)
}

/// Rewrites the lineage rows of `ds` that name an input by an old kind name; returns the
/// chunks rewritten.
async fn rewrite_lineage(store: &Store, ds: Dataset, skipped: &mut Vec<String>) -> Result<u64> {
    let lineage = Kind::Lineage.to_string();
    if !store.kind_names(ds).await?.contains(&lineage) {
        return Ok(0);
    }
    let mut rewritten = 0;
    for name in store.symbol_names(ds, &lineage).await? {
        let Ok(symbol) = Symbol::parse(&name) else {
            continue;
        };
        let days: Vec<TradingDay> = store
            .day_numbers(&SeriesName::current(ds, &lineage, &name))
            .await?
            .into_iter()
            .filter_map(|d| TradingDay::from_yyyymmdd(d).ok())
            .collect();
        for group in days.chunks(BATCH) {
            let keys: Vec<ChunkKey> = group
                .iter()
                .map(|d| ChunkKey::new(ds, Kind::Lineage, symbol.clone(), *d))
                .collect();
            let chunks = store.get_chunks(&keys).await?;
            let mut items = Vec::new();
            for (key, chunk) in keys.into_iter().zip(chunks) {
                let Some(bytes) = chunk else { continue };
                let Ok(mut rows) = codec::decode::<Lineage>(&bytes) else {
                    skipped.push(key.chunk_key());
                    continue;
                };
                // Every row renamed (no short circuit), then the chunk rewritten if any was.
                let renamed = rows.iter_mut().map(rename_input).filter(|r| *r).count();
                if renamed > 0 {
                    items.push((key, Records::Lineages(rows).encode()));
                }
            }
            rewritten += items.len() as u64;
            store.put_unchecked(items).await?;
        }
    }
    Ok(rewritten)
}

/// Renames the kind in a lineage input that names one of layout 1 (`feed:otrade:SPY:…`);
/// returns whether it did.
fn rename_input(row: &mut Lineage) -> bool {
    for ds in [Dataset::Feed, Dataset::Post] {
        for (old, kind) in RENAMED {
            let prefix = format!("{ds}:{old}:");
            if let Some(rest) = row.input.strip_prefix(&prefix) {
                row.input = format!("{ds}:{kind}:{rest}");
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_names_are_not_kinds_and_new_names_are() {
        for (old, kind) in RENAMED {
            assert!(Kind::parse(old).is_err(), "{old}");
            assert_eq!(Kind::parse(&kind.to_string()).unwrap(), *kind);
        }
    }

    #[test]
    fn lineage_inputs_take_the_new_names() {
        let mut row = Lineage {
            input: "feed:otrade:SPY:20240102".into(),
            fingerprint: 7,
        };
        assert!(rename_input(&mut row));
        assert_eq!(row.input, "feed:option_trade:SPY:20240102");
        assert!(!rename_input(&mut row), "a second run changes nothing");
        let mut other = Lineage {
            input: "feed:dividend:SPY:*".into(),
            fingerprint: 1,
        };
        assert!(!rename_input(&mut other));
        assert_eq!(other.input, "feed:dividend:SPY:*");
    }
}
