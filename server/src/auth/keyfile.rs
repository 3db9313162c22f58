//! The keys file: keys with the SHA-256 of their secrets (never the secrets), read and
//! checked at start-up and on reload, changed by `xlserver keys` and written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use sha2::{Digest, Sha256};
use xlfeed_core::fsutil::{Access, write_atomically};

use super::*;

/// The prefix of every API key.
pub(super) const KEY_PREFIX: &str = "xlf";
/// Random bytes in a key id (hex-encoded: 12 characters, short enough to type for `revoke`).
pub(super) const ID_BYTES: usize = 6;
/// Random bytes in a key secret (hex-encoded: 64 characters).
pub(super) const SECRET_BYTES: usize = 32;
/// The longest key name `keys add` accepts.
pub(super) const MAX_NAME_LEN: usize = 64;

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
pub(super) struct KeyEntry {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) role: Role,
    /// SHA-256 of the secret, lowercase hex.
    pub(super) sha256: String,
    pub(super) created: String,
    #[serde(default)]
    pub(super) revoked: bool,
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
pub(super) struct KeyFileData {
    pub(super) version: u32,
    pub(super) keys: Vec<KeyEntry>,
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
        write_atomically(&self.path, &json, Access::Private)
            .with_context(|| format!("failed to write the keys file {}", self.path.display()))
    }
}

/// Reads and checks the keys file; a missing file is an empty list.
pub(super) fn read_keys(path: &Path) -> anyhow::Result<Vec<KeyEntry>> {
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
pub(super) fn warn_if_readable_by_others(path: &Path) {
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
pub(super) fn warn_if_readable_by_others(_path: &Path) {}

/// `n` random bytes from the operating system, hex-encoded.
pub(super) fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow!("failed to get random bytes: {e}"))?;
    Ok(hex::encode(buf))
}

/// Splits `xlf_<id>_<secret>` into id and secret.
pub(super) fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?.strip_prefix('_')?;
    let (id, secret) = rest.split_once('_')?;
    if id.is_empty() || secret.is_empty() {
        return None;
    }
    Some((id, secret))
}

/// A SHA-256 as stored in the keys file, decoded.
pub(super) fn decode_hash(hex_digest: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).ok()?;
    Some(out)
}

/// Compares two hashes without stopping at the first difference.
pub(super) fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}
