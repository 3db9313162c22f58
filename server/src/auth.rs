//! Who may call xlserver, and how often: API keys, roles, the per-key rate limit and the CORS
//! allow-list. Every HTTP route sits behind [`require`] (and gRPC behind [`Auth::check`]),
//! which runs before a request reaches the query layer.
//!
//! An API key looks like `xlf_<id>_<secret>`. The keys file keeps the id, a name, the role and
//! the SHA-256 of the secret, never the secret itself: the plaintext is printed once by
//! `xlserver keys add` and then exists only where the user stored it. A request presents the
//! key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; the server looks the id up,
//! hashes the secret and compares the hashes in constant time.
//!
//! Roles are ordered: `analyst` may call the read APIs, `admin` may call everything.
//!
//! With no unrevoked key in the keys file, authentication is off and every request acts as
//! `admin`; the server then binds only to loopback (decided by the caller at start-up from
//! [`Auth::enabled`]). Once a key has been seen, authentication stays on for the life of the
//! process: revoking the last key locks everyone out rather than opening the server.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::{Context, anyhow, bail};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};
use xlfeed_core::ErrorKind;

use crate::error::ApiError;

/// Where `xlserver keys` writes and `xlserver serve` reads keys when the configuration names
/// no keys file (relative to the working directory).
pub const DEFAULT_KEYS_FILE: &str = "xlserver-keys.json";
/// The prefix of every API key.
const KEY_PREFIX: &str = "xlf";
/// Random bytes in a key id (hex-encoded: 12 characters, short enough to type for `revoke`).
const ID_BYTES: usize = 6;
/// Random bytes in a key secret (hex-encoded: 64 characters).
const SECRET_BYTES: usize = 32;
/// The `X-API-Key` header, the alternative to `Authorization: Bearer`.
const X_API_KEY: &str = "x-api-key";
/// The longest key name `keys add` accepts.
const MAX_NAME_LEN: usize = 64;

/// What a key may do. Ordered: `Admin` includes everything `Analyst` may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May call the read APIs (queries, compare, metadata).
    Analyst,
    /// May call everything, including the admin routes.
    Admin,
}

impl Role {
    /// Parses `analyst` or `admin` (any case, surrounding spaces ignored).
    pub fn parse(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role \"{s}\" (expected analyst or admin)")),
        }
    }

    /// The role's name as written in the keys file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s)
    }
}

/// The `[security]` section of the server configuration.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// The keys file written by `xlserver keys`. Unset, or a file without unrevoked keys:
    /// authentication is off and the server binds only to loopback.
    pub keys_file: Option<PathBuf>,
    /// Requests per second each key may make on average.
    pub rate_limit_per_sec: u32,
    /// Requests a key may make at once before the per-second rate applies.
    pub rate_limit_burst: u32,
    /// Origins (`https://host[:port]`) whose pages may call the server from a browser, e.g.
    /// where the Excel add-in is hosted. Empty: same-origin only.
    pub cors_origins: Vec<String>,
    /// Without API keys, the admin routes need this token (empty: a random one, printed at
    /// start-up). Ignored once keys exist.
    pub admin_token: String,
    /// Whether `/metrics` needs an admin key (or the admin token) on the API listener.
    pub metrics_need_key: bool,
    /// Failed authentications a client address may make per minute; past it, its requests
    /// get 429 before their key is checked, and are logged once a minute.
    pub failed_auth_per_min: u32,
}

impl Default for SecurityConfig {
    fn default() -> SecurityConfig {
        SecurityConfig {
            keys_file: Some(PathBuf::from(DEFAULT_KEYS_FILE)),
            rate_limit_per_sec: 200,
            rate_limit_burst: 2000,
            cors_origins: Vec::new(),
            admin_token: String::new(),
            metrics_need_key: false,
            failed_auth_per_min: 30,
        }
    }
}

/// A key as listed by `xlserver keys list`: everything but the secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    /// The key's id, the part after `xlf_`; what `keys revoke` takes.
    pub id: String,
    /// A name for people: who or what uses the key.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// When the key was created (RFC 3339, UTC).
    pub created: String,
    /// Whether the key has been revoked.
    pub revoked: bool,
}

/// One key as stored in the keys file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KeyEntry {
    id: String,
    name: String,
    role: Role,
    /// SHA-256 of the secret, lowercase hex.
    sha256: String,
    created: String,
    #[serde(default)]
    revoked: bool,
}

impl KeyEntry {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            role: self.role,
            created: self.created.clone(),
            revoked: self.revoked,
        }
    }
}

/// The keys file on disk: `{"version": 1, "keys": [...]}`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct KeyFileData {
    version: u32,
    keys: Vec<KeyEntry>,
}

/// The keys file: a JSON list of keys with hashed secrets. Every change is written to a
/// temporary file and renamed over the old one, so a reader never sees half a file; on unix
/// the file is readable by its owner only.
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    keys: Vec<KeyEntry>,
}

impl KeyFile {
    /// Reads the keys file at `path`; a missing file is an empty list.
    pub fn open(path: &Path) -> anyhow::Result<KeyFile> {
        let keys = read_keys(path)?;
        Ok(KeyFile {
            path: path.to_owned(),
            keys,
        })
    }

    /// Creates a key called `name` with `role`, saves the file and returns the key's listing
    /// and the plaintext key, which is not stored anywhere and cannot be shown again.
    pub fn add(&mut self, name: &str, role: Role) -> anyhow::Result<(KeyInfo, String)> {
        let name = name.trim();
        if name.is_empty() {
            bail!("a key needs a name (who or what uses it)");
        }
        if name.chars().count() > MAX_NAME_LEN {
            bail!("key name \"{name}\" is longer than {MAX_NAME_LEN} characters");
        }
        if name.chars().any(char::is_control) {
            bail!("key name {name:?} contains control characters");
        }
        let id = loop {
            let id = random_hex(ID_BYTES)?;
            if !self.keys.iter().any(|k| k.id == id) {
                break id;
            }
        };
        let secret = random_hex(SECRET_BYTES)?;
        let entry = KeyEntry {
            id: id.clone(),
            name: name.to_owned(),
            role,
            sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            revoked: false,
        };
        let info = entry.info();
        self.keys.push(entry);
        if let Err(e) = self.save() {
            self.keys.pop();
            return Err(e);
        }
        Ok((info, format!("{KEY_PREFIX}_{id}_{secret}")))
    }

    /// Every key in the file, revoked ones included, oldest first.
    pub fn list(&self) -> Vec<KeyInfo> {
        self.keys.iter().map(KeyEntry::info).collect()
    }

    /// Marks the key `id` revoked and saves the file. Revoking a revoked key changes nothing.
    pub fn revoke(&mut self, id: &str) -> anyhow::Result<KeyInfo> {
        let id = id.trim();
        // Accept the whole key too, in case that is what the user has at hand.
        let id = parse_key(id).map_or(id, |(id, _)| id);
        let Some(index) = self.keys.iter().position(|k| k.id == id) else {
            bail!(
                "unknown key id \"{id}\" in {} (see `xlserver keys list`)",
                self.path.display()
            );
        };
        if !self.keys[index].revoked {
            self.keys[index].revoked = true;
            if let Err(e) = self.save() {
                self.keys[index].revoked = false;
                return Err(e);
            }
        }
        Ok(self.keys[index].info())
    }

    fn save(&self) -> anyhow::Result<()> {
        let data = KeyFileData {
            version: 1,
            keys: self.keys.clone(),
        };
        let mut json =
            serde_json::to_vec_pretty(&data).context("failed to encode the keys file")?;
        json.push(b'\n');
        write_atomically(&self.path, &json)
            .with_context(|| format!("failed to write the keys file {}", self.path.display()))
    }
}

/// Reads and checks the keys file; a missing file is an empty list.
fn read_keys(path: &Path) -> anyhow::Result<Vec<KeyEntry>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!("cannot read the keys file {}: {e}", path.display())),
    };
    warn_if_readable_by_others(path);
    let data: KeyFileData = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("the keys file {} is not valid: {e}", path.display()))?;
    if data.version != 1 {
        bail!(
            "the keys file {} has version {}; this xlserver reads version 1",
            path.display(),
            data.version
        );
    }
    let mut seen = std::collections::HashSet::new();
    for key in &data.keys {
        if !seen.insert(key.id.as_str()) {
            bail!(
                "the keys file {} has key id \"{}\" twice",
                path.display(),
                key.id
            );
        }
        if decode_hash(&key.sha256).is_none() {
            bail!(
                "the keys file {} has a bad sha256 for key id \"{}\" (expected 64 hex digits)",
                path.display(),
                key.id
            );
        }
    }
    Ok(data.keys)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the keys file is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Writes `bytes` to a temporary file next to `path` (mode 0600 on unix), syncs it and
/// renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        random_hex(4)?
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| -> anyhow::Result<()> {
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("failed to create {}", tmp.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename durable; not every platform can open a directory, so best effort.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `n` random bytes from the operating system, hex-encoded.
fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow!("failed to get random bytes: {e}"))?;
    Ok(hex::encode(buf))
}

/// Splits `xlf_<id>_<secret>` into id and secret.
fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?.strip_prefix('_')?;
    let (id, secret) = rest.split_once('_')?;
    if id.is_empty() || secret.is_empty() {
        return None;
    }
    Some((id, secret))
}

/// A SHA-256 as stored in the keys file, decoded.
fn decode_hash(hex_digest: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).ok()?;
    Some(out)
}

/// Compares two hashes without stopping at the first difference.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

/// Who made a request, as [`require`] puts it into the request's extensions.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The id of the key used; `None` when authentication is off.
    pub key_id: Option<String>,
    /// What the caller may do (`Admin` when authentication is off).
    pub role: Role,
}

/// A key as the server holds it in memory.
#[derive(Debug)]
struct ActiveKey {
    role: Role,
    sha256: [u8; 32],
    revoked: bool,
}

#[derive(Debug)]
struct AuthInner {
    keys_file: Option<PathBuf>,
    keys: RwLock<Arc<HashMap<String, ActiveKey>>>,
    /// Set once an unrevoked key has been seen; never cleared (fail closed).
    enabled: AtomicBool,
    limiter: DefaultKeyedRateLimiter<String>,
    /// The admin token of a server without keys, and its SHA-256.
    admin_token: String,
    admin_sha256: [u8; 32],
    /// Failed authentications per client address.
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses refused until the given time for failing too often.
    blocked: moka::sync::Cache<IpAddr, std::time::Instant>,
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
fn rate_limited(not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> AuthError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AuthError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

/// The key in `Authorization: Bearer` or else `X-API-Key`.
fn presented_key(headers: &HeaderMap) -> Result<&str, AuthError> {
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

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum AuthError {
    /// No key was presented.
    Missing,
    /// The key is malformed, unknown or revoked.
    Invalid,
    /// The key is valid but its role is below what the call needs.
    Forbidden {
        /// The role the call needs.
        need: Role,
    },
    /// The key has made too many requests.
    RateLimited {
        /// Seconds until the key may make another request.
        retry_after_secs: u64,
    },
    /// No keys are configured and an admin route was called without the admin token.
    TokenRequired,
    /// No keys are configured and an admin route was called with a wrong token.
    BadToken,
    /// The client's address failed authentication too often.
    Throttled {
        /// Seconds until the address may try again.
        retry_after_secs: u64,
    },
}

impl AuthError {
    /// One line for the caller; never contains the key.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "an API key is required: send \"Authorization: Bearer <key>\" \
                                   or \"X-API-Key: <key>\""
                .to_owned(),
            AuthError::Invalid => {
                "the API key is not valid (mistyped, unknown or revoked)".to_owned()
            }
            AuthError::Forbidden { need } => format!("this call needs an {need} key"),
            AuthError::RateLimited { retry_after_secs } => {
                format!("too many requests with this API key; retry in {retry_after_secs} s")
            }
            AuthError::TokenRequired | AuthError::BadToken => {
                "no API keys are configured: the admin routes need the admin token xlserver \
                 printed when it started, sent as \"Authorization: Bearer <token>\""
                    .to_owned()
            }
            AuthError::Throttled { retry_after_secs } => format!(
                "too many failed authentications from this address; retry in {retry_after_secs} s"
            ),
        }
    }

    /// The error kind shared with the rest of xlfeed.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::Missing
            | AuthError::Invalid
            | AuthError::TokenRequired
            | AuthError::BadToken => ErrorKind::Unauthenticated,
            AuthError::Forbidden { .. } => ErrorKind::PermissionDenied,
            AuthError::RateLimited { .. } | AuthError::Throttled { .. } => {
                ErrorKind::ResourceExhausted
            }
        }
    }

    /// Seconds to wait before retrying, when waiting helps.
    fn retry_after(&self) -> Option<u64> {
        match self {
            AuthError::RateLimited { retry_after_secs }
            | AuthError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(e.kind(), e.message())
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let mut response = crate::http::error_response(&ApiError::from(self.clone()));
        let headers = response.headers_mut();
        match &self {
            AuthError::Missing | AuthError::TokenRequired => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"xlserver\""),
                );
            }
            AuthError::Invalid | AuthError::BadToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"xlserver\", error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        if let Some(secs) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<AuthError> for tonic::Status {
    fn from(e: AuthError) -> tonic::Status {
        ApiError::from(e).into()
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
            e.into_response()
        }
    }
}

/// The CORS layer for the allow-list in `cfg.cors_origins`: exact origins only; methods GET,
/// POST, DELETE, OPTIONS; request headers `authorization`, `content-type`, `x-api-key`;
/// `etag` exposed. An empty list allows no cross-origin access.
pub fn cors(cfg: &SecurityConfig) -> anyhow::Result<CorsLayer> {
    let origins = cfg
        .cors_origins
        .iter()
        .map(|o| parse_origin(o))
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

/// Checks one configured origin and returns it as browsers send it: `scheme://host[:port]`,
/// lowercase, without a trailing slash.
fn parse_origin(origin: &str) -> anyhow::Result<HeaderValue> {
    let bad = |why: &str| anyhow!("cors origin \"{origin}\" is not valid: {why}");
    let uri: axum::http::Uri = origin
        .trim()
        .parse()
        .map_err(|_| bad("expected scheme://host[:port]"))?;
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| bad("expected scheme://host[:port]"))?
        .to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(bad("the scheme must be https or http"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| bad("expected scheme://host[:port]"))?;
    if authority.as_str().contains('@') {
        return Err(bad("an origin has no user name"));
    }
    if authority.host() == "*" || authority.host().is_empty() {
        return Err(bad("list exact origins; wildcards are not allowed"));
    }
    if uri.path() != "/" || uri.query().is_some() {
        return Err(bad("an origin has no path or query"));
    }
    let canonical = format!("{scheme}://{}", authority.as_str().to_ascii_lowercase());
    HeaderValue::from_str(&canonical).map_err(|_| bad("not a valid header value"))
}

/// `xlserver keys`: create, list and revoke API keys in the keys file.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Add {
        /// Who or what uses the key, e.g. "excel-desk-3".
        #[arg(long)]
        name: String,
        /// analyst (read APIs) or admin (everything).
        #[arg(long, default_value = "analyst")]
        role: String,
    },
    /// List keys (id, name, role, created, status); never shows secrets.
    List,
    /// Revoke a key by its id (see `list`).
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// Runs `xlserver keys add|list|revoke` on the keys file at `keys_file`.
pub fn run_keys(cmd: KeysCommand, keys_file: &Path) -> anyhow::Result<()> {
    let mut file = KeyFile::open(keys_file)?;
    match cmd {
        KeysCommand::Add { name, role } => {
            let role = Role::parse(&role).map_err(|e| anyhow!(e))?;
            let (info, key) = file.add(&name, role)?;
            println!(
                "created key {} (name \"{}\", role {}) in {}",
                info.id,
                info.name,
                info.role,
                keys_file.display()
            );
            println!();
            println!("    {key}");
            println!();
            println!("store this key now: it is shown only once (the server keeps only its hash).");
            println!("a running xlserver accepts it after it reloads the keys file.");
        }
        KeysCommand::List => {
            let keys = file.list();
            if keys.is_empty() {
                println!(
                    "no keys in {} (authentication is off; the server binds to loopback only)",
                    keys_file.display()
                );
                return Ok(());
            }
            let width = keys.iter().map(|k| k.name.len()).max().unwrap_or(4).max(4);
            println!(
                "{:<12}  {:<width$}  {:<7}  {:<20}  status",
                "id", "name", "role", "created"
            );
            for k in keys {
                println!(
                    "{:<12}  {:<width$}  {:<7}  {:<20}  {}",
                    k.id,
                    k.name,
                    k.role.as_str(),
                    k.created,
                    if k.revoked { "revoked" } else { "active" }
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let info = file.revoke(&id)?;
            println!(
                "revoked key {} (name \"{}\", role {}); a running xlserver refuses it after \
                 it reloads the keys file",
                info.id, info.name, info.role
            );
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
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
        let r = e.into_response();
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
        assert_eq!(
            parse_origin("HTTPS://Addin.Example.com:8443").unwrap(),
            "https://addin.example.com:8443"
        );
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
        let s = tonic::Status::from(AuthError::Missing);
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        let s = tonic::Status::from(AuthError::RateLimited {
            retry_after_secs: 1,
        });
        assert_eq!(s.code(), tonic::Code::ResourceExhausted);
    }
}
