//! Workbooks over HTTP (see [`crate::report`]).
//!
//! The convention: a path ending in `.xlsx` answers a workbook, every other path JSON.
//!
//! | route | answers |
//! |---|---|
//! | `GET /api/v1/{function}.xlsx?...` | the function's answer as a workbook (same parameters as JSON; `ticks` is not paged) |
//! | `POST /api/v1/batch.xlsx` | the batch body of `/api/v1/batch`, a sheet per call |
//! | `GET /api/v1/report/{name}.xlsx?...` | a named report with charts |
//!
//! A workbook is built in full (to a temporary file) before its first byte is sent, so an
//! error is still an ordinary JSON error with its status; then the file streams out.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::params::query_args;
use super::state::AppState;
use crate::error::{ApiError, ApiResult};
use crate::report::{Built, XLSX};

/// The reconciliation route: its body (a workbook) is limited by `reports.max_upload_bytes`.
pub const RECONCILE_PATH: &str = "/api/v1/reconcile";

/// Whether `path` is one of the routes above (or reconciliation): they get
/// `reports.timeout_secs` rather than the request timeout.
pub fn is_report_path(path: &str) -> bool {
    path.ends_with(".xlsx") || path.starts_with("/api/v1/report/") || path == RECONCILE_PATH
}

/// `GET /api/v1/{function}.xlsx` (the router hands `call` the name with its suffix).
pub(super) async fn function(state: AppState, function: &str, query: Option<String>) -> Response {
    let args = match query_args(query.as_deref().unwrap_or_default()) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    respond(state.reports.function(function, &args).await)
}

/// `GET /api/v1/report/{name}.xlsx`.
pub(super) async fn named(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let args = match query_args(query.as_deref().unwrap_or_default()) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let name = name.strip_suffix(".xlsx").unwrap_or(&name);
    respond(state.reports.named(name, &args).await)
}

/// A built workbook as the response (streamed from its file), or the error.
pub(super) fn respond(built: ApiResult<Built>) -> Response {
    let built = match built {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let file = tokio::fs::File::from_std(built.file);
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 << 10));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(XLSX));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(built.len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", built.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `POST /api/v1/reconcile?symbol=&abs_tol=&rel_tol=&map=&at=&date=&format=json|xlsx`: the
/// body is an analyst's workbook (xlsx, xlsm, xls, ods or csv), its history, quote and chain
/// tables compared with what the FEED and POST stores answer (`xlfeed_pipeline::reconcile`).
/// Answers the JSON summary, or with `format=xlsx` their sheet annotated and a Differences
/// sheet. A body over `reports.max_upload_bytes` is a 413 naming the limit; a file that is
/// not a readable workbook, a 400 naming the problem.
pub(super) async fn reconcile(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    use xlfeed_pipeline::reconcile::{Options, ReconcileError, Stores, reconcile_owned};
    let limits = state.reports.limits().clone();
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let mut opts = match Options::from_pairs(pairs) {
        Ok(o) => o,
        Err(e) => return ApiError::bad(e.to_string()).into_response(),
    };
    opts.max_uncompressed_bytes = opts
        .max_uncompressed_bytes
        .min(limits.max_upload_bytes as u64 * 20);
    opts.max_cells = opts.max_cells.min(limits.max_cells);
    let bytes = match axum::body::to_bytes(body, limits.max_upload_bytes).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return ApiError::exhausted(format!(
                "the workbook is larger than {} bytes (reports.max_upload_bytes)",
                limits.max_upload_bytes
            ))
            .with_status(413)
            .into_response();
        }
    };
    // Read before taking a slot, so a slow upload holds a connection, not a slot.
    let _slot = match state.reports.permit() {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let data = state.query.data();
    let stores = Stores {
        feed: data.store(xlfeed_store::Dataset::Feed).clone(),
        post: Some(data.store(xlfeed_store::Dataset::Post).clone()),
    };
    let want_xlsx = opts.want_xlsx;
    match reconcile_owned(bytes, opts, stores).await {
        Ok(out) => match (want_xlsx, out.xlsx) {
            (true, Some(x)) => {
                let mut r = Response::new(Body::from(x));
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(XLSX));
                h.insert(
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"reconciled.xlsx\""),
                );
                r
            }
            _ => axum::Json(out.summary).into_response(),
        },
        Err(ReconcileError::TooLarge(m)) => ApiError::exhausted(m).with_status(413).into_response(),
        Err(ReconcileError::BadInput(m)) => ApiError::bad(m).into_response(),
        Err(e) => ApiError::new(e.kind(), e.to_string()).into_response(),
    }
}
