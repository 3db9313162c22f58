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
pub mod limits;
mod openapi;
pub mod origin;
mod params;
mod report;
pub mod respond;
mod state;

pub use limits::Limits;
pub use report::{RECONCILE_PATH, is_report_path};
pub use respond::{error_response, panic_response};
pub use state::AppState;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use xlfeed_store::Dataset;

use crate::error::ApiError;
use crate::meter::Spend;
use crate::metrics::Metrics;
use crate::query::Args;
use params::query_args;
use respond::{Rendered, accepts_gzip, date_style};

/// The OpenAPI document `GET /openapi.json` serves.
pub fn openapi_document() -> Value {
    openapi::build()
}

/// The API and operational routes, without authentication (the caller layers it: see
/// [`router`]).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1", get(index))
        .route("/api/v1/batch", post(batch::batch))
        .route("/api/v1/batch.xlsx", post(batch::batch_xlsx))
        .route("/api/v1/report/{name}", get(report::named))
        .route(RECONCILE_PATH, post(report::reconcile))
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
    /// Seconds a workbook request may take ([`is_report_path`]).
    pub report_timeout_secs: u64,
    /// The body limit, to name in a 413.
    pub max_body: usize,
    /// The workbook upload limit, to name in a 413 on [`RECONCILE_PATH`].
    pub max_upload: usize,
}

/// The middleware of [`Edge`].
pub async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    if let Err(refused) = edge.guard.check(&req) {
        return *refused;
    }
    let method = req.method().clone();
    let uri = req.uri().clone();
    let secs = if is_report_path(uri.path()) {
        edge.report_timeout_secs
    } else {
        edge.timeout_secs
    };
    let r = match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            return ApiError::unavailable(format!(
                "the request took longer than {secs} s and was stopped: ask for less (a shorter range, fewer calls), or retry"
            ))
            .into_response();
        }
    };
    let (limit, limit_name) = if uri.path() == RECONCILE_PATH {
        (edge.max_upload, "reports.max_upload_bytes")
    } else {
        (edge.max_body, "limits.max_body_bytes")
    };
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
            "the request body is larger than {limit} bytes ({limit_name}): send less, or split it"
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
    if let Some(f) = function.strip_suffix(".xlsx") {
        return report::function(state, f, query).await;
    }
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
    let light = crate::query::function(&function).is_some_and(|f| !f.heavy);
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
