//! Test support: a real `redis-server` on a free loopback port, in a temporary directory.
//!
//! Tests of every crate that needs a RESP store start one with [`RedisServer::start`]; it
//! runs with `appendonly yes` so that [`RedisServer::restart`] reopens the same data, and it
//! is killed when dropped. [`RedisServer::start_with`] adds arguments (e.g. a slow load), and
//! [`RedisServer::restart_loading`] returns while the server still loads its data. The binary
//! is `redis-server` on the `PATH`, or `XLFEED_REDIS_SERVER`.
//!
//! [`TestStore::write_layout1`] writes keys as an xlfeed of key layout 1 did, for the tests of
//! the refusal of such stores and of their migration.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server owned by a test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

/// When a started server counts as up.
#[derive(Clone, Copy, PartialEq)]
enum Up {
    /// It answers `PING` with `PONG`: its data is loaded.
    Serving,
    /// It accepts connections, perhaps still answering `LOADING`.
    Listening,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn binary() -> String {
    std::env::var("XLFEED_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

fn spawn(port: u16, dir: &Path, extra: &[String], up: Up) -> Result<Child, String> {
    let mut child = Command::new(binary())
        .arg("--port")
        .arg(port.to_string())
        .arg("--bind")
        .arg("127.0.0.1")
        .arg("--dir")
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .args([
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {} (apt-get install redis-server): {e}",
                binary()
            )
        })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 64];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read(&mut buf).is_ok_and(|n| {
                    buf[..n].starts_with(b"+PONG")
                        || (up == Up::Listening && buf[..n].starts_with(b"-LOADING"))
                })
            {
                return Ok(child);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server on port {port} exited: {status}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "redis-server on port {port} did not answer within 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RedisServer {
    /// Starts a server on a free port in a new temporary directory.
    pub fn start() -> Result<RedisServer, String> {
        RedisServer::start_with(&[])
    }

    /// Starts a server like [`RedisServer::start`], with `args` added to its command line at
    /// this start and every restart, e.g. `["--key-load-delay", "100"]` (microseconds per key
    /// loaded, a hidden Redis 7 setting) to make reloading the append-only file slow.
    pub fn start_with(args: &[&str]) -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let extra: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port().map_err(|e| format!("free port: {e}"))?;
            match spawn(port, dir.path(), &extra, Up::Serving) {
                Ok(child) => {
                    return Ok(RedisServer {
                        child: Some(child),
                        port,
                        dir,
                        extra,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store URL of database `db`.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Kills the server (SIGKILL, no shutdown save) and starts it again on the same port and
    /// directory, so that only what the append-only file holds survives.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.child = Some(spawn(self.port, self.dir.path(), &self.extra, Up::Serving)?);
        Ok(())
    }

    /// Like [`RedisServer::restart`], but returns as soon as the new server accepts
    /// connections: it may still be loading the append-only file, answering every data
    /// command with `LOADING`.
    pub fn restart_loading(&mut self) -> Result<(), String> {
        self.kill();
        self.child = Some(spawn(
            self.port,
            self.dir.path(),
            &self.extra,
            Up::Listening,
        )?);
        Ok(())
    }

    /// Kills the server; the port stops answering.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A store under test, on either backend: an embedded store in a temporary directory, or a
/// real redis-server of its own. Suites run each case on both.
pub enum TestStore {
    /// `embedded://` in a temporary directory.
    Embedded {
        /// The directory (removed when dropped).
        dir: tempfile::TempDir,
    },
    /// `redis://` on a server started for the test.
    Redis {
        /// The server (killed when dropped).
        server: RedisServer,
    },
}

impl TestStore {
    /// An empty embedded store.
    ///
    /// # Panics
    /// When no temporary directory can be made: the test cannot run.
    pub fn embedded() -> TestStore {
        #[allow(clippy::expect_used)] // test support: no directory, no test
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestStore::Embedded { dir }
    }

    /// An empty store on a new redis-server.
    ///
    /// # Panics
    /// When redis-server cannot start (it must be installed for these tests).
    pub fn redis() -> TestStore {
        match RedisServer::start() {
            Ok(server) => TestStore::Redis { server },
            Err(e) => panic!("redis-server must be installed for these tests: {e}"),
        }
    }

    /// The store's URL.
    pub fn url(&self) -> String {
        match self {
            TestStore::Embedded { dir } => format!("embedded://{}", dir.path().display()),
            TestStore::Redis { server } => server.url(0),
        }
    }

    /// Opens the store. The embedded store admits one process: drop the handle before
    /// another process (a binary under test) opens it.
    ///
    /// # Panics
    /// When the store does not open.
    pub async fn open(&self) -> crate::Store {
        match crate::Store::open(&self.url()).await {
            Ok(s) => s,
            Err(e) => panic!("cannot open the test store {}: {e}", self.url()),
        }
    }
}

/// A chunk as key layout 1 stored it, by names: dataset, kind name, symbol, `yyyymmdd`, and
/// the encoded chunk.
pub type Layout1Chunk = (crate::Dataset, &'static str, &'static str, u32, Vec<u8>);

/// The value of a raw store operation of a test, or a panic naming it.
fn or_fail<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

impl TestStore {
    /// The embedded store's keyspaces, opened raw: (database, chunks, index).
    fn raw_embedded(dir: &Path) -> (fjall::Database, fjall::Keyspace, fjall::Keyspace) {
        let db = or_fail(fjall::Database::builder(dir).open(), "open fjall");
        let chunks = or_fail(
            db.keyspace("chunks", || {
                fjall::KeyspaceCreateOptions::default()
                    .with_kv_separation(Some(fjall::KvSeparationOptions::default()))
            }),
            "open the chunks keyspace",
        );
        let index = or_fail(
            db.keyspace("index", fjall::KeyspaceCreateOptions::default),
            "open the index keyspace",
        );
        (db, chunks, index)
    }

    /// A raw connection to the redis-server.
    async fn raw_redis(server: &RedisServer) -> redis::aio::MultiplexedConnection {
        let client = or_fail(redis::Client::open(server.url(0)), "redis client");
        or_fail(
            client.get_multiplexed_async_connection().await,
            "connect to redis-server",
        )
    }

    /// Writes `chunks` with the keys key layout 1 wrote (chunk, symbol and kind registries,
    /// index entry; no layout marker). No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be written.
    pub async fn write_layout1(&self, chunks: &[Layout1Chunk]) {
        match self {
            TestStore::Embedded { dir } => {
                let (db, data, index) = TestStore::raw_embedded(dir.path());
                for (ds, kind, symbol, d, bytes) in chunks {
                    let len = bytes.len() as u64;
                    let entries = [
                        (&data, format!("{ds}:{kind}:{symbol}:{d}"), bytes.clone()),
                        (&index, format!("sym:{ds}:{kind}:{symbol}"), Vec::new()),
                        (&index, format!("kinds:{ds}:{kind}"), Vec::new()),
                        (
                            &index,
                            format!("idx:{ds}:{kind}:{symbol}:{d}"),
                            len.to_le_bytes().to_vec(),
                        ),
                    ];
                    for (ks, k, v) in entries {
                        or_fail(ks.insert(k, v), "write a layout 1 key");
                    }
                }
                or_fail(db.persist(fjall::PersistMode::SyncAll), "persist");
            }
            TestStore::Redis { server } => {
                let mut c = TestStore::raw_redis(server).await;
                let mut p = redis::pipe();
                for (ds, kind, symbol, d, bytes) in chunks {
                    p.cmd("SET")
                        .arg(format!("{ds}:{kind}:{symbol}:{d}"))
                        .arg(bytes.as_slice())
                        .ignore();
                    p.cmd("ZADD")
                        .arg(format!("sym:{ds}:{kind}"))
                        .arg(0)
                        .arg(*symbol)
                        .ignore();
                    p.cmd("ZADD")
                        .arg(format!("kinds:{ds}"))
                        .arg(0)
                        .arg(*kind)
                        .ignore();
                    p.cmd("ZADD")
                        .arg(format!("idx:{ds}:{kind}:{symbol}"))
                        .arg(*d)
                        .arg(*d)
                        .ignore();
                }
                or_fail(p.query_async::<()>(&mut c).await, "write layout 1 keys");
            }
        }
    }

    /// Removes a series written by [`TestStore::write_layout1`]: its index entries, chunks and
    /// symbol registry entry (the kind stays registered). No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be written.
    pub async fn remove_layout1_series(
        &self,
        ds: crate::Dataset,
        kind: &str,
        symbol: &str,
        days: &[u32],
    ) {
        match self {
            TestStore::Embedded { dir } => {
                let (db, data, index) = TestStore::raw_embedded(dir.path());
                for d in days {
                    let idx = format!("idx:{ds}:{kind}:{symbol}:{d}");
                    or_fail(index.remove(idx), "remove an index entry");
                    or_fail(data.remove(format!("{ds}:{kind}:{symbol}:{d}")), "remove");
                }
                let sym = format!("sym:{ds}:{kind}:{symbol}");
                or_fail(index.remove(sym), "remove a symbol");
                or_fail(db.persist(fjall::PersistMode::SyncAll), "persist");
            }
            TestStore::Redis { server } => {
                let mut c = TestStore::raw_redis(server).await;
                let mut p = redis::pipe();
                for d in days {
                    p.cmd("ZREM")
                        .arg(format!("idx:{ds}:{kind}:{symbol}"))
                        .arg(*d)
                        .ignore();
                    p.cmd("DEL")
                        .arg(format!("{ds}:{kind}:{symbol}:{d}"))
                        .ignore();
                }
                p.cmd("ZREM")
                    .arg(format!("sym:{ds}:{kind}"))
                    .arg(symbol)
                    .ignore();
                or_fail(p.query_async::<()>(&mut c).await, "remove a series");
            }
        }
    }

    /// Writes the layout marker `version` as an older xlfeed did. No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be written.
    pub async fn set_layout_marker(&self, version: &str) {
        match self {
            TestStore::Embedded { dir } => {
                let (db, _, index) = TestStore::raw_embedded(dir.path());
                or_fail(index.insert(crate::key::LAYOUT_KEY, version), "mark");
                or_fail(db.persist(fjall::PersistMode::SyncAll), "persist");
            }
            TestStore::Redis { server } => {
                let mut c = TestStore::raw_redis(server).await;
                let set = redis::cmd("SET")
                    .arg(crate::key::LAYOUT_KEY)
                    .arg(version)
                    .query_async::<()>(&mut c)
                    .await;
                or_fail(set, "mark");
            }
        }
    }

    /// The value of a chunk key as stored (`None` when absent). No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be read.
    pub async fn raw_get(&self, key: &str) -> Option<Vec<u8>> {
        match self {
            TestStore::Embedded { dir } => {
                let (_db, chunks, _) = TestStore::raw_embedded(dir.path());
                or_fail(chunks.get(key), "read a chunk").map(|v| v.to_vec())
            }
            TestStore::Redis { server } => {
                let mut c = TestStore::raw_redis(server).await;
                or_fail(
                    redis::cmd("GET").arg(key).query_async(&mut c).await,
                    "read a chunk",
                )
            }
        }
    }

    /// The layout marker as stored (`None` when absent). No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be read.
    pub async fn layout_marker(&self) -> Option<String> {
        let raw: Option<Vec<u8>> = match self {
            TestStore::Embedded { dir } => {
                let (_db, _, index) = TestStore::raw_embedded(dir.path());
                or_fail(index.get(crate::key::LAYOUT_KEY), "read the marker").map(|v| v.to_vec())
            }
            TestStore::Redis { server } => {
                let mut c = TestStore::raw_redis(server).await;
                or_fail(
                    redis::cmd("GET")
                        .arg(crate::key::LAYOUT_KEY)
                        .query_async(&mut c)
                        .await,
                    "read the marker",
                )
            }
        };
        raw.map(|v| String::from_utf8_lossy(&v).into_owned())
    }
}

/// Every chunk of `datasets` in a store, by chunk key, as stored: what "byte for byte the
/// same store" compares.
///
/// # Panics
/// When the store fails or a listed chunk is missing.
pub async fn snapshot(
    store: &crate::Store,
    datasets: &[crate::Dataset],
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut all = std::collections::BTreeMap::new();
    let fail = |e: crate::StoreError| -> ! { panic!("snapshot of {}: {e}", store.url()) };
    for &ds in datasets {
        for kind in store.kinds(ds).await.unwrap_or_else(|e| fail(e)) {
            for s in store.symbols(ds, kind).await.unwrap_or_else(|e| fail(e)) {
                let keys: Vec<crate::ChunkKey> = store
                    .all_days(ds, kind, &s)
                    .await
                    .unwrap_or_else(|e| fail(e))
                    .into_iter()
                    .map(|d| crate::ChunkKey::new(ds, kind, s.clone(), d))
                    .collect();
                let chunks = store.get_chunks(&keys).await.unwrap_or_else(|e| fail(e));
                for (k, c) in keys.iter().zip(chunks) {
                    match c {
                        Some(c) => all.insert(k.chunk_key(), c),
                        None => panic!("snapshot of {}: {k} is indexed but missing", store.url()),
                    };
                }
            }
        }
    }
    all
}
