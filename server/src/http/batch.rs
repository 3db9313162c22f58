//! `POST /api/v1/batch`: many calls in one request, as the add-in sends a recalculation
//! burst.
//!
//! `{"calls": [{"fn": "quote", "args": {"symbol": "AAPL"}}, ...], "dates": "iso"}` answers
//! `{"results": [...]}` in the calls' order, each `{"value": <table>}` or `{"error": {...}}`:
//! one bad call never fails the others. Identical calls run once. Calls run concurrently (at
//! most `batch_concurrency` at a time). At most `max_batch_calls` calls (more is a 413
//! naming the count); answers past `max_response_bytes` in total are replaced by a
//! `resource_exhausted` error marked `"resend": true`, telling the caller to send the call in
//! a later batch or page.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{AppState, date_style};
use crate::error::ApiError;
use crate::query::Args;

pub(super) async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match run(&state, &body).await {
        Ok(v) => super::cached_json(v.to_string(), false, &headers),
        Err(e) => {
            let mut r = e.clone().into_response();
            if e.message.starts_with("a batch of") {
                *r.status_mut() = axum::http::StatusCode::PAYLOAD_TOO_LARGE;
            }
            r
        }
    }
}

async fn run(state: &AppState, body: &[u8]) -> Result<Value, ApiError> {
    let req: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the batch is not valid JSON: {e}")))?;
    let Some(calls) = req.get("calls").and_then(Value::as_array) else {
        return Err(ApiError::bad(
            "the batch must be an object with \"calls\": [{\"fn\": ..., \"args\": {...}}, ...]",
        ));
    };
    let limit = state.limits.max_batch_calls;
    if calls.len() > limit {
        return Err(ApiError::exhausted(format!(
            "a batch of {} calls is more than {limit}: split it",
            calls.len()
        )));
    }
    state.metrics.batch_calls.inc_by(calls.len() as u64);
    let top_style = match req.get("dates") {
        None | Some(Value::Null) => None,
        Some(v) => Some(date_style(&Args::from_json(&json!({ "dates": v }))?)?),
    };
    // Parse every call; identical ones (same function, same arguments) run once.
    let mut unique: Vec<(String, Args)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut slots: Vec<Result<usize, ApiError>> = Vec::with_capacity(calls.len());
    for (i, c) in calls.iter().enumerate() {
        let parsed = (|| {
            let f = c
                .get("fn")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad(format!("call {i} has no \"fn\"")))?;
            let args = Args::from_json(c.get("args").unwrap_or(&Value::Null))?;
            Ok::<_, ApiError>((f.to_owned(), args))
        })();
        slots.push(parsed.map(|(f, args)| {
            let key = format!("{f}\u{0}{}", args.to_json());
            *index.entry(key).or_insert_with(|| {
                unique.push((f, args));
                unique.len() - 1
            })
        }));
    }
    let query = state.query.clone();
    let answers: Vec<Result<Value, ApiError>> = futures::stream::iter(unique)
        .map(|(f, args)| {
            let query = query.clone();
            async move {
                let style = match top_style {
                    Some(s) if args.opt_text("dates")?.is_none() => s,
                    _ => date_style(&args)?,
                };
                query.call(&f, &args).await.map(|t| t.to_json(style))
            }
        })
        .buffered(state.limits.batch_concurrency.max(1))
        .collect()
        .await;
    // Sizes, so that the total stays under the payload limit.
    let sizes: Vec<usize> = answers
        .iter()
        .map(|a| match a {
            Ok(v) => v.to_string().len(),
            Err(_) => 200,
        })
        .collect();
    let mut budget = state.limits.max_response_bytes;
    let mut results = Vec::with_capacity(slots.len());
    for slot in slots {
        let r = match slot {
            Err(e) => json!({"error": e.to_json()}),
            Ok(u) => match &answers[u] {
                Err(e) => json!({"error": e.to_json()}),
                Ok(v) if sizes[u] <= budget => {
                    budget -= sizes[u];
                    json!({"value": v})
                }
                Ok(_) => {
                    let mut e = ApiError::exhausted(format!(
                        "the answers of this batch exceed {} bytes: send this call in a later batch, or ask for less (a shorter range, fewer fields, a smaller limit)",
                        state.limits.max_response_bytes
                    ))
                    .to_json();
                    // The call itself is fine: a client may resend it in another batch.
                    e["resend"] = json!(true);
                    json!({"error": e})
                }
            },
        };
        results.push(r);
    }
    Ok(json!({"results": results}))
}
