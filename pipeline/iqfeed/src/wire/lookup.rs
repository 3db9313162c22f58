//! Lookup-port (9100) replies: every line is data, an error, or the end of a reply.
//!
//! ```text
//! 6.2   <ReqID>,LH,<fields…>,      6.1   <ReqID>,<fields…>,
//!       <ReqID>,E,<error text>,           (same)
//!       <ReqID>,!ENDMSG!,                 (same)
//! ```
//!
//! `!ENDMSG!` and `E` are matched as whole fields, never as substrings. Without a request id
//! the first column is absent; xlfeed's client always sends ids, because an id-less `E`
//! symbol in a symbol search is indistinguishable from an error (reference §5).

use super::{Fields, Protocol, WireError};

/// The end-of-reply marker.
pub const END: &[u8] = b"!ENDMSG!";
/// The error text for an empty result, which is not a failure.
pub const NO_DATA: &str = "!NO_DATA!";
/// The error text for an unknown symbol.
pub const INVALID_SYMBOL: &str = "Invalid symbol.";
/// The error text for a malformed request.
pub const SYNTAX_ERROR: &str = "!SYNTAX_ERROR!";
/// The error text for a wrong number of request fields.
pub const BAD_PARAMETERS: &str = "Invalid number of parameters.";
/// The error text of the history rate limit.
pub const TOO_MANY: &str = "Too many simultaneous history requests";

/// What one lookup line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A data line: the record type (`LH`, `LS`, `LC` in 6.2; `None` in 6.1) and the fields
    /// after it.
    Data {
        /// The 6.2 record type.
        record: Option<&'a [u8]>,
        /// The record's fields, comma-separated, with their trailing comma.
        fields: &'a [u8],
    },
    /// An error line: the text after `E`.
    Error(&'a [u8]),
    /// The end of the reply.
    End,
}

/// A lookup line split into its request id and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The request id the line answers (`None` when requests carry none).
    pub id: Option<&'a [u8]>,
    /// The line's meaning.
    pub reply: Reply<'a>,
}

/// The 6.2 record types.
const RECORD_TYPES: [&[u8]; 5] = [b"LH", b"LS", b"LC", b"LN", b"LM"];

/// Splits a lookup line. With `with_id`, the first field is the request id.
pub fn parse_line(line: &[u8], with_id: bool, protocol: Protocol) -> Result<Line<'_>, WireError> {
    let mut f = Fields::new(line);
    let id = if with_id {
        let id = f.next().filter(|id| !id.is_empty());
        Some(id.ok_or_else(|| WireError::new(line, "no request id"))?)
    } else {
        None
    };
    let rest = f.remainder();
    let mut g = Fields::new(rest);
    let first = g.next().unwrap_or(b"");
    let reply = if first == END {
        Reply::End
    } else if first == b"E" {
        let text = g.next().unwrap_or(b"");
        Reply::Error(text)
    } else if RECORD_TYPES.contains(&first) {
        Reply::Data {
            record: Some(first),
            fields: g.remainder(),
        }
    } else if protocol == Protocol::V62 && !rest.is_empty() {
        return Err(WireError::new(line, "no record type on a 6.2 data line"));
    } else {
        Reply::Data {
            record: None,
            fields: rest,
        }
    };
    Ok(Line { id, reply })
}

/// Appends the start of a data line: `<id>,` and, in 6.2, `<record>,`.
pub fn write_data_prefix(out: &mut Vec<u8>, id: Option<&[u8]>, record: &[u8], p: Protocol) {
    if let Some(id) = id {
        out.extend_from_slice(id);
        out.push(b',');
    }
    if p == Protocol::V62 {
        out.extend_from_slice(record);
        out.push(b',');
    }
}

/// Appends an error reply: the `E` line and the end line, as IQConnect sends them.
pub fn write_error(out: &mut Vec<u8>, id: Option<&[u8]>, text: &str) {
    if let Some(id) = id {
        out.extend_from_slice(id);
        out.push(b',');
    }
    out.extend_from_slice(b"E,");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b",\r\n");
    write_end(out, id);
}

/// Appends the end line.
pub fn write_end(out: &mut Vec<u8>, id: Option<&[u8]>) {
    if let Some(id) = id {
        out.extend_from_slice(id);
        out.push(b',');
    }
    out.extend_from_slice(END);
    out.extend_from_slice(b",\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_data_error_and_end() {
        let l = parse_line(b"R7,LH,2024-01-02,1,", true, Protocol::V62).unwrap();
        assert_eq!(l.id, Some(&b"R7"[..]));
        assert_eq!(
            l.reply,
            Reply::Data {
                record: Some(b"LH"),
                fields: b"2024-01-02,1,"
            }
        );
        let l = parse_line(b"R7,E,!NO_DATA!,", true, Protocol::V62).unwrap();
        assert_eq!(l.reply, Reply::Error(b"!NO_DATA!"));
        let l = parse_line(b"R7,!ENDMSG!,", true, Protocol::V62).unwrap();
        assert_eq!(l.reply, Reply::End);
        let l = parse_line(b"R7,2024-01-02,1,", true, Protocol::V61).unwrap();
        assert_eq!(
            l.reply,
            Reply::Data {
                record: None,
                fields: b"2024-01-02,1,"
            }
        );
        // A symbol search for the real symbol E is data, thanks to the record type.
        let l = parse_line(b"R8,LS,E,7,1,ENI,", true, Protocol::V62).unwrap();
        assert_eq!(
            l.reply,
            Reply::Data {
                record: Some(b"LS"),
                fields: b"E,7,1,ENI,"
            }
        );
        // The marker is a whole field, not a substring.
        let l = parse_line(b"R9,LS,X!ENDMSG!,1,", true, Protocol::V62).unwrap();
        assert!(matches!(l.reply, Reply::Data { .. }));
    }

    #[test]
    fn rejects_lines_without_what_6_2_requires() {
        assert!(parse_line(b"R7,2024-01-02,1,", true, Protocol::V62).is_err());
        assert!(parse_line(b"", true, Protocol::V62).is_err());
    }

    #[test]
    fn errors_are_two_lines() {
        let mut out = Vec::new();
        write_error(&mut out, Some(b"R1"), INVALID_SYMBOL);
        assert_eq!(out, b"R1,E,Invalid symbol.,\r\nR1,!ENDMSG!,\r\n");
    }
}
