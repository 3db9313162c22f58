//! `IqError`: every way talking to IQConnect fails, each naming the address, request or line.

use xlfeed_core::ErrorKind;

use crate::wire::WireError;

/// An error from the IQFeed client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IqError {
    /// IQConnect could not be reached, or the connection dropped.
    #[error("iqfeed at {addr} is unavailable: {reason}")]
    Unavailable {
        /// The address.
        addr: String,
        /// What happened.
        reason: String,
    },
    /// IQConnect refused the protocol version, or answered the handshake with something else.
    #[error("iqfeed at {addr} did not accept protocol {protocol}: {reason}")]
    Protocol {
        /// The address.
        addr: String,
        /// The version asked for.
        protocol: String,
        /// What it answered.
        reason: String,
    },
    /// No reply (or no further line of a reply) within the request timeout.
    #[error("iqfeed request {request:?} timed out after {millis} ms")]
    Timeout {
        /// The request line.
        request: String,
        /// The timeout, milliseconds.
        millis: u128,
    },
    /// The symbol is unknown to IQFeed (`E,Invalid symbol.`).
    #[error("unknown symbol \"{symbol}\" (iqfeed: {text})")]
    InvalidSymbol {
        /// The symbol asked for.
        symbol: String,
        /// IQFeed's text.
        text: String,
    },
    /// IQFeed's history rate limit was hit (`Too many simultaneous history requests`).
    #[error("iqfeed rate limit hit for request {request:?}")]
    RateLimited {
        /// The request line.
        request: String,
    },
    /// IQFeed rejected the request (`!SYNTAX_ERROR!`, `Invalid number of parameters.`, or
    /// another error text).
    #[error("iqfeed rejected request {request:?}: {text}")]
    Rejected {
        /// The request line.
        request: String,
        /// IQFeed's text.
        text: String,
    },
    /// A reply line did not parse.
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl IqError {
    /// The error's classification.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IqError::Unavailable { .. } | IqError::Timeout { .. } => ErrorKind::Unavailable,
            IqError::Protocol { .. } => ErrorKind::Internal,
            IqError::InvalidSymbol { .. } => ErrorKind::NotFound,
            IqError::RateLimited { .. } => ErrorKind::ResourceExhausted,
            IqError::Rejected { .. } => ErrorKind::InvalidArgument,
            IqError::Wire(e) => e.kind(),
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IqError::Unavailable { .. } | IqError::Timeout { .. } | IqError::RateLimited { .. }
        )
    }
}
