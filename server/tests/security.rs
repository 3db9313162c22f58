//! Security end to end: API keys and roles on the HTTP and gRPC listeners, the loopback-only
//! rule without keys, admin runs, HTTPS with a development certificate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::{Value, json};
use xlfeed_server::auth::{KeyFile, Role};
use xlfeed_server::config::Config;
use xlfeed_server::serve;

mod common;

/// xlserver over empty embedded stores in `dir`, configured by `configure`.
async fn start(dir: &std::path::Path, configure: impl FnOnce(&mut Config)) -> serve::Running {
    common::App::start(dir, common::On::Embedded, common::Data::Empty, configure)
        .await
        .running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_roles_guard_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let mut file = KeyFile::open(&keys).unwrap();
    let (_, analyst) = file.add("alice", Role::Analyst).unwrap();
    let (_, admin) = file.add("root", Role::Admin).unwrap();
    let running = start(dir.path(), |c| c.security.keys_file = Some(keys.clone())).await;
    assert!(running.auth);
    let base = running.http_url();
    let http = reqwest::Client::new();
    let contract = common::Contract::new();
    let get = |path: &str, key: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        contract.respond("GET", path, r)
    };

    // No key, a wrong key: 401 naming nothing secret; open routes stay open.
    let r = get("/api/v1/quote?symbol=AAPL", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = get("/api/v1/quote?symbol=AAPL", Some("xlf_nope_nope"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert!(!body.to_string().contains("xlf_nope_nope"));
    for open in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(
            get(open, None).await.unwrap().status(),
            StatusCode::OK,
            "{open}"
        );
    }

    // gRPC: the same keys, as `authorization` metadata; health stays open.
    {
        use xlfeed_proto::v1;
        use xlfeed_server::grpc::pb::query_service_client::QueryServiceClient;
        let grpc = format!("http://{}", running.grpc_addr);
        let mut c = QueryServiceClient::connect(grpc.clone()).await.unwrap();
        let ask = |key: Option<String>| {
            let mut r = tonic::Request::new(v1::QuoteRequest {
                symbol: "AAPL".into(),
                ..Default::default()
            });
            if let Some(k) = key {
                r.metadata_mut()
                    .insert("authorization", format!("Bearer {k}").parse().unwrap());
            }
            r
        };
        let e = c.quote(ask(None)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
        let e = c.quote(ask(Some(analyst.clone()))).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        let channel = tonic::transport::Channel::from_shared(grpc)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let h = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap();
        assert_eq!(h.into_inner().status, 1); // SERVING
    }

    // Analyst: the API (an empty store answers 404 for the symbol), not admin.
    let r = get("/api/v1/quote?symbol=AAPL", Some(&analyst))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get("/admin/v1/stats", Some(&analyst)).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(format!("{base}/admin/v1/runs"))
        .bearer_auth(&analyst)
        .json(&json!({"stage": "postprocess", "args": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Admin: everything, including runs: bad options named, a real run to its report.
    assert_eq!(
        get("/admin/v1/stats", Some(&admin)).await.unwrap().status(),
        StatusCode::OK
    );
    let cfg: Value = get("/admin/v1/config", Some(&admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(cfg["security"]["keys_file"].is_string());
    let r = http
        .post(format!("{base}/admin/v1/runs"))
        .bearer_auth(&admin)
        .json(&json!({"stage": "fetch", "args": ["--bogus"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let msg: Value = r.json().await.unwrap();
    assert!(
        msg["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--bogus"),
        "{msg}"
    );
    // Without --feed the run writes to the server's own FEED.
    let feed = format!("embedded://{}/feed", dir.path().display());
    let r = http
        .post(format!("{base}/admin/v1/runs"))
        .bearer_auth(&admin)
        .json(
            &json!({"stage": "fetch", "args": ["--sim", "--symbols", "KO", "--kinds", "daily",
            "--from", "2024-06-03", "--to", "2024-06-07"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let mut run = Value::Null;
    for _ in 0..600 {
        run = get(&format!("/admin/v1/runs/{id}"), Some(&admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if run["status"] != json!("running") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(run["status"], json!("complete"), "{run}");
    let args: Vec<&str> = run["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--feed", feed.as_str()]),
        "{run}"
    );
    assert_eq!(
        run["progress"]["units_done"],
        run["progress"]["units_total"]
    );
    assert_eq!(run["report"]["status"], json!("complete"));
    // The run's data is served at once (the cache was dropped when it ended).
    let h: Value = get(
        "/api/v1/history?symbol=KO&start=2024-06-03&end=2024-06-07",
        Some(&analyst),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(h["rows"].as_array().unwrap().len(), 5, "{h}");
    let list: Value = get("/admin/v1/runs", Some(&admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["runs"].as_array().unwrap().len(), 1);
    let r = get("/admin/v1/runs/99", Some(&admin)).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Revoked: refused once the server has re-read the keys file.
    let mut file = KeyFile::open(&keys).unwrap();
    let id = file
        .list()
        .into_iter()
        .find(|k| k.name == "alice")
        .unwrap()
        .id;
    file.revoke(&id).unwrap();
    let mut refused = false;
    for _ in 0..100 {
        if get("/api/v1/search?text=K", Some(&analyst))
            .await
            .unwrap()
            .status()
            == StatusCode::UNAUTHORIZED
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "a revoked key still works after 10 s");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_only_loopback_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), |c| {
        c.server.http = "0.0.0.0:0".into();
        c.server.grpc = "0.0.0.0:0".into();
    })
    .await;
    assert!(!running.auth);
    assert!(
        running.http_addr.ip().is_loopback(),
        "{}",
        running.http_addr
    );
    assert!(
        running.grpc_addr.ip().is_loopback(),
        "{}",
        running.grpc_addr
    );
    running.shutdown().await;
}

#[cfg(feature = "demo-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_development_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = xlfeed_server::tls::write_dev_cert(dir.path()).unwrap();
    let pem = std::fs::read(&tls.cert).unwrap();
    let running = start(dir.path(), |c| c.tls = Some(tls)).await;
    let url = format!("https://localhost:{}/healthz", running.http_addr.port());
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Plain HTTP on the TLS port is refused, not served.
    let plain = reqwest::get(format!(
        "http://127.0.0.1:{}/healthz",
        running.http_addr.port()
    ))
    .await;
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);
    running.shutdown().await;
}
