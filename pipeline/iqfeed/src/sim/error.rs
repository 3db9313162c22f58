//! `SimError`: why the simulated market cannot answer a question.
//!
//! The simulator's server turns these into IQFeed error lines (`E,Invalid symbol.,` for an
//! unknown symbol) and the rest of the flow into an [`ErrorKind`].

use xlfeed_core::{ErrorKind, ParseError};

/// A question the simulated market cannot answer, or a universe it cannot build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The symbol is not in the market's universe.
    #[error("unknown symbol \"{0}\"")]
    UnknownSymbol(String),
    /// A symbol or option symbol that does not parse (the message names it).
    #[error(transparent)]
    BadSymbol(#[from] ParseError),
    /// A line of a symbol list that does not hold a symbol.
    #[error("symbol list line {line}: {reason}")]
    BadSymbolList {
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line (names the text).
        reason: String,
    },
    /// The same symbol twice in one universe.
    #[error("duplicate symbol \"{0}\" in the universe")]
    DuplicateSymbol(String),
    /// Options were asked for on an instrument that has none (an index, or a symbol that
    /// cannot be an option root).
    #[error("\"{0}\" has no listed options")]
    NoOptions(String),
    /// A bar interval of zero seconds.
    #[error("bar interval of {0} seconds is not positive")]
    BadInterval(u32),
    /// The simulator could not listen on an address.
    #[error("simulator cannot listen on {addr}: {reason}")]
    Listen {
        /// The address, `host:port`.
        addr: String,
        /// Why not.
        reason: String,
    },
}

impl SimError {
    /// Unknown symbols and missing options are "not found"; the rest are bad arguments.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SimError::UnknownSymbol(_) | SimError::NoOptions(_) => ErrorKind::NotFound,
            SimError::BadSymbol(_)
            | SimError::BadSymbolList { .. }
            | SimError::DuplicateSymbol(_)
            | SimError::BadInterval(_) => ErrorKind::InvalidArgument,
            SimError::Listen { .. } => ErrorKind::Unavailable,
        }
    }
}
