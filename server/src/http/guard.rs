//! What browsers may ask: checks that run before any route, against pages on other sites.
//!
//! - **Host**: a request must name this server by a loopback name (`localhost`, `127.0.0.1`,
//!   `[::1]`), the address it is bound to, the host of `server.public_url`, or a name in
//!   `server.allowed_hosts` (`"*"` allows any). A page on `attacker.example` whose name was
//!   re-pointed at 127.0.0.1 (DNS rebinding) sends `Host: attacker.example` and is refused.
//! - **State-changing requests** (every method but GET, HEAD and OPTIONS): a browser's
//!   `Origin` must be this server's own (the scheme and `Host` it was reached at, or
//!   `server.public_url`) or one of `security.cors_origins`; and a body must be
//!   `application/json`, which no cross-site form or `text/plain` fetch can send without a
//!   CORS preflight this server does not grant.
//!
//! Refusals are the usual JSON errors: 403 naming the host or origin, 415 naming the type.

use std::net::IpAddr;

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use xlfeed_core::quoted;

use super::origin::Origin;
use crate::error::ApiError;

/// The hosts and origins a request may name.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Host names (lowercase, without port) besides the loopback ones; `*` allows any.
    hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lowercase) besides the request's own.
    origins: Vec<String>,
    /// Whether the listener speaks TLS (the request's own origin is https).
    tls: bool,
}

impl Guard {
    /// A guard for a server bound to `bound`, reachable at `public_url` (may be empty), with
    /// `allowed_hosts` and the CORS allow-list `cors_origins` (already checked).
    pub fn new(
        bound: IpAddr,
        public_url: &str,
        allowed_hosts: &[String],
        cors_origins: &[String],
        tls: bool,
    ) -> Guard {
        let mut hosts: Vec<String> = allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        if !bound.is_unspecified() && !bound.is_loopback() {
            hosts.push(bound.to_string());
        }
        // Written as browsers send them, as the CORS layer has them.
        let mut origins: Vec<String> = cors_origins
            .iter()
            .filter_map(|o| Origin::parse(o).ok())
            .map(|o| o.to_string())
            .collect();
        if let Ok(o) = Origin::parse(public_url) {
            hosts.push(
                o.host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            );
            origins.push(o.to_string());
        }
        Guard {
            hosts,
            origins,
            tls,
        }
    }

    /// Whether `host` (a `Host` header: name or address, maybe a port) is one to answer.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        is_loopback_name(name)
            || self
                .hosts
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(name))
    }

    fn origin_allowed(&self, origin: &str, host: &str, headers: &HeaderMap) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let https = self.tls
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let own = format!(
            "{}://{}",
            if https { "https" } else { "http" },
            host.to_ascii_lowercase()
        );
        origin == own || self.origins.contains(&origin)
    }
}

/// The name part of a `Host` value: `[::1]:8080` → `::1`, `example.com:443` →
/// `example.com`. Anything else after a bracketed address, or a port that is not one, makes
/// the whole value the name (which then matches nothing allowed).
fn host_name(host: &str) -> &str {
    let host = host.trim();
    let valid_port = |p: &str| p.parse::<u16>().is_ok();
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((addr, "")) => addr,
            Some((addr, tail)) if tail.strip_prefix(':').is_some_and(valid_port) => addr,
            _ => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if valid_port(port) && !name.contains(':') => name,
        Some(_) => host,
        None => host,
    }
}

fn is_loopback_name(name: &str) -> bool {
    let n = name.len();
    name.eq_ignore_ascii_case("localhost")
        || (n > 10
            && name.is_char_boundary(n - 10)
            && name[n - 10..].eq_ignore_ascii_case(".localhost"))
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The request's host: `Host`, or HTTP/2's `:authority` (in the URI).
fn request_host(req: &Request) -> &str {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
}

impl Guard {
    /// Checks `req` (see the module documentation); the refusal when it fails.
    pub fn check(&self, req: &Request) -> Result<(), Box<Response>> {
        let host = request_host(req);
        if !self.host_allowed(host) {
            return Err(ApiError::denied(format!(
                "host {} is not a name this server answers to: use localhost, or add it to server.allowed_hosts",
                quoted(host_name(host))
            ))
            .with_status(403)
            .into_response()
            .into());
        }
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("?");
            if !self.origin_allowed(origin, host, req.headers()) {
                return Err(ApiError::denied(format!(
                    "a {} from the page at {} is refused: only this server's own pages and security.cors_origins may change things",
                    req.method(),
                    quoted(origin)
                ))
                .with_status(403)
                .into_response()
            .into());
            }
        }
        let has_body = *req.method() == Method::POST
            || *req.method() == Method::PUT
            || *req.method() == Method::PATCH
            || req.headers().contains_key(header::CONTENT_TYPE);
        if has_body {
            let ct = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            // A workbook to reconcile comes as itself; like JSON, none of these types is one
            // a cross-site form may send without a CORS preflight.
            let workbook = req.uri().path() == super::RECONCILE_PATH
                && WORKBOOK_TYPES
                    .iter()
                    .any(|t| essence.eq_ignore_ascii_case(t));
            if !essence.eq_ignore_ascii_case("application/json") && !workbook {
                return Err(ApiError::bad(format!(
                    "a {} body must be application/json (a workbook to reconcile: one of {}), not {}",
                    req.method(),
                    WORKBOOK_TYPES.join(", "),
                    if ct.is_empty() {
                        "none".to_owned()
                    } else {
                        quoted(ct)
                    }
                ))
                .with_status(415)
                .into_response()
                .into());
            }
        }
        Ok(())
    }
}

/// The media types a workbook to reconcile may be sent as.
const WORKBOOK_TYPES: &[&str] = &[
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.ms-excel",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/octet-stream",
    "text/csv",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_loopback_bound_public_or_listed() {
        let g = Guard::new(
            "10.0.0.5".parse().unwrap(),
            "https://xl.example.com",
            &["Analytics.Example.com".to_owned()],
            &[],
            false,
        );
        for ok in [
            "localhost:8080",
            "127.0.0.1",
            "127.9.9.9:1",
            "[::1]:8080",
            "app.localhost",
            "10.0.0.5:8080",
            "xl.example.com",
            "analytics.example.com:443",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "",
            "10.0.0.6",
            "localhost.evil.com",
            "[::1]evil.com",
            "localhost:99999",
            "localhost:x",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let any = Guard::new(
            "0.0.0.0".parse().unwrap(),
            "",
            &["*".to_owned()],
            &[],
            false,
        );
        assert!(any.host_allowed("whatever.example"));
    }

    #[test]
    fn origins_are_the_request_own_or_listed() {
        let g = Guard::new(
            "127.0.0.1".parse().unwrap(),
            "",
            &[],
            &["https://addin.example.com".to_owned()],
            false,
        );
        let h = HeaderMap::new();
        assert!(g.origin_allowed("http://localhost:8080", "localhost:8080", &h));
        assert!(g.origin_allowed("https://addin.example.com", "localhost:8080", &h));
        assert!(!g.origin_allowed("https://localhost:8080", "localhost:8080", &h));
        assert!(!g.origin_allowed("null", "localhost:8080", &h));
        assert!(!g.origin_allowed("http://evil.example", "localhost:8080", &h));
        // Listed and public origins are read as browsers send them, the default port left
        // out: before one origin parser, ":443" here was kept while CORS dropped it, so the
        // page CORS let in was refused by the guard.
        let g = Guard::new(
            "127.0.0.1".parse().unwrap(),
            "https://XL.example.com:443/",
            &[],
            &["https://Addin.example.com:443/".to_owned()],
            false,
        );
        assert!(g.origin_allowed("https://addin.example.com", "localhost:8080", &h));
        assert!(g.origin_allowed("https://xl.example.com", "localhost:8080", &h));
        assert!(g.host_allowed("xl.example.com"));
    }
}
