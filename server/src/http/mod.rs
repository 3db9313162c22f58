//! The HTTP side (axum on tower): the JSON API for the Excel add-in, the batch endpoint, the
//! OpenAPI document, health, readiness and metrics; admin routes live in [`admin`].
//!
//! Every tabular answer is `{"columns": [...], "rows": [[...], ...]}` (plus `"next"` when the
//! answer is a page); dates are Excel serial numbers unless `dates=iso` (or `serial1904`).
//! Errors are `{"error": {"code", "excel", "message"}}` with a 4xx status naming the bad
//! value; a bug becomes a generic 500 without details (they go to the log).

pub mod addin;
pub mod admin;
mod batch;
pub mod cors;
pub mod guard;
mod openapi;
pub mod origin;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::Digest;
use xlfeed_store::Dataset;

use crate::error::ApiError;
use crate::meter::{Held, Spend};
use crate::metrics::Metrics;
use crate::query::{Args, QueryService};
use crate::table::DateStyle;

/// Limits on what one request may ask.
#[derive(Debug, Clone, Copy, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Calls in one batch at most.
    pub max_batch_calls: usize,
    /// Request body bytes at most.
    pub max_body_bytes: usize,
    /// Answer bytes of one batch at most (Excel on the web caps a payload at 5 MB): calls
    /// past it get a `resource_exhausted` error saying how to page instead.
    pub max_response_bytes: usize,
    /// Seconds a request may take; past it, 503 and its work stops.
    pub request_timeout_secs: u64,
    /// Calls of one batch run at once.
    pub batch_concurrency: usize,
    /// Answer bytes held in memory at once by all the calls being answered and the answers
    /// not yet sent; a call that would pass it stops with 503 (`"resend": true` in a batch).
    pub max_answers_in_flight_bytes: usize,
    /// Threads that compute answers (0: one per core), apart from those serving connections.
    pub query_threads: usize,
    /// Seconds a client has to send a request's header, from its first byte (or from
    /// connecting, for a new connection).
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay open with nothing in flight.
    pub idle_timeout_secs: u64,
    /// Connections at once (0: most of the open-file limit, at most 10,000). Over it the
    /// connection idle the longest is closed, or, when all are busy, the new one gets 503.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_calls: 1000,
            max_body_bytes: 1 << 20,
            max_response_bytes: 5_000_000,
            request_timeout_secs: 30,
            batch_concurrency: 32,
            max_answers_in_flight_bytes: crate::query::DEFAULT_ANSWER_BUDGET,
            query_threads: 0,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 0,
        }
    }
}

/// The OpenAPI document `GET /openapi.json` serves.
pub fn openapi_document() -> Value {
    openapi::build()
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The queries.
    pub query: Arc<QueryService>,
    /// Metrics, rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Request limits.
    pub limits: Limits,
    /// In-process pipeline runs (admin).
    pub runs: Arc<admin::Runs>,
    /// The effective configuration, redacted, for `/admin/v1/config`.
    pub config_view: Arc<Value>,
    /// Keys and rate limits (a batch counts each of its calls).
    pub auth: crate::auth::Auth,
}

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

/// The API and operational routes, without authentication (the caller layers it: see
/// [`router`]).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1", get(index))
        .route("/api/v1/batch", post(batch::batch))
        .route("/api/v1/{function}", get(call))
}

/// Routes open to everyone: health, readiness, OpenAPI.
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::document))
}

/// `/metrics` (Prometheus), on the API listener or one of its own.
pub fn metrics_routes<S: Clone + Send + Sync + 'static>() -> Router<S>
where
    Arc<Metrics>: axum::extract::FromRef<S>,
{
    Router::new().route("/metrics", get(metrics))
}

/// Counts every request by route and status.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let r = next.run(req).await;
    metrics.request(&route, r.status().as_u16(), started.elapsed().as_secs_f64());
    r
}

/// What every HTTP request passes first, in one layer (one boxed service, not three): the
/// browser checks of [`guard::Guard`]; the request timeout (a request still running after
/// `limits.request_timeout_secs` is answered 503 with `Retry-After`, and dropping its
/// handler's future cancels its calls on the query pool); and complete errors (the plain or
/// empty refusals of the router and its layers, such as an unknown route, a method not
/// allowed or a body over the limit, rewritten as the JSON error, keeping status and headers).
#[derive(Debug, Clone)]
pub struct Edge {
    /// Hosts and origins.
    pub guard: Arc<guard::Guard>,
    /// Seconds a request may take.
    pub timeout_secs: u64,
    /// The body limit, to name in a 413.
    pub max_body: usize,
}

/// The middleware of [`Edge`].
pub async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    if let Err(refused) = edge.guard.check(&req) {
        return *refused;
    }
    let method = req.method().clone();
    let uri = req.uri().clone();
    let secs = edge.timeout_secs;
    let r = match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            return ApiError::unavailable(format!(
                "the request took longer than {secs} s and was stopped: ask for less (a shorter range, fewer calls), or retry"
            ))
            .into_response();
        }
    };
    let max_body = edge.max_body;
    let status = r.status();
    let json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return r;
    }
    let (mut parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .unwrap_or_default();
    let path = xlfeed_core::quoted(uri.path());
    let e = match status {
        StatusCode::NOT_FOUND => ApiError::not_found(format!("no route {method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::bad(format!("{method} is not allowed on {path}"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::exhausted(format!(
            "the request body is larger than {max_body} bytes (limits.max_body_bytes): send less, or split it"
        )),
        s if s.is_server_error() => ApiError::new(
            if s == StatusCode::INTERNAL_SERVER_ERROR {
                xlfeed_core::ErrorKind::Internal
            } else {
                xlfeed_core::ErrorKind::Unavailable
            },
            s.canonical_reason().unwrap_or("server error"),
        ),
        s => ApiError::bad(if text.trim().is_empty() {
            s.canonical_reason().unwrap_or("bad request").to_owned()
        } else {
            text.trim().to_owned()
        }),
    }
    .with_status(status.as_u16());
    let fresh = error_response(&e);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    for (k, v) in fresh.headers() {
        if !parts.headers.contains_key(k) {
            parts.headers.insert(k.clone(), v.clone());
        }
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, fresh.into_body())
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

/// `GET /api/v1`: the server's version and functions.
async fn index() -> axum::Json<Value> {
    let functions: Vec<Value> = crate::query::FUNCTIONS
        .iter()
        .map(crate::query::Function::to_json)
        .collect();
    axum::Json(json!({
        "server": "xlserver",
        "version": env!("CARGO_PKG_VERSION"),
        "functions": functions,
    }))
}

/// The `dates` style of a request.
pub(crate) fn date_style(args: &Args) -> Result<DateStyle, ApiError> {
    match args.opt_text("dates")? {
        None => Ok(DateStyle::Serial),
        Some(s) => DateStyle::parse(&s).map_err(ApiError::bad),
    }
}

/// Whether an answer for `args` can only change if history is rewritten: every date it
/// names is before today (New York).
fn historical(function: &str, args: &Args) -> bool {
    let today = crate::query::data::today();
    let last = match function {
        "history" | "ticks" | "compare" | "option" | "dividends" => args.day("end").ok().flatten(),
        "chain" | "rate" => args.day("date").ok().flatten(),
        "quote" => args.day("at").ok().flatten(),
        _ => None,
    };
    matches!((last, today), (Some(l), Some(t)) if l < t)
}

/// `GET /api/v1/{function}?...`.
async fn call(
    State(state): State<AppState>,
    Path(function): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let args = match query_args(query.as_deref().unwrap_or_default()) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let style = match date_style(&args) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let query = &state.query;
    let spend = Spend::new(query.budget().bytes(), query.budget());
    let cancel = spend.cancel_on_drop();
    let gzip = accepts_gzip(&headers);
    // The call, its JSON, its hash and compression: on the pool in one trip when the function
    // may be heavy, here when it is light.
    let (q, f, a, sp) = (query.clone(), function.clone(), args.clone(), spend.clone());
    let work = async move {
        let (json, meter) = q.answer_here(&f, &a, style, &sp, 0).await?;
        let held = meter.settle(json.len())?;
        Ok((Rendered::new(json, gzip, &sp)?, held))
    };
    let light = crate::query::functions::function(&function).is_some_and(|f| !f.heavy);
    let answered = if light {
        work.await
    } else {
        query.on_pool(work).await
    };
    cancel.disarm();
    match answered {
        Ok((rendered, held)) => rendered.respond(historical(&function, &args), &headers, held),
        Err(e) => e.into_response(),
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

/// The arguments of a query string (names without regard to case, each at most once).
pub(crate) fn query_args(q: &str) -> Result<Args, ApiError> {
    let pairs = serde_urlencoded_pairs(q)?;
    Args::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Decodes `a=1&b=x%20y` into pairs; a malformed escape is a 400 naming it.
fn serde_urlencoded_pairs(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(out)
}

/// One name or value of a query string: `+` is a space, `%XX` a byte (two hex digits, strictly:
/// `%+A` is a bad escape, not a newline), and the bytes UTF-8.
fn percent_decode(s: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let bad_escape = b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return Err(ApiError::bad(format!(
            "bad escape in the query string near {}",
            xlfeed_core::quoted(s)
        )));
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            ApiError::bad(format!(
                "query string {} is not UTF-8",
                xlfeed_core::quoted(s)
            ))
        })
}

/// `GET /readyz`: both stores answer within two seconds.
async fn readyz(State(state): State<AppState>) -> Response {
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    for ds in [Dataset::Feed, Dataset::Post] {
        let store = state.query.data().store(ds).clone();
        let r = tokio::time::timeout(Duration::from_secs(2), store.kinds(ds)).await;
        let ok = matches!(r, Ok(Ok(_)));
        ready &= ok;
        checks.insert(ds.to_string(), json!(if ok { "ok" } else { "unreachable" }));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut r = (
        status,
        axum::Json(json!({"ready": ready, "stores": checks})),
    )
        .into_response();
    if !ready {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// `GET /metrics`.
async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

impl axum::extract::FromRef<AppState> for Arc<Metrics> {
    fn from_ref(s: &AppState) -> Arc<Metrics> {
        s.metrics.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_and_bad_escapes_are_named() {
        let p = serde_urlencoded_pairs("symbol=AAPL&fields=open%2Cclose&x=a+b").unwrap();
        assert_eq!(p[1], ("fields".into(), "open,close".into()));
        assert_eq!(p[2].1, "a b");
        let e = serde_urlencoded_pairs("symbol=%ZZ").unwrap_err();
        assert!(e.message.contains("%ZZ"), "{}", e.message);
        // u8::from_str_radix takes a sign: "%+A" once decoded to a newline.
        for bad in ["%+A", "%-1", "%2", "%", "a%%20", "%\u{e9}0"] {
            let e = serde_urlencoded_pairs(&format!("symbol={bad}")).unwrap_err();
            assert!(e.message.contains("bad escape"), "{bad}: {}", e.message);
        }
        assert_eq!(serde_urlencoded_pairs("s=%2B+%2b").unwrap()[0].1, "+ +");
        let e = serde_urlencoded_pairs("s=%FF").unwrap_err();
        assert!(e.message.contains("UTF-8"), "{}", e.message);
    }
}
