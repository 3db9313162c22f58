//! [`StoreUrl`]: where a store is, parsed once. `embedded:///dir` (fjall in this process) or
//! `redis://[user[:password]@]host[:port][/db]` (any Redis-protocol server).
//!
//! One type for the three things every user of a store URL needs: the address to connect
//! to (with its password), a display with the password hidden (for messages, logs, run
//! records and `/admin/v1/config`), and whether two URLs name the same store
//! (`embedded://data/feed` and `embedded://./data/feed/` do; so do `redis://h` and
//! `redis://H:6379/0`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::StoreError;

/// The port a `redis://` URL without one means.
pub const DEFAULT_REDIS_PORT: u16 = 6379;

/// A parsed store URL.
#[derive(Clone)]
pub struct StoreUrl {
    given: String,
    location: Location,
}

#[derive(Clone)]
enum Location {
    /// The directory, as given.
    Embedded(PathBuf),
    Redis(url::Url),
}

impl StoreUrl {
    /// Parses `url`; the error names it (password hidden) and says what is wrong.
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let bad = |reason: &str| StoreError::BadUrl {
            url: hide_credentials(url),
            reason: reason.to_owned(),
        };
        let location = if let Some(path) = url.strip_prefix("embedded://") {
            if path.is_empty() {
                return Err(bad("no directory after embedded://"));
            }
            Location::Embedded(PathBuf::from(path))
        } else if url.starts_with("redis://") {
            let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
            if u.host_str().is_none_or(str::is_empty) {
                return Err(bad("no host after redis://"));
            }
            if u.query().is_some() || u.fragment().is_some() {
                return Err(bad("a store URL has no query or fragment"));
            }
            let db = u.path().trim_start_matches('/');
            if !db.is_empty() && db.parse::<u32>().is_err() {
                return Err(bad(
                    "the path must be a database number, as in redis://host:6379/0",
                ));
            }
            Location::Redis(u)
        } else {
            return Err(bad("expected embedded:///dir or redis://host:port/db"));
        };
        Ok(StoreUrl {
            given: url.to_owned(),
            location,
        })
    }

    /// The URL as given, password included: to connect with, never to show.
    pub fn expose(&self) -> &str {
        &self.given
    }

    /// The directory of an `embedded://` store.
    pub fn embedded_dir(&self) -> Option<&Path> {
        match &self.location {
            Location::Embedded(p) => Some(p),
            Location::Redis(_) => None,
        }
    }

    /// Whether this is a `redis://` store.
    pub fn is_redis(&self) -> bool {
        matches!(self.location, Location::Redis(_))
    }

    /// The form two URLs of the same store share: an absolute, clean directory; or scheme,
    /// user, lowercase host, port and database number with the defaults written out. (The
    /// password is no part of which store it is.)
    fn normal(&self) -> String {
        match &self.location {
            Location::Embedded(p) => {
                let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                let clean: PathBuf = abs.components().collect();
                format!("embedded://{}", clean.display())
            }
            Location::Redis(u) => {
                let db = u.path().trim_start_matches('/');
                let db: u32 = db.parse().unwrap_or(0);
                format!(
                    "redis://{}@{}:{}/{db}",
                    u.username(),
                    u.host_str().unwrap_or_default().to_ascii_lowercase(),
                    u.port().unwrap_or(DEFAULT_REDIS_PORT)
                )
            }
        }
    }
}

impl PartialEq for StoreUrl {
    fn eq(&self, other: &StoreUrl) -> bool {
        self.given == other.given || self.normal() == other.normal()
    }
}

impl Eq for StoreUrl {}

/// The URL with its password shown as `***`.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Redis(u) if u.password().is_some() => {
                let mut shown = u.clone();
                let _ = shown.set_password(Some("***"));
                f.write_str(shown.as_str())
            }
            _ => f.write_str(&self.given),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

impl FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<StoreUrl, StoreError> {
        StoreUrl::parse(s)
    }
}

/// Any text that may be a store URL, with a password hidden: a URL that parses shows as
/// [`StoreUrl`] does; other text loses everything between `://` and its last `@` (a
/// password may contain `@`; a host never does).
pub fn redact(text: &str) -> String {
    match StoreUrl::parse(text) {
        Ok(u) => u.to_string(),
        Err(_) => hide_credentials(text),
    }
}

/// `scheme://***@rest` for text with an `@` after its `://`: all before the last `@` goes.
fn hide_credentials(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &text[..s], &text[at + 1..]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> StoreUrl {
        StoreUrl::parse(s).unwrap()
    }

    #[test]
    fn a_password_is_hidden_whatever_it_contains() {
        assert_eq!(
            url("redis://:pw@h:6379/0").to_string(),
            "redis://:***@h:6379/0"
        );
        // The password "p@ss": the host is after the last @, and nothing of it is shown.
        let shown = url("redis://:p@ss@host:1/0").to_string();
        assert_eq!(shown, "redis://:***@host:1/0");
        assert!(!shown.contains("ss@"), "{shown}");
        assert_eq!(url("redis://u:s:e@h/2").to_string(), "redis://u:***@h/2");
        assert_eq!(url("redis://h:6379/0").to_string(), "redis://h:6379/0");
        assert_eq!(url("embedded:///d").to_string(), "embedded:///d");
        assert_eq!(redact("redis://:p@ss@host:1/x?y"), "redis://***@host:1/x?y");
        assert_eq!(redact("--feed"), "--feed");
        assert!(!format!("{:?}", url("redis://:pw@h")).contains("pw"));
    }

    #[test]
    fn urls_of_one_store_are_equal() {
        assert_eq!(url("embedded://data/feed"), url("embedded://./data/feed/"));
        assert_ne!(url("embedded://data/feed"), url("embedded://data/post"));
        assert_eq!(url("redis://h"), url("redis://H:6379/0"));
        assert_eq!(url("redis://:a@h:1/0"), url("redis://:b@h:1"));
        assert_ne!(url("redis://h:1/0"), url("redis://h:1/1"));
        assert_ne!(url("redis://h:1/0"), url("redis://h:2/0"));
        assert_ne!(url("redis://u@h"), url("redis://v@h"));
    }

    #[test]
    fn bad_urls_are_named_without_their_password() {
        for (bad, why) in [
            ("embedded://", "no directory"),
            ("redis://", "host"),
            ("redis://:pw@h/x", "database number"),
            ("redis://h/0?x=1", "query"),
            ("http://h", "expected"),
            ("", "expected"),
        ] {
            let e = StoreUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("pw"), "{bad}: {e}");
        }
    }
}
