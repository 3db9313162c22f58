//! The one place the suites start xlserver in process: on an embedded store or a real
//! redis-server, empty or filled like the demo, configured by the test; and one filled app per
//! test binary that many tests share.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use xlfeed_server::config::Config;
use xlfeed_server::demo::{DemoArgs, prepare};
use xlfeed_server::serve::{self, Running};
use xlfeed_store::Store;
use xlfeed_store::testing::RedisServer;

/// The last day of the demo data the apps are filled with.
pub(crate) const TODAY: &str = "2024-06-28";

/// The default configuration, on ports 0, keeping its runs under `dir`.
pub(crate) fn config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.http = "127.0.0.1:0".into();
    c.server.grpc = "127.0.0.1:0".into();
    c.runs.dir = dir.join("runs");
    c.security.keys_file = Some(dir.join("no-keys.json"));
    c
}

/// The demo's preparation on a small universe: AAPL and SPY, a year of daily bars and the
/// two days up to [`TODAY`] of trades (SPY: more than a gRPC page), minute bars, options
/// (enriched in POST) and rates.
pub(crate) fn demo_args(dir: &Path) -> DemoArgs {
    DemoArgs {
        data: dir.to_path_buf(),
        symbols: vec!["AAPL".into(), "SPY".into()],
        today: TODAY.into(),
        days: 2,
        tick_scale: 0.1,
        no_serve: true,
        https: false,
    }
}

/// Which store an app serves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum On {
    /// Embedded stores in the test's folder (`feed/` and `post/`).
    Embedded,
    /// A redis-server of the app's own; FEED and POST in its database 0.
    Redis,
}

/// What the stores hold when the app starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Data {
    /// Nothing.
    Empty,
    /// What `xlserver demo` prepares, on the universe of [`demo_args`].
    Demo,
}

/// xlserver started in process over its stores.
pub(crate) struct App {
    /// The server.
    pub(crate) running: Running,
    /// The FEED store it reads.
    pub(crate) feed: Store,
    /// The POST store it reads.
    pub(crate) post: Store,
    /// The redis-server it reads, if on redis (killed when the app is dropped).
    redis: Option<RedisServer>,
}

impl App {
    /// Starts xlserver on `on`, holding `data`, with [`config`]`(dir)` changed by `configure`.
    /// Embedded stores live in `dir`: a second app on the same folder sees the first's data.
    pub(crate) async fn start(
        dir: &Path,
        on: On,
        data: Data,
        configure: impl FnOnce(&mut Config),
    ) -> App {
        let (feed, post, redis) = match on {
            On::Embedded => (
                open(&format!("embedded://{}/feed", dir.display())).await,
                open(&format!("embedded://{}/post", dir.display())).await,
                None,
            ),
            On::Redis => {
                let server = RedisServer::start()
                    .unwrap_or_else(|e| panic!("redis-server must be installed: {e}"));
                let store = open(&server.url(0)).await;
                (store.clone(), store, Some(server))
            }
        };
        if data == Data::Demo {
            prepare(&demo_args(dir), &feed, &post).await.unwrap();
        }
        let running = serve_on(dir, (feed.clone(), post.clone()), configure).await;
        App {
            running,
            feed,
            post,
            redis,
        }
    }

    /// Stops the server (and its redis-server).
    pub(crate) async fn shutdown(self) {
        self.running.shutdown().await;
        drop(self.redis);
    }
}

async fn open(url: &str) -> Store {
    Store::open(url)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"))
}

/// Starts xlserver over `stores` opened by the test, with [`config`]`(dir)` changed by
/// `configure` (and validated, as `xlserver serve` does).
pub(crate) async fn serve_on(
    dir: &Path,
    stores: (Store, Store),
    configure: impl FnOnce(&mut Config),
) -> Running {
    let mut c = config(dir);
    configure(&mut c);
    c.validate().unwrap();
    serve::start(&c, stores).await.unwrap()
}

/// The app the tests of one binary share: embedded stores filled like the demo, once, in a
/// folder under Cargo's target directory (emptied when the binary starts it), served on a
/// runtime of its own so that it outlives each test's runtime.
pub(crate) struct Shared {
    /// The base URL of the HTTP side.
    pub(crate) http: String,
    /// Where gRPC listens.
    pub(crate) grpc: SocketAddr,
    /// The admin token (no keys are configured).
    pub(crate) admin_token: Option<String>,
    /// The FEED store it reads.
    pub(crate) feed: Store,
}

/// The filled app of this test binary, started by the first test that asks.
pub(crate) fn shared() -> &'static Shared {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{}-shared-app",
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = tx.send(Err(format!("no runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                if let Err(e) = std::fs::create_dir_all(&dir) {
                    let _ = tx.send(Err(format!("cannot create {}: {e}", dir.display())));
                    return;
                }
                let app = App::start(&dir, On::Embedded, Data::Demo, |_| {}).await;
                let _ = tx.send(Ok(Shared {
                    http: app.running.http_url(),
                    grpc: app.running.grpc_addr,
                    admin_token: app.running.admin_token.clone(),
                    feed: app.feed.clone(),
                }));
                // Serve until the test binary exits.
                std::future::pending::<()>().await;
                drop(app);
            });
        });
        rx.recv()
            .unwrap_or_else(|_| Err("the shared app's thread ended (a panic?)".to_owned()))
    });
    match started {
        Ok(shared) => shared,
        Err(e) => panic!("the shared app did not start: {e}"),
    }
}
