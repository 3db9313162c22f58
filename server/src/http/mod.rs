//! The HTTP side (axum on tower): the JSON API for the Excel add-in, the batch endpoint, the
//! OpenAPI document, health, readiness and metrics; admin routes live in [`admin`].
//!
//! Every tabular answer is `{"columns": [...], "rows": [[...], ...]}` (plus `"next"` when the
//! answer is a page); dates are Excel serial numbers unless `dates=iso` (or `serial1904`).
//! Errors are `{"error": {"code", "excel", "message"}}` with a 4xx status naming the bad
//! value; a bug becomes a generic 500 without details (they go to the log).

pub mod admin;
mod batch;
mod openapi;

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
    /// Seconds a request may take.
    pub request_timeout_secs: u64,
    /// Calls of one batch run at once.
    pub batch_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_batch_calls: 1000,
            max_body_bytes: 1 << 20,
            max_response_bytes: 5_000_000,
            request_timeout_secs: 30,
            batch_concurrency: 32,
        }
    }
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
}

/// The JSON error response of `e`.
pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, axum::Json(json!({"error": e.to_json()}))).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
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

/// Routes open to everyone: health, readiness, metrics, OpenAPI.
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::document))
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
        .map(|(n, p, d)| json!({"name": n, "parameters": p, "description": d}))
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
    let q = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = match serde_urlencoded_pairs(&q) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let args = Args::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let style = match date_style(&args) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    match state.query.call(&function, &args).await {
        Ok(table) => {
            let body = table.to_json(style).to_string();
            cached_json(body, historical(&function, &args), &headers)
        }
        Err(e) => e.into_response(),
    }
}

/// A JSON body with a strong ETag; `304` when the client has it; long-lived cache headers
/// for answers about the past.
pub(crate) fn cached_json(body: String, historical: bool, headers: &HeaderMap) -> Response {
    let digest = sha2::Sha256::digest(body.as_bytes());
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let cache = if historical {
        "private, max-age=86400"
    } else {
        "private, no-cache"
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
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

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::bad(format!("bad escape in the query string near \"{s}\""))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad(format!("query string \"{s}\" is not UTF-8")))
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
    (
        status,
        axum::Json(json!({"ready": ready, "stores": checks})),
    )
        .into_response()
}

/// `GET /metrics`.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
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
    }
}
