//! The keys, the checks and the middleware, on a real listener.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::fs;
use std::net::IpAddr;
use std::path::Path;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};

use super::check::*;
use super::keyfile::*;
use super::*;
use crate::http::cors::cors;
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;

fn config(dir: &Path) -> SecurityConfig {
    SecurityConfig {
        keys_file: Some(dir.join("keys.json")),
        ..SecurityConfig::default()
    }
}

/// A router with `/read` (analyst) and `/admin` (admin), served on 127.0.0.1:0.
async fn serve(auth: Auth) -> SocketAddr {
    async fn who(axum::Extension(p): axum::Extension<Principal>) -> String {
        format!("{}", p.role)
    }
    let app = Router::new()
        .route(
            "/read",
            get(who).layer(axum::middleware::from_fn_with_state(
                (auth.clone(), Role::Analyst),
                require,
            )),
        )
        .route(
            "/admin",
            get(who).layer(axum::middleware::from_fn_with_state(
                (auth, Role::Admin),
                require,
            )),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn get_with(addr: SocketAddr, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

async fn error_body(resp: reqwest::Response) -> serde_json::Value {
    resp.json::<serde_json::Value>().await.unwrap()["error"].clone()
}

#[test]
fn role_parse_and_order() {
    assert_eq!(Role::parse("Admin"), Ok(Role::Admin));
    assert_eq!(Role::parse(" analyst "), Ok(Role::Analyst));
    let err = Role::parse("root").unwrap_err();
    assert!(err.contains("\"root\""), "{err}");
    assert!(Role::Admin > Role::Analyst);
}

#[test]
fn keys_add_list_revoke_round_trip_stores_only_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("keys.json");
    let mut file = KeyFile::open(&path).unwrap();
    assert!(file.list().is_empty());

    let (info, key) = file.add("excel-desk", Role::Analyst).unwrap();
    let (id, secret) = parse_key(&key).unwrap();
    assert_eq!(id, info.id);
    assert_eq!(secret.len(), SECRET_BYTES * 2);
    let (admin, _) = file.add("ops", Role::Admin).unwrap();

    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains(secret), "the secret must not be stored");
    assert!(text.contains(&hex::encode(Sha256::digest(secret.as_bytes()))));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary files left behind.
    assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

    let reopened = KeyFile::open(&path).unwrap();
    let listed = reopened.list();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, "excel-desk");
    assert_eq!(listed[1].role, Role::Admin);
    assert!(chrono::DateTime::parse_from_rfc3339(&listed[0].created).is_ok());

    let mut reopened = reopened;
    let revoked = reopened.revoke(&admin.id).unwrap();
    assert!(revoked.revoked);
    assert!(KeyFile::open(&path).unwrap().list()[1].revoked);
    let err = reopened.revoke("nosuchid").unwrap_err().to_string();
    assert!(err.contains("\"nosuchid\""), "{err}");
    assert!(reopened.add("  ", Role::Analyst).is_err());
}

#[test]
fn a_keys_file_that_cannot_be_replaced_is_an_error_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let mut file = KeyFile::open(&path).unwrap();
    // Something that is not a file where the keys file goes: the rename fails.
    fs::create_dir(&path).unwrap();
    fs::write(path.join("x"), "").unwrap();
    let err = format!("{:#}", file.add("desk", Role::Analyst).unwrap_err());
    assert!(err.contains("failed to write the keys file"), "{err}");
    assert!(err.contains("keys.json"), "{err}");
    assert!(
        file.list().is_empty(),
        "the key is not kept when it is not saved"
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_corrupt_keys_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    fs::write(&path, "{not json").unwrap();
    let err = KeyFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("keys.json"), "{err}");
    assert!(Auth::new(&config(dir.path())).is_err());
}

#[test]
fn zero_rate_limit_is_rejected() {
    let cfg = SecurityConfig {
        rate_limit_per_sec: 0,
        ..SecurityConfig::default()
    };
    let err = Auth::new(&cfg).unwrap_err().to_string();
    assert!(err.contains("rate_limit_per_sec"), "{err}");
}

#[tokio::test]
async fn without_keys_the_api_is_open_and_admin_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::new(&config(dir.path())).unwrap();
    assert!(!auth.enabled());
    let token = auth.admin_token().to_owned();
    assert!(token.len() > 40, "{token}");
    let auth_none = Auth::new(&SecurityConfig::default()).unwrap();
    assert!(!auth_none.enabled());
    assert_ne!(auth_none.admin_token(), token, "a fresh token per server");
    let addr = serve(auth).await;
    let resp = get_with(addr, "/read", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "analyst");
    for wrong in [None, Some("xlf_admin_guess")] {
        let resp = get_with(addr, "/admin", wrong).await;
        assert_eq!(resp.status(), 401, "{wrong:?}");
        let err = error_body(resp).await;
        assert!(
            err["message"].as_str().unwrap().contains("admin token"),
            "{err}"
        );
    }
    let resp = get_with(addr, "/admin", Some(&token)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "admin");
    // A configured token is used as is.
    let fixed = Auth::new(&SecurityConfig {
        admin_token: "0123456789abcdef-fixed".into(),
        ..SecurityConfig::default()
    })
    .unwrap();
    assert_eq!(fixed.admin_token(), "0123456789abcdef-fixed");
}

#[tokio::test]
async fn an_address_whose_keys_fail_too_often_gets_429_for_its_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = KeyFile::open(&dir.path().join("keys.json")).unwrap();
    let (_, key) = file.add("desk", Role::Analyst).unwrap();
    let auth = Auth::new(&SecurityConfig {
        failed_auth_per_min: 3,
        ..config(dir.path())
    })
    .unwrap();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let bearer = |k: &str| {
        HeaderMap::from_iter([(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {k}")).unwrap(),
        )])
    };
    for _ in 0..3 {
        let e = auth
            .check(&bearer("xlf_a_b"), Role::Analyst, Some(ip))
            .unwrap_err();
        assert_eq!(e, AuthError::Invalid);
    }
    let e = auth
        .check(&bearer("xlf_a_b"), Role::Analyst, Some(ip))
        .unwrap_err();
    assert!(
        matches!(e, AuthError::Throttled { retry_after_secs } if retry_after_secs >= 1),
        "{e:?}"
    );
    let r = ApiError::from(e).into_response();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // The right key still passes (nobody behind the same address is locked out), and no
    // key at all is not a failure (a cross-site page cannot add to the count).
    assert!(auth.check(&bearer(&key), Role::Analyst, Some(ip)).is_ok());
    assert_eq!(
        auth.check(&HeaderMap::new(), Role::Analyst, Some(ip))
            .unwrap_err(),
        AuthError::Missing
    );
    // Another address is counted on its own.
    let other: IpAddr = "192.0.2.8".parse().unwrap();
    assert_eq!(
        auth.check(&bearer("xlf_a_b"), Role::Analyst, Some(other))
            .unwrap_err(),
        AuthError::Invalid
    );
}

#[tokio::test]
async fn missing_and_wrong_keys_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = KeyFile::open(&dir.path().join("keys.json")).unwrap();
    let (_, key) = file.add("desk", Role::Analyst).unwrap();
    let auth = Auth::new(&config(dir.path())).unwrap();
    assert!(auth.enabled());
    let addr = serve(auth).await;

    let resp = get_with(addr, "/read", None).await;
    assert_eq!(resp.status(), 401);
    let www = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(www.starts_with("Bearer"), "{www}");
    let err = error_body(resp).await;
    assert_eq!(err["code"], "unauthenticated");
    assert_eq!(err["excel"], "#VALUE!");

    // Right id, wrong secret; garbage; a key that is not ours.
    let (id, secret) = parse_key(&key).unwrap();
    let wrong = format!("xlf_{id}_{}", "0".repeat(secret.len()));
    for bad in [wrong.as_str(), "hello", "xlf_0000_1111"] {
        let resp = get_with(addr, "/read", Some(bad)).await;
        assert_eq!(resp.status(), 401, "{bad}");
        assert!(resp.headers().contains_key("www-authenticate"));
        let text = resp.text().await.unwrap();
        assert!(!text.contains(bad), "the key must not be echoed: {text}");
    }
}

#[tokio::test]
async fn analyst_is_forbidden_on_admin_routes_and_admin_passes_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = KeyFile::open(&dir.path().join("keys.json")).unwrap();
    let (_, analyst) = file.add("desk", Role::Analyst).unwrap();
    let (admin_info, admin) = file.add("ops", Role::Admin).unwrap();
    let addr = serve(Auth::new(&config(dir.path())).unwrap()).await;

    assert_eq!(get_with(addr, "/read", Some(&analyst)).await.status(), 200);
    let resp = get_with(addr, "/admin", Some(&analyst)).await;
    assert_eq!(resp.status(), 403);
    let err = error_body(resp).await;
    assert_eq!(err["code"], "permission_denied");
    assert!(err["message"].as_str().unwrap().contains("admin"));

    for path in ["/read", "/admin"] {
        let resp = get_with(addr, path, Some(&admin)).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.text().await.unwrap(), "admin");
    }
    // X-API-Key works as well as Bearer.
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/admin"))
        .header("X-API-Key", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let p = Auth::new(&config(dir.path()))
        .unwrap()
        .check(
            &HeaderMap::from_iter([(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("bearer {admin}")).unwrap(),
            )]),
            Role::Admin,
            None,
        )
        .unwrap();
    assert_eq!(p.key_id.as_deref(), Some(admin_info.id.as_str()));
}

#[tokio::test]
async fn a_revoked_key_gets_401_after_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let mut file = KeyFile::open(&path).unwrap();
    let (info, key) = file.add("desk", Role::Analyst).unwrap();
    let (_, other) = file.add("other", Role::Analyst).unwrap();
    let auth = Auth::new(&config(dir.path())).unwrap();
    let addr = serve(auth.clone()).await;
    assert_eq!(get_with(addr, "/read", Some(&key)).await.status(), 200);

    KeyFile::open(&path).unwrap().revoke(&info.id).unwrap();
    auth.reload().unwrap();
    assert_eq!(get_with(addr, "/read", Some(&key)).await.status(), 401);
    assert_eq!(get_with(addr, "/read", Some(&other)).await.status(), 200);
}

#[tokio::test]
async fn revoking_the_last_key_locks_out_rather_than_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let mut file = KeyFile::open(&path).unwrap();
    let (info, key) = file.add("desk", Role::Admin).unwrap();
    let auth = Auth::new(&config(dir.path())).unwrap();
    file.revoke(&info.id).unwrap();
    auth.reload().unwrap();
    assert!(auth.enabled());
    let addr = serve(auth).await;
    assert_eq!(get_with(addr, "/read", None).await.status(), 401);
    assert_eq!(get_with(addr, "/read", Some(&key)).await.status(), 401);
}

#[tokio::test]
async fn a_key_past_its_burst_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = KeyFile::open(&dir.path().join("keys.json")).unwrap();
    let (_, key) = file.add("desk", Role::Analyst).unwrap();
    let (_, other) = file.add("other", Role::Analyst).unwrap();
    let cfg = SecurityConfig {
        rate_limit_per_sec: 1,
        rate_limit_burst: 3,
        ..config(dir.path())
    };
    let addr = serve(Auth::new(&cfg).unwrap()).await;
    for _ in 0..3 {
        assert_eq!(get_with(addr, "/read", Some(&key)).await.status(), 200);
    }
    let resp = get_with(addr, "/read", Some(&key)).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let err = error_body(resp).await;
    assert_eq!(err["code"], "resource_exhausted");
    assert_eq!(err["excel"], "#BUSY!");
    // The limit is per key.
    assert_eq!(get_with(addr, "/read", Some(&other)).await.status(), 200);
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let cfg = SecurityConfig {
        cors_origins: vec!["https://addin.example.com/".to_owned()],
        ..SecurityConfig::default()
    };
    let app = Router::new()
        .route("/read", get(|| async { "ok" }))
        .layer(cors(&cfg).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    let resp = client
        .get(format!("http://{addr}/read"))
        .header("Origin", "https://addin.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://addin.example.com"
    );
    let preflight = client
        .request(Method::OPTIONS, format!("http://{addr}/read"))
        .header("Origin", "https://addin.example.com")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");

    let resp = client
        .get(format!("http://{addr}/read"))
        .header("Origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));

    // Empty list: no cross-origin access at all.
    let closed = cors(&SecurityConfig::default()).unwrap();
    let app = Router::new()
        .route("/read", get(|| async { "ok" }))
        .layer(closed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let resp = client
        .get(format!("http://{addr}/read"))
        .header("Origin", "https://addin.example.com")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
}

#[test]
fn keys_subcommand_adds_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let add = KeysCommand::Add {
        name: "desk".to_owned(),
        role: "admin".to_owned(),
    };
    run_keys(add, &path).unwrap();
    run_keys(KeysCommand::List, &path).unwrap();
    let keys = KeyFile::open(&path).unwrap().list();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].role, Role::Admin);
    let id = keys[0].id.clone();
    run_keys(KeysCommand::Revoke { id }, &path).unwrap();
    assert!(KeyFile::open(&path).unwrap().list()[0].revoked);
    let bad_role = KeysCommand::Add {
        name: "x".to_owned(),
        role: "root".to_owned(),
    };
    let err = run_keys(bad_role, &path).unwrap_err().to_string();
    assert!(err.contains("\"root\""), "{err}");
}

#[test]
fn security_config_defaults_and_unknown_fields() {
    let cfg: SecurityConfig = toml::from_str("cors_origins = [\"https://a.com\"]").unwrap();
    assert_eq!(cfg.rate_limit_per_sec, 200);
    assert_eq!(cfg.rate_limit_burst, 2000);
    assert_eq!(cfg.keys_file.as_deref(), Some(Path::new(DEFAULT_KEYS_FILE)));
    assert!(toml::from_str::<SecurityConfig>("rate_limt = 3").is_err());
}

#[test]
fn auth_errors_map_to_grpc_codes() {
    let s = tonic::Status::from(ApiError::from(AuthError::Missing));
    assert_eq!(s.code(), tonic::Code::Unauthenticated);
    let s = tonic::Status::from(ApiError::from(AuthError::RateLimited {
        retry_after_secs: 1,
    }));
    assert_eq!(s.code(), tonic::Code::ResourceExhausted);
}
