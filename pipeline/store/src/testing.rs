//! Test support: a real `redis-server` on a free loopback port, in a temporary directory.
//!
//! Tests of every crate that needs a RESP store start one with [`RedisServer::start`]; it
//! runs with `appendonly yes` so that [`RedisServer::restart`] reopens the same data, and it
//! is killed when dropped. [`RedisServer::start_with`] adds arguments (e.g. a slow load), and
//! [`RedisServer::restart_loading`] returns while the server still loads its data. The binary
//! is `redis-server` on the `PATH`, or `XLFEED_REDIS_SERVER`.
//!
//! [`RedisCluster::start`] starts a local Redis Cluster (3 masters, 3 replicas) the same way,
//! as `redis-cli --cluster create` builds one; [`TestStore`] runs a case on any of the three.
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

    /// Starts a server like [`RedisServer::start_with`] on `port`.
    pub fn start_on(port: u16, args: &[&str]) -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let extra: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let child = spawn(port, dir.path(), &extra, Up::Serving)?;
        Ok(RedisServer {
            child: Some(child),
            port,
            dir,
            extra,
        })
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

    /// Runs `redis-cli -p PORT ARGS…` against the server and returns what it printed.
    ///
    /// # Errors
    /// When redis-cli cannot run or fails.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        cli(self.port, args)
    }

    /// Whether the server is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
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

/// The lowest port a cluster node takes: its bus listens on port + 10000, which must stay
/// under 65536, so nodes take ports in `CLUSTER_PORTS`.
const CLUSTER_PORTS: std::ops::Range<u16> = 20_000..55_535;

/// A free port for a cluster node whose bus port (+ 10000) is free too.
fn free_cluster_port() -> Result<u16, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()) << 20;
    let span = u64::from(CLUSTER_PORTS.end - CLUSTER_PORTS.start);
    for _ in 0..200 {
        let n = NEXT.fetch_add(7919, Ordering::Relaxed).wrapping_add(seed);
        let port = CLUSTER_PORTS.start + (n % span) as u16;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return Ok(port);
        }
    }
    Err(format!("no free port pair in {CLUSTER_PORTS:?}"))
}

fn redis_cli() -> String {
    std::env::var("XLFEED_REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned())
}

/// Runs `redis-cli -p port ARGS…` and returns what it printed.
fn cli(port: u16, args: &[&str]) -> Result<String, String> {
    let out = Command::new(redis_cli())
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} (apt-get install redis-tools): {e}",
                redis_cli()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "redis-cli -p {port} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A local Redis Cluster of three masters and three replicas, each a [`RedisServer`] with
/// `cluster-enabled` and append-only persistence, made into a cluster by
/// `redis-cli --cluster create … --cluster-replicas 1`. Killed when dropped.
pub struct RedisCluster {
    /// The six nodes, in the order given to `--cluster create` (the first three start as
    /// masters).
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the six nodes and creates the cluster; returns once every node says
    /// `cluster_state:ok` and every replica's link to its master is up.
    pub fn start() -> Result<RedisCluster, String> {
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let mut last = String::new();
            let mut started = None;
            for _ in 0..5 {
                let port = free_cluster_port()?;
                let args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1500",
                ];
                match RedisServer::start_on(port, &args) {
                    Ok(s) => {
                        started = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            nodes.push(started.ok_or(last)?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        cli(nodes[0].port(), &args)?;
        let cluster = RedisCluster { nodes };
        cluster.wait_ok(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Waits until every live node says `cluster_state:ok` and every replica is in sync.
    pub fn wait_ok(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let mut pending = None;
            for n in self.nodes.iter().filter(|n| n.child.is_some()) {
                let info = cli(n.port(), &["cluster", "info"]).unwrap_or_default();
                if !info.contains("cluster_state:ok") {
                    pending = Some(format!("node {} is not ok", n.port()));
                    break;
                }
                let repl = cli(n.port(), &["info", "replication"]).unwrap_or_default();
                if repl.contains("role:slave") && !repl.contains("master_link_status:up") {
                    pending = Some(format!("replica {} is not in sync", n.port()));
                    break;
                }
            }
            let Some(why) = pending else {
                return Ok(());
            };
            if Instant::now() > deadline {
                return Err(format!("the cluster is not ready within {within:?}: {why}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The store URL: every master as a seed node.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.nodes[..3]
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis+cluster://{}/", nodes.join(","))
    }

    /// The index of the live master that serves `key`'s hash slot now (the others answer
    /// `MOVED`).
    ///
    /// # Errors
    /// When no live master serves it.
    pub fn master_of(&self, key: &str) -> Result<usize, String> {
        self.masters()
            .into_iter()
            .find(|&i| {
                cli(self.nodes[i].port(), &["exists", key]).is_ok_and(|r| !r.contains("MOVED"))
            })
            .ok_or_else(|| format!("no live master serves {key:?}"))
    }

    /// The index of the live replica of the master `master`.
    pub fn replica_of(&self, master: usize) -> Option<usize> {
        let want = format!("master_port:{}", self.nodes[master].port());
        self.nodes.iter().enumerate().position(|(i, n)| {
            i != master
                && n.child.is_some()
                && cli(n.port(), &["info", "replication"]).is_ok_and(|r| r.contains(&want))
        })
    }

    /// The indexes (into [`RedisCluster::nodes`]) of the live nodes that are masters now.
    pub fn masters(&self) -> Vec<usize> {
        let live = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.child.is_some());
        live.filter(|(_, n)| {
            cli(n.port(), &["info", "replication"]).is_ok_and(|r| r.contains("role:master"))
        })
        .map(|(i, _)| i)
        .collect()
    }
}

/// A store under test, on any backend: an embedded store in a temporary directory, a real
/// redis-server of its own, or a local Redis Cluster of its own. Suites run each case on each.
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
    /// `redis+cluster://` on a cluster started for the test.
    Cluster {
        /// The cluster (killed when dropped).
        cluster: RedisCluster,
    },
}

/// A raw connection to a RESP test store, bypassing the Store API.
enum Raw {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Raw {
    /// Runs `cmds` in order (one at a time on a cluster, whose pipelines may not cross slots).
    async fn run(&mut self, cmds: Vec<redis::Cmd>, what: &str) -> Vec<redis::Value> {
        let mut out = Vec::with_capacity(cmds.len());
        match self {
            Raw::Single(c) => {
                let mut p = redis::pipe();
                for cmd in cmds {
                    p.add_command(cmd);
                }
                out = or_fail(p.query_async(c).await, what);
            }
            Raw::Cluster(c) => {
                for cmd in cmds {
                    out.push(or_fail(cmd.query_async(c).await, what));
                }
            }
        }
        out
    }
}

/// A command by its words.
fn command(words: &[&[u8]]) -> redis::Cmd {
    let mut c = redis::cmd(&String::from_utf8_lossy(words[0]));
    for w in &words[1..] {
        c.arg(*w);
    }
    c
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

    /// An empty store on a new local Redis Cluster (3 masters, 3 replicas).
    ///
    /// # Panics
    /// When the cluster cannot start (redis-server and redis-cli must be installed).
    pub fn cluster() -> TestStore {
        match RedisCluster::start() {
            Ok(cluster) => TestStore::Cluster { cluster },
            Err(e) => panic!("cannot start a local Redis Cluster: {e}"),
        }
    }

    /// The store's URL.
    pub fn url(&self) -> String {
        match self {
            TestStore::Embedded { dir } => format!("embedded://{}", dir.path().display()),
            TestStore::Redis { server } => server.url(0),
            TestStore::Cluster { cluster } => cluster.url(),
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

    /// A raw connection to a RESP store (`None` for the embedded one).
    async fn raw_resp(&self) -> Option<Raw> {
        Some(match self {
            TestStore::Embedded { .. } => return None,
            TestStore::Redis { server } => {
                let client = or_fail(redis::Client::open(server.url(0)), "redis client");
                let conn = client.get_multiplexed_async_connection().await;
                Raw::Single(or_fail(conn, "connect to redis-server"))
            }
            TestStore::Cluster { cluster } => {
                let nodes: Vec<String> = cluster
                    .nodes
                    .iter()
                    .map(|n| format!("redis://127.0.0.1:{}", n.port()))
                    .collect();
                let client = or_fail(redis::cluster::ClusterClient::new(nodes), "cluster client");
                let conn = client.get_async_connection().await;
                Raw::Cluster(or_fail(conn, "connect to the cluster"))
            }
        })
    }

    /// Writes `chunks` with the keys key layout 1 wrote (chunk, symbol and kind registries,
    /// index entry; no layout marker). No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be written.
    pub async fn write_layout1(&self, chunks: &[Layout1Chunk]) {
        if let TestStore::Embedded { dir } = self {
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
            return;
        }
        let mut cmds = Vec::new();
        for (ds, kind, symbol, d, bytes) in chunks {
            let (chunk, day) = (format!("{ds}:{kind}:{symbol}:{d}"), d.to_string());
            cmds.push(command(&[b"SET", chunk.as_bytes(), bytes]));
            let sym = format!("sym:{ds}:{kind}");
            cmds.push(command(&[b"ZADD", sym.as_bytes(), b"0", symbol.as_bytes()]));
            let kinds = format!("kinds:{ds}");
            cmds.push(command(&[b"ZADD", kinds.as_bytes(), b"0", kind.as_bytes()]));
            let idx = format!("idx:{ds}:{kind}:{symbol}");
            let day = day.as_bytes();
            cmds.push(command(&[b"ZADD", idx.as_bytes(), day, day]));
        }
        if let Some(mut raw) = self.raw_resp().await {
            raw.run(cmds, "write layout 1 keys").await;
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
        if let TestStore::Embedded { dir } = self {
            let (db, data, index) = TestStore::raw_embedded(dir.path());
            for d in days {
                let idx = format!("idx:{ds}:{kind}:{symbol}:{d}");
                or_fail(index.remove(idx), "remove an index entry");
                or_fail(data.remove(format!("{ds}:{kind}:{symbol}:{d}")), "remove");
            }
            let sym = format!("sym:{ds}:{kind}:{symbol}");
            or_fail(index.remove(sym), "remove a symbol");
            or_fail(db.persist(fjall::PersistMode::SyncAll), "persist");
            return;
        }
        let mut cmds = Vec::new();
        let idx = format!("idx:{ds}:{kind}:{symbol}");
        for d in days {
            let (chunk, day) = (format!("{ds}:{kind}:{symbol}:{d}"), d.to_string());
            cmds.push(command(&[b"ZREM", idx.as_bytes(), day.as_bytes()]));
            cmds.push(command(&[b"DEL", chunk.as_bytes()]));
        }
        let sym = format!("sym:{ds}:{kind}");
        cmds.push(command(&[b"ZREM", sym.as_bytes(), symbol.as_bytes()]));
        if let Some(mut raw) = self.raw_resp().await {
            raw.run(cmds, "remove a series").await;
        }
    }

    /// Writes the layout marker `version` as an older xlfeed did. No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be written.
    pub async fn set_layout_marker(&self, version: &str) {
        self.raw_set(crate::key::LAYOUT_KEY, version.as_bytes())
            .await;
    }

    /// Writes `value` at `key` (a chunk key, or the layout marker) as it is, bypassing the
    /// Store API. No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be written.
    pub async fn raw_set(&self, key: &str, value: &[u8]) {
        if let TestStore::Embedded { dir } = self {
            let (db, chunks, index) = TestStore::raw_embedded(dir.path());
            let ks = if key == crate::key::LAYOUT_KEY {
                index
            } else {
                chunks
            };
            or_fail(ks.insert(key, value), "write a key");
            or_fail(db.persist(fjall::PersistMode::SyncAll), "persist");
            return;
        }
        if let Some(mut raw) = self.raw_resp().await {
            let set = command(&[b"SET", key.as_bytes(), value]);
            raw.run(vec![set], "write a key").await;
        }
    }

    /// The value at `key` (a chunk key, or the layout marker) as stored, `None` when absent.
    /// No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be read.
    pub async fn raw_get(&self, key: &str) -> Option<Vec<u8>> {
        if let TestStore::Embedded { dir } = self {
            let (_db, chunks, index) = TestStore::raw_embedded(dir.path());
            let ks = if key == crate::key::LAYOUT_KEY {
                index
            } else {
                chunks
            };
            return or_fail(ks.get(key), "read a key").map(|v| v.to_vec());
        }
        let mut raw = self.raw_resp().await?;
        let got = raw.run(vec![command(&[b"GET", key.as_bytes()])], "read a key");
        match got.await.pop() {
            Some(redis::Value::BulkString(v)) => Some(v),
            Some(redis::Value::SimpleString(v)) => Some(v.into_bytes()),
            _ => None,
        }
    }

    /// The layout marker as stored (`None` when absent). No store handle may be open.
    ///
    /// # Panics
    /// When the store cannot be read.
    pub async fn layout_marker(&self) -> Option<String> {
        let raw = self.raw_get(crate::key::LAYOUT_KEY).await;
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
