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
    /// The caller did not say who it is, or not credibly (no key, a wrong key).
    Unauthenticated,
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
            ErrorKind::Unauthenticated => "unauthenticated",
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

/// Characters of a bad value an error message quotes at most.
pub const MAX_QUOTED_CHARS: usize = 100;

/// A value as an error message quotes it: in double quotes, control characters escaped, and
/// past [`MAX_QUOTED_CHARS`] cut with `…` and its length, so that hostile input (a 10 KB
/// symbol, a line of binary) never comes back whole in an answer or a log line.
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_QUOTED_CHARS * 2) + 2);
    out.push('"');
    for (count, c) in value.chars().enumerate() {
        if count == MAX_QUOTED_CHARS {
            out.push_str("…\"");
            out.push_str(&format!(" ({} characters)", value.chars().count()));
            return out;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_short_escaped_and_say_how_long_they_were() {
        assert_eq!(quoted("AAPL"), "\"AAPL\"");
        assert_eq!(quoted("a\"b\nc"), "\"a\\\"b\\nc\"");
        let long = "x".repeat(10_000);
        let q = quoted(&long);
        assert!(q.len() < 150, "{q}");
        assert!(q.ends_with("…\" (10000 characters)"), "{q}");
        assert_eq!(quoted(""), "\"\"");
    }
}
