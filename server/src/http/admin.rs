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

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use xlfeed_pipeline::runs::{RunControl, Stage, check_args, run_stage};
use xlfeed_store::{Dataset, Kind};

use super::AppState;
use crate::error::ApiError;

/// One run started through the admin API.
struct Run {
    id: u64,
    stage: Stage,
    args: Vec<String>,
    started: chrono::DateTime<chrono::Utc>,
    control: RunControl,
    /// `None` while running; the exit code (or the error) once ended.
    ended: Option<Result<u8, String>>,
}

/// The runs of this process.
#[derive(Default)]
pub struct Runs {
    runs: Mutex<Vec<Run>>,
    /// Where run reports are written.
    report_dir: std::path::PathBuf,
}

impl Runs {
    /// Runs whose reports go under `report_dir`.
    pub fn new(report_dir: std::path::PathBuf) -> Runs {
        Runs {
            runs: Mutex::default(),
            report_dir,
        }
    }

    fn view(r: &Run) -> Value {
        let c = &r.control.counters;
        let (status, code) = match &r.ended {
            None if r.control.stop.load(Ordering::SeqCst) => ("cancelling", Value::Null),
            None => ("running", Value::Null),
            Some(Ok(0)) => ("complete", json!(0)),
            Some(Ok(130)) => ("cancelled", json!(130)),
            Some(Ok(code)) => ("ended with errors", json!(code)),
            Some(Err(_)) => ("failed", Value::Null),
        };
        let report = r.control.report.lock().ok().and_then(|g| g.clone());
        json!({
            "id": r.id,
            "stage": r.stage,
            "args": r.args.iter().map(|a| crate::config::redact_url(a)).collect::<Vec<_>>(),
            "started": r.started.to_rfc3339(),
            "status": status,
            "exit_code": code,
            "error": r.ended.as_ref().and_then(|e| e.as_ref().err()),
            "progress": {
                "units_total": c.total.load(Ordering::Relaxed),
                "units_done": c.done.load(Ordering::Relaxed),
                "rows": c.rows.load(Ordering::Relaxed),
            },
            "report": report,
        })
    }
}

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

#[derive(serde::Deserialize)]
struct CoverageQuery {
    dataset: Option<String>,
    kind: String,
    symbol: Option<String>,
}

async fn coverage(State(state): State<AppState>, Query(q): Query<CoverageQuery>) -> Response {
    let r = async {
        let ds = match q.dataset.as_deref().unwrap_or("feed") {
            "feed" => Dataset::Feed,
            "post" => Dataset::Post,
            other => {
                return Err(ApiError::bad(format!(
                    "dataset \"{other}\" is not feed or post"
                )));
            }
        };
        let kind = Kind::parse(&q.kind).map_err(|e| ApiError::bad(e.to_string()))?;
        let data = state.query.data();
        let symbols = match &q.symbol {
            Some(s) => vec![xlfeed_core::Symbol::parse(s)?],
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
                "the run must be {{\"stage\": \"fetch\"|\"postprocess\", \"args\": [...]}}: {e}"
            ))
            .into_response();
        }
    };
    let mut args = req.args.clone();
    // The stores default to this server's own (a run's --feed/--post may name others).
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
    let runs = state.runs.clone();
    let id = {
        let Ok(list) = runs.runs.lock() else {
            return ApiError::new(xlfeed_core::ErrorKind::Internal, "run registry unavailable")
                .into_response();
        };
        list.len() as u64 + 1
    };
    if !args
        .iter()
        .any(|a| a == "--report" || a.starts_with("--report="))
    {
        let path = runs
            .report_dir
            .join(format!("{}-run-{id}.json", req.stage.name()));
        args.push("--report".into());
        args.push(path.display().to_string());
    }
    if let Err(e) = check_args(req.stage, &args) {
        return ApiError::bad(e).into_response();
    }
    let control = RunControl::embedded(
        vec![
            data.store(Dataset::Feed).clone(),
            data.store(Dataset::Post).clone(),
        ],
        true,
    );
    {
        let Ok(mut list) = runs.runs.lock() else {
            return ApiError::new(xlfeed_core::ErrorKind::Internal, "run registry unavailable")
                .into_response();
        };
        list.push(Run {
            id,
            stage: req.stage,
            args: args.clone(),
            started: chrono::Utc::now(),
            control: control.clone(),
            ended: None,
        });
    }
    let stage = req.stage;
    let runs2 = runs.clone();
    tokio::spawn(async move {
        let r = run_stage(stage, &args, &control).await;
        // New or rewritten days: drop what the cache holds.
        data.invalidate();
        if let Ok(mut list) = runs2.runs.lock()
            && let Some(run) = list.iter_mut().find(|r| r.id == id)
        {
            run.ended = Some(r.map_err(|e| format!("{e:#}")));
        }
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "running"})),
    )
        .into_response()
}

async fn list_runs(State(state): State<AppState>) -> Response {
    match state.runs.runs.lock() {
        Ok(list) => {
            Json(json!({"runs": list.iter().map(Runs::view).collect::<Vec<_>>()})).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn find(state: &AppState, id: &str, f: impl FnOnce(&Run) -> Value) -> Response {
    let Ok(n) = id.parse::<u64>() else {
        return ApiError::bad(format!("run id \"{id}\" is not a number")).into_response();
    };
    let Ok(list) = state.runs.runs.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match list.iter().find(|r| r.id == n) {
        Some(r) => Json(f(r)).into_response(),
        None => ApiError::not_found(format!("no run {n}")).into_response(),
    }
}

async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    find(&state, &id, Runs::view)
}

async fn cancel_run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    find(&state, &id, |r| {
        r.control.cancel();
        Runs::view(r)
    })
}

async fn config(State(state): State<AppState>) -> Json<Value> {
    Json(state.config_view.as_ref().clone())
}
