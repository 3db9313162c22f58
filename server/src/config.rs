//! xlserver's configuration: a TOML file, then `XLFEED_<SECTION>__<KEY>` environment
//! variables over it (`XLFEED_SERVER__HTTP=0.0.0.0:8443`, `XLFEED_CACHE__MAX_MB=2048`).
//! `xlserver config check` validates it and prints the effective configuration, redacted.
//!
//! ```toml
//! [server]
//! http = "127.0.0.1:8080"     # the JSON API, admin, metrics, the add-in's files
//! grpc = "127.0.0.1:50051"    # xlfeed.v1.QueryService, health, reflection
//! addin_dir = "excel-addin/dist"
//! public_url = "https://xlserver.example.com"  # the origin the add-in's manifest names
//!                             # (default: the origin each request came to)
//! allowed_hosts = ["xlserver.example.com"]  # Host names besides loopback, the bound
//!                             # address and public_url's host ("*": any)
//! metrics = "127.0.0.1:9464"  # /metrics on a listener of its own (default: on http)
//!
//! [stores]
//! feed = "embedded://data/feed"   # or redis://host:port/db (SSDB, Kvrocks, Redis, Valkey)
//! post = "embedded://data/post"
//!
//! [cache]
//! max_mb = 512          # decoded chunks kept in memory (0: none)
//! index_ttl_ms = 2000   # how long a list of days is reused
//!
//! [limits]
//! max_batch_calls = 1000
//! max_body_bytes = 1048576
//! max_response_bytes = 5000000          # a batch's answers, enforced while answering
//! max_answers_in_flight_bytes = 134217728  # all answers being computed or sent
//! request_timeout_secs = 30             # past it: 503, and the work stops
//! batch_concurrency = 32
//! query_threads = 0                     # threads computing answers (0: one per core)
//! header_read_timeout_secs = 10         # a request's header, from its first byte
//! idle_timeout_secs = 60                # a connection with nothing in flight
//! max_connections = 0                   # 0: from the open-file limit, at most 10,000
//!
//! [security]
//! keys_file = "xlserver-keys.json"   # API keys, hashed (xlserver keys add|list|revoke)
//! rate_limit_per_sec = 200            # per key; each call of a batch counts
//! rate_limit_burst = 2000             # at least limits.max_batch_calls
//! cors_origins = ["https://localhost:3000"]
//! admin_token = ""                    # without keys: the admin routes' token (empty: random)
//! metrics_need_key = false            # /metrics behind an admin key
//! failed_auth_per_min = 30            # per client address, then 429 for a while
//!
//! [runs]                              # pipeline runs started through /admin/v1/runs
//! dir = "data/runs"                   # the server's own (0700): run records and reports
//! allowed_dirs = ["/srv/xlfeed/in"]   # where --symbols-file, --replay, --archive may point
//! iqfeed = ["10.0.0.5:9100"]          # IQConnect gateways --iqfeed/--level1 may name
//!
//! [tls]                               # HTTPS (Office add-ins require it) and gRPC over TLS
//! cert = "cert.pem"
//! key = "key.pem"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use figment2::Figment;
use figment2::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::auth::SecurityConfig;
use crate::http::limits::Limits;
use crate::query::CacheConfig;
use crate::tls::TlsConfig;

/// The sections of the file (and of the environment overrides).
const SECTIONS: &[&str] = &[
    "server", "stores", "cache", "limits", "security", "runs", "tls", "reports",
];

/// Listeners.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// HTTP listen address.
    pub http: String,
    /// gRPC listen address.
    pub grpc: String,
    /// The built Excel add-in, served under `/addin/` when the folder exists.
    pub addin_dir: PathBuf,
    /// The origin analysts reach this server at (`https://xlserver.example.com`, behind a
    /// proxy or ingress); the add-in's manifest names it. Empty: the origin of each request.
    pub public_url: String,
    /// Host names requests may name besides loopback ones, the bound address and
    /// `public_url`'s host (`["*"]`: any, e.g. behind an ingress that checks them).
    pub allowed_hosts: Vec<String>,
    /// A listener of its own for `/metrics` (e.g. `127.0.0.1:9464`); empty: on `http`.
    pub metrics: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            http: "127.0.0.1:8080".into(),
            grpc: "127.0.0.1:50051".into(),
            addin_dir: PathBuf::from("excel-addin/dist"),
            public_url: String::new(),
            allowed_hosts: Vec::new(),
            metrics: String::new(),
        }
    }
}

/// Pipeline runs started through the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunsSection {
    /// The server's own folder for run records and reports (made with mode 0700; refused if
    /// another user can write it).
    pub dir: PathBuf,
    /// Folders a run's file options (`--symbols-file`, `--replay`, `--archive`) may name;
    /// none: those options are refused.
    pub allowed_dirs: Vec<PathBuf>,
    /// IQFeed gateways (`host:port`) a run's `--iqfeed`/`--level1` may name; none: only the
    /// simulator (`--sim`) or a replay.
    pub iqfeed: Vec<String>,
}

impl Default for RunsSection {
    fn default() -> Self {
        RunsSection {
            dir: PathBuf::from("data/runs"),
            allowed_dirs: Vec::new(),
            iqfeed: Vec::new(),
        }
    }
}

/// The stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoresSection {
    /// SSDB-FEED's URL.
    pub feed: String,
    /// SSDB-POST's URL.
    pub post: String,
}

impl Default for StoresSection {
    fn default() -> Self {
        StoresSection {
            feed: "embedded://data/feed".into(),
            post: "embedded://data/post".into(),
        }
    }
}

/// The cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSection {
    /// Decoded chunks kept, megabytes (0: no chunk cache, every answer reads the store).
    pub max_mb: u64,
    /// Day lists reused for this long, milliseconds.
    pub index_ttl_ms: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            max_mb: 512,
            index_ttl_ms: 2000,
        }
    }
}

impl CacheSection {
    /// As the query layer takes it.
    pub fn cache_config(&self) -> CacheConfig {
        CacheConfig {
            max_bytes: self.max_mb.saturating_mul(1 << 20),
            index_ttl: Duration::from_millis(self.index_ttl_ms),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listeners.
    pub server: ServerSection,
    /// Stores.
    pub stores: StoresSection,
    /// Cache.
    pub cache: CacheSection,
    /// Request limits.
    pub limits: Limits,
    /// API keys, rate limit, CORS.
    pub security: SecurityConfig,
    /// Admin runs.
    pub runs: RunsSection,
    /// TLS (none: plain HTTP and gRPC).
    pub tls: Option<TlsConfig>,
    /// Workbooks: reports and reconciliation.
    pub reports: crate::report::ReportLimits,
}

impl Config {
    /// Defaults, then the file (when given; it must exist), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                bail!("configuration file {} does not exist", path.display());
            }
            f = f.merge(Toml::file(path));
        }
        let env = Env::prefixed("XLFEED_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            SECTIONS
                .iter()
                .any(|s| k.starts_with(&format!("{s}.")) || k.starts_with(&format!("{s}__")))
        });
        f = f.merge(env);
        let c: Config = f
            .extract()
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}",
                    e.into_iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })
            .context("bad configuration")?;
        c.validate()?;
        Ok(c)
    }

    /// Checks values that deserialize but cannot work; the error names the value.
    pub fn validate(&self) -> Result<()> {
        for (name, addr) in [
            ("server.http", &self.server.http),
            ("server.grpc", &self.server.grpc),
        ] {
            addr.parse::<SocketAddr>().with_context(|| {
                format!("{name} \"{addr}\" is not an address like 127.0.0.1:8080")
            })?;
        }
        for (name, url) in [
            ("stores.feed", &self.stores.feed),
            ("stores.post", &self.stores.post),
        ] {
            xlfeed_store::StoreUrl::parse(url).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        }
        if !self.server.public_url.is_empty() {
            crate::http::origin::Origin::parse(&self.server.public_url)
                .map_err(|e| anyhow::anyhow!("server.public_url {e}"))?;
        }
        if self.limits.max_batch_calls == 0 || self.limits.batch_concurrency == 0 {
            bail!("limits.max_batch_calls and limits.batch_concurrency must be at least 1");
        }
        for (name, v) in [
            (
                "limits.request_timeout_secs",
                self.limits.request_timeout_secs,
            ),
            (
                "limits.header_read_timeout_secs",
                self.limits.header_read_timeout_secs,
            ),
            ("limits.idle_timeout_secs", self.limits.idle_timeout_secs),
        ] {
            if v == 0 {
                bail!("{name} 0: clients need some time");
            }
        }
        if self.limits.max_answers_in_flight_bytes < self.limits.max_response_bytes {
            bail!(
                "limits.max_answers_in_flight_bytes {} is less than limits.max_response_bytes {}: one batch could never be answered",
                self.limits.max_answers_in_flight_bytes,
                self.limits.max_response_bytes
            );
        }
        if (self.security.rate_limit_burst as usize) < self.limits.max_batch_calls {
            bail!(
                "security.rate_limit_burst {} is less than limits.max_batch_calls {}: each call of a batch counts, so a full batch could never pass",
                self.security.rate_limit_burst,
                self.limits.max_batch_calls
            );
        }
        if !self.server.metrics.is_empty() {
            self.server.metrics.parse::<SocketAddr>().with_context(|| {
                format!(
                    "server.metrics \"{}\" is not an address like 127.0.0.1:9464",
                    self.server.metrics
                )
            })?;
        }
        self.reports.validate().map_err(anyhow::Error::msg)?;
        let token = &self.security.admin_token;
        if !token.is_empty() && token.len() < 16 {
            bail!("security.admin_token is shorter than 16 characters: anyone could guess it");
        }
        if let Some(tls) = &self.tls {
            for (what, p) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                if !p.is_file() {
                    bail!("{what} {} does not exist", p.display());
                }
            }
        }
        Ok(())
    }

    /// The configuration as JSON with secrets removed (passwords in store URLs).
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if !self.security.admin_token.is_empty() {
            v["security"]["admin_token"] = serde_json::json!("***");
        }
        for k in ["feed", "post"] {
            if let Some(url) = v["stores"][k].as_str() {
                v["stores"][k] = serde_json::json!(xlfeed_store::url::redact(url));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let mut c = Config::default();
        c.stores.feed = "redis://:p@ss@host:6379/0".into();
        c.stores.post = "redis://u:pw@h/1".into();
        let v = c.redacted();
        assert_eq!(v["stores"]["feed"], "redis://:***@host:6379/0");
        assert_eq!(v["stores"]["post"], "redis://u:***@h/1");
        assert!(!v.to_string().contains("ss@"), "{v}");
    }

    #[test]
    fn files_and_env_override_defaults_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(
            &p,
            "[server]\nhttp = \"127.0.0.1:9999\"\n[cache]\nmax_mb = 64\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.server.http, "127.0.0.1:9999");
        assert_eq!(c.cache.max_mb, 64);
        std::fs::write(&p, "[server]\nhttp = \"nowhere\"\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("nowhere"), "{e}");
        std::fs::write(&p, "[sever]\nhttp = \"127.0.0.1:1\"\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(e.contains("sever"), "{e}");
        let e = format!(
            "{:#}",
            Config::load(Some(&dir.path().join("none.toml"))).unwrap_err()
        );
        assert!(e.contains("none.toml"), "{e}");
    }
}
