//! The CORS layer: which web pages (other than the server's own) may call the API from a
//! browser, from `[security] cors_origins`.

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::origin::Origin;
use crate::auth::{SecurityConfig, X_API_KEY};

/// The CORS layer for the allow-list in `cfg.cors_origins`: exact origins only (written as
/// browsers send them, see [`Origin`]); methods GET, POST, DELETE, OPTIONS; request headers
/// `authorization`, `content-type`, `x-api-key`; `etag` exposed. An empty list allows no
/// cross-origin access.
pub fn cors(cfg: &SecurityConfig) -> anyhow::Result<CorsLayer> {
    let origins = cfg
        .cors_origins
        .iter()
        .map(|o| {
            let o = Origin::parse(o).map_err(|e| anyhow::anyhow!("security.cors_origins: {e}"))?;
            HeaderValue::from_str(o.as_str())
                .map_err(|_| anyhow::anyhow!("security.cors_origins: {o} is not a header value"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(X_API_KEY),
        ])
        .expose_headers([header::ETAG]);
    Ok(if origins.is_empty() {
        layer
    } else {
        layer.allow_origin(AllowOrigin::list(origins))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_cors_origins_are_errors_naming_them() {
        for bad in [
            "*",
            "addin.example.com",
            "ftp://x.com",
            "https://x.com/app",
            "https://*",
        ] {
            let cfg = SecurityConfig {
                cors_origins: vec![bad.to_owned()],
                ..SecurityConfig::default()
            };
            let err = cors(&cfg).unwrap_err().to_string();
            assert!(err.contains(&format!("\"{bad}\"")), "{bad}: {err}");
        }
    }
}
