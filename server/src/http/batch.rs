//! `POST /api/v1/batch`: many calls in one request, as the add-in sends a recalculation
//! burst.
//!
//! `{"calls": [{"fn": "quote", "args": {"symbol": "AAPL"}}, ...], "dates": "iso"}` answers
//! `{"results": [...]}` in the calls' order, each `{"value": <table>}` or `{"error": {...}}`:
//! one bad call never fails the others. Identical calls run once; calls run on the query pool,
//! at most `batch_concurrency` at a time; each counts against the key's rate limit. At most
//! `max_batch_calls` calls (more is a 413 naming the count). The answers together stay within
//! `max_response_bytes`, enforced while they are computed: a call that would pass it stops at
//! once and is answered with a `resource_exhausted` error marked `"resend": true` (send it in
//! a later batch), and so is every call after it: the calls have the budget in their order,
//! an earlier call taking it from later ones still being computed, so a batch too large for
//! one response answers its first calls. A call
//! whose answer alone is larger than the budget is a bad argument (ask for less). When the
//! request times out or its client goes away, its calls stop.

use std::collections::HashMap;
use std::fmt;

use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use xlfeed_core::quoted;

use super::respond::{Rendered, accepts_gzip, date_style};
use super::state::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::meter::{Held, Spend};
use crate::query::Args;

pub(super) async fn batch(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let calls = match admitted(&state, principal, body).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let query = &state.query;
    let spend = Spend::new(state.limits.max_response_bytes, query.budget());
    let cancel = spend.cancel_on_drop();
    let gzip = accepts_gzip(&headers);
    let r = run(&state, calls, &spend, gzip).await;
    cancel.disarm();
    match r {
        Ok((rendered, held)) => rendered.respond(false, &headers, held),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/v1/batch.xlsx`: the same body, answered as one workbook (a sheet per call,
/// the errors on its About sheet; see [`crate::report`]).
pub(super) async fn batch_xlsx(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    body: axum::body::Bytes,
) -> Response {
    let calls = match admitted(&state, principal, body).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let Calls { unique, slots, .. } = calls;
    let calls = slots
        .into_iter()
        .map(|s| s.map(|u| unique[u].clone()))
        .collect();
    super::report::respond(state.reports.batch(calls).await)
}

/// The calls of a batch body, parsed (on the pool: a megabyte of JSON is CPU work too) and
/// charged to the caller's key: the request itself was counted when its key was checked, every
/// further call counts too.
async fn admitted(
    state: &AppState,
    principal: Option<Extension<Principal>>,
    body: axum::body::Bytes,
) -> Result<Calls, ApiError> {
    let st = state.clone();
    let calls = state
        .query
        .on_pool(async move { parse(&st, &body) })
        .await?;
    if let Some(Extension(p)) = &principal {
        state
            .auth
            .charge(p, calls.count.saturating_sub(1))
            .map_err(ApiError::from)?;
    }
    state.metrics.batch_calls.inc_by(calls.count as u64);
    Ok(calls)
}

/// A batch as parsed: the distinct calls to run, and for each call of the request which of
/// them answers it (or why it cannot run).
struct Calls {
    count: usize,
    unique: Vec<(String, Args)>,
    slots: Vec<Result<usize, ApiError>>,
}

fn parse(state: &AppState, body: &[u8]) -> Result<Calls, ApiError> {
    let req: Strict = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(format!(
            "the batch is not valid JSON: {}",
            e.to_string().chars().take(200).collect::<String>()
        ))
    })?;
    let Value::Object(mut req) = req.0 else {
        return Err(shape());
    };
    let calls = match req.remove("calls") {
        Some(Value::Array(c)) => c,
        _ => return Err(shape()),
    };
    let top_style = match req.remove("dates") {
        None | Some(Value::Null) => None,
        Some(v) => Some(date_style(&Args::from_json(&json!({ "dates": v }))?)?),
    };
    if let Some(k) = req.keys().next() {
        return Err(ApiError::bad(format!(
            "the batch has no field {} (it takes calls and dates)",
            quoted(k)
        )));
    }
    let limit = state.limits.max_batch_calls;
    if calls.len() > limit {
        return Err(ApiError::exhausted(format!(
            "a batch of {} calls is more than {limit}: split it",
            calls.len()
        ))
        .with_status(413));
    }
    // Identical calls (same function, same arguments) run once.
    let mut unique: Vec<(String, Args)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut slots = Vec::with_capacity(calls.len());
    for (i, c) in calls.iter().enumerate() {
        let parsed = (|| {
            let f = c
                .get("fn")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad(format!("call {i} has no \"fn\"")))?;
            let mut args = Args::from_json(c.get("args").unwrap_or(&Value::Null))?;
            if let Some(s) = top_style
                && args.opt_text("dates")?.is_none()
            {
                args.set("dates", s.name());
            }
            // A bad call is its own error at once: it needs no room in the answer, and is
            // not a call to resend when the budget cuts the calls after an earlier one.
            crate::query::checked(f, &args)?;
            date_style(&args)?;
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
    Ok(Calls {
        count: calls.len(),
        unique,
        slots,
    })
}

fn shape() -> ApiError {
    ApiError::bad(
        "the batch must be an object with \"calls\": [{\"fn\": ..., \"args\": {...}}, ...]",
    )
}

/// Runs the calls and renders the answer (on the query pool).
async fn run(
    state: &AppState,
    calls: Calls,
    spend: &std::sync::Arc<Spend>,
    gzip: bool,
) -> Result<(Rendered, Held), ApiError> {
    let query = state.query.clone();
    let answers: Vec<Result<(String, Held), ApiError>> = futures::stream::iter(calls.unique)
        .enumerate()
        .map(|(i, (f, args))| {
            let (query, spend) = (query.clone(), spend.clone());
            async move {
                // A call after one that needed the room is not worth computing.
                if let Some(e) = spend.is_cut(i) {
                    return Err(e);
                }
                let style = date_style(&args)?;
                query.answer(&f, &args, style, &spend, i).await
            }
        })
        .buffered(state.limits.batch_concurrency.max(1))
        // In the calls' order: the first calls have the budget first.
        .map(|r| {
            let r = r.and_then(|(json, meter)| {
                let held = meter.settle(json.len())?;
                Ok((json, held))
            });
            if let Err(e) = &r
                && e.resend
            {
                state.metrics.call_cut("budget");
            }
            r
        })
        .collect()
        .await;
    let slots = calls.slots;
    let spend = spend.clone();
    state
        .query
        .on_pool(async move {
            let mut held = Held::default();
            let total: usize = answers
                .iter()
                .map(|a| a.as_ref().map_or(256, |(j, _)| j.len() + 16))
                .sum();
            let mut out = String::with_capacity(total + 16);
            out.push_str("{\"results\":[");
            // Each answer was charged once; every further call it answers is charged again
            // (its copy is in the response too).
            let mut answered = vec![false; answers.len()];
            for (i, slot) in slots.iter().enumerate() {
                if i % 256 == 0 && spend.cancelled() {
                    return Err(crate::meter::cancelled());
                }
                if i > 0 {
                    out.push(',');
                }
                let result = match slot {
                    Err(e) => Err(e.clone()),
                    Ok(u) => match &answers[*u] {
                        Err(e) => Err(e.clone()),
                        Ok((j, _)) if !std::mem::replace(&mut answered[*u], true) => Ok(j),
                        Ok((j, _)) => spend.charge_copy(j.len()).map(|h| {
                            held.merge(h);
                            j
                        }),
                    },
                };
                match result {
                    Ok(j) => {
                        out.push_str("{\"value\":");
                        out.push_str(j);
                        out.push('}');
                    }
                    Err(e) => {
                        out.push_str(&json!({ "error": e.to_json() }).to_string());
                    }
                }
            }
            for (_, h) in answers.into_iter().flatten() {
                held.merge(h);
            }
            out.push_str("]}");
            Ok((Rendered::new(out, gzip, &spend)?, held))
        })
        .await
}

/// A JSON value parsed strictly: a key repeated in one object is an error naming it (serde_json
/// would keep the last silently).
struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format!(
                    "the key {} appears twice in one object",
                    quoted(&k)
                )));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_named() {
        let e = serde_json::from_str::<Strict>(
            r#"{"calls": [{"fn": "quote", "args": {"symbol": "A", "symbol": "B"}}]}"#,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("\"symbol\" appears twice"), "{e}");
        let ok = serde_json::from_str::<Strict>(r#"{"a": [1, 2.5, "x", null, true, {"b": -3}]}"#);
        assert_eq!(
            ok.map(|s| s.0).ok(),
            Some(json!({"a": [1, 2.5, "x", null, true, {"b": -3}]}))
        );
    }
}
