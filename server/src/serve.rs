//! Putting the server together: stores, cache, the HTTP router with its layers (metrics,
//! panics, compression, body and time limits, CORS, API keys), the gRPC services, TLS, and
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use xlfeed_store::Store;

use crate::auth::{Auth, Role};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::query::{Data, QueryService};

/// How often the keys file is read again.
const KEYS_RELOAD: Duration = Duration::from_secs(5);

/// A started server.
pub struct Running {
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Whether HTTP and gRPC use TLS.
    pub tls: bool,
    /// Whether API keys are required.
    pub auth: bool,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The base URL of the HTTP side.
    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.http_addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Opens the stores of `config` (one handle when both name the same embedded directory).
pub async fn open_stores(config: &Config) -> Result<(Store, Store)> {
    let feed = Store::open(&config.stores.feed).await.with_context(|| {
        format!(
            "cannot open the FEED store {}",
            crate::config::redact_url(&config.stores.feed)
        )
    })?;
    let post = if config.stores.post == config.stores.feed {
        feed.clone()
    } else {
        Store::open(&config.stores.post).await.with_context(|| {
            format!(
                "cannot open the POST store {}",
                crate::config::redact_url(&config.stores.post)
            )
        })?
    };
    Ok((feed, post))
}

/// The HTTP application: every route and layer, for `state` and `auth`.
pub fn app(state: AppState, auth: Auth, config: &Config) -> Result<Router> {
    let metrics = state.metrics.clone();
    let api = http::api_routes().layer(from_fn_with_state(
        (auth.clone(), Role::Analyst),
        crate::auth::require,
    ));
    let admin = http::admin::routes().layer(from_fn_with_state(
        (auth, Role::Admin),
        crate::auth::require,
    ));
    let mut router = Router::new()
        .merge(api)
        .merge(admin)
        .merge(http::open_routes());
    if let Some(addin) = crate::addin::routes(config) {
        router = router.merge(addin);
    }
    let limits = state.limits;
    Ok(router
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(limits.request_timeout_secs),
        ))
        .layer(crate::auth::cors(&config.security)?)
        .layer(CatchPanicLayer::custom(http::panic_response))
        .layer(from_fn_with_state(metrics, http::track)))
}

/// gRPC calls need an analyst key too (health and reflection stay open, for probes and
/// tools); a refusal is a gRPC status, not an HTTP one.
async fn grpc_auth(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
        return next.run(req).await;
    }
    match auth.check(req.headers(), Role::Analyst) {
        Ok(_) => next.run(req).await,
        Err(e) => tonic::Status::from(e)
            .into_http::<axum::body::Body>()
            .into_response(),
    }
}

/// Starts HTTP and gRPC on `config`'s addresses over `stores`.
pub async fn start(config: &Config, stores: (Store, Store)) -> Result<Running> {
    crate::tls::install_crypto_provider();
    let metrics = Arc::new(Metrics::new());
    let data = Data::new(
        stores.0,
        stores.1,
        config.cache.cache_config(),
        metrics.clone(),
    );
    let query = Arc::new(QueryService::new(data));
    let auth = Auth::new(&config.security)?;
    let mut http_addr: SocketAddr = config.server.http.parse()?;
    let mut grpc_addr: SocketAddr = config.server.grpc.parse()?;
    if !auth.enabled() {
        for (name, a) in [("HTTP", &mut http_addr), ("gRPC", &mut grpc_addr)] {
            if !a.ip().is_loopback() {
                tracing::warn!(
                    "no API keys configured: {name} binds to loopback only ({} instead of {}); add one with `xlserver keys add`",
                    SocketAddr::new([127, 0, 0, 1].into(), a.port()),
                    a
                );
                a.set_ip([127, 0, 0, 1].into());
            }
        }
        tracing::warn!(
            "no API keys configured: anyone on this machine may call every route, admin included"
        );
    }
    let report_dir = std::env::temp_dir().join("xlserver-runs");
    std::fs::create_dir_all(&report_dir).ok();
    let state = AppState {
        query: query.clone(),
        metrics: metrics.clone(),
        limits: config.limits,
        runs: Arc::new(http::admin::Runs::new(report_dir)),
        config_view: Arc::new(config.redacted()),
    };
    let router = app(state, auth.clone(), config)?;
    let grpc_router = crate::grpc::routes(query)
        .into_axum_router()
        .layer(from_fn_with_state(auth.clone(), grpc_auth))
        .layer(from_fn_with_state(metrics, http::track));

    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    // Keys added or revoked with `xlserver keys` take effect within KEYS_RELOAD.
    if config.security.keys_file.is_some() {
        let (auth, mut rx) = (auth.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(KEYS_RELOAD) => {
                        if let Err(e) = auth.reload() {
                            tracing::warn!(error = %format!("{e:#}"), "keeping the API keys loaded before");
                        }
                    }
                    _ = rx.changed() => break,
                }
            }
        }));
    }
    let tls = config.tls.is_some();
    let http_listener = std::net::TcpListener::bind(http_addr)
        .with_context(|| format!("cannot listen on {http_addr} (HTTP)"))?;
    let grpc_listener = std::net::TcpListener::bind(grpc_addr)
        .with_context(|| format!("cannot listen on {grpc_addr} (gRPC)"))?;
    let http_addr = http_listener.local_addr()?;
    let grpc_addr = grpc_listener.local_addr()?;
    for (listener, router) in [(http_listener, router), (grpc_listener, grpc_router)] {
        listener.set_nonblocking(true)?;
        let mut rx = rx.clone();
        match &config.tls {
            Some(t) => {
                let rustls = crate::tls::axum_config(t).await?;
                let handle = axum_server::Handle::new();
                let h2 = handle.clone();
                tasks.push(tokio::spawn(async move {
                    let _ = rx.changed().await;
                    h2.graceful_shutdown(Some(Duration::from_secs(10)));
                }));
                let server = axum_server::from_tcp_rustls(listener, rustls)?.handle(handle);
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = server.serve(router.into_make_service()).await {
                        tracing::error!(error = %e, "server stopped");
                    }
                }));
            }
            None => {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                tasks.push(tokio::spawn(async move {
                    let r = axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = rx.changed().await;
                        })
                        .await;
                    if let Err(e) = r {
                        tracing::error!(error = %e, "server stopped");
                    }
                }));
            }
        }
    }
    Ok(Running {
        http_addr,
        grpc_addr,
        tls,
        auth: auth.enabled(),
        shutdown: tx,
        tasks,
    })
}
