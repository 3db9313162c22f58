//! xlserver as a process against hostile but fair clients (issue 13): a batch that asked for
//! gigabytes, a batch whose client leaves or whose time runs out, a flood of idle sockets
//! under a small open-file limit, a run interrupted by kill -9, keys written by `xlserver keys`
//! without a configuration, failed authentications in a flood, a store of an older key layout.
//! What is measured is the process's own: its resident memory, its CPU time, its log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{Server, client};

/// These tests measure a process's memory, CPU and latency: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The environment of `xlserver serve` over empty embedded stores and runs in `dir`.
fn serve_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "XLFEED_STORES__FEED",
            format!("embedded://{}/feed", dir.display()),
        ),
        (
            "XLFEED_STORES__POST",
            format!("embedded://{}/post", dir.display()),
        ),
        ("XLFEED_RUNS__DIR", dir.join("runs").display().to_string()),
    ]
}

const DEMO: &[&str] = &["--symbols", "AAPL,MSFT,SPY", "--days", "5"];

fn demo_args(data: &Path) -> Vec<String> {
    let mut a = vec![
        "demo".to_owned(),
        "--data".to_owned(),
        data.display().to_string(),
    ];
    a.extend(DEMO.iter().map(|s| (*s).to_owned()));
    a
}

fn batch_body(calls: impl Iterator<Item = Value>) -> String {
    json!({ "calls": calls.collect::<Vec<_>>() }).to_string()
}

/// The batch: 1,000 distinct `ticks` calls over 1990–2035, up to 100,000 rows each.
fn huge_ticks_batch() -> String {
    let symbols = ["AAPL", "MSFT", "SPY"];
    batch_body((0..1000).map(|i| {
        json!({"fn": "ticks", "args": {"symbol": symbols[i % 3], "start": "1990-01-02",
            "end": "2035-12-31", "limit": 100_000 - i}})
    }))
}

#[test]
fn a_batch_of_huge_calls_is_bounded_in_memory_and_time_and_stops_when_unwanted() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = demo_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bound_mb: u64 = std::env::var("XLFEED_TEST_RSS_GROWTH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let p99_bound_ms: f64 = std::env::var("XLFEED_TEST_HEALTHZ_P99_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100.0);

    // 1. Two such batches at once: bounded memory, answered within the timeout, /healthz fast.
    let server = Server::spawn(
        &args,
        &[("XLFEED_LIMITS__REQUEST_TIMEOUT_SECS", "10".into())],
        dir.path(),
        None,
    );
    let http = client(&server, Duration::from_secs(60));
    let warm = http
        .get(format!(
            "{}/api/v1/ticks?symbol=AAPL&start=2024-06-28&limit=10",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(warm.status(), 200);
    let base_mb = server.rss_mb();
    let body = huge_ticks_batch();
    assert!(body.len() > 90_000, "{}", body.len());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = Arc::new(Mutex::new(base_mb));
    let pid = server.child.id();
    let (d2, p2) = (done.clone(), peak.clone());
    let watcher = std::thread::spawn(move || {
        while !d2.load(std::sync::atomic::Ordering::Acquire) {
            if let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                && let Some(kb) = t
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            {
                let mut p = p2.lock().unwrap();
                *p = (*p).max(kb / 1024);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let (url, d3) = (server.url.clone(), done.clone());
    let prober = std::thread::spawn(move || {
        let http = reqwest::blocking::Client::new();
        let mut lat = Vec::new();
        while !d3.load(std::sync::atomic::Ordering::Acquire) {
            let t = Instant::now();
            let r = http.get(format!("{url}/healthz")).send().unwrap();
            assert_eq!(r.status(), 200);
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            std::thread::sleep(Duration::from_millis(5));
        }
        lat
    });
    std::thread::sleep(Duration::from_millis(200));
    let batches: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, body) = (http.clone(), server.url.clone(), body.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/api/v1/batch"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .unwrap();
                let status = r.status();
                let v: Value = r.json().unwrap();
                (status, t.elapsed(), v)
            })
        })
        .collect();
    let contract = common::Contract::new();
    for b in batches {
        let (status, took, v) = b.join().unwrap();
        assert_eq!(status, 200, "{v}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        contract.check(
            "POST",
            "/api/v1/batch",
            200,
            "application/json",
            v.to_string().as_bytes(),
        );
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 1000);
        // The answers that fit the response budget are whole; every other call says why
        // (to resend, or to ask for less).
        let odd = results.iter().position(|r| {
            r.get("value").is_none()
                && r["error"]["code"] != json!("resource_exhausted")
                && r["error"]["code"] != json!("invalid_argument")
        });
        assert!(odd.is_none(), "{odd:?}: {}", results[odd.unwrap()]["error"]);
        let answered: usize = results
            .iter()
            .filter_map(|r| r.get("value"))
            .map(|v| v.to_string().len())
            .sum();
        assert!(answered <= 5_000_000, "{answered} bytes answered");
    }
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, std::sync::atomic::Ordering::Release);
    watcher.join().unwrap();
    let mut lat = prober.join().unwrap();
    lat.sort_by(f64::total_cmp);
    let p99 = lat[(lat.len() * 99 / 100).min(lat.len() - 1)];
    let growth = peak.lock().unwrap().saturating_sub(base_mb);
    eprintln!(
        "peak RSS growth {growth} MB (bound {bound_mb}); /healthz p99 {p99:.1} ms over {} probes",
        lat.len()
    );
    assert!(growth <= bound_mb, "RSS grew {growth} MB");
    assert!(p99 < p99_bound_ms, "/healthz p99 {p99:.1} ms");
    server.stop();

    // 2. A batch with room for everything (budgets raised, 5,000 heavy calls): its work stops
    //    when its client leaves, and when its time is up (503 JSON with Retry-After).
    let heavy = batch_body((0..5_000).map(|i| {
        let symbol = ["AAPL", "MSFT", "SPY"][i % 3];
        json!({"fn": "history", "args": {"symbol": symbol,
            "start": "1990-01-02", "end": format!("2035-12-{:02}", 1 + i % 28),
            "interval": "1m", "fields": "open,vwap,trades", "dates": if i % 2 == 0 { "iso" } else { "serial" }}})
    }));
    let env = [
        ("XLFEED_LIMITS__REQUEST_TIMEOUT_SECS", "3".to_owned()),
        ("XLFEED_LIMITS__MAX_BATCH_CALLS", "20000".to_owned()),
        ("XLFEED_LIMITS__MAX_BODY_BYTES", "8000000".to_owned()),
        ("XLFEED_SECURITY__RATE_LIMIT_BURST", "20000".to_owned()),
        ("XLFEED_LIMITS__MAX_RESPONSE_BYTES", "400000000".to_owned()),
        (
            "XLFEED_LIMITS__MAX_ANSWERS_IN_FLIGHT_BYTES",
            "500000000".to_owned(),
        ),
    ];
    let server = Server::spawn(&args, &env, dir.path(), None);
    let idle = server.cpu_during(Duration::from_millis(500));
    // The client leaves after half a second.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    write!(
        s,
        "POST /api/v1/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{heavy}",
        heavy.len()
    )
    .unwrap();
    let busy = server.cpu_during(Duration::from_millis(1500));
    drop(s);
    std::thread::sleep(Duration::from_millis(500));
    let after = server.cpu_during(Duration::from_secs(2));
    eprintln!(
        "cpu s: idle {idle:.2}/0.5 s, busy {busy:.2}/1.5 s, after the client left {after:.2}/2 s"
    );
    assert!(
        busy > 0.4,
        "the batch did not load the server ({busy} s): the test proves nothing"
    );
    assert!(
        after < 0.3,
        "work went on after the client left: {after} s of CPU in 2 s"
    );
    // Its time runs out: 503, the documented JSON, Retry-After; then the work stops.
    let t = Instant::now();
    let r = client(&server, Duration::from_secs(60))
        .post(format!("{}/api/v1/batch", server.url))
        .header("content-type", "application/json")
        .body(heavy)
        .send()
        .unwrap();
    let took = t.elapsed();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").is_some();
    let text = r.text().unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(retry);
    assert!(took < Duration::from_secs(5), "{took:?}");
    contract.check(
        "POST",
        "/api/v1/batch",
        503,
        "application/json",
        text.as_bytes(),
    );
    assert!(text.contains("longer than 3 s"), "{text}");
    std::thread::sleep(Duration::from_millis(500));
    let after = server.cpu_during(Duration::from_secs(2));
    assert!(
        after < 0.4,
        "work went on after the timeout: {after} s of CPU in 2 s"
    );
    server.stop();
}

/// Kubernetes stops a pod with SIGTERM, possibly as soon as it is up: the server stops
/// gracefully (exit 0, "stopping" logged) even when the signal comes right after the banner,
/// because the handlers are installed before it is printed.
#[test]
fn sigterm_right_after_the_banner_stops_the_server_cleanly() {
    let _serial = serial();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let env = serve_env(dir.path());
        let mut server = Server::spawn(&["serve"], &env, dir.path(), None);
        let status = server.signal("-TERM");
        std::thread::sleep(Duration::from_millis(100));
        let log = server.log.lock().unwrap().clone();
        assert!(
            status.is_some_and(|s| s.success()),
            "SIGTERM did not stop the server cleanly ({status:?}); log:\n{log}"
        );
        assert!(log.contains("xlserver: stopping"), "{log}");
    }
}

#[test]
fn a_flood_of_idle_sockets_under_a_small_file_limit_leaves_healthz_answering() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let env = serve_env(dir.path());
    let server = Server::spawn(&["serve"], &env, dir.path(), Some(256));
    let socks: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server.addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // The idle ones were closed to make room.
    let closed = socks
        .into_iter()
        .filter(|mut s| {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            match s.read(&mut [0u8; 16]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            }
        })
        .count();
    assert!(closed > 100, "only {closed} idle sockets closed");
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("xlserver_connections_refused"),
        "{metrics}"
    );
    assert!(!server.log.lock().unwrap().contains("Too many open files"));
    server.stop();
}

#[test]
fn keys_added_without_a_configuration_are_the_ones_serve_uses_and_failures_do_not_flood_the_log() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xlserver"))
        .args(["keys", "add", "--name", "desk"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let key = text
        .split_whitespace()
        .find(|w| w.starts_with("xlf_"))
        .unwrap()
        .to_owned();
    assert!(dir.path().join("xlserver-keys.json").is_file());
    let env = serve_env(dir.path());
    let server = Server::spawn(&["serve"], &env, dir.path(), None);
    assert!(
        server.banner.contains("required (from xlserver-keys.json)"),
        "{}",
        server.banner
    );
    assert!(
        server
            .banner
            .contains("curl -s -H 'Authorization: Bearer <your key>'"),
        "{}",
        server.banner
    );
    assert!(server.token.is_none());
    let http = reqwest::blocking::Client::new();
    let url = format!("{}/api/v1/search?text=A", server.url);
    assert_eq!(http.get(&url).send().unwrap().status(), 401);
    assert_eq!(
        http.get(&url).bearer_auth(&key).send().unwrap().status(),
        200
    );
    // A flood of wrong keys: throttled, and a line or two in the log, not one per request.
    let lines_before = server.log.lock().unwrap().lines().count();
    let mut throttled = 0;
    for _ in 0..300 {
        let s = http
            .get(&url)
            .bearer_auth("xlf_x_y")
            .send()
            .unwrap()
            .status();
        throttled += usize::from(s == 429);
    }
    std::thread::sleep(Duration::from_millis(300));
    let added = server.log.lock().unwrap().lines().count() - lines_before;
    assert!(throttled >= 250, "{throttled} of 300 throttled");
    assert!(added <= 3, "{added} log lines for 300 refusals");
    server.stop();
}

#[test]
fn a_run_interrupted_by_kill_9_shows_as_interrupted_after_a_restart() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = demo_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::spawn(&args, &[], dir.path(), None);
    let http = client(&server, Duration::from_secs(30));
    let r = http
        .post(format!("{}/admin/v1/runs", server.url))
        .json(&json!({"stage": "fetch", "args": ["--sim", "--symbols", "AAPL,MSFT,SPY,KO,XOM",
            "--kinds", "ticks,bars:60", "--from", "2024-01-02", "--to", "2024-06-28", "--jobs", "1"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().unwrap());
    let id = r.json::<Value>().unwrap()["id"].as_u64().unwrap();
    // Kill it once it is under way (some units done, not all).
    let started = Instant::now();
    loop {
        let run: Value = http
            .get(format!("{}/admin/v1/runs/{id}", server.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let done = run["progress"]["units_done"].as_u64().unwrap_or(0);
        let total = run["progress"]["units_total"].as_u64().unwrap_or(0);
        assert_eq!(
            run["status"],
            json!("running"),
            "the run ended first: {run}"
        );
        if done >= 1 && done < total {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{run}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let again = Server::spawn(&args, &[], dir.path(), None);
    let run: Value = client(&again, Duration::from_secs(30))
        .get(format!("{}/admin/v1/runs/{id}", again.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(run["status"], json!("interrupted"), "{run}");
    assert!(run["error"].as_str().unwrap().contains("stopped"), "{run}");
    // A new run takes a new id.
    let r = client(&again, Duration::from_secs(30))
        .post(format!("{}/admin/v1/runs", again.url))
        .json(&json!({"stage": "postprocess", "args": ["--from", "2024-06-28"]}))
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["id"].as_u64(), Some(id + 1));
    again.stop();
}

/// Issue 14: a FEED store written with key layout 1 (no layout marker, abbreviated kind names)
/// stops `xlserver serve` at start, naming the store and the command that migrates it.
#[tokio::test]
async fn a_store_of_an_older_key_layout_is_refused_at_start_naming_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let feed = xlfeed_store::testing::TestStore::embedded();
    // The chunk is never read: the layout is checked first.
    let chunk = b"an option trades chunk".to_vec();
    feed.write_layout1(&[(
        xlfeed_store::Dataset::Feed,
        "otrade",
        "SPY",
        20240102,
        chunk,
    )])
    .await;
    let mut env = serve_env(dir.path());
    env[0].1 = feed.url();
    let out = Command::new(env!("CARGO_BIN_EXE_xlserver"))
        .arg("serve")
        .envs(env)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("run `xlpipeline migrate --store {}`", feed.url())),
        "{err}"
    );
}

/// `xlserver config check` (issue 14, figment2 in place of figment): the file, then
/// `XLFEED_<SECTION>__<KEY>` over it; a bad key or value is named with where it came from;
/// passwords never printed.
#[test]
fn config_check_layers_the_environment_over_the_file_and_names_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("xlserver.toml");
    std::fs::write(
        &file,
        "[server]\nhttp = \"127.0.0.1:9999\"\n[stores]\nfeed = \"redis://:s3cret@h:6379/0\"\n",
    )
    .unwrap();
    let check = |env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xlserver"))
            .args(["--config", file.to_str().unwrap(), "config", "check"])
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let text = stdout.clone() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), stdout, text)
    };

    let (ok, stdout, text) = check(&[
        ("XLFEED_CACHE__MAX_MB", "2048"),
        (
            "XLFEED_SECURITY__CORS_ORIGINS",
            "[\"https://a.com\",\"https://b.com\"]",
        ),
        ("XLFEED_STORES__POST", "redis://u:pw@h/1"),
        ("XLFEED_UNRELATED", "x"),
    ]);
    assert!(ok, "{text}");
    let c: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(c["server"]["http"], "127.0.0.1:9999");
    assert_eq!(c["cache"]["max_mb"], 2048);
    assert_eq!(
        c["security"]["cors_origins"],
        json!(["https://a.com", "https://b.com"])
    );
    assert_eq!(c["stores"]["feed"], "redis://:***@h:6379/0");
    assert_eq!(c["stores"]["post"], "redis://u:***@h/1");
    assert!(!text.contains("s3cret") && !text.contains(":pw@"), "{text}");

    let (ok, _, text) = check(&[("XLFEED_CACHE__MAX_MBB", "3")]);
    assert!(!ok);
    assert!(
        text.contains("max_mbb") && text.contains("XLFEED_"),
        "{text}"
    );
    let (ok, _, text) = check(&[("XLFEED_CACHE__MAX_MB", "lots")]);
    assert!(!ok);
    assert!(
        text.contains("\"lots\"") && text.contains("MAX_MB"),
        "{text}"
    );

    std::fs::write(&file, "[cache]\nmax_mbb = 3\n").unwrap();
    let (ok, _, text) = check(&[]);
    assert!(!ok);
    assert!(
        text.contains("max_mbb") && text.contains("xlserver.toml"),
        "{text}"
    );
}

/// `--check` (issue 16: a container's command line checked without running it): the
/// configuration and a report's arguments pass or fail with exit 2 naming the bad value;
/// nothing is opened (the stores named do not exist, and the port is taken).
#[test]
fn check_says_what_serve_and_report_would_do_without_opening_anything() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let file = dir.path().join("xlserver.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nhttp = \"{}\"\n[stores]\nfeed = \"redis://:s3cret@ssdb-feed.invalid:8888/0\"\npost = \"redis://ssdb-post.invalid:8888/0\"\n",
            taken.local_addr().unwrap()
        ),
    )
    .unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xlserver"))
            .args(["--config", file.to_str().unwrap()])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, text) = run(&["serve", "--check"], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("configuration valid") && text.contains("ssdb-post.invalid"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    let (code, text) = run(
        &[
            "report",
            "--check",
            "--out",
            "/reports",
            "--function",
            "ticks",
            "symbol=SPY",
            "start=2024-06-28",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("function ticks") && text.contains("/reports"),
        "{text}"
    );
    assert!(!dir.path().join("reports").exists());
    for (args, env, names) in [
        (
            &["serve", "--check"][..],
            &[("XLFEED_STORES__POST", "ftp://x")][..],
            "\"ftp://x\"",
        ),
        (
            &[
                "report",
                "--check",
                "history",
                "symbol=AAPL",
                "start=someday",
            ][..],
            &[][..],
            "\"someday\"",
        ),
        (
            &["report", "--check", "--function", "nope", "a=1"][..],
            &[][..],
            "\"nope\"",
        ),
        (
            &["keys", "--check", "list"][..],
            &[][..],
            "--check applies to",
        ),
    ] {
        let (code, text) = run(args, env);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains(names), "{args:?}: {text}");
    }
}
