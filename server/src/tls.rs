//! HTTPS and gRPC over TLS, from a certificate and key in PEM files. Office add-ins load
//! only from HTTPS, so an xlserver that Excel calls directly serves TLS; behind a
//! TLS-terminating proxy it need not.
//!
//! Both listeners use rustls with the ring provider. The files are read and checked here,
//! once, so a bad path or a file that is not PEM stops start-up with a message naming the
//! file instead of failing on the first connection.
//!
//! [`write_dev_cert`] (the `demo-tls` feature, on by default) makes the self-signed certificate
//! `xlserver demo --https` serves; a production build can leave it out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The `[tls]` section of the server configuration: where the PEM files are.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM (`-----BEGIN CERTIFICATE-----`), leaf first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Makes rustls' ring provider the process default. Safe to call more than once.
pub fn install_crypto_provider() {
    // An error means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The listeners' TLS configuration, offering HTTP/2 and HTTP/1.1.
pub async fn listener_config(cfg: &TlsConfig) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let cert_pem = read_file(&cfg.cert, "certificate").await?;
    let key_pem = read_file(&cfg.key, "private key").await?;
    let mut server = server_config(cfg, &cert_pem, &key_pem)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

/// Writes a self-signed development certificate for `localhost`, `127.0.0.1` and `::1` to
/// `dir/cert.pem` and `dir/key.pem` (the key readable by its owner only on unix). Browsers
/// and Excel trust it only after it is added to the system's trusted roots; for production
/// use a certificate from a real CA.
#[cfg(feature = "demo-tls")]
pub fn write_dev_cert(dir: &Path) -> anyhow::Result<TlsConfig> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let mut params = rcgen::CertificateParams::new(names)
        .context("failed to make the development certificate")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "xlserver development certificate",
    );
    let key_pair =
        rcgen::KeyPair::generate().context("failed to make the development certificate key")?;
    let cert = params
        .self_signed(&key_pair)
        .context("failed to sign the development certificate")?;

    let cfg = TlsConfig {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&cfg.cert, cert.pem())
        .with_context(|| format!("failed to write {}", cfg.cert.display()))?;
    write_private(&cfg.key, key_pair.serialize_pem().as_bytes())
        .with_context(|| format!("failed to write {}", cfg.key.display()))?;
    Ok(cfg)
}

/// Writes `bytes` to `path`, readable by the owner only on unix.
#[cfg(feature = "demo-tls")]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // An existing file keeps its mode on open; tighten it first.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

async fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    tokio::fs::read(path)
        .await
        .map_err(|e| read_error(path, what, &e))
}

fn read_error(path: &Path, what: &str, e: &std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow!("TLS {what} file {} does not exist", path.display())
    } else {
        anyhow!("cannot read TLS {what} file {}: {e}", path.display())
    }
}

/// Parses the PEM files and builds a rustls server configuration from them.
fn server_config(
    cfg: &TlsConfig,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> anyhow::Result<rustls::ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&cfg.cert, "certificate", &e))?;
    if certs.is_empty() {
        bail!(
            "TLS certificate file {} has no certificate (expected PEM \"-----BEGIN CERTIFICATE-----\")",
            cfg.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => anyhow!(
            "TLS private key file {} has no private key (expected PEM \"-----BEGIN PRIVATE KEY-----\")",
            cfg.key.display()
        ),
        e => pem_error(&cfg.key, "private key", &e),
    })?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("failed to set up TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow!(
                "TLS certificate {} and private key {} cannot be used together: {e}",
                cfg.cert.display(),
                cfg.key.display()
            )
        })
}

fn pem_error(path: &Path, what: &str, e: &pem::Error) -> anyhow::Error {
    anyhow!("TLS {what} file {} is not valid PEM: {e}", path.display())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    #[cfg(feature = "demo-tls")]
    use axum::{Router, routing::get};

    #[cfg(feature = "demo-tls")]
    #[tokio::test]
    async fn serves_https_with_the_dev_cert() {
        install_crypto_provider();
        install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_dev_cert(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&cfg.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let tls = listener_config(&cfg).await.unwrap();

        let app = Router::new().route("/health", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = crate::listen::ConnLimits {
            header_read: std::time::Duration::from_secs(5),
            idle: std::time::Duration::from_secs(5),
            max_connections: 8,
        };
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::listen::serve(
            listener,
            app,
            Some(tls),
            limits,
            Arc::new(crate::metrics::Metrics::new()),
            stop_rx,
        ));

        let root = reqwest::Certificate::from_pem(&std::fs::read(&cfg.cert).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([root])
            .build()
            .unwrap();
        for host in ["localhost", "127.0.0.1"] {
            let url = format!("https://{host}:{}/health", addr.port());
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{url}");
            assert_eq!(resp.text().await.unwrap(), "ok");
        }
        // Without trusting the certificate, the client refuses the connection.
        let strict = reqwest::Client::new();
        assert!(
            strict
                .get(format!("https://localhost:{}/health", addr.port()))
                .send()
                .await
                .is_err()
        );
    }

    #[cfg(feature = "demo-tls")]
    #[tokio::test]
    async fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_dev_cert(dir.path()).unwrap();

        let missing = TlsConfig {
            cert: dir.path().join("nope.pem"),
            key: good.key.clone(),
        };
        let err = listener_config(&missing).await.unwrap_err().to_string();
        assert!(
            err.contains("nope.pem") && err.contains("does not exist"),
            "{err}"
        );

        let not_pem = dir.path().join("garbage.pem");
        std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
        let cfg = TlsConfig {
            cert: not_pem.clone(),
            key: good.key.clone(),
        };
        let err = listener_config(&cfg).await.unwrap_err().to_string();
        assert!(
            err.contains("garbage.pem") && err.contains("no certificate"),
            "{err}"
        );

        // The certificate where the key should be.
        let cfg = TlsConfig {
            cert: good.cert.clone(),
            key: good.cert.clone(),
        };
        let err = listener_config(&cfg).await.unwrap_err().to_string();
        assert!(
            err.contains("cert.pem") && err.contains("no private key"),
            "{err}"
        );

        // A key that does not belong to the certificate.
        let other = write_dev_cert(&dir.path().join("other")).unwrap();
        let cfg = TlsConfig {
            cert: good.cert.clone(),
            key: other.key.clone(),
        };
        let err = listener_config(&cfg).await.unwrap_err().to_string();
        assert!(err.contains("cannot be used together"), "{err}");
    }

    #[test]
    fn tls_config_rejects_unknown_fields() {
        assert!(toml::from_str::<TlsConfig>("cert = \"c.pem\"\nkey = \"k.pem\"").is_ok());
        assert!(
            toml::from_str::<TlsConfig>("cert = \"c.pem\"\nkey = \"k.pem\"\nca = \"x\"").is_err()
        );
    }
}
