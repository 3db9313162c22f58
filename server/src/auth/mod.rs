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
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | roles, the `[security]` section, who a caller is, why a call is refused |
//! | `keyfile.rs` | the keys file: keys with hashed secrets, written atomically |
//! | `check.rs` | [`Auth`]: a request's key checked, its role and rate limit; the [`require`] middleware |
//! | `command.rs` | `xlserver keys add|list|revoke` |
//!
//! CORS is with the other HTTP layers, in `http/cors.rs`.

mod check;
mod command;
mod keyfile;

pub use check::{Auth, require};
pub use command::{KeysCommand, run_keys};
pub use keyfile::{KeyFile, KeyInfo};

use std::fmt;
use std::path::PathBuf;

use xlfeed_core::ErrorKind;

use crate::error::ApiError;

/// Where `xlserver keys` writes and `xlserver serve` reads keys when the configuration names
/// no keys file (relative to the working directory).
pub const DEFAULT_KEYS_FILE: &str = "xlserver-keys.json";
/// The `X-API-Key` header, the alternative to `Authorization: Bearer`.
pub(crate) const X_API_KEY: &str = "x-api-key";

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

/// Who made a request, as [`require`] puts it into the request's extensions.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The id of the key used; `None` when authentication is off.
    pub key_id: Option<String>,
    /// What the caller may do (`Admin` when authentication is off).
    pub role: Role,
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
        const CHALLENGE: &str = "Bearer realm=\"xlserver\"";
        const INVALID: &str = "Bearer realm=\"xlserver\", error=\"invalid_token\"";
        let api = match e {
            AuthError::Missing | AuthError::TokenRequired => {
                ApiError::unauthenticated(e.message(), CHALLENGE)
            }
            AuthError::Invalid | AuthError::BadToken => {
                ApiError::unauthenticated(e.message(), INVALID)
            }
            _ => ApiError::new(e.kind(), e.message()),
        };
        match e.retry_after() {
            Some(secs) => api.retry_after(secs),
            None => api,
        }
    }
}

#[cfg(test)]
mod tests;
