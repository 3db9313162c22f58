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
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::limit::RequestBodyLimitLayer;
use xlfeed_store::Store;

use crate::auth::{Auth, Role};
use crate::config::Config;
use crate::http::guard::Guard;
use crate::http::{self, AppState};
use crate::listen::ConnLimits;
use crate::meter::ServerBudget;
use crate::metrics::Metrics;
use crate::query::{Data, Pool, QueryService};

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
    /// Where `/metrics` listens on its own, when configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Whether API keys are required.
    pub auth: bool,
    /// The admin routes' token while no API keys are configured.
    pub admin_token: Option<String>,
    /// The keys file consulted.
    pub keys_file: Option<std::path::PathBuf>,
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
            xlfeed_store::url::redact(&config.stores.feed)
        )
    })?;
    let post = if config.stores.post == config.stores.feed {
        feed.clone()
    } else {
        Store::open(&config.stores.post).await.with_context(|| {
            format!(
                "cannot open the POST store {}",
                xlfeed_store::url::redact(&config.stores.post)
            )
        })?
    };
    Ok((feed, post))
}

/// The HTTP application: every route and layer, for `state` and `auth`; `guard` checks the
/// hosts and origins browsers name.
pub fn app(state: AppState, auth: Auth, config: &Config, guard: Guard) -> Result<Router> {
    let metrics = state.metrics.clone();
    // Bodies: limits.max_body_bytes for every extractor (batch, admin), the whole request
    // within the larger of it and reports.max_upload_bytes (a reconciled workbook, whose
    // handler enforces its own limit).
    let body_limit = axum::extract::DefaultBodyLimit::max(config.limits.max_body_bytes);
    let api = http::api_routes()
        .layer(body_limit)
        .layer(from_fn_with_state(
            (auth.clone(), Role::Analyst),
            crate::auth::require,
        ));
    let admin = http::admin::routes()
        .layer(body_limit)
        .layer(from_fn_with_state(
            (auth.clone(), Role::Admin),
            crate::auth::require,
        ));
    let mut router = Router::new()
        .merge(api)
        .merge(admin)
        .merge(http::open_routes());
    if config.server.metrics.is_empty() {
        let mut m = http::metrics_routes();
        if config.security.metrics_need_key {
            m = m.layer(from_fn_with_state(
                (auth.clone(), Role::Admin),
                crate::auth::require,
            ));
        }
        router = router.merge(m);
    }
    if let Some(addin) = crate::http::addin::routes(config) {
        router = router.merge(addin);
    }
    let limits = state.limits;
    Ok(router
        .with_state(state)
        // Workbooks are zip files already.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new(crate::report::XLSX)),
        ))
        // One body limit, the configured one (axum's extractors have a 2 MB one of their own).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(
            limits.max_body_bytes.max(config.reports.max_upload_bytes),
        ))
        .layer(from_fn_with_state(
            http::Edge {
                guard: Arc::new(guard),
                timeout_secs: limits.request_timeout_secs,
                report_timeout_secs: config.reports.timeout_secs,
                max_body: limits.max_body_bytes,
                max_upload: config.reports.max_upload_bytes,
            },
            http::edge,
        ))
        .layer(crate::http::cors::cors(&config.security)?)
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
    let client = req
        .extensions()
        .get::<crate::listen::ClientAddr>()
        .map(|c| c.0.ip());
    match auth.check(req.headers(), Role::Analyst, client) {
        Ok(_) => next.run(req).await,
        Err(e) => tonic::Status::from(crate::error::ApiError::from(e))
            .into_http::<axum::body::Body>()
            .into_response(),
    }
}

/// A gRPC call still running after `secs` seconds is `DEADLINE_EXCEEDED` (and its work stops,
/// as over HTTP); a stream that has begun answering is not cut.
async fn grpc_time_limit(State(secs): State<u64>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(r) => r,
        Err(_) => tonic::Status::deadline_exceeded(format!(
            "the call took longer than {secs} s and was stopped"
        ))
        .into_http::<axum::body::Body>()
        .into_response(),
    }
}

/// The query service of `config` over `stores`: caches, query pool, answer budget.
pub fn query_service(
    config: &Config,
    stores: (Store, Store),
    metrics: Arc<Metrics>,
) -> Result<Arc<QueryService>> {
    let data = Data::new(stores.0, stores.1, config.cache.cache_config(), metrics);
    let pool = Pool::new(config.limits.query_threads).context("cannot start the query pool")?;
    let budget = ServerBudget::new(config.limits.max_answers_in_flight_bytes);
    Ok(Arc::new(QueryService::new(data).with_pool(pool, budget)))
}

/// Starts HTTP and gRPC on `config`'s addresses over `stores`.
pub async fn start(config: &Config, stores: (Store, Store)) -> Result<Running> {
    crate::tls::install_crypto_provider();
    let open_files = crate::listen::raise_open_files();
    let metrics = Arc::new(Metrics::new());
    let query = query_service(config, stores, metrics.clone())?;
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
            "no API keys configured: anyone on this machine may call the API; the admin routes need the admin token printed at start-up"
        );
    }
    let runs = http::admin::Runs::open(&config.runs, query.data())?;
    let tls = match &config.tls {
        Some(t) => Some(crate::tls::listener_config(t).await?),
        None => None,
    };
    let state = AppState {
        query: query.clone(),
        metrics: metrics.clone(),
        limits: config.limits,
        runs: Arc::new(runs),
        config_view: Arc::new(config.redacted()),
        auth: auth.clone(),
        reports: crate::report::Reports::new(query.clone(), config.reports.clone()),
    };
    let guard = Guard::new(
        http_addr.ip(),
        &config.server.public_url,
        &config.server.allowed_hosts,
        &config.security.cors_origins,
        tls.is_some(),
    );
    let router = app(state, auth.clone(), config, guard)?;
    let grpc_router = crate::grpc::routes(query)
        .into_axum_router()
        .layer(from_fn_with_state(
            config.limits.request_timeout_secs,
            grpc_time_limit,
        ))
        .layer(from_fn_with_state(auth.clone(), grpc_auth))
        .layer(from_fn_with_state(metrics.clone(), http::track));

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
    let limits = ConnLimits {
        header_read: Duration::from_secs(config.limits.header_read_timeout_secs),
        idle: Duration::from_secs(config.limits.idle_timeout_secs),
        max_connections: match config.limits.max_connections {
            0 => crate::listen::default_max_connections(open_files),
            n => n,
        },
    };
    let bind = |addr: SocketAddr, what: &str| -> Result<std::net::TcpListener> {
        let l = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr} ({what})"))?;
        l.set_nonblocking(true)?;
        Ok(l)
    };
    let mut listeners = vec![
        (bind(http_addr, "HTTP")?, router, tls.clone()),
        (bind(grpc_addr, "gRPC")?, grpc_router, tls.clone()),
    ];
    let mut metrics_addr = None;
    if !config.server.metrics.is_empty() {
        let addr: SocketAddr = config.server.metrics.parse()?;
        let l = bind(addr, "metrics")?;
        metrics_addr = Some(l.local_addr()?);
        let m = http::metrics_routes()
            .with_state(metrics.clone())
            .layer(from_fn_with_state(metrics.clone(), http::track));
        listeners.push((l, m, None));
    }
    let http_addr = listeners[0].0.local_addr()?;
    let grpc_addr = listeners[1].0.local_addr()?;
    for (listener, router, tls) in listeners {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tasks.push(tokio::spawn(crate::listen::serve(
            listener,
            router,
            tls,
            limits,
            metrics.clone(),
            rx.clone(),
        )));
    }
    Ok(Running {
        http_addr,
        grpc_addr,
        metrics_addr,
        tls: config.tls.is_some(),
        auth: auth.enabled(),
        admin_token: (!auth.enabled()).then(|| auth.admin_token().to_owned()),
        keys_file: config.security.keys_file.clone(),
        shutdown: tx,
        tasks,
    })
}
