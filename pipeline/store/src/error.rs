//! `StoreError`: every way a store operation fails, each naming the store URL or chunk key.

use xlfeed_core::ErrorKind;

use crate::codec::CodecError;

/// An error from a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL does not parse or names an unknown scheme.
    #[error("store url \"{url}\" is not valid: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be reached, or did not answer in time.
    #[error("store {url} is unavailable: {reason}")]
    Unavailable {
        /// The store URL (password removed).
        url: String,
        /// The underlying failure.
        reason: String,
    },
    /// A stored chunk failed its checksum or does not decode.
    #[error("chunk {key} is corrupt: {source}")]
    Corrupt {
        /// The chunk key.
        key: String,
        /// What the codec found.
        #[source]
        source: CodecError,
    },
    /// The caller asked for something inconsistent (a chunk of the wrong schema for its kind,
    /// a chunk too large for the backend, an invalid range).
    #[error("{0}")]
    InvalidArgument(String),
    /// The store holds data written with an older key layout (kind names of layout 1): it
    /// is refused until migrated, never read or written half in one layout, half in another.
    #[error(
        "store {url} is in key layout {found}, but this xlfeed reads and writes layout {}: \
         stop what writes to it and run `xlpipeline migrate --store {url}`",
        crate::key::LAYOUT_VERSION
    )]
    OldLayout {
        /// The store URL (password removed).
        url: String,
        /// The layout the store is in (1: data without a layout marker).
        found: u32,
    },
    /// The store's layout marker names a layout this xlfeed does not know (a newer one).
    #[error(
        "store {url} is in key layout {}, which this xlfeed (layout {}) does not know: use \
         the xlfeed release that wrote it, or a newer one",
        xlfeed_core::quoted(.found),
        crate::key::LAYOUT_VERSION
    )]
    UnknownLayout {
        /// The store URL (password removed).
        url: String,
        /// The marker as stored.
        found: String,
    },
    /// The backend answered with an error.
    #[error("store {url} failed: {reason}")]
    Backend {
        /// The store URL (password removed).
        url: String,
        /// The backend's error.
        reason: String,
    },
}

impl StoreError {
    /// The error's classification.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::BadUrl { .. } | StoreError::InvalidArgument(_) => {
                ErrorKind::InvalidArgument
            }
            StoreError::Unavailable { .. } => ErrorKind::Unavailable,
            StoreError::Corrupt { .. } => ErrorKind::Corrupt,
            // An operator must act (migrate, or upgrade xlfeed); retrying will not help.
            StoreError::OldLayout { .. }
            | StoreError::UnknownLayout { .. }
            | StoreError::Backend { .. } => ErrorKind::Internal,
        }
    }
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
