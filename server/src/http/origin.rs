//! Web origins (`scheme://host[:port]`), parsed once by the `url` crate and written as
//! browsers send them in `Origin`: scheme and host lowercase, the scheme's default port left
//! out, no trailing slash. The public URL, the CORS allow-list and the request guard all read
//! origins here, so `https://Addin.example.com:443/` in the configuration is the
//! `https://addin.example.com` a browser sends, for CORS and for the guard alike.

use xlfeed_core::quoted;

/// An origin: `https://xl.example.com:8443`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    serialized: String,
    host: String,
}

impl Origin {
    /// Parses `text`: an http or https URL with a host, an optional port and nothing else (a
    /// path of `/` at most). The error says what is wrong, naming the value.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let t = text.trim();
        let not_origin = || {
            format!(
                "{} is not an origin like https://xlserver.example.com[:port]",
                quoted(t)
            )
        };
        let url = url::Url::parse(t).map_err(|_| not_origin())?;
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(format!(
                "{}: scheme {scheme} is not https or http",
                quoted(t)
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{}: an origin has no user name", quoted(t)));
        }
        let host = url.host_str().ok_or_else(not_origin)?;
        if host.contains('*') {
            return Err(format!(
                "{}: list exact origins; wildcards are not allowed",
                quoted(t)
            ));
        }
        // The origin goes into the add-in's manifest (XML) and response headers as it is.
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
        if host.is_empty() || !host.chars().all(plain) {
            return Err(format!(
                "{}: host {} is not a host name or address",
                quoted(t),
                quoted(host)
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{}: an origin has no path, query or fragment (give scheme://host[:port] only)",
                quoted(t)
            ));
        }
        let serialized = url.origin().ascii_serialization();
        Ok(Origin {
            serialized,
            host: host.to_owned(),
        })
    }

    /// The origin as browsers send it.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }

    /// Its host name or address, without the port (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.serialized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_written_as_browsers_send_them() {
        let o = |t: &str| Origin::parse(t).map(|o| o.to_string());
        assert_eq!(
            o("HTTPS://Addin.Example.com:8443/").unwrap(),
            "https://addin.example.com:8443"
        );
        // The default port is not part of what a browser sends.
        assert_eq!(
            o(" https://addin.example.com:443 ").unwrap(),
            "https://addin.example.com"
        );
        assert_eq!(o("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(Origin::parse("http://[::1]:8080").unwrap().host(), "[::1]");
        for (bad, says) in [
            ("*", "not an origin"),
            ("addin.example.com", "not an origin"),
            ("ftp://x.com", "scheme ftp"),
            ("https://x.com/app", "no path"),
            ("https://x.com/?a=1", "no path"),
            ("https://*", "wildcards"),
            ("https://*.x.com", "wildcards"),
            ("https://u:p@x.com", "user name"),
            ("https://a\"b", "a\\\"b"),
        ] {
            let e = o(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains(&quoted(bad.trim())), "{bad}: {e}");
        }
    }
}
