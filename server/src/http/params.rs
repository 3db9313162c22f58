//! Query strings: `a=1&b=x%20y` into the [`Args`] of a call, strictly (a bad escape or bytes
//! that are not UTF-8 are a 400 naming them).

use crate::error::ApiError;
use crate::query::Args;

/// The arguments of a query string (names without regard to case, each at most once).
pub(crate) fn query_args(q: &str) -> Result<Args, ApiError> {
    let pairs = serde_urlencoded_pairs(q)?;
    Args::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Decodes `a=1&b=x%20y` into pairs; a malformed escape is a 400 naming it.
fn serde_urlencoded_pairs(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(out)
}

/// One name or value of a query string: `+` is a space, `%XX` a byte (two hex digits, strictly:
/// `%+A` is a bad escape, not a newline), and the bytes UTF-8.
fn percent_decode(s: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let bad_escape = b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return Err(ApiError::bad(format!(
            "bad escape in the query string near {}",
            xlfeed_core::quoted(s)
        )));
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            ApiError::bad(format!(
                "query string {} is not UTF-8",
                xlfeed_core::quoted(s)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_and_bad_escapes_are_named() {
        let p = serde_urlencoded_pairs("symbol=AAPL&fields=open%2Cclose&x=a+b").unwrap();
        assert_eq!(p[1], ("fields".into(), "open,close".into()));
        assert_eq!(p[2].1, "a b");
        let e = serde_urlencoded_pairs("symbol=%ZZ").unwrap_err();
        assert!(e.message.contains("%ZZ"), "{}", e.message);
        // u8::from_str_radix takes a sign: "%+A" once decoded to a newline.
        for bad in ["%+A", "%-1", "%2", "%", "a%%20", "%\u{e9}0"] {
            let e = serde_urlencoded_pairs(&format!("symbol={bad}")).unwrap_err();
            assert!(e.message.contains("bad escape"), "{bad}: {}", e.message);
        }
        assert_eq!(serde_urlencoded_pairs("s=%2B+%2b").unwrap()[0].1, "+ +");
        let e = serde_urlencoded_pairs("s=%FF").unwrap_err();
        assert!(e.message.contains("UTF-8"), "{}", e.message);
    }
}
