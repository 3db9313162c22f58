//! Administration over HTTP (`/admin/v1/...`, admin role only): what the stores hold, the
//! pipeline runs started in this process, and the effective configuration.
//!
//! | route | does |
//! |---|---|
//! | `GET /admin/v1/stats` | per dataset and kind: symbols, days, chunks, bytes |
//! | `GET /admin/v1/coverage?dataset=feed&kind=trade[&symbol=AAPL]` | per symbol: days present, first and last day, bytes |
//! | `POST /admin/v1/runs` `{"stage": "fetch", "args": ["--symbols", "AAPL", ...]}` | starts a run with the command line's options (`--feed`/`--post` default to this server's stores); 202 with its id |
//! | `GET /admin/v1/runs`, `GET /admin/v1/runs/{id}` | runs with their progress and, when ended, their reports |
//! | `DELETE /admin/v1/runs/{id}` | cancels a run (the units in flight finish and commit) |
//! | `GET /admin/v1/config` | the effective configuration, secrets redacted |

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use xlfeed_pipeline::runs::{RunControl, Stage, run_stage};
use xlfeed_store::{Dataset, Kind};

use super::state::AppState;
use crate::error::ApiError;

pub use crate::runs::Runs;

/// The admin routes (the caller puts them behind the admin role).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/stats", get(stats))
        .route("/admin/v1/coverage", get(coverage))
        .route("/admin/v1/runs", get(list_runs).post(start_run))
        .route("/admin/v1/runs/{id}", get(get_run).delete(cancel_run))
        .route("/admin/v1/config", get(config))
}

async fn stats(State(state): State<AppState>) -> Response {
    let mut out = serde_json::Map::new();
    for ds in [Dataset::Feed, Dataset::Post] {
        let store = state.query.data().store(ds);
        match store.stats(ds).await {
            Ok(s) => {
                let kinds: serde_json::Map<String, Value> = s
                    .kinds
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            json!({"symbols": v.series, "chunks": v.chunks, "bytes": v.bytes}),
                        )
                    })
                    .collect();
                out.insert(
                    ds.to_string(),
                    json!({"store": store.url(), "kinds": kinds, "disk_bytes": store.disk_space()}),
                );
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    Json(Value::Object(out)).into_response()
}

async fn coverage(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let r = async {
        let args = super::params::query_args(q.as_deref().unwrap_or_default())?;
        args.only("coverage", &["dataset", "kind", "symbol"])?;
        let ds = match args.opt_text("dataset")?.as_deref().unwrap_or("feed") {
            "feed" => Dataset::Feed,
            "post" => Dataset::Post,
            other => {
                return Err(ApiError::bad(format!(
                    "dataset {} is not feed or post",
                    xlfeed_core::quoted(other)
                )));
            }
        };
        let kind = Kind::parse(&args.text("kind")?).map_err(|e| ApiError::bad(e.to_string()))?;
        let data = state.query.data();
        let symbols = match args.opt_text("symbol")? {
            Some(_) => vec![args.symbol("symbol")?],
            None => data.symbols(ds, kind).await?,
        };
        let mut rows = Vec::new();
        for s in symbols {
            let days = data.all_days(ds, kind, &s).await?;
            let size = data.store(ds).series_stats(ds, kind, &s).await?;
            rows.push(json!({
                "symbol": s.to_string(),
                "days": days.len(),
                "bytes": size.bytes,
                "first_day": days.first().map(|d| d.to_string()),
                "last_day": days.last().map(|d| d.to_string()),
            }));
        }
        Ok(json!({"dataset": ds.to_string(), "kind": kind.to_string(), "symbols": rows}))
    }
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRun {
    stage: Stage,
    #[serde(default)]
    args: Vec<String>,
}

async fn start_run(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let req: StartRun = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::bad(format!(
                "the run must be {{\"stage\": \"fetch\"|\"postprocess\", \"args\": [...]}}: {}",
                e.to_string().chars().take(200).collect::<String>()
            ))
            .into_response();
        }
    };
    let mut args = req.args.clone();
    // The stores default to this server's own (the only ones a run may name).
    let data = state.query.data().clone();
    let mut defaults = vec![("--feed", data.store(Dataset::Feed).url().to_owned())];
    if req.stage == Stage::Postprocess {
        defaults.push(("--post", data.store(Dataset::Post).url().to_owned()));
    }
    for (flag, url) in defaults {
        let given = args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        if !given {
            args.push(flag.to_owned());
            args.push(url);
        }
    }
    if let Err(e) = state.runs.policy().check(req.stage, &args) {
        return ApiError::bad(e).into_response();
    }
    let mut control = RunControl::embedded(
        vec![
            data.store(Dataset::Feed).clone(),
            data.store(Dataset::Post).clone(),
        ],
        true,
    );
    control.no_report_file = true;
    let id = match state.runs.start(req.stage, &args, control.clone()) {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot record a run");
            return ApiError::unavailable("cannot record the run (see the server log)")
                .into_response();
        }
    };
    let stage = req.stage;
    let runs = state.runs.clone();
    tokio::spawn(async move {
        let r = run_stage(stage, &args, &control).await;
        // New or rewritten days: drop what the cache holds.
        data.invalidate();
        runs.finish(id, r.map_err(|e| format!("{e:#}")));
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "running"})),
    )
        .into_response()
}

async fn list_runs(State(state): State<AppState>) -> Response {
    Json(json!({"runs": state.runs.list()})).into_response()
}

fn find(state: &AppState, id: &str, f: impl FnOnce(&RunControl)) -> Response {
    let Ok(n) = id.parse::<u64>() else {
        return ApiError::bad(format!(
            "run id {} is not a number",
            xlfeed_core::quoted(id)
        ))
        .into_response();
    };
    match state.runs.with(n, f) {
        Some(v) => Json(v).into_response(),
        None => ApiError::not_found(format!("no run {n}")).into_response(),
    }
}

async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    find(&state, &id, |_| {})
}

async fn cancel_run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    find(&state, &id, RunControl::cancel)
}

async fn config(State(state): State<AppState>) -> Json<Value> {
    Json(state.config_view.as_ref().clone())
}
