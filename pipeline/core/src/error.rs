//! The one error classification shared by every crate in the flow.
//!
//! Each library error type has a `kind()` that maps onto [`ErrorKind`]; the server turns an
//! `ErrorKind` into a gRPC status, an HTTP status and an Excel error code in one place.

use std::fmt;

/// What kind of failure an error is, independent of the crate that raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller passed a value that does not parse or is out of range (`#VALUE!`).
    InvalidArgument,
    /// The thing asked for does not exist (`#N/A`).
    NotFound,
    /// Stored data failed its checksum or does not decode (the key is named).
    Corrupt,
    /// A backend (store, IQFeed) could not be reached or timed out; retrying may help.
    Unavailable,
    /// The caller is not allowed to do this.
    PermissionDenied,
    /// A limit was hit (rate limit, payload size); retry later or ask for less.
    ResourceExhausted,
    /// A bug or an unexpected state inside xlfeed.
    Internal,
}

impl ErrorKind {
    /// A short stable name, used in logs, metrics and JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::ResourceExhausted => "resource_exhausted",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors raised while parsing domain values in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    message: String,
}

impl ParseError {
    /// A parse error with a lowercase message that names the bad value.
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
        }
    }

    /// Parse errors are always the caller's bad argument.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}
