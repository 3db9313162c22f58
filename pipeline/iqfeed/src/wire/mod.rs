//! The IQFeed wire format: lines, fields, and the typed messages of every port.
//!
//! The bottom layer of the IQFeed stack (wire → connection → client, and the simulator on
//! the other side). Everything here is pure and synchronous: [`LineSplitter`] cuts a byte
//! stream into lines whatever the TCP reads were; [`Fields`] splits a line on commas; the
//! submodules parse and format each message family. Parsing never panics: a malformed line
//! is a [`WireError`] that quotes it.
//!
//! Conventions of the protocol (shared/reference/iqfeed-protocol.md §1.2): ASCII, fields
//! separated by `,` with no quoting (free text may contain commas), lines end in `\r\n`
//! (a bare `\n` is accepted), most data lines end with a trailing `,`.

pub mod chain;
pub mod history;
pub mod level1;
pub mod lookup;
pub mod num;
pub mod request;
pub mod scan;

use std::fmt;

use xlfeed_core::ErrorKind;

/// Longest line quoted in an error message.
const QUOTE_MAX: usize = 160;

/// A line that does not parse as the message it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed iqfeed line {line:?}: {reason}")]
pub struct WireError {
    /// The line (cut to 160 characters).
    pub line: String,
    /// What is wrong with it.
    pub reason: String,
}

impl WireError {
    /// An error quoting `line`.
    pub fn new(line: &[u8], reason: impl Into<String>) -> WireError {
        let text = String::from_utf8_lossy(line);
        let line = if text.chars().count() > QUOTE_MAX {
            let cut: String = text.chars().take(QUOTE_MAX).collect();
            format!("{cut}…")
        } else {
            text.into_owned()
        };
        WireError {
            line,
            reason: reason.into(),
        }
    }

    /// Malformed upstream data is reported as corrupt.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Corrupt
    }
}

/// Cuts a byte stream into lines, whatever the sizes of the reads that deliver it.
///
/// Lines end at `\n`; a `\r` before it is removed. Bytes after the last `\n` wait for the
/// next [`LineSplitter::push`].
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Start of the first unread line in `buf`.
    start: usize,
}

impl LineSplitter {
    /// An empty splitter.
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > (1 << 16) && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, without its terminator.
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..];
        let nl = memchr::memchr(b'\n', rest)?;
        let begin = self.start;
        self.start += nl + 1;
        let mut line = &self.buf[begin..begin + nl];
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        Some(line)
    }

    /// The bytes not yet taken as lines (complete lines first, then a partial one).
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks the first `n` bytes of [`LineSplitter::unread`] as taken (whole lines, parsed
    /// some other way).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
    }

    /// Whether a complete line is waiting.
    pub fn has_line(&self) -> bool {
        memchr::memchr(b'\n', &self.buf[self.start..]).is_some()
    }

    /// Bytes held that do not yet form a line.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// The comma-separated fields of a line, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    /// The fields of `line`.
    pub fn new(line: &'a [u8]) -> Fields<'a> {
        Fields { rest: Some(line) }
    }

    /// Everything not yet taken, commas included (for free text that runs to the end).
    pub fn remainder(&self) -> &'a [u8] {
        self.rest.unwrap_or(b"")
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        // Fields are short (a price, a size, a code): a plain scan of the first bytes beats
        // a call into memchr; long ones (chain lines, descriptions) fall through to it.
        let short = rest.len().min(24);
        let found = match rest[..short].iter().position(|&b| b == b',') {
            Some(i) => Some(i),
            None if rest.len() > short => memchr::memchr(b',', &rest[short..]).map(|i| i + short),
            None => None,
        };
        match found {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// Protocol versions a client may ask for and the simulator answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// 6.1: no record types on lookup lines.
    V61,
    /// 6.2: `LH`, `LS`, `LC` record types after the request id.
    V62,
}

impl Protocol {
    /// Parses `6.1` or `6.2`.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.trim() {
            "6.1" => Some(Protocol::V61),
            "6.2" => Some(Protocol::V62),
            _ => None,
        }
    }

    /// `6.1` or `6.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V61 => "6.1",
            Protocol::V62 => "6.2",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_split_across_reads_and_strip_cr() {
        let mut s = LineSplitter::new();
        s.push(b"S,CURRENT PROTOCOL,6.2\r");
        assert_eq!(s.next_line(), None);
        s.push(b"\nR1,LH,a,b,\r\nR1,!END");
        assert_eq!(s.next_line(), Some(&b"S,CURRENT PROTOCOL,6.2"[..]));
        assert_eq!(s.next_line(), Some(&b"R1,LH,a,b,"[..]));
        assert_eq!(s.next_line(), None);
        s.push(b"MSG!,\n\n");
        assert_eq!(s.next_line(), Some(&b"R1,!ENDMSG!,"[..]));
        assert_eq!(s.next_line(), Some(&b""[..]));
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn fields_keep_empty_ones_and_the_remainder() {
        let f: Vec<&[u8]> = Fields::new(b"a,,b,").collect();
        assert_eq!(f, vec![&b"a"[..], b"", b"b", b""]);
        let mut f = Fields::new(b"LS,XOM,7,1,EXXON MOBIL, CORP,");
        f.next();
        f.next();
        f.next();
        f.next();
        assert_eq!(f.remainder(), b"EXXON MOBIL, CORP,");
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_gives_the_same_lines(
            lines in proptest::collection::vec("[ -~]{0,40}", 0..20),
            cuts in proptest::collection::vec(0usize..2000, 0..10),
        ) {
            let stream: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
            let mut cuts = cuts;
            cuts.push(0);
            cuts.push(stream.len());
            cuts.iter_mut().for_each(|c| *c = (*c).min(stream.len()));
            cuts.sort_unstable();
            let mut s = LineSplitter::new();
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                s.push(&stream[w[0]..w[1]]);
                while let Some(l) = s.next_line() {
                    got.push(String::from_utf8(l.to_vec()).unwrap());
                }
            }
            prop_assert_eq!(got, lines);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut s = LineSplitter::new();
            s.push(&bytes);
            while let Some(l) = s.next_line() {
                let _ = Fields::new(l).count();
            }
        }
    }
}
