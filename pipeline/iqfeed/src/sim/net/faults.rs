//! Fault injection: the knobs that make the simulator misbehave on purpose, and `Sink`,
//! the socket writer that applies the write-level ones.
//!
//! Part of the simulator's network side (server → port handlers → sink → socket). Clients
//! are tested against these faults (shared/reference/iqfeed-protocol.md §7 and §10.7):
//!
//! | knob | where | what the client sees |
//! |---|---|---|
//! | `drop_after_lines` | lookup port | the socket closes after that many lines (protocol answer included), mid-reply |
//! | `delay` | lookup port | each reply starts that much later |
//! | `malformed_every` | lookup port | every Nth data line of a connection is replaced by one that does not parse |
//! | `rate_limit_every` | lookup port | every Nth history request is answered `E,Too many simultaneous history requests,` |
//! | `fragment_writes` | every port | writes are cut at pseudo-random byte offsets, `\r\n` included |
//!
//! Faults never change the bytes of a reply except where the table says so: a fragmented
//! stream carries exactly the bytes an unfragmented one does.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use crate::sim::market::rng::Rng;

/// The fault knobs; the default injects none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Close each lookup connection after it has sent this many lines (its protocol answer
    /// included), even in the middle of a reply.
    pub drop_after_lines: Option<u64>,
    /// Wait this long before each lookup reply.
    pub delay: Option<Duration>,
    /// Replace every Nth data line of a lookup connection by a malformed one (same request
    /// id and record type, fields that do not parse).
    pub malformed_every: Option<u64>,
    /// Answer every Nth history request (counted over the whole simulator) with the
    /// rate-limit error, whatever the token bucket says.
    pub rate_limit_every: Option<u64>,
    /// Split every write at pseudo-random byte offsets (inside `\r\n` too), one small write
    /// per piece, so clients see lines cut across reads.
    pub fragment_writes: bool,
}

impl Faults {
    /// Whether any fault is switched on.
    pub fn any(&self) -> bool {
        self != &Faults::default()
    }
}

/// The fields written instead of a data line's real ones by `malformed_every`: a timestamp,
/// number and symbol that no parser accepts (DEL is not printable).
pub(crate) const MALFORMED_FIELDS: &[u8] = b"\x7fMALFORMED,x,x,";

/// Longest piece of a fragmented write.
const MAX_FRAGMENT: u64 = 1_500;

/// The writing half of a simulator connection, applying `drop_after_lines` and
/// `fragment_writes`, and counting bytes for the admin port's statistics.
pub(crate) struct Sink {
    half: OwnedWriteHalf,
    fragment: Option<Rng>,
    drop_after: Option<u64>,
    lines: u64,
    sent: Arc<AtomicU64>,
    total_sent: Arc<AtomicU64>,
}

impl Sink {
    /// A sink over `half`. `fragment` holds the random stream of cut points when writes are
    /// fragmented; `drop_after` the line budget of the connection.
    pub(crate) fn new(
        half: OwnedWriteHalf,
        fragment: Option<Rng>,
        drop_after: Option<u64>,
        sent: Arc<AtomicU64>,
        total_sent: Arc<AtomicU64>,
    ) -> Sink {
        Sink {
            half,
            fragment,
            drop_after,
            lines: 0,
            sent,
            total_sent,
        }
    }

    /// Writes `bytes` (whole lines). Past the line budget, writes the lines up to it, closes
    /// the socket and fails.
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut bytes = bytes;
        let mut drop_now = false;
        if let Some(limit) = self.drop_after {
            let left = limit.saturating_sub(self.lines);
            let mut seen = 0;
            let mut cut = (left == 0).then_some(0);
            if cut.is_none() {
                for i in memchr::memchr_iter(b'\n', bytes) {
                    seen += 1;
                    if seen == left {
                        cut = Some(i + 1);
                        break;
                    }
                }
            }
            match cut {
                Some(c) => {
                    bytes = &bytes[..c];
                    drop_now = true;
                    self.lines = limit;
                }
                None => self.lines += seen,
            }
        }
        self.write(bytes).await?;
        if drop_now {
            let _ = self.half.shutdown().await;
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!(
                    "fault injected: connection dropped after {} lines",
                    self.lines
                ),
            ));
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match &mut self.fragment {
            None => self.half.write_all(bytes).await?,
            Some(rng) => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    let mut n = (1 + rng.below(MAX_FRAGMENT)) as usize;
                    if rng.below(4) == 0 {
                        // Cut between a `\r` and its `\n` when one is near.
                        if let Some(i) = memchr::memchr(b'\r', &rest[..rest.len().min(n + 64)]) {
                            n = i + 1;
                        }
                    }
                    let n = n.min(rest.len());
                    self.half.write_all(&rest[..n]).await?;
                    self.half.flush().await?;
                    rest = &rest[n..];
                    tokio::task::yield_now().await;
                }
            }
        }
        let n = bytes.len() as u64;
        self.sent.fetch_add(n, Ordering::Relaxed);
        self.total_sent.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}
