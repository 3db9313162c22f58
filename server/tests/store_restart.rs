//! Issue 13, item 5: a redis store restarting with a large append-only file answers `LOADING`
//! to every data command until its data is loaded. xlserver must treat that like a store
//! that is down — 503 with `Retry-After` and `#BUSY!` — and never as a 500, and answer as
//! before once the data is back.
//!
//! The redis-server is real. Its append-only file holds the demo's market data and filler
//! keys, and the hidden Redis 7 setting `key-load-delay` (microseconds per key loaded) makes
//! reloading them take seconds on any machine. While it replays the file, redis answers
//! clients (with `LOADING`) every 1024 commands.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
mod common;
use xlfeed_server::demo::prepare;
use xlfeed_store::Store;
use xlfeed_store::testing::RedisServer;

/// Filler keys written beside the market data.
const FILLER_KEYS: usize = 25_000;
/// Microseconds redis waits per key it loads (a sleep: in practice 100-250 µs), so the
/// reload takes roughly 3-6 s.
const KEY_LOAD_DELAY_US: &str = "100";
/// A year of AAPL's daily bars: an index read and an MGET of every day.
const HISTORY: &str = "/api/v1/history?symbol=AAPL&start=2023-07-01&end=2024-06-28";
const READYZ: &str = "/readyz";

/// What a raw `PING` got from redis.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ping {
    /// No connection: the old server is gone, the new one not yet listening.
    Down,
    /// `-LOADING ...`: up, loading the append-only file.
    Loading,
    /// `+PONG`: serving.
    Pong,
    /// Anything else.
    Other,
}

async fn ping(port: u16) -> Ping {
    let once = async {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
            return Ping::Down;
        };
        let mut buf = [0u8; 128];
        if s.write_all(b"PING\r\n").await.is_err() {
            return Ping::Down;
        }
        match s.read(&mut buf).await {
            Ok(n) if buf[..n].starts_with(b"+PONG") => Ping::Pong,
            Ok(n) if buf[..n].starts_with(b"-LOADING") => Ping::Loading,
            Ok(0) | Err(_) => Ping::Down,
            Ok(_) => Ping::Other,
        }
    };
    tokio::time::timeout(Duration::from_secs(2), once)
        .await
        .unwrap_or(Ping::Down)
}

/// Writes `n` filler keys of 100 bytes in one pipeline and waits for every `+OK`.
async fn fill(port: u16, n: usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let value = "x".repeat(100);
    let mut out = Vec::with_capacity(n * 140);
    for i in 0..n {
        let key = format!("filler:{i:06}");
        write!(
            out,
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
            key.len(),
            value.len()
        )
        .unwrap();
    }
    let (mut rd, mut wr) = s.split();
    let want = n * b"+OK\r\n".len();
    let write = async { wr.write_all(&out).await.unwrap() };
    let read = async {
        let mut got = vec![0u8; want];
        rd.read_exact(&mut got).await.unwrap();
        assert!(
            got.chunks(5).all(|r| r == b"+OK\r\n"),
            "a filler SET failed"
        );
    };
    tokio::join!(write, read);
}

/// The number of keys redis holds.
async fn dbsize(port: u16) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"DBSIZE\r\n").await.unwrap();
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).await.unwrap();
    let reply = std::str::from_utf8(&buf[..n]).unwrap();
    reply
        .trim_start_matches(':')
        .trim_end()
        .parse()
        .unwrap_or_else(|_| panic!("DBSIZE answered {reply:?}"))
}

/// One answer of xlserver during the test.
#[derive(Debug)]
struct Answer {
    path: &'static str,
    sent: Instant,
    received: Instant,
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// xlserver over `store` (FEED and POST) with no caches, so that every answer reads the
/// store; its base URL and an HTTP client with `timeout`.
async fn uncached(
    dir: &std::path::Path,
    store: Store,
    timeout: Duration,
) -> (xlfeed_server::serve::Running, String, reqwest::Client) {
    let running = common::serve_on(dir, (store.clone(), store), |c| {
        c.cache.max_mb = 0;
        c.cache.index_ttl_ms = 0;
    })
    .await;
    let base = running.http_url();
    let http = reqwest::Client::builder()
        .gzip(false)
        .timeout(timeout)
        .build()
        .unwrap();
    (running, base, http)
}

async fn get(http: &reqwest::Client, base: &str, path: &'static str) -> Answer {
    let sent = Instant::now();
    let r = http
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: no answer from xlserver: {e}"));
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("?").to_owned());
    let text = r.text().await.unwrap();
    Answer {
        path,
        sent,
        received: Instant::now(),
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The server's log lines (warnings and errors), kept for the test to read.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_13_a_store_loading_its_data_is_busy_not_broken() {
    let log = Log::default();
    let sink = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let started = Instant::now();

    // A redis holding the demo's market data and filler keys, all in its append-only file.
    let mut redis = RedisServer::start_with(&["--key-load-delay", KEY_LOAD_DELAY_US])
        .expect("redis-server must be installed for this test");
    let port = redis.port();
    let store = Store::open(&redis.url(0)).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    prepare(&common::demo_args(data.path()), &store, &store)
        .await
        .unwrap();
    fill(port, FILLER_KEYS).await;
    let keys = dbsize(port).await;
    assert!(keys > FILLER_KEYS, "{keys} keys");
    let filled = started.elapsed();

    // xlserver over it, with no caches: every answer reads the store.
    let (running, base, http) = uncached(data.path(), store, Duration::from_secs(20)).await;
    let before = get(&http, &base, HISTORY).await;
    assert_eq!(before.status, 200, "before the restart: {:?}", before.body);
    let bars = before.body["rows"].as_array().map_or(0, Vec::len);
    assert!(bars > 240, "{bars} daily bars before the restart");

    // Watch redis itself: when it stops, loads, serves again.
    let stop = Arc::new(AtomicBool::new(false));
    let watch = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut seen: Vec<(Instant, Ping)> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                seen.push((Instant::now(), ping(port).await));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        }
    });
    // A client asking all the time.
    let client = tokio::spawn({
        let stop = stop.clone();
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                for path in [HISTORY, READYZ] {
                    answers.push(get(&http, &base, path).await);
                }
            }
            answers
        }
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted_at = Instant::now();
    tokio::task::block_in_place(|| redis.restart_loading()).unwrap();
    // Wait for the load to finish, then let the client see it.
    let deadline = Instant::now() + Duration::from_secs(40);
    while ping(port).await != Ping::Pong {
        assert!(Instant::now() < deadline, "redis still loading after 40 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let loaded_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = watch.await.unwrap();
    let answers = client.await.unwrap();

    // Redis did load for a while, answering LOADING.
    let loading: Vec<Instant> = seen
        .iter()
        .filter(|(_, p)| *p == Ping::Loading)
        .map(|(t, _)| *t)
        .collect();
    let (Some(&first), Some(&last)) = (loading.first(), loading.last()) else {
        panic!("redis never answered LOADING after the restart: {seen:?}");
    };
    let at = |t: Instant| t.saturating_duration_since(restarted_at).as_millis();
    let count = |path: &str, status: u16| {
        answers
            .iter()
            .filter(|a| a.path == path && a.status == status)
            .count()
    };
    println!(
        "{keys} keys written in {filled:?}; {} answers; redis answered LOADING from +{} ms to +{} ms after \
         the restart, PONG at +{} ms; history 200/503/500: {}/{}/{}, readyz 200/503: {}/{}",
        answers.len(),
        at(first),
        at(last),
        at(loaded_at),
        count(HISTORY, 200),
        count(HISTORY, 503),
        count(HISTORY, 500),
        count(READYZ, 200),
        count(READYZ, 503),
    );

    // Every answer is 200 or a well-formed 503; never a 500.
    for a in &answers {
        let when = format!(
            "{} sent +{} ms, received +{} ms after the restart",
            a.path,
            at(a.sent),
            at(a.received)
        );
        assert!(
            a.status == 200 || a.status == 503,
            "{when}: HTTP {} {}",
            a.status,
            a.body
        );
        if a.status != 503 {
            continue;
        }
        if a.path == READYZ {
            assert_eq!(a.body["ready"], json!(false), "{when}: {}", a.body);
            continue;
        }
        assert_eq!(
            a.retry_after.as_deref(),
            Some("1"),
            "{when}: no Retry-After"
        );
        assert_eq!(
            a.body["error"]["code"],
            json!("unavailable"),
            "{when}: {}",
            a.body
        );
        assert_eq!(
            a.body["error"]["excel"],
            json!("#BUSY!"),
            "{when}: {}",
            a.body
        );
        assert!(a.body["error"]["message"].is_string(), "{when}: {}", a.body);
    }

    // Some of those 503s were answered while redis was loading: asked after redis was seen
    // loading and answered before it was last seen loading, and the server logged why.
    let busy_while_loading = answers
        .iter()
        .filter(|a| a.path == HISTORY && a.status == 503)
        .filter(|a| a.sent >= first && a.received <= last)
        .count();
    assert!(
        busy_while_loading > 0,
        "no history query was answered 503 inside the LOADING window"
    );
    let lines = log.lines();
    let logged: Vec<&String> = lines.iter().filter(|l| l.contains("LOADING")).collect();
    assert!(
        !logged.is_empty(),
        "the server logged no LOADING store error: {lines:#?}"
    );
    for l in &logged {
        assert!(
            l.contains("is unavailable"),
            "not classified unavailable: {l}"
        );
    }
    println!(
        "{busy_while_loading} history 503s inside the LOADING window; {} LOADING store errors \
         logged, e.g. {}",
        logged.len(),
        logged[0]
    );

    // Loaded again: the same answer as before the restart.
    let after = get(&http, &base, HISTORY).await;
    assert_eq!(after.status, 200, "after loading: {}", after.body);
    assert_eq!(
        after.body, before.body,
        "history changed across the restart"
    );
    let ready = get(&http, &base, READYZ).await;
    assert_eq!(ready.status, 200, "readyz after loading: {}", ready.body);

    running.shutdown().await;
    drop(redis);
    println!("test took {:?}", started.elapsed());
}

/// Issue 17: xlserver on a Redis Cluster whose master for AAPL's daily bars is killed
/// (SIGKILL). Until its replica takes over, every answer that needs that master is a 503
/// with `Retry-After`, never a 500 or a hang; once the replica is master, the same server
/// (not restarted) answers as before. The replica is held back from failing over
/// (`cluster-replica-no-failover`) until the test has seen the gap, then let go: a real
/// failover, at a moment the test chooses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_17_a_cluster_failover_is_busy_then_serves_again() {
    use xlfeed_store::testing::RedisCluster;
    use xlfeed_store::{ChunkKey, Dataset, Kind};

    let started = Instant::now();
    let mut cluster =
        RedisCluster::start().expect("a local Redis Cluster (redis-server, redis-cli)");
    let store = Store::open(&cluster.url()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    prepare(&common::demo_args(data.path()), &store, &store)
        .await
        .unwrap();
    let (running, base, http) = uncached(data.path(), store, Duration::from_secs(30)).await;
    let before = get(&http, &base, HISTORY).await;
    assert_eq!(before.status, 200, "before the failover: {}", before.body);

    // The master holding AAPL's daily bars, and its replica, held back for now.
    let bars = ChunkKey::new(
        Dataset::Feed,
        Kind::Daily,
        xlfeed_core::Symbol::parse("AAPL").unwrap(),
        xlfeed_core::TradingDay::parse("2024-01-02").unwrap(),
    );
    let victim = cluster.master_of(&bars.index_key()).unwrap();
    let heir = cluster
        .replica_of(victim)
        .expect("the master has a replica");
    let hold = |cluster: &RedisCluster, on: &str| {
        let r = cluster.nodes[heir].cli(&["config", "set", "cluster-replica-no-failover", on]);
        assert_eq!(r.as_deref().map(str::trim), Ok("OK"), "{r:?}");
    };
    hold(&cluster, "yes");
    let killed_at = Instant::now();
    cluster.nodes[victim].kill();

    // The gap: asked until three 503s came back (the store client retries a while first).
    let mut gap = Vec::new();
    while gap.iter().filter(|a: &&Answer| a.status == 503).count() < 3 {
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "no 503 within 60 s of the kill: {:?}",
            gap.iter().map(|a: &Answer| a.status).collect::<Vec<_>>()
        );
        gap.push(get(&http, &base, HISTORY).await);
    }
    for a in &gap {
        let when = format!(
            "asked +{} ms after the kill, answered in {} ms",
            a.sent.duration_since(killed_at).as_millis(),
            a.received.duration_since(a.sent).as_millis()
        );
        assert_eq!(a.status, 503, "{when}: HTTP {} {}", a.status, a.body);
        assert_eq!(
            a.retry_after.as_deref(),
            Some("1"),
            "{when}: no Retry-After"
        );
        assert_eq!(
            a.body["error"]["code"],
            json!("unavailable"),
            "{when}: {}",
            a.body
        );
        assert!(
            a.received.duration_since(a.sent) < Duration::from_secs(20),
            "{when}: too slow for a 503"
        );
    }

    // The replica takes over; the same server answers as before.
    hold(&cluster, "no");
    let failover_at = Instant::now();
    let after = loop {
        let a = get(&http, &base, HISTORY).await;
        if a.status == 200 {
            break a;
        }
        assert_eq!(
            a.status, 503,
            "during the failover: HTTP {} {}",
            a.status, a.body
        );
        assert!(
            failover_at.elapsed() < Duration::from_secs(60),
            "still {} 60 s after the replica was let go: {}",
            a.status,
            a.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        after.body, before.body,
        "history changed across the failover"
    );
    assert!(
        cluster.masters().contains(&heir),
        "the replica is master now"
    );
    println!(
        "{} answers in the gap (all 503); 200 again {} ms after the replica was let go; test took {:?}",
        gap.len(),
        failover_at.elapsed().as_millis(),
        started.elapsed()
    );
    running.shutdown().await;
}
