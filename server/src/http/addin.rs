//! The Excel add-in (`excel-addin/`, built into `server.addin_dir`), served under `/addin/`
//! from the same origin as the API, so the add-in's calls need no CORS.
//!
//! `/addin/manifest.xml` is the built `manifest.template.xml` with `{{ORIGIN}}` filled:
//! `server.public_url` when set (behind a proxy or ingress), else the origin the request came
//! to (its `Host`, https when this server has TLS or the proxy says `X-Forwarded-Proto:
//! https`). Every other file is served as built.

use std::path::PathBuf;

use super::origin::Origin;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::Config;
use crate::error::ApiError;

/// What the manifest route needs.
#[derive(Clone)]
struct Manifest {
    template: PathBuf,
    public_url: Option<String>,
    tls: bool,
}

/// The add-in's routes, when `server.addin_dir` holds a build.
pub fn routes<S: Clone + Send + Sync + 'static>(config: &Config) -> Option<Router<S>> {
    let dir = &config.server.addin_dir;
    if !dir.is_dir() {
        return None;
    }
    let manifest = Manifest {
        template: dir.join("manifest.template.xml"),
        public_url: (!config.server.public_url.is_empty())
            .then(|| {
                Origin::parse(&config.server.public_url)
                    .ok()
                    .map(|o| o.to_string())
            })
            .flatten(),
        tls: config.tls.is_some(),
    };
    Some(
        Router::new()
            .route(
                "/addin/manifest.xml",
                get(manifest_xml).with_state(manifest),
            )
            // Files only: a folder (`/addin/`, `/addin/.`) is a 404, never a redirect (which,
            // nested, would drop the `/addin` prefix).
            .nest_service(
                "/addin",
                tower_http::services::ServeDir::new(dir)
                    .append_index_html_on_directories(false)
                    .redirect_to_trailing_slash(false),
            ),
    )
}

/// Whether `host` is a host name or address with an optional port (nothing to escape in XML).
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

async fn manifest_xml(State(m): State<Manifest>, uri: Uri, headers: HeaderMap) -> Response {
    let origin = match &m.public_url {
        Some(o) => o.clone(),
        None => {
            // HTTP/1.1 names the host in Host, HTTP/2 in the :authority of the URI.
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .unwrap_or_default();
            if !valid_host(host) {
                return ApiError::bad(format!(
                    "Host \"{host}\" is not a host name: set server.public_url to the origin analysts use"
                ))
                .into_response();
            }
            let forwarded = headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok());
            let scheme = if m.tls || forwarded == Some("https") {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}")
        }
    };
    match tokio::fs::read_to_string(&m.template).await {
        Ok(t) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::VARY, "Host, X-Forwarded-Proto"),
            ],
            t.replace("{{ORIGIN}}", &origin),
        )
            .into_response(),
        Err(e) => ApiError::not_found(format!(
            "the add-in's manifest template {} cannot be read ({e}): build the add-in (cd excel-addin && npm run build)",
            m.template.display()
        ))
        .into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// An HTTP/2 request has no Host header: the origin comes from its URI's authority.
    #[tokio::test]
    async fn http2_requests_name_their_origin_in_the_uri() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manifest.template.xml"),
            "<AppDomain>{{ORIGIN}}</AppDomain>",
        )
        .unwrap();
        let mut config = Config::default();
        config.server.addin_dir = dir.path().to_path_buf();
        let app: Router = routes(&config).unwrap();
        let request = axum::http::Request::builder()
            .version(axum::http::Version::HTTP_2)
            .uri("http://localhost:8443/addin/manifest.xml")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(&body[..], b"<AppDomain>http://localhost:8443</AppDomain>");
    }

    #[test]
    fn hosts_are_plain() {
        assert!(valid_host("[::1]:8080"));
        assert!(!valid_host("a<b"));
    }
}
