//! `Connection`: buffered line framing over one TCP socket to an IQConnect port, and the
//! `S,SET PROTOCOL` handshake every socket starts with.
//!
//! The middle layer (wire → connection → client). Reads go through a [`LineSplitter`], so a
//! line split across TCP reads, or several lines in one read, come out whole.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::IqError;
use crate::wire::{LineSplitter, Protocol};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// The reading half of a connection: complete lines, one at a time.
pub struct LineReader {
    half: OwnedReadHalf,
    split: LineSplitter,
    chunk: Vec<u8>,
    addr: String,
}

/// The writing half: whole request lines.
pub struct LineWriter {
    half: OwnedWriteHalf,
    addr: String,
}

impl LineReader {
    /// The next line without its terminator, or `None` when the server closed the socket.
    pub async fn next_line(&mut self) -> Result<Option<&[u8]>, IqError> {
        loop {
            if self.split.has_line() {
                return Ok(self.split.next_line());
            }
            let n = self
                .half
                .read(&mut self.chunk)
                .await
                .map_err(|e| unavailable(&self.addr, &e))?;
            if n == 0 {
                return Ok(None);
            }
            self.split.push(&self.chunk[..n]);
        }
    }

    /// Reads more bytes into the splitter; `false` at end of stream. For callers that drain
    /// every complete line themselves with [`LineReader::splitter`].
    pub async fn fill(&mut self) -> Result<bool, IqError> {
        let n = self
            .half
            .read(&mut self.chunk)
            .await
            .map_err(|e| unavailable(&self.addr, &e))?;
        self.split.push(&self.chunk[..n]);
        Ok(n > 0)
    }

    /// The line splitter, to drain the complete lines read so far.
    pub fn splitter(&mut self) -> &mut LineSplitter {
        &mut self.split
    }
}

impl LineWriter {
    /// Sends one line, adding `\r\n`.
    pub async fn send(&mut self, line: &str) -> Result<(), IqError> {
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        self.half
            .write_all(&buf)
            .await
            .map_err(|e| unavailable(&self.addr, &e))
    }
}

fn unavailable(addr: &str, e: &dyn std::fmt::Display) -> IqError {
    IqError::Unavailable {
        addr: addr.to_owned(),
        reason: e.to_string(),
    }
}

/// Connects to `addr`, sets the protocol, and checks IQConnect's answer.
///
/// Lines that arrive before the answer (system chatter on the Level 1 and admin ports) are
/// skipped; an `E` line or another version is an error naming both.
pub async fn connect(
    addr: &str,
    protocol: Protocol,
    timeout: Duration,
) -> Result<(LineReader, LineWriter), IqError> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| unavailable(addr, &format!("no connection within {timeout:?}")))?
        .map_err(|e| unavailable(addr, &e))?;
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut reader = LineReader {
        half: r,
        split: LineSplitter::new(),
        chunk: vec![0; READ_CHUNK],
        addr: addr.to_owned(),
    };
    let mut writer = LineWriter {
        half: w,
        addr: addr.to_owned(),
    };
    writer.send(&format!("S,SET PROTOCOL,{protocol}")).await?;
    let answer = async {
        loop {
            let Some(line) = reader.next_line().await? else {
                return Err(unavailable(addr, &"closed during the protocol handshake"));
            };
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end_matches(',');
            if let Some(v) = text.strip_prefix("S,CURRENT PROTOCOL,") {
                if v == protocol.as_str() {
                    return Ok(());
                }
                return Err(IqError::Protocol {
                    addr: addr.to_owned(),
                    protocol: protocol.to_string(),
                    reason: format!("it answered with protocol {v}"),
                });
            }
            if let Some(e) = text.strip_prefix("E,") {
                return Err(IqError::Protocol {
                    addr: addr.to_owned(),
                    protocol: protocol.to_string(),
                    reason: e.to_owned(),
                });
            }
        }
    };
    // Silence is not a refusal: a gateway that is starting or busy answers later, so a
    // missing answer is "unavailable" (retried), not a protocol mismatch (never retried).
    tokio::time::timeout(timeout, answer).await.map_err(|_| {
        unavailable(
            addr,
            &format!("no answer to S,SET PROTOCOL,{protocol} within {timeout:?}"),
        )
    })??;
    Ok((reader, writer))
}
