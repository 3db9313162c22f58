//! xlserver against hostile but fair clients, in process (issue 13): cross-site requests and
//! DNS rebinding, admin runs that reach for files and hosts, connections that send nothing or
//! half a header, a connection cap, errors that echo huge input, error bodies that are not the
//! documented JSON, repeated and out-of-range parameters, failed authentications in a flood,
//! `/metrics` behind a key or on its own listener. Each test failed before its fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use xlfeed_server::auth::{KeyFile, Role};
use xlfeed_server::config::Config;
use xlfeed_server::serve::Running;

mod common;

/// xlserver over empty embedded stores in `dir`, configured by `configure`.
async fn start(dir: &Path, configure: impl FnOnce(&mut Config)) -> Running {
    common::App::start(dir, common::On::Embedded, common::Data::Empty, configure)
        .await
        .running
}

/// One raw HTTP/1.1 exchange on a new connection: what the server answered before closing or
/// within `wait`.
fn raw(addr: std::net::SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How long until the server closes `s` (which sent what it sent), at most `limit`.
fn closed_after(mut s: TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_pages_and_rebound_names_cannot_use_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |_| {}).await;
    let token = running.admin_token.clone().unwrap();
    let base = running.http_url();
    let contract = common::Contract::new();
    let http = reqwest::Client::new();
    let run = json!({"stage": "postprocess", "args": ["--from", "2024-06-03"]}).to_string();
    let post = |ct: &str, origin: Option<&str>, key: Option<&str>| {
        let mut r = http
            .post(format!("{base}/admin/v1/runs"))
            .header("content-type", ct)
            .body(run.clone());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r
    };

    // A form or a text/plain fetch from any page: refused before anything runs.
    let (s, _, b) = contract
        .send(
            "POST",
            "/admin/v1/runs",
            post("text/plain", Some("http://evil.example"), None),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    let (s, _, b) = contract
        .send(
            "POST",
            "/admin/v1/runs",
            post("text/plain", None, Some(&token)),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(String::from_utf8_lossy(&b).contains("\\\"text/plain\\\""));
    // JSON from another site's page, even with the token: refused, naming the origin.
    let (s, _, b) = contract
        .send(
            "POST",
            "/admin/v1/runs",
            post(
                "application/json",
                Some("http://evil.example"),
                Some(&token),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&b).contains("evil.example"));
    // Without keys, admin needs the token printed at start-up.
    let (s, h, _) = contract
        .send(
            "POST",
            "/admin/v1/runs",
            post("application/json", None, None),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.contains_key("www-authenticate"));
    let (s, _, _) = contract
        .send(
            "GET",
            "/admin/v1/runs",
            http.get(format!("{base}/admin/v1/runs")),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Nothing of the refused requests started.
    let (s, _, b) = contract
        .send(
            "GET",
            "/admin/v1/runs",
            http.get(format!("{base}/admin/v1/runs"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let runs: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(runs["runs"], json!([]), "{runs}");
    // The server's own page (same origin) with the token: started.
    let own = format!("http://127.0.0.1:{}", running.http_addr.port());
    let (s, _, b) = contract
        .send(
            "POST",
            "/admin/v1/runs",
            post("application/json; charset=utf-8", Some(&own), Some(&token)),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));

    // DNS rebinding: a page of attacker.example resolved to 127.0.0.1 names its own host.
    for path in ["/api/v1/search?text=A", "/healthz", "/openapi.json"] {
        let (s, _, b) = contract
            .send(
                "GET",
                path,
                http.get(format!("{base}{path}"))
                    .header("host", "attacker.example:8080"),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        assert!(String::from_utf8_lossy(&b).contains("attacker.example"));
    }
    // A batch is a JSON body too.
    let (s, _, _) = contract
        .send(
            "POST",
            "/api/v1/batch",
            http.post(format!("{base}/api/v1/batch"))
                .header("content-type", "text/plain")
                .body(r#"{"calls": []}"#),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_runs_reach_only_their_folders_stores_and_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("in");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::write(allowed.join("symbols.txt"), "KO\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", allowed.join("link.txt")).unwrap();
    let allowed2 = allowed.clone();
    let running = start(dir.path(), move |c| {
        c.runs.allowed_dirs = vec![allowed2];
    })
    .await;
    let token = running.admin_token.clone().unwrap();
    let base = running.http_url();
    let contract = common::Contract::new();
    let http = reqwest::Client::new();
    let start_run = |args: Vec<String>| {
        http.post(format!("{base}/admin/v1/runs"))
            .bearer_auth(&token)
            .json(&json!({"stage": "fetch", "args": args}))
    };
    let fetch = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "--sim",
            "--symbols",
            "KO",
            "--kinds",
            "daily",
            "--from",
            "2024-06-03",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let outside = dir.path().join("elsewhere");
    let victim = dir.path().join("victim.json");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = allowed.join("link.txt").display().to_string();
    let out = outside.display().to_string();
    let victim_s = victim.display().to_string();
    for (args, names) in [
        (fetch(&["--report", &victim_s]), "--report"),
        (fetch(&["--report=x.json"]), "--report=x.json"),
        (fetch(&["--symbols-file", "/etc/passwd"]), "/etc/passwd"),
        (fetch(&["--symbols-file", &link]), "link.txt"),
        (fetch(&["--archive", &out]), "elsewhere"),
        (fetch(&["--feed", "redis://10.1.2.3:6379/0"]), "10.1.2.3"),
        (
            vec![
                "--iqfeed".into(),
                "10.0.0.1:9100".into(),
                "--from".into(),
                "2024-06-03".into(),
            ],
            "10.0.0.1:9100",
        ),
    ] {
        let (s, _, b) = contract
            .send("POST", "/admin/v1/runs", start_run(args))
            .await;
        let b = String::from_utf8_lossy(&b).into_owned();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{names}: {b}");
        assert!(b.contains(names), "{names}: {b}");
        assert!(!b.contains("root:"), "a file's content came back: {b}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");

    // Inside the allowed folder: it runs, and its record is the server's own.
    let symbols = allowed.join("symbols.txt").display().to_string();
    let archive = allowed.join("archive").display().to_string();
    let (s, _, b) = contract
        .send(
            "POST",
            "/admin/v1/runs",
            start_run(vec![
                "--sim".into(),
                "--symbols-file".into(),
                symbols,
                "--kinds".into(),
                "daily".into(),
                "--from".into(),
                "2024-06-03".into(),
                "--archive".into(),
                archive,
            ]),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));
    let id = serde_json::from_slice::<Value>(&b).unwrap()["id"]
        .as_u64()
        .unwrap();
    let runs_dir = dir.path().join("runs");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&runs_dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    // A link planted where the next record will go is never written through.
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&victim, "precious\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&victim, runs_dir.join(format!("run-{}.json", id + 1))).unwrap();
    let mut run = Value::Null;
    for _ in 0..300 {
        let (_, _, b) = contract
            .send(
                "GET",
                "/admin/v1/runs/1",
                http.get(format!("{base}/admin/v1/runs/{id}"))
                    .bearer_auth(&token),
            )
            .await;
        run = serde_json::from_slice(&b).unwrap();
        if run["status"] != json!("running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(run["status"], json!("complete"), "{run}");
    assert_eq!(run["report"]["status"], json!("complete"), "{run}");
    let record: Value =
        serde_json::from_slice(&std::fs::read(runs_dir.join(format!("run-{id}.json"))).unwrap())
            .unwrap();
    assert_eq!(record["status"], json!("complete"));
    // A symbol made of ../ cannot take the archive outside its folder.
    let (s, _, b) = contract
        .send(
            "POST",
            "/admin/v1/runs",
            start_run(vec![
                "--sim".into(),
                // The simulator trades the symbol, so there is data to archive.
                "--sim-any-symbol".into(),
                "--symbols".into(),
                "../../../../ESCAPED".into(),
                "--kinds".into(),
                "ticks".into(),
                "--from".into(),
                "2024-06-28".into(),
                "--archive".into(),
                allowed.join("arch2").display().to_string(),
            ]),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));
    let escaped_id = serde_json::from_slice::<Value>(&b).unwrap()["id"]
        .as_u64()
        .unwrap();
    for _ in 0..300 {
        let (_, _, b) = contract
            .send(
                "GET",
                "/admin/v1/runs/1",
                http.get(format!("{base}/admin/v1/runs/{escaped_id}"))
                    .bearer_auth(&token),
            )
            .await;
        if serde_json::from_slice::<Value>(&b).unwrap()["status"] != json!("running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    files(dir.path(), &mut all);
    assert!(
        all.iter().any(|p| p.to_string_lossy().contains("ESCAPED")),
        "the run archived nothing: the check proves nothing"
    );
    let outside: Vec<_> = all
        .iter()
        .filter(|p| p.to_string_lossy().contains("ESCAPED") && !p.starts_with(&allowed))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    let (s, _, b) = contract
        .send("POST", "/admin/v1/runs", start_run(fetch(&[])))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let next = serde_json::from_slice::<Value>(&b).unwrap()["id"]
        .as_u64()
        .unwrap();
    assert_eq!(next, escaped_id + 1);
    assert_eq!(escaped_id, id + 2, "the planted name is skipped");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // No report file anywhere but the record.
    assert!(!Path::new("fetch-report.json").exists());
    running.shutdown().await;

    // A second server on the same folder: new ids, the first's runs listed.
    let second = start(dir.path(), |_| {}).await;
    let token2 = second.admin_token.clone().unwrap();
    let (_, _, b) = contract
        .send(
            "GET",
            "/admin/v1/runs",
            http.get(format!("{}/admin/v1/runs", second.http_url()))
                .bearer_auth(&token2),
        )
        .await;
    let listed: Value = serde_json::from_slice(&b).unwrap();
    let ids: Vec<u64> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(ids.contains(&id) && ids.contains(&next), "{listed}");
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_surplus_connections_are_closed_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |c| {
        c.limits.header_read_timeout_secs = 1;
        c.limits.idle_timeout_secs = 3;
        c.limits.max_connections = 4;
    })
    .await;
    let addr = running.http_addr;

    // Nothing sent: closed after the header timeout.
    let silent = TcpStream::connect(addr).unwrap();
    let t = closed_after(silent, Duration::from_secs(10)).expect("a silent socket stays open");
    assert!(
        t >= Duration::from_millis(900) && t < Duration::from_secs(3),
        "{t:?}"
    );
    // Half a header: closed after the header timeout, counted from its first byte.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let t = closed_after(half, Duration::from_secs(10)).expect("half a header stays open");
    assert!(t < Duration::from_secs(3), "{t:?}");
    // Kept alive after an answer: open past the header timeout, closed after the idle one.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = kept.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = closed_after(kept, Duration::from_secs(10)).expect("an idle connection stays open");
    assert!(
        t >= Duration::from_secs(2) && t < Duration::from_secs(6),
        "{t:?}"
    );

    // Over the cap: idle connections make room for new ones...
    let idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let r = raw(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    drop(idle);
    // A body that trickles in: closed after the header timeout, well before the request's.
    let mut trickle = TcpStream::connect(addr).unwrap();
    trickle
        .write_all(b"POST /api/v1/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(10) {
        if trickle.write_all(b" ").is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(closed, "a trickling body kept its connection");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    running.shutdown().await;

    // ...but busy ones (a request whose body is still coming) are not evicted: 503. Each is
    // known to be in its handler when the server asks for the body (100 Continue).
    let running = start(dir.path(), |c| c.limits.max_connections = 4).await;
    let addr = running.http_addr;
    let busy: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"POST /api/v1/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap();
            assert!(
                String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            s.write_all(b"{\"calls\"").unwrap();
            s
        })
        .collect();
    let r = raw(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.to_ascii_lowercase().contains("retry-after"), "{r}");
    assert!(r.contains("\"code\":\"unavailable\""), "{r}");
    drop(busy);
    running.shutdown().await;
}

/// An HTTP/2 client that never opens its flow-control window holds an answer unsent: the
/// connection is cut after the idle timeout (the server's own pings do not keep it), and the
/// answer's share of the budget goes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_takes_no_answer_is_cut_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |c| c.limits.idle_timeout_secs = 2).await;
    let tcp = tokio::net::TcpStream::connect(running.http_addr)
        .await
        .unwrap();
    let (mut client, mut connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .unwrap();
    // The client keeps the connection busy with pings (the server answers them): still cut.
    let mut pings = connection.ping_pong().unwrap();
    tokio::spawn(async move {
        while pings.ping(h2::Ping::opaque()).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let started = Instant::now();
    let conn = tokio::spawn(async move {
        let _ = connection.await;
        started.elapsed()
    });
    let req = http::Request::get(format!(
        "http://localhost:{}/openapi.json",
        running.http_addr.port()
    ))
    .body(())
    .unwrap();
    let (response, _) = client.send_request(req, true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    // The headers came; no byte of the body can.
    let closed = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the stalled connection stayed open")
        .unwrap();
    assert!(closed >= Duration::from_millis(1500), "{closed:?}");
    let metrics = reqwest::get(format!("{}/metrics", running.http_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("xlserver_connections_closed_total{reason=\"stalled\"} 1"),
        "{metrics}"
    );
    running.shutdown().await;
}

/// A gRPC call whose request message never arrives ends at the request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_call_whose_message_never_comes_ends_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |c| c.limits.request_timeout_secs = 2).await;
    let tcp = tokio::net::TcpStream::connect(running.grpc_addr)
        .await
        .unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let req = http::Request::post(format!(
        "http://localhost:{}/xlfeed.v1.QueryService/Quote",
        running.grpc_addr.port()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    let started = Instant::now();
    let (response, mut body) = client.send_request(req, false).unwrap();
    // A message of 100 bytes announced, none sent.
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 100]), false)
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("no answer")
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.headers()["grpc-status"], "4", "{response:?}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_short_json_whatever_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |c| {
        c.server.addin_dir = dir.path().to_path_buf()
    })
    .await;
    let base = running.http_url();
    let contract = common::Contract::new();
    let http = reqwest::Client::new();

    // A 10 KB symbol: a 400 quoting 100 characters of it.
    let long = "A".repeat(10_000);
    for path in [
        format!("/api/v1/quote?symbol={long}"),
        format!("/api/v1/history?symbol=AAPL&start={long}"),
        format!("/api/v1/quote?{long}=1"),
        format!("/api/v1/{long}"),
    ] {
        let (s, _, b) = contract
            .send("GET", &path, http.get(format!("{base}{path}")))
            .await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{s}"
        );
        assert!(
            b.len() < 700,
            "{} bytes: {}",
            b.len(),
            String::from_utf8_lossy(&b)
        );
        assert!(String::from_utf8_lossy(&b).contains("(10000 characters)"));
    }
    // gRPC: a 1 MB symbol is INVALID_ARGUMENT with a short message.
    {
        use xlfeed_server::grpc::pb::query_service_client::QueryServiceClient;
        let mut c = QueryServiceClient::connect(format!("http://{}", running.grpc_addr))
            .await
            .unwrap();
        let e = c
            .quote(xlfeed_proto::v1::QuoteRequest {
                symbol: "B".repeat(1 << 20),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().len() < 500, "{}", e.message().len());
    }
    // Unknown routes, wrong methods, folders: the documented JSON, no redirect.
    for (method, path, status) in [
        ("GET", "/nothing/here", 404),
        ("DELETE", "/api/v1/history", 405),
        ("GET", "/addin/.", 404),
        ("GET", "/addin/", 404),
    ] {
        let r = raw(
            running.http_addr,
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
            Duration::from_secs(5),
        );
        assert!(r.starts_with(&format!("HTTP/1.1 {status}")), "{path}: {r}");
        assert!(r.contains("application/json"), "{path}: {r}");
        assert!(r.contains("{\"error\":{"), "{path}: {r}");
        assert!(!r.to_ascii_lowercase().contains("location:"), "{path}: {r}");
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_checked_once_each_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |_| {}).await;
    let base = running.http_url();
    let contract = common::Contract::new();
    let http = reqwest::Client::new();
    for (path, names) in [
        (
            "/api/v1/quote?symbol=AAPL&symbol=MSFT",
            "\"symbol\" is given more than once",
        ),
        (
            "/api/v1/quote?symbol=AAPL&SYMBOL=MSFT",
            "\"SYMBOL\" is given more than once",
        ),
        (
            "/api/v1/compare?symbols=AAPL,MSFT&start=2024-06-03&window=0",
            "window 0",
        ),
        (
            "/api/v1/compare?symbols=AAPL,MSFT&start=2024-06-03&window=-1",
            "window -1",
        ),
        (
            "/api/v1/compare?symbols=AAPL,MSFT&start=2024-06-03&window=1e12",
            "\"1e12\"",
        ),
        (
            "/api/v1/ticks?symbol=AAPL&start=2024-06-03&limit=0",
            "limit 0",
        ),
        ("/api/v1/search?text=A&limit=1001", "limit 1001"),
        (
            "/api/v1/history?symbol=AAPL&start=2024-06-03&fields=open,bogus",
            "\"bogus\"",
        ),
        (
            "/api/v1/ticks?symbol=AAPL&start=45443.999999999",
            "after the end of its day",
        ),
        ("/api/v1/search?text=A&dates=julian", "\"julian\""),
    ] {
        let (s, _, b) = contract
            .send("GET", path, http.get(format!("{base}{path}")))
            .await;
        let b = String::from_utf8_lossy(&b).into_owned();
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {b}");
        assert!(b.contains(&names.replace('"', "\\\"")), "{path}: {b}");
        assert!(!b.contains("end \""), "an empty value printed: {b}");
    }
    // In a batch: the same checks per call; a key repeated in the JSON is named.
    let (s, _, b) = contract
        .send(
            "POST",
            "/api/v1/batch",
            http.post(format!("{base}/api/v1/batch"))
                .header("content-type", "application/json")
                .body(r#"{"calls": [{"fn": "quote", "args": {"symbol": "A", "symbol": "B"}}]}"#),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&b).contains("appears twice"));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_throttled_and_metrics_can_be_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let mut file = KeyFile::open(&keys).unwrap();
    let (_, analyst) = file.add("desk", Role::Analyst).unwrap();
    let (_, admin) = file.add("ops", Role::Admin).unwrap();
    let keys2 = keys.clone();
    let running = start(dir.path(), move |c| {
        c.security.keys_file = Some(keys2);
        c.security.failed_auth_per_min = 5;
        c.security.metrics_need_key = true;
    })
    .await;
    let base = running.http_url();
    let contract = common::Contract::new();
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (s, h, _) = contract
            .send(
                "GET",
                "/api/v1/search",
                http.get(format!("{base}/api/v1/search?text=A"))
                    .bearer_auth("xlf_bad_guess"),
            )
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert!(h.contains_key("retry-after"));
        }
        statuses.push(s.as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // A good key from the same address still passes: only its failures wait.
    let (s, _, _) = contract
        .send(
            "GET",
            "/api/v1/search",
            http.get(format!("{base}/api/v1/search?text=A"))
                .bearer_auth(&analyst),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Requests without a key (what a cross-site page can send) are not failures.
    for _ in 0..20 {
        let (s, _, _) = contract
            .send(
                "GET",
                "/api/v1/search",
                http.get(format!("{base}/api/v1/search?text=A")),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    running.shutdown().await;

    // /metrics behind an admin key; or on a listener of its own.
    let dir = tempfile::tempdir().unwrap();
    let keys2 = keys.clone();
    let running = start(dir.path(), move |c| {
        c.security.keys_file = Some(keys2);
        c.security.metrics_need_key = true;
    })
    .await;
    let base = running.http_url();
    for (key, want) in [(None, 401), (Some(&analyst), 403), (Some(&admin), 200)] {
        let mut r = http.get(format!("{base}/metrics"));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let (s, _, _) = contract.send("GET", "/metrics", r).await;
        assert_eq!(s.as_u16(), want, "{key:?}");
    }
    running.shutdown().await;
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |c| c.server.metrics = "127.0.0.1:0".into()).await;
    let m = running.metrics_addr.unwrap();
    let text = reqwest::get(format!("http://{m}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("xlserver_connections"), "{text}");
    let (s, _, _) = contract
        .send(
            "GET",
            "/metrics",
            http.get(format!("{}/metrics", running.http_url())),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_of_a_batch_counts_against_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let (_, key) = KeyFile::open(&keys)
        .unwrap()
        .add("desk", Role::Analyst)
        .unwrap();
    let running = start(dir.path(), move |c| {
        c.security.keys_file = Some(keys);
        c.security.rate_limit_per_sec = 1;
        c.security.rate_limit_burst = 10;
        c.limits.max_batch_calls = 10;
    })
    .await;
    let contract = common::Contract::new();
    let http = reqwest::Client::new();
    let calls: Vec<Value> = (0..10)
        .map(|i| json!({"fn": "search", "args": {"text": format!("A{i}")}}))
        .collect();
    let batch = || {
        http.post(format!("{}/api/v1/batch", running.http_url()))
            .bearer_auth(&key)
            .json(&json!({ "calls": calls }))
    };
    let (s, _, _) = contract.send("POST", "/api/v1/batch", batch()).await;
    assert_eq!(s, StatusCode::OK);
    // Ten calls spent the burst: the next batch, and a single call, wait.
    let (s, h, _) = contract.send("POST", "/api/v1/batch", batch()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    let (s, _, _) = contract
        .send(
            "GET",
            "/api/v1/search",
            http.get(format!("{}/api/v1/search?text=A", running.http_url()))
                .bearer_auth(&key),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_calls_run_once_but_each_copy_counts_against_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |c| c.limits.max_response_bytes = 10_000).await;
    let contract = common::Contract::new();
    let one = json!({"fn": "search", "args": {"text": "A"}});
    let (s, _, b) = contract
        .send(
            "POST",
            "/api/v1/batch",
            reqwest::Client::new()
                .post(format!("{}/api/v1/batch", running.http_url()))
                .json(&json!({ "calls": vec![one; 1000] })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.len() < 10_000 + 200 * 1000, "{} bytes", b.len());
    let v: Value = serde_json::from_slice(&b).unwrap();
    let results = v["results"].as_array().unwrap();
    let values = results.iter().filter(|r| r.get("value").is_some()).count();
    let size = results[0]["value"].to_string().len();
    assert!(
        values >= 1 && values <= 10_000 / size,
        "{values} copies of {size} bytes"
    );
    assert!(
        results[values..]
            .iter()
            .all(|r| r["error"]["resend"] == json!(true)),
        "{}",
        results[values]
    );
    running.shutdown().await;
}

#[test]
fn the_contract_check_rejects_what_the_document_does_not_list() {
    let c = common::Contract::new();
    let wrong = std::panic::catch_unwind(|| {
        c.check(
            "GET",
            "/api/v1/history",
            200,
            "application/json",
            br#"{"nope": 1}"#,
        );
    });
    assert!(wrong.is_err(), "a body without columns passed");
    let undocumented = std::panic::catch_unwind(|| {
        c.check(
            "GET",
            "/healthz",
            401,
            "application/json",
            br##"{"error": {"code": "unauthenticated", "excel": "#VALUE!", "message": "x"}}"##,
        );
    });
    assert!(
        undocumented.is_err(),
        "a status the route never gives passed"
    );
    c.check(
        "GET",
        "/api/v1/history",
        200,
        "application/json",
        br#"{"columns": ["date"], "types": ["date"], "rows": [[45471]]}"#,
    );
}
