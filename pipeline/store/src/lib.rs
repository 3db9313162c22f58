//! xlfeed-store: SSDB-FEED and SSDB-POST behind one Store API.
//!
//! # Layout
//!
//! - [`codec`]: the chunk format (header, columns, compression, checksum); [`records`] maps
//!   each record type onto columns.
//! - [`key`]: datasets, kinds, chunk keys and the key layout shared by the backends.
//! - [`store`]: [`Store`], the API the pipeline and the server use, chosen by URL.
//! - [`url`]: [`StoreUrl`], a store's URL parsed once: connect, show (password hidden), compare.
//! - [`migrate`]: rewrites a store of an older key layout to the current one.
//! - `backend/embedded`: fjall, in process (`embedded:///dir`).
//! - `backend/resp`: any Redis-protocol server: SSDB, Kvrocks, Redis, Valkey (`redis://`).
//! - [`error`]: [`StoreError`], with `kind()`.
//! - `synth` (feature `testing`): synthetic rows of every kind for tests and benchmarks.
//! - `testing` (feature `testing`): a real `redis-server` for tests, on a free port.
//!
//! The commit protocol is the same on both backends: a chunk is written before its index
//! entry, and readers find chunks only through the index, so a reader never sees a
//! half-written day and re-writing a day replaces it.

pub mod codec;
pub mod error;
pub mod key;
pub mod migrate;
pub mod records;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod synth;
#[cfg(feature = "testing")]
pub mod testing;
pub mod url;

mod backend;

pub use codec::{CodecError, Columnar, Schema};
pub use error::{Result, StoreError};
pub use key::{ChunkKey, Dataset, Kind};
pub use records::Records;
pub use store::{KindStats, Stats, Store};

/// The commands the RESP backend sends, by their `INFO commandstats` names: [`COMMANDS`] always,
/// [`SELECT`] for a database other than 0, [`CLUSTER_COMMANDS`] on a cluster.
pub mod resp_commands {
    pub use crate::backend::resp::{CLUSTER_COMMANDS, COMMANDS, SELECT};
}
pub use url::StoreUrl;
