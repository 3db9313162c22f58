//! [`Auth`]: the check every request passes (its key, its role, its rate limit, and the
//! failed-authentication throttle of its address), and the axum middleware around it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::anyhow;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::keyfile::*;
use super::*;
use crate::error::ApiError;

/// A key as the server holds it in memory.
#[derive(Debug)]
pub(super) struct ActiveKey {
    pub(super) role: Role,
    sha256: [u8; 32],
    pub(super) revoked: bool,
}

#[derive(Debug)]
pub(super) struct AuthInner {
    pub(super) keys_file: Option<PathBuf>,
    pub(super) keys: RwLock<Arc<HashMap<String, ActiveKey>>>,
    /// Set once an unrevoked key has been seen; never cleared (fail closed).
    pub(super) enabled: AtomicBool,
    pub(super) limiter: DefaultKeyedRateLimiter<String>,
    /// The admin token of a server without keys, and its SHA-256.
    pub(super) admin_token: String,
    admin_sha256: [u8; 32],
    /// Failed authentications per client address.
    pub(super) failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses refused until the given time for failing too often.
    pub(super) blocked: moka::sync::Cache<IpAddr, std::time::Instant>,
}

/// The request checker: keys, roles and the per-key rate limit. Built once at start-up;
/// cloning is cheap.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<AuthInner>,
}

impl Auth {
    /// Builds the checker from the `[security]` configuration, reading the keys file when one
    /// is set.
    pub fn new(cfg: &SecurityConfig) -> anyhow::Result<Auth> {
        let per_sec = NonZeroU32::new(cfg.rate_limit_per_sec).ok_or_else(|| {
            anyhow!("security.rate_limit_per_sec is 0; it must be at least 1 request per second")
        })?;
        let burst = NonZeroU32::new(cfg.rate_limit_burst)
            .ok_or_else(|| anyhow!("security.rate_limit_burst is 0; it must be at least 1"))?;
        let quota = Quota::per_second(per_sec).allow_burst(burst);
        let failures = NonZeroU32::new(cfg.failed_auth_per_min)
            .ok_or_else(|| anyhow!("security.failed_auth_per_min is 0; it must be at least 1"))?;
        let admin_token = if cfg.admin_token.is_empty() {
            format!("{KEY_PREFIX}_admin_{}", random_hex(SECRET_BYTES)?)
        } else {
            cfg.admin_token.clone()
        };
        let auth = Auth {
            inner: Arc::new(AuthInner {
                keys_file: cfg.keys_file.clone(),
                keys: RwLock::new(Arc::new(HashMap::new())),
                enabled: AtomicBool::new(false),
                limiter: RateLimiter::keyed(quota),
                admin_sha256: Sha256::digest(admin_token.as_bytes()).into(),
                admin_token,
                failures: RateLimiter::keyed(Quota::per_minute(failures)),
                blocked: moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(std::time::Duration::from_secs(60))
                    .build(),
            }),
        };
        auth.reload()?;
        Ok(auth)
    }

    /// Whether requests must present a key: true once the keys file has had an unrevoked key.
    pub fn enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Acquire)
    }

    /// The token the admin routes need while no keys exist (printed at start-up).
    pub fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    /// Re-reads the keys file, so keys added or revoked while the server runs take effect. On
    /// error the keys in use stay as they were.
    pub fn reload(&self) -> anyhow::Result<()> {
        let Some(path) = &self.inner.keys_file else {
            return Ok(());
        };
        let entries = read_keys(path)?;
        let mut keys = HashMap::with_capacity(entries.len());
        for entry in entries {
            let Some(sha256) = decode_hash(&entry.sha256) else {
                continue; // read_keys has checked every hash
            };
            keys.insert(
                entry.id,
                ActiveKey {
                    role: entry.role,
                    sha256,
                    revoked: entry.revoked,
                },
            );
        }
        let active = keys.values().filter(|k| !k.revoked).count();
        if active > 0 {
            self.inner.enabled.store(true, Ordering::Release);
        }
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        tracing::debug!(path = %path.display(), active, "keys loaded");
        Ok(())
    }

    /// Checks the key a request from `client` presents (`Authorization: Bearer <key>` or
    /// `X-API-Key: <key>`) against the keys file, the role `need` and the key's rate limit.
    /// Without keys, the API is open and the admin routes need the admin token. An address
    /// that fails too often is refused for a while before its key is even looked at.
    pub fn check(
        &self,
        headers: &HeaderMap,
        need: Role,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let r = self.verify(headers, need);
        // Only a credential presented and wrong counts as a failure: a request without one
        // (a browser's cross-site GET, say) guesses nothing, and a right one always passes.
        let (Err(AuthError::Invalid | AuthError::BadToken), Some(ip)) = (&r, client) else {
            return r;
        };
        let now = std::time::Instant::now();
        if let Some(until) = self.inner.blocked.get(&ip)
            && until > now
        {
            let wait = until - now;
            return Err(AuthError::Throttled {
                retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
            });
        }
        if let Err(not_until) = self.inner.failures.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.inner.blocked.insert(ip, now + wait);
            tracing::warn!(
                client = %ip,
                "too many failed authentications from this address: its failures get 429 for {} s",
                wait.as_secs().max(1)
            );
            return Err(AuthError::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        r
    }

    fn verify(&self, headers: &HeaderMap, need: Role) -> Result<Principal, AuthError> {
        if !self.enabled() {
            if need == Role::Analyst {
                return Ok(Principal {
                    key_id: None,
                    role: Role::Analyst,
                });
            }
            let presented = presented_key(headers).map_err(|_| AuthError::TokenRequired)?;
            let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
            if !constant_time_eq(&hash, &self.inner.admin_sha256) {
                return Err(AuthError::BadToken);
            }
            return Ok(Principal {
                key_id: None,
                role: Role::Admin,
            });
        }
        let presented = presented_key(headers)?;
        let (id, secret) = parse_key(presented).ok_or(AuthError::Invalid)?;
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let keys = Arc::clone(
            &self
                .inner
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let key = keys.get(id).ok_or(AuthError::Invalid)?;
        if !constant_time_eq(&hash, &key.sha256) || key.revoked {
            return Err(AuthError::Invalid);
        }
        if let Err(not_until) = self.inner.limiter.check_key(&id.to_owned()) {
            return Err(rate_limited(&not_until));
        }
        if key.role < need {
            return Err(AuthError::Forbidden { need });
        }
        Ok(Principal {
            key_id: Some(id.to_owned()),
            role: key.role,
        })
    }
}

impl Auth {
    /// Counts `n` more requests against the rate limit of `p`'s key (the further calls of a
    /// batch: each call counts). Without keys nothing is counted.
    pub fn charge(&self, p: &Principal, n: usize) -> Result<(), AuthError> {
        let Some(id) = &p.key_id else {
            return Ok(());
        };
        let Some(n) = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)) else {
            return Ok(());
        };
        match self.inner.limiter.check_key_n(id, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(rate_limited(&not_until)),
            // More calls than the burst: never possible (the configuration keeps the burst at
            // least max_batch_calls), but if so, wait as for a full burst.
            Err(_) => Err(AuthError::RateLimited {
                retry_after_secs: 1,
            }),
        }
    }
}

/// The refusal for a key that must wait until `not_until`.
pub(super) fn rate_limited(
    not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>,
) -> AuthError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AuthError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

/// The key in `Authorization: Bearer` or else `X-API-Key`.
pub(super) fn presented_key(headers: &HeaderMap) -> Result<&str, AuthError> {
    for value in headers.get_all(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AuthError::Invalid)?;
        if let Some((scheme, token)) = value.trim().split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return Ok(token.trim());
        }
    }
    match headers.get(X_API_KEY) {
        Some(value) => Ok(value.to_str().map_err(|_| AuthError::Invalid)?.trim()),
        None => Err(AuthError::Missing),
    }
}

/// Axum middleware that lets a request through only with a key of role `need` or higher:
/// `axum::middleware::from_fn_with_state((auth, Role::Analyst), auth::require)`. On success
/// the [`Principal`] is in the request's extensions; on failure the answer is
/// `{"error": {"code", "excel", "message"}}` with 401 (and `WWW-Authenticate: Bearer`), 403
/// or 429 (and `Retry-After`).
pub async fn require(
    State((auth, need)): State<(Auth, Role)>,
    mut req: Request,
    next: Next,
) -> Response {
    let client = req
        .extensions()
        .get::<crate::listen::ClientAddr>()
        .map(|c| c.0.ip());
    match auth.check(req.headers(), need, client) {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => {
            // A refused address is logged once when it is refused, not at every attempt.
            if !matches!(e, AuthError::Throttled { .. }) {
                tracing::debug!(
                    kind = %e.kind(),
                    method = %req.method(),
                    path = xlfeed_core::quoted(req.uri().path()),
                    "request refused"
                );
            }
            ApiError::from(e).into_response()
        }
    }
}
