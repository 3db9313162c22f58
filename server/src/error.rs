//! The server's one error type: what went wrong, as an [`ErrorKind`], and a one-line message
//! naming the bad value. HTTP, gRPC and the batch endpoint all render it from here, so a
//! failure reads the same everywhere: an HTTP status, a gRPC code and the Excel error an
//! add-in cell shows (`#N/A` not found, `#VALUE!` bad argument, `#NUM!` no number, `#BUSY!`
//! retry later).

use xlfeed_core::ErrorKind;
use xlfeed_store::StoreError;

/// A failed call: its kind and a one-line message for the caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// One line naming the bad value or what is missing; never a stack trace or an
    /// internal detail.
    pub message: String,
    /// Set when the answer exists but has no number (`#NUM!`), e.g. a correlation of a
    /// constant series.
    pub no_number: bool,
    /// Set when the call itself is fine but was not answered for want of room (the batch's
    /// response budget, the server's memory for answers): sent again later, it can succeed.
    pub resend: bool,
    /// The HTTP status when it is not the kind's (404 for an unknown route, 405, 413, 415).
    pub status: Option<u16>,
    /// Seconds to wait before trying again, when the server knows (a key's rate limit, an
    /// address refused for failed authentications); HTTP `Retry-After`.
    pub retry_after: Option<u64>,
    /// For a refused credential: the `WWW-Authenticate` challenge HTTP sends with the 401.
    pub challenge: Option<&'static str>,
}

/// What a failure is on each surface: the HTTP status, the gRPC code and the Excel error.
/// Every surface reads it from [`ApiError::surfaces`], the one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surfaces {
    /// The HTTP status.
    pub http: u16,
    /// The gRPC status code.
    pub grpc: tonic::Code,
    /// The Excel error a cell shows.
    pub excel: &'static str,
}

/// Characters of an error message at most: a message names a bad value quoted short
/// ([`xlfeed_core::quoted`]), and this bounds whatever else may reach one.
pub const MAX_MESSAGE_CHARS: usize = 400;

/// `message`, cut to [`MAX_MESSAGE_CHARS`] and to one line.
fn one_short_line(message: String) -> String {
    if message.len() <= MAX_MESSAGE_CHARS && !message.contains(['\n', '\r']) {
        return message;
    }
    let mut out: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

/// Shorthand for results of query functions.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A bad argument (`#VALUE!`, HTTP 400).
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }

    /// Nothing there (`#N/A`, HTTP 404).
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotFound, message)
    }

    /// An answer without a number (`#NUM!`, HTTP 422).
    pub fn no_number(message: impl Into<String>) -> ApiError {
        ApiError {
            no_number: true,
            ..ApiError::new(ErrorKind::InvalidArgument, message)
        }
    }

    /// Too much asked at once, or too often (`#BUSY!`, HTTP 429 or 413).
    pub fn exhausted(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::ResourceExhausted, message)
    }

    /// Not allowed (HTTP 401/403).
    pub fn denied(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::PermissionDenied, message)
    }

    /// The server or a store cannot answer now; retry shortly (`#BUSY!`, HTTP 503).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Unavailable, message)
    }

    /// A call not answered for want of room, worth sending again later (`#BUSY!`, 429, marked
    /// `"resend": true`).
    pub fn resend(message: impl Into<String>) -> ApiError {
        ApiError {
            resend: true,
            ..ApiError::exhausted(message)
        }
    }

    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: one_short_line(message.into()),
            no_number: false,
            resend: false,
            status: None,
            retry_after: None,
            challenge: None,
        }
    }

    /// The caller did not say who it is, or not credibly (HTTP 401 with `challenge` as
    /// `WWW-Authenticate`, gRPC `UNAUTHENTICATED`).
    pub fn unauthenticated(message: impl Into<String>, challenge: &'static str) -> ApiError {
        ApiError {
            challenge: Some(challenge),
            ..ApiError::new(ErrorKind::Unauthenticated, message)
        }
    }

    /// The same failure, worth trying again in `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }

    /// The same failure, marked as worth sending again later.
    pub fn resendable(mut self) -> ApiError {
        self.resend = true;
        self
    }

    /// The same failure answered with HTTP `status`.
    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = Some(status);
        self
    }

    /// The failure on each surface: the one table from an error to an HTTP status, a gRPC
    /// code and an Excel error.
    pub fn surfaces(&self) -> Surfaces {
        use tonic::Code;
        let (http, grpc, excel) = if self.no_number {
            (422, Code::FailedPrecondition, "#NUM!")
        } else {
            match self.kind {
                ErrorKind::InvalidArgument => (400, Code::InvalidArgument, "#VALUE!"),
                ErrorKind::NotFound => (404, Code::NotFound, "#N/A"),
                ErrorKind::Unauthenticated => (401, Code::Unauthenticated, "#VALUE!"),
                ErrorKind::PermissionDenied => (403, Code::PermissionDenied, "#VALUE!"),
                ErrorKind::ResourceExhausted => (429, Code::ResourceExhausted, "#BUSY!"),
                ErrorKind::Unavailable => (503, Code::Unavailable, "#BUSY!"),
                _ => (500, Code::Internal, "#N/A"),
            }
        };
        Surfaces {
            http: self.status.unwrap_or(http),
            grpc,
            excel,
        }
    }

    /// The Excel error a cell shows for this failure.
    pub fn excel(&self) -> &'static str {
        self.surfaces().excel
    }

    /// A stable machine-readable code (`invalid_argument`, `not_found`, `no_number`, ...).
    pub fn code(&self) -> &'static str {
        if self.no_number {
            "no_number"
        } else {
            self.kind.as_str()
        }
    }

    /// The HTTP status of this failure.
    pub fn http_status(&self) -> u16 {
        self.surfaces().http
    }

    /// The error as JSON: `{"code", "excel", "message"}`, and `"resend": true` when sending
    /// the call again later can succeed.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "code": self.code(),
            "excel": self.excel(),
            "message": self.message,
        });
        if self.resend {
            v["resend"] = serde_json::Value::Bool(true);
        }
        v
    }
}

/// Logs a store error: a warning at most once a second (a store that is down or loading fails
/// every call), the rest at debug level.
fn log_store_error(e: &StoreError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SKIPPED: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now > last
        && LAST
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        let skipped = SKIPPED.swap(0, Ordering::AcqRel);
        tracing::warn!(error = %e, more_since_last = skipped, "store error");
    } else {
        SKIPPED.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %e, "store error");
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> tonic::Status {
        let code = e.surfaces().grpc;
        if code == tonic::Code::Internal {
            tracing::error!(kind = %e.kind, error = %e.message, "gRPC query failed");
            return tonic::Status::internal("the server failed; see its log");
        }
        tonic::Status::new(code, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let kind = e.kind();
        // A store's own detail (URLs, keys) stays in the log; the caller gets the gist.
        log_store_error(&e);
        let message = match kind {
            ErrorKind::Unavailable => "the store is unavailable; retry shortly".to_owned(),
            ErrorKind::Corrupt => "stored data failed its checksum; an administrator has been told (see the server log)".to_owned(),
            ErrorKind::InvalidArgument => e.to_string(),
            _ => "the store failed; see the server log".to_owned(),
        };
        let kind = if kind == ErrorKind::Corrupt {
            ErrorKind::Internal
        } else {
            kind
        };
        ApiError::new(kind, message)
    }
}

impl From<xlfeed_core::ParseError> for ApiError {
    fn from(e: xlfeed_core::ParseError) -> ApiError {
        ApiError::bad(e.to_string())
    }
}
