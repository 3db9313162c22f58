//! [`StoreUrl`]: where a store is, parsed once. `embedded:///dir` (fjall in this process),
//! `redis://[user[:password]@]host[:port][/db]` (any Redis-protocol server), or
//! `redis+cluster://[user[:password]@]host:port[,host:port…][/]` (a Redis Cluster, or Kvrocks
//! in cluster mode, reached through any of the listed nodes).
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
    Cluster(Cluster),
}

/// A cluster's seed nodes and credentials.
#[derive(Clone)]
pub(crate) struct Cluster {
    /// The user name (empty: the default user).
    pub user: String,
    /// The password, if any.
    pub password: Option<String>,
    /// Host and port of each listed node, as given (an IPv6 address without brackets).
    pub nodes: Vec<(String, u16)>,
}

/// The scheme of a cluster's URL.
pub const CLUSTER_SCHEME: &str = "redis+cluster://";

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
        } else if let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) {
            Location::Cluster(parse_cluster(rest).map_err(|reason| bad(&reason))?)
        } else {
            return Err(bad(
                "expected embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/",
            ));
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
            Location::Redis(_) | Location::Cluster(_) => None,
        }
    }

    /// The seed nodes and credentials of a `redis+cluster://` store (to connect with,
    /// never to show).
    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        match &self.location {
            Location::Cluster(c) => Some(c),
            _ => None,
        }
    }

    /// The database number a `redis://` URL names (0 when it names none).
    pub fn database(&self) -> u32 {
        match &self.location {
            Location::Redis(u) => u.path().trim_start_matches('/').parse().unwrap_or(0),
            Location::Embedded(_) | Location::Cluster(_) => 0,
        }
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
            Location::Cluster(c) => {
                let mut nodes: Vec<String> = c
                    .nodes
                    .iter()
                    .map(|(h, p)| format!("{}:{p}", h.to_ascii_lowercase()))
                    .collect();
                nodes.sort();
                nodes.dedup();
                format!("{CLUSTER_SCHEME}{}@{}/0", c.user, nodes.join(","))
            }
        }
    }
}

/// The part of a cluster URL after its scheme: `[user[:password]@]host:port[,host:port…][/[0]]`.
fn parse_cluster(rest: &str) -> Result<Cluster, String> {
    if rest.contains(['?', '#']) {
        return Err("a store URL has no query or fragment".into());
    }
    // The password may hold `@` or `/`; a host never does.
    let (auth, hosts) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (hosts, db) = match hosts.find('/') {
        Some(i) => (&hosts[..i], &hosts[i + 1..]),
        None => (hosts, ""),
    };
    if !(db.is_empty() || db == "0") {
        return Err(format!(
            "a cluster has only database 0, not {}",
            xlfeed_core::quoted(db)
        ));
    }
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (user, password) = match auth {
        None => (String::new(), None),
        Some(a) => match a.split_once(':') {
            Some((u, p)) => (decode(u), Some(decode(p))),
            None => (decode(a), None),
        },
    };
    let mut nodes = Vec::new();
    for node in hosts.split(',') {
        let node = node.trim();
        let Some((host, port)) = node.rsplit_once(':') else {
            return Err(format!(
                "node {} has no port: list host:port,host:port",
                xlfeed_core::quoted(node)
            ));
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            format!(
                "node {} has no port number 1..65535",
                xlfeed_core::quoted(node)
            )
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c));
        if !valid {
            return Err(format!(
                "node {} is not a host name or address",
                xlfeed_core::quoted(node)
            ));
        }
        nodes.push((host.to_owned(), port));
    }
    Ok(Cluster {
        user,
        password,
        nodes,
    })
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
            Location::Cluster(c) if c.password.is_some() => {
                let at = self.given.rfind('@').map_or(0, |i| i + 1);
                write!(f, "{CLUSTER_SCHEME}{}:***@{}", c.user, &self.given[at..])
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
        assert_eq!(
            url("redis+cluster://:p@w@a:7000,b:7001/").to_string(),
            "redis+cluster://:***@a:7000,b:7001/"
        );
        assert_eq!(
            url("redis+cluster://ops:pw@a:7000").to_string(),
            "redis+cluster://ops:***@a:7000"
        );
        assert_eq!(
            url("redis+cluster://a:7000,b:7001").to_string(),
            "redis+cluster://a:7000,b:7001"
        );
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
        assert_eq!(
            url("redis+cluster://A:1,b:2"),
            url("redis+cluster://b:2,a:1/0")
        );
        assert_ne!(url("redis+cluster://a:1"), url("redis+cluster://a:2"));
        assert_ne!(url("redis+cluster://a:1"), url("redis://a:1"));
    }

    #[test]
    fn a_cluster_url_names_every_node_with_its_credentials() {
        let u = url("redis+cluster://ops:s%40cret@10.0.0.1:7000,[::1]:7001,node-c:7002/");
        let c = u.cluster().unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_deref()),
            ("ops", Some("s@cret"))
        );
        let nodes: Vec<(&str, u16)> = c.nodes.iter().map(|(h, p)| (h.as_str(), *p)).collect();
        assert_eq!(
            nodes,
            vec![("10.0.0.1", 7000), ("::1", 7001), ("node-c", 7002)]
        );
        assert_eq!(url("redis://h/4").database(), 4);
        assert!(url("redis://h/4").cluster().is_none());
    }

    #[test]
    fn bad_urls_are_named_without_their_password() {
        for (bad, why) in [
            ("embedded://", "no directory"),
            ("redis://", "host"),
            ("redis://:pw@h/x", "database number"),
            ("redis://h/0?x=1", "query"),
            ("http://h", "expected"),
            ("redis+cluster://:pw@a:1/3", "only database 0, not \"3\""),
            ("redis+cluster://:pw@a", "node \"a\" has no port"),
            ("redis+cluster://a:1,b:x", "node \"b:x\" has no port number"),
            ("redis+cluster://a:1,", "node \"\" has no port"),
            ("redis+cluster://a b:1", "not a host name"),
            ("redis+cluster://a:1/?x", "query"),
            ("", "expected"),
        ] {
            let e = StoreUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("pw"), "{bad}: {e}");
        }
    }
}
