//! How answers and errors leave the server: the JSON error of an [`ApiError`] (with its
//! `Retry-After` and `WWW-Authenticate`), a panic as a generic 500, and a rendered answer
//! ([`Rendered`]: gzip when the client takes it, strong ETag, 304, cache headers, the body
//! holding its share of the answer budget until sent).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::Digest;

use crate::error::ApiError;
use crate::meter::{Held, Spend};
use crate::query::Args;
use crate::table::DateStyle;

/// The JSON error response of `e`.
pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, axum::Json(json!({"error": e.to_json()}))).into_response();
    let headers = r.headers_mut();
    if let Some(secs) = e.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    } else if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Some(challenge) = e.challenge {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}

/// Turns a handler panic into a generic 500 (the panic goes to the log, not the caller).
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    tracing::error!(panic = %what, "a request handler panicked");
    error_response(&ApiError::new(
        xlfeed_core::ErrorKind::Internal,
        "internal error; see the server log",
    ))
}

/// The `dates` style of a request.
pub(crate) fn date_style(args: &Args) -> Result<DateStyle, ApiError> {
    match args.opt_text("dates")? {
        None => Ok(DateStyle::Serial),
        Some(s) => DateStyle::parse(&s).map_err(ApiError::bad),
    }
}

/// Whether the client takes gzip (`Accept-Encoding: gzip`, not with `q=0`).
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !q_zero
        })
}

/// Answers smaller than this go uncompressed.
const GZIP_MIN_BYTES: usize = 1024;

/// An answer ready to send: JSON, gzip-compressed when the client takes it, with its strong
/// ETag. Made on the query pool: hashing and compressing megabytes is CPU work.
pub(crate) struct Rendered {
    body: axum::body::Bytes,
    gzip: bool,
    etag: String,
}

impl Rendered {
    /// Hashes and (when `gzip` and worth it) compresses `json`, a megabyte at a time, giving
    /// up when `spend`'s request is no longer wanted.
    pub(crate) fn new(json: String, gzip: bool, spend: &Spend) -> Result<Rendered, ApiError> {
        use std::io::Write;
        const PIECE: usize = 1 << 20;
        let gzip = gzip && json.len() >= GZIP_MIN_BYTES;
        let mut hash = sha2::Sha256::new();
        let mut enc = gzip.then(|| {
            flate2::write::GzEncoder::new(
                Vec::with_capacity(json.len() / 4),
                flate2::Compression::fast(),
            )
        });
        for piece in json.as_bytes().chunks(PIECE) {
            if spend.cancelled() {
                return Err(crate::meter::cancelled());
            }
            hash.update(piece);
            if let Some(e) = &mut enc {
                let _ = e.write_all(piece);
            }
        }
        let digest = hash.finalize();
        let mut etag = format!("\"{}", hex::encode(&digest[..16]));
        let body = match enc {
            Some(e) => {
                etag.push_str("-gzip");
                e.finish().unwrap_or_default().into()
            }
            None => json.into_bytes().into(),
        };
        etag.push('"');
        Ok(Rendered { body, gzip, etag })
    }

    /// The response: `304` when the client has it; long-lived cache headers for answers
    /// about the past. `held` (its share of the server's answer budget) goes with the body.
    pub(crate) fn respond(self, historical: bool, headers: &HeaderMap, held: Held) -> Response {
        let cache = if historical {
            "private, max-age=86400"
        } else {
            "private, no-cache"
        };
        let matches = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == self.etag || t.trim() == "*")
            });
        let mut r = if matches {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = Response::new(Body::new(HeldBody {
                data: Some(self.body),
                _held: held,
            }));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if self.gzip {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        };
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        r
    }
}

/// A response body holding its share of the server's answer budget until it is sent: given
/// out in frames of [`FRAME`] bytes, so that the share is let go only once the connection has
/// taken the last of it (and a client that stops reading is seen as stalled).
struct HeldBody {
    data: Option<axum::body::Bytes>,
    _held: Held,
}

/// Bytes of one frame of an answer's body.
const FRAME: usize = 64 << 10;

impl http_body::Body for HeldBody {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let frame = match &mut self.data {
            Some(d) if d.len() > FRAME => Some(d.split_to(FRAME)),
            _ => self.data.take(),
        };
        std::task::Poll::Ready(frame.map(|d| Ok(http_body::Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
