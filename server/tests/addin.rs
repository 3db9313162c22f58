//! The Excel add-in as xlserver serves it: its files under /addin/, and the manifest rendered
//! for the origin of the request, or for server.public_url.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use xlfeed_server::config::Config;
use xlfeed_server::serve;

mod common;

const TEMPLATE: &str = r#"<OfficeApp><SourceLocation DefaultValue="{{ORIGIN}}/addin/taskpane.html"/><AppDomain>{{ORIGIN}}</AppDomain></OfficeApp>"#;

/// xlserver on free loopback ports over empty embedded stores, configured by `configure`.
async fn start_with(configure: impl FnOnce(&mut Config)) -> (serve::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = common::App::start(
        dir.path(),
        common::On::Embedded,
        common::Data::Empty,
        configure,
    )
    .await;
    (app.running, dir)
}

/// xlserver serving the add-in in `addin`, with `public_url`.
async fn start(addin: &std::path::Path, public_url: &str) -> (serve::Running, tempfile::TempDir) {
    start_with(|c| {
        c.server.addin_dir = addin.to_path_buf();
        c.server.public_url = public_url.into();
        c.server.allowed_hosts = vec!["xl.example.com".into()];
    })
    .await
}

/// GET `path` on `running` with `headers`: the status and the body.
async fn get(
    running: &serve::Running,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut r = reqwest::Client::new().get(format!("{}{path}", running.http_url()));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let (status, _, body) = common::Contract::new().send("GET", path, r).await;
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_addin_and_its_manifest_for_the_origin() {
    let addin = tempfile::tempdir().unwrap();
    std::fs::write(addin.path().join("manifest.template.xml"), TEMPLATE).unwrap();
    std::fs::write(addin.path().join("functions.js"), "export const x = 1;\n").unwrap();
    let (running, _data) = start(addin.path(), "").await;
    let base = running.http_url();

    let r = reqwest::get(format!("{base}/addin/manifest.xml"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("xml")
    );
    let xml = r.text().await.unwrap();
    assert!(
        xml.contains(&format!("\"{base}/addin/taskpane.html\"")),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<AppDomain>{base}</AppDomain>")),
        "{xml}"
    );

    // Behind a TLS proxy: the host the client used, https (a host the server was told of).
    let proxied = [("Host", "xl.example.com"), ("X-Forwarded-Proto", "https")];
    let (_, xml) = get(&running, "/addin/manifest.xml", &proxied).await;
    assert!(
        xml.contains("<AppDomain>https://xl.example.com</AppDomain>"),
        "{xml}"
    );
    // A host it was not told of is refused, naming it (DNS rebinding, host header attacks).
    let (status, body) = get(&running, "/addin/manifest.xml", &[("Host", "evil.example")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains(r#"\"evil.example\""#), "{body}");

    // A Host that could break the XML is refused, naming it.
    let (status, body) = get(&running, "/addin/manifest.xml", &[("Host", "x\"><b")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Quoted with its quote escaped, in a JSON string.
    assert!(body.contains(r#"\"x\\\"><b\""#), "{body}");

    // The other files as built; a missing one is a 404.
    let (status, body) = get(&running, "/addin/functions.js", &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "export const x = 1;\n")
    );
    assert_eq!(
        get(&running, "/addin/nothing.js", &[]).await.0,
        StatusCode::NOT_FOUND
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_names_the_origin_and_a_missing_build_says_how_to_build() {
    let addin = tempfile::tempdir().unwrap();
    std::fs::write(addin.path().join("manifest.template.xml"), TEMPLATE).unwrap();
    let (running, _data) = start(addin.path(), "https://xlserver.example.com/").await;
    let (_, xml) = get(&running, "/addin/manifest.xml", &[]).await;
    assert!(
        xml.contains("<AppDomain>https://xlserver.example.com</AppDomain>"),
        "{xml}"
    );
    running.shutdown().await;

    // A folder without the template: the manifest route says to build the add-in.
    let empty = tempfile::tempdir().unwrap();
    let (running, _data) = start(empty.path(), "").await;
    let (status, body) = get(&running, "/addin/manifest.xml", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("npm run build"), "{body}");
    running.shutdown().await;

    // No folder at all: no /addin/ routes.
    let (running, _data) = start(&empty.path().join("absent"), "").await;
    assert_eq!(
        get(&running, "/addin/manifest.xml", &[]).await.0,
        StatusCode::NOT_FOUND
    );
    running.shutdown().await;
}

#[test]
fn a_bad_public_url_is_named() {
    let mut c = Config::default();
    c.server.public_url = "xlserver.example.com".into();
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("server.public_url \"xlserver.example.com\""),
        "{e}"
    );
}

/// What the add-in's client relies on: answers past the response budget come back as errors
/// marked `resend`, each other answer intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_past_the_response_budget_are_marked_resend() {
    let (running, _data) = start_with(|c| c.limits.max_response_bytes = 100).await;
    let calls = serde_json::json!({"calls": [
        {"fn": "search", "args": {"text": "A"}},
        {"fn": "search", "args": {"text": "B"}},
        {"fn": "quote", "args": {"symbol": ""}}
    ]});
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/batch", running.http_url()))
        .json(&calls)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = r["results"].as_array().unwrap();
    assert!(results[0]["value"]["columns"].is_array(), "{r}");
    assert_eq!(
        results[1]["error"]["resend"],
        serde_json::json!(true),
        "{r}"
    );
    assert!(
        results[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("later batch"),
        "{r}"
    );
    // A bad call is its own error, not a resend.
    assert_eq!(
        results[2]["error"]["excel"],
        serde_json::json!("#VALUE!"),
        "{r}"
    );
    assert!(results[2]["error"].get("resend").is_none(), "{r}");
    running.shutdown().await;
}
