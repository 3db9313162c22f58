//! The Excel add-in as xlserver serves it: its files under /addin/, and the manifest rendered
//! for the origin of the request, or for server.public_url.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use xlfeed_server::config::Config;
use xlfeed_server::serve;
use xlfeed_store::Store;

const TEMPLATE: &str = r#"<OfficeApp><SourceLocation DefaultValue="{{ORIGIN}}/addin/taskpane.html"/><AppDomain>{{ORIGIN}}</AppDomain></OfficeApp>"#;

async fn start(addin: &std::path::Path, public_url: &str) -> (serve::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let feed = Store::open(&format!("embedded://{}/feed", dir.path().display()))
        .await
        .unwrap();
    let post = Store::open(&format!("embedded://{}/post", dir.path().display()))
        .await
        .unwrap();
    let mut c = Config::default();
    c.server.http = "127.0.0.1:0".into();
    c.server.grpc = "127.0.0.1:0".into();
    c.server.addin_dir = addin.to_path_buf();
    c.server.public_url = public_url.into();
    c.validate().unwrap();
    (serve::start(&c, (feed, post)).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_addin_and_its_manifest_for_the_origin() {
    let addin = tempfile::tempdir().unwrap();
    std::fs::write(addin.path().join("manifest.template.xml"), TEMPLATE).unwrap();
    std::fs::write(addin.path().join("functions.js"), "export const x = 1;\n").unwrap();
    let (running, _data) = start(addin.path(), "").await;
    let base = running.http_url();
    let http = reqwest::Client::new();

    let r = http
        .get(format!("{base}/addin/manifest.xml"))
        .send()
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

    // Behind a TLS proxy: the host the client used, https.
    let xml = http
        .get(format!("{base}/addin/manifest.xml"))
        .header("Host", "xl.example.com")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("<AppDomain>https://xl.example.com</AppDomain>"),
        "{xml}"
    );

    // A Host that could break the XML is refused, naming it.
    let r = http
        .get(format!("{base}/addin/manifest.xml"))
        .header("Host", "x\"><b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("x\\\"><b"));

    // The other files as built; a missing one is a 404.
    let r = http
        .get(format!("{base}/addin/functions.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "export const x = 1;\n");
    let r = http
        .get(format!("{base}/addin/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_names_the_origin_and_a_missing_build_says_how_to_build() {
    let addin = tempfile::tempdir().unwrap();
    std::fs::write(addin.path().join("manifest.template.xml"), TEMPLATE).unwrap();
    let (running, _data) = start(addin.path(), "https://xlserver.example.com/ignored/path").await;
    let xml = reqwest::get(format!("{}/addin/manifest.xml", running.http_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("<AppDomain>https://xlserver.example.com</AppDomain>"),
        "{xml}"
    );
    running.shutdown().await;

    // A folder without the template: the manifest route says to build the add-in.
    let empty = tempfile::tempdir().unwrap();
    let (running, _data) = start(empty.path(), "").await;
    let r = reqwest::get(format!("{}/addin/manifest.xml", running.http_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("npm run build"));
    running.shutdown().await;

    // No folder at all: no /addin/ routes.
    let (running, _data) = start(&empty.path().join("absent"), "").await;
    let r = reqwest::get(format!("{}/addin/manifest.xml", running.http_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
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
