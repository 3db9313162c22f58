//! Where replies come from: IQFeed (or the simulator) over its ports, or a raw archive of an
//! earlier run (`--replay`); and where raw replies go when `--archive` is given.
//!
//! A reply is kept as its **body**: the fields of each data line as IQFeed sent them (after
//! the request id and record type), one line each, `\n`-terminated. The archive stores
//! exactly that, gzip-compressed, under a path made from the unit (so a replay finds it):
//!
//! ```text
//! <dir>/<yyyy>/<mm>/<dd>/<kind>/<symbol>.txt.gz        ticks, bars, an option contract's trades
//! <dir>/<yyyy>/<mm>/<dd>/chain/<underlying>.txt.gz      the CEO reply
//! <dir>/daily/<symbol>/<from>-<to>.txt.gz               the HDT reply of the whole range
//! <dir>/<yyyy>/<mm>/<dd>/level1/<symbol>.txt.gz         the F message
//! ```
//!
//! The first line of a file is `# <request>`; a reply that was an error ends with
//! `E,<text>` (an empty range is `E,!NO_DATA!`, an unknown symbol `E,Invalid symbol.`).

use std::cell::Cell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use tokio::sync::Mutex;
use xlfeed_core::fsutil::{Access, AtomicFile};
use xlfeed_iqfeed::IqError;
use xlfeed_iqfeed::client::level1::Level1Client;
use xlfeed_iqfeed::client::lookup::{LookupClient, ReplyLines};
use xlfeed_iqfeed::wire::level1::{Fundamental, Message};
use xlfeed_iqfeed::wire::request::Request;

/// What a lookup request brought back; its data lines went to the caller's sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Data lines, at least one.
    Data,
    /// `!NO_DATA!`: nothing in the range.
    NoData,
    /// The symbol is unknown to IQFeed.
    InvalidSymbol(String),
}

/// A whole reply in memory (the Level 1 message, small).
#[derive(Debug)]
enum Whole {
    Data(Vec<u8>),
    NoData,
    InvalidSymbol(String),
}

/// Where a reply's data lines go, in blocks of whole lines (each the data fields and `\n`),
/// so that a large reply is never held whole. An error from the sink fails the request.
pub(crate) type Sink<'a> = &'a mut (dyn FnMut(&[u8]) -> Result<()> + Send);

/// Lines are handed to the sink in blocks of about this many bytes.
const BLOCK: usize = 1 << 20;

/// Bytes of an archive file read (and decompressed) at a time by a replay.
const READ_AHEAD: usize = 64 * 1024;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    /// IQFeed failed in a way a retry may cure (connection, timeout, rate limit).
    #[error("{0}")]
    Retryable(IqError),
    /// IQFeed refused or sent something unusable; a retry will not help.
    #[error("{0}")]
    Failed(String),
}

impl From<IqError> for SourceError {
    fn from(e: IqError) -> Self {
        if e.is_retryable() {
            SourceError::Retryable(e)
        } else {
            SourceError::Failed(e.to_string())
        }
    }
}

/// Live IQFeed, or a replayed archive.
pub(crate) enum Source {
    /// IQConnect's ports (or the simulator's).
    Live {
        /// The lookup (history) port.
        lookup: LookupClient,
        /// The Level 1 port's address, connected on first use.
        level1_addr: String,
        /// Idle Level 1 connections: a snapshot unit takes one (or opens one) and puts it
        /// back, so units run side by side without reading each other's messages.
        level1: Box<Mutex<Vec<Level1Client>>>,
        /// Where raw replies are archived, if anywhere.
        archive: Option<PathBuf>,
    },
    /// An archive written by an earlier `--archive` run.
    Replay(PathBuf),
}

impl Source {
    /// A history or chain request: its data lines go to `sink` as they arrive; `path` is the
    /// reply's place in the archive.
    pub(crate) async fn request(
        &self,
        req: &Request,
        path: &str,
        sink: Sink<'_>,
    ) -> Result<Reply, SourceError> {
        let failed = |e: anyhow::Error| SourceError::Failed(format!("{e:#}"));
        match self {
            Source::Replay(dir) => replay(&under(dir, path)?, sink).map_err(failed),
            Source::Live {
                lookup, archive, ..
            } => {
                // The archive file (a temporary file and a gzip encoder of a few hundred KB)
                // is opened when the reply's first block arrives, not while the request waits
                // its turn: an options unit queues one request per contract, and opened early
                // they held ~1.2 GB at 30M entities.
                let target = match archive {
                    Some(dir) => Some(under(dir, path)?),
                    None => None,
                };
                let header = req.format("");
                let mut copy: Option<ArchiveFile> = None;
                let reply = live_request(lookup, req, &mut |block| {
                    if let Some(p) = &target {
                        if copy.is_none() {
                            copy = Some(ArchiveFile::create(p, &header)?);
                        }
                        if let Some(a) = copy.as_mut() {
                            a.write(block)?;
                        }
                    }
                    sink(block)
                })
                .await?;
                let copy = match (copy, &target) {
                    (Some(a), _) => Some(a),
                    (None, Some(p)) => Some(ArchiveFile::create(p, &header).map_err(failed)?),
                    (None, None) => None,
                };
                if let Some(a) = copy {
                    // Finishing syncs the file and its folder: on the blocking pool, so that a
                    // unit's many small files (one per option contract) are synced at once
                    // rather than one after another on an async thread.
                    let r = reply.clone();
                    tokio::task::spawn_blocking(move || a.finish(&r))
                        .await
                        .map_err(|e| failed(anyhow::anyhow!("archiving failed: {e}")))?
                        .map_err(failed)?;
                }
                Ok(reply)
            }
        }
    }

    /// The Level 1 fundamental message of `symbol` (`None` for an unknown symbol).
    pub(crate) async fn fundamental(
        &self,
        symbol: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<Option<Fundamental>, SourceError> {
        let reply = match self {
            Source::Replay(dir) => {
                read_whole(&under(dir, path)?).map_err(|e| SourceError::Failed(format!("{e:#}")))?
            }
            Source::Live {
                level1,
                level1_addr,
                archive,
                lookup,
            } => {
                let idle = level1.lock().await.pop();
                let l1 = match idle {
                    Some(c) => c,
                    None => {
                        let protocol = lookup.config().protocol;
                        Level1Client::connect(level1_addr, protocol, timeout)
                            .await
                            .map_err(SourceError::from)?
                    }
                };
                let reply = watch_fundamental(&l1, symbol, timeout).await?;
                // A connection that failed is dropped; a good one goes back for the next unit.
                level1.lock().await.push(l1);
                if let Some(dir) = archive {
                    write_whole(&under(dir, path)?, &format!("w{symbol}"), &reply)
                        .map_err(|e| SourceError::Failed(format!("{e:#}")))?;
                }
                reply
            }
        };
        match reply {
            Whole::Data(body) => {
                let line = body.strip_suffix(b"\n").unwrap_or(&body);
                Fundamental::parse(line)
                    .map(Some)
                    .map_err(|e| SourceError::Failed(e.to_string()))
            }
            Whole::InvalidSymbol(_) | Whole::NoData => Ok(None),
        }
    }
}

/// A live reply opened by [`Source::open`].
pub(crate) enum Opened {
    /// Its data lines, to be read.
    Lines(ReplyLines),
    /// The symbol is unknown to IQFeed.
    InvalidSymbol,
}

impl Source {
    /// Whether replies come from an archive.
    pub(crate) fn is_replay(&self) -> bool {
        matches!(self, Source::Replay(_))
    }

    /// Requests sent to IQFeed so far (`None` for a replay).
    pub(crate) fn requests(&self) -> Option<u64> {
        match self {
            Source::Live { lookup, .. } => Some(lookup.requests()),
            Source::Replay(_) => None,
        }
    }

    /// Sends a request to IQFeed and returns its reply unread, for a caller that splits it
    /// (a multi-day reply, archived day by day); a replay has no such thing.
    pub(crate) async fn open(&self, req: &Request) -> Result<Opened, SourceError> {
        let Source::Live { lookup, .. } = self else {
            return Err(SourceError::Failed(
                "a replay reads replies day by day, not a request's".into(),
            ));
        };
        match lookup.request(req).await {
            Ok(l) => Ok(Opened::Lines(l)),
            Err(IqError::InvalidSymbol { .. }) => Ok(Opened::InvalidSymbol),
            Err(e) => Err(e.into()),
        }
    }

    /// A file of the archive (when `--archive` is given) at `path`, headed by `request`.
    pub(crate) fn archive_file(
        &self,
        path: &str,
        request: &Request,
    ) -> Result<Option<ArchiveFile>, SourceError> {
        match self {
            Source::Live {
                archive: Some(dir), ..
            } => ArchiveFile::create(&under(dir, path)?, &request.format(""))
                .map(Some)
                .map_err(|e| SourceError::Failed(format!("{e:#}"))),
            _ => Ok(None),
        }
    }
}

/// Sends a request and hands its data lines to `sink` in blocks.
async fn live_request(
    lookup: &LookupClient,
    req: &Request,
    sink: Sink<'_>,
) -> Result<Reply, SourceError> {
    let mut lines = match lookup.request(req).await {
        Ok(l) => l,
        Err(IqError::InvalidSymbol { text, .. }) => return Ok(Reply::InvalidSymbol(text)),
        Err(e) => return Err(e.into()),
    };
    let mut block = Vec::with_capacity(BLOCK + 4096);
    let mut line = Vec::new();
    let mut any = false;
    let mut flush = |block: &mut Vec<u8>| -> Result<(), SourceError> {
        if !block.is_empty() {
            sink(block).map_err(|e| SourceError::Failed(format!("{e:#}")))?;
            block.clear();
        }
        Ok(())
    };
    loop {
        match lines.next_into(&mut line).await {
            Ok(true) => {
                any = true;
                block.extend_from_slice(&line);
                block.push(b'\n');
                if block.len() >= BLOCK {
                    flush(&mut block)?;
                }
            }
            // `!NO_DATA!` and an empty reply both end without data.
            Ok(false) => break,
            Err(IqError::InvalidSymbol { text, .. }) => return Ok(Reply::InvalidSymbol(text)),
            Err(e) => return Err(e.into()),
        }
    }
    flush(&mut block)?;
    Ok(if any { Reply::Data } else { Reply::NoData })
}

/// Watches `symbol` on Level 1 until its `F` message (or `n`, not found) arrives.
async fn watch_fundamental(
    l1: &Level1Client,
    symbol: &str,
    timeout: Duration,
) -> Result<Whole, SourceError> {
    l1.watch(symbol).await?;
    let got = l1
        .wait_for(timeout, |m| match m {
            Message::Fundamental(f) if f.symbol() == symbol => {
                let mut line = Vec::new();
                f.write(&mut line);
                line.push(b'\n');
                Some(Whole::Data(line))
            }
            Message::NotFound(s) if s == symbol => Some(Whole::InvalidSymbol(format!(
                "level 1 does not know {symbol}"
            ))),
            _ => None,
        })
        .await;
    let _ = l1.unwatch(symbol).await;
    Ok(got?)
}

/// A symbol as one name in an archive path: `/` (IQFeed symbols may hold one) and `%` are
/// written `%2F` and `%25`, and a leading `.` `%2E`, so that no symbol names a folder, the
/// folder above, or anything outside the archive.
pub(crate) fn path_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '/' => out.push_str("%2F"),
            '\\' => out.push_str("%5C"),
            '%' => out.push_str("%25"),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    out
}

/// `dir` joined with the archive path `path`, which must be plain names: a path that would
/// leave the archive is an error naming it.
fn under(dir: &Path, path: &str) -> Result<PathBuf, SourceError> {
    let p = Path::new(path);
    if p.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        Ok(dir.join(p))
    } else {
        Err(SourceError::Failed(format!(
            "archive path {} leaves the archive",
            xlfeed_core::quoted(path)
        )))
    }
}

/// An archive file being written: a temporary file, renamed into place when the reply is
/// complete (and removed if it never is). Each has a temporary name of its own: two units
/// may archive the same reply at once (fundamentals and dividends both read a symbol's
/// Level 1 `F` message), and each renames its complete file.
pub(crate) struct ArchiveFile {
    gz: GzEncoder<AtomicFile>,
}

impl ArchiveFile {
    pub(crate) fn create(path: &Path, request: &str) -> Result<ArchiveFile> {
        let file = AtomicFile::create(path, Access::Shared)
            .with_context(|| format!("cannot write archive file {}", path.display()))?;
        let mut gz = GzEncoder::new(file, Compression::fast());
        // The request id is the client's and changes from run to run; it is left out.
        writeln!(gz, "# {}", request.trim_end())?;
        Ok(ArchiveFile { gz })
    }

    /// Appends data lines (each `\n`-terminated).
    pub(crate) fn write(&mut self, block: &[u8]) -> Result<()> {
        self.gz.write_all(block).with_context(|| {
            format!(
                "cannot write archive file {}",
                self.gz.get_ref().path().display()
            )
        })
    }

    /// Ends the file as `reply` ended and moves it into place.
    pub(crate) fn finish(mut self, reply: &Reply) -> Result<()> {
        match reply {
            Reply::Data => {}
            Reply::NoData => self.gz.write_all(b"E,!NO_DATA!\n")?,
            Reply::InvalidSymbol(text) => writeln!(self.gz, "E,{text}")?,
        }
        let file = self.gz.finish()?;
        let path = file.path().to_owned();
        file.commit()
            .with_context(|| format!("cannot move archive file into {}", path.display()))
    }
}

/// Writes a whole reply to the archive.
fn write_whole(path: &Path, request: &str, reply: &Whole) -> Result<()> {
    let mut f = ArchiveFile::create(path, request)?;
    match reply {
        Whole::Data(body) => {
            f.write(body)?;
            f.finish(&Reply::Data)
        }
        Whole::NoData => f.finish(&Reply::NoData),
        Whole::InvalidSymbol(t) => f.finish(&Reply::InvalidSymbol(t.clone())),
    }
}

/// Reads a whole reply from the archive.
fn read_whole(path: &Path) -> Result<Whole> {
    let mut body = Vec::new();
    let reply = replay(path, &mut |b| {
        body.extend_from_slice(b);
        Ok(())
    })?;
    Ok(match reply {
        Reply::Data => Whole::Data(body),
        Reply::NoData => Whole::NoData,
        Reply::InvalidSymbol(t) => Whole::InvalidSymbol(t),
    })
}

thread_local! {
    /// A replay's read buffer and line buffer, kept by each thread for its next file: a
    /// replay opens one file per reply (hundreds of thousands, most of them an option
    /// contract's few trades), and fresh zeroed buffers for each cost more than its reading.
    static REPLAY_BUFFERS: Cell<(Vec<u8>, Vec<u8>)> = const { Cell::new((Vec::new(), Vec::new())) };
}

/// Reads an archived reply, handing its data lines to `sink` in blocks. The last line
/// is held back until the end of the file, where it may be the reply's error line.
fn replay(path: &Path, sink: Sink<'_>) -> Result<Reply> {
    let (mut chunk, mut buf) = REPLAY_BUFFERS.take();
    chunk.resize(READ_AHEAD, 0);
    buf.clear();
    let got = replay_with(path, sink, &mut chunk, &mut buf);
    REPLAY_BUFFERS.set((chunk, buf));
    got
}

fn replay_with(path: &Path, sink: Sink<'_>, chunk: &mut [u8], buf: &mut Vec<u8>) -> Result<Reply> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "the replay archive has no {} (was it fetched with --archive?)",
            path.display()
        )
    })?;
    // std's BufReader leaves its buffer unzeroed.
    let mut gz = GzDecoder::new(std::io::BufReader::with_capacity(READ_AHEAD, file));
    let unreadable = || format!("archive file {} is not readable gzip", path.display());
    let mut header_seen = false;
    let mut any = false;
    loop {
        let n = gz.read(chunk).with_context(unreadable)?;
        buf.extend_from_slice(&chunk[..n]);
        if !header_seen {
            match buf.iter().position(|&b| b == b'\n') {
                Some(nl) if buf.starts_with(b"# ") => {
                    buf.drain(..=nl);
                    header_seen = true;
                }
                Some(_) => bail!(
                    "archive file {} does not start with its request line",
                    path.display()
                ),
                None if n == 0 => bail!(
                    "archive file {} does not start with its request line",
                    path.display()
                ),
                None if buf.len() > BLOCK => bail!(
                    "archive file {} holds a line longer than {BLOCK} bytes",
                    path.display()
                ),
                None => continue,
            }
        }
        if n == 0 {
            break;
        }
        // Everything before the last complete line goes now, in blocks.
        if buf.len() >= BLOCK {
            let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let last_start = buf[..complete.saturating_sub(1)]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            if last_start > 0 {
                any = true;
                sink(&buf[..last_start])?;
                buf.drain(..last_start);
            } else if buf.len() > 2 * BLOCK {
                // A line (or two) of over a megabyte: no IQFeed reply has such a line, and
                // holding it would let one file take any amount of memory.
                bail!(
                    "archive file {} holds a line longer than {BLOCK} bytes",
                    path.display()
                );
            }
        }
    }
    let trimmed = buf.strip_suffix(b"\n").unwrap_or(buf);
    let last_start = trimmed
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let last = &trimmed[last_start..];
    let Some(text) = last.strip_prefix(b"E,") else {
        if !buf.is_empty() {
            any = true;
            sink(buf)?;
        }
        return Ok(if any { Reply::Data } else { Reply::NoData });
    };
    if last_start > 0 {
        sink(&buf[..last_start])?;
    }
    Ok(match text {
        b"!NO_DATA!" => Reply::NoData,
        t if t.starts_with(b"Invalid symbol") || t.starts_with(b"level 1 does not know") => {
            Reply::InvalidSymbol(String::from_utf8_lossy(t).into_owned())
        }
        t => bail!(
            "archive file {} holds an error reply {}",
            path.display(),
            xlfeed_core::quoted(&String::from_utf8_lossy(t))
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_round_trips_every_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("2024/06/12/ticks/AAPL.txt.gz");
        write_whole(&p, "HTT,AAPL,,,", &Whole::Data(b"a,b,\nc,d,\n".to_vec())).unwrap();
        assert!(matches!(read_whole(&p).unwrap(), Whole::Data(b) if b == b"a,b,\nc,d,\n"));
        write_whole(&p, "HTT,AAPL,,,", &Whole::NoData).unwrap();
        assert!(matches!(read_whole(&p).unwrap(), Whole::NoData));
        write_whole(
            &p,
            "HTT,NOPE,,,",
            &Whole::InvalidSymbol("Invalid symbol.".into()),
        )
        .unwrap();
        assert!(matches!(read_whole(&p).unwrap(), Whole::InvalidSymbol(_)));
        let missing = read_whole(&dir.path().join("nope.txt.gz")).unwrap_err();
        assert!(format!("{missing:#}").contains("nope.txt.gz"));
        std::fs::write(&p, b"not gzip").unwrap();
        assert!(format!("{:#}", read_whole(&p).unwrap_err()).contains("gzip"));
        // A reply larger than a block comes back whole, in blocks of whole lines.
        let mut big = Vec::new();
        for i in 0..200_000 {
            big.extend_from_slice(format!("line {i},\n").as_bytes());
        }
        write_whole(&p, "HTT,AAPL,,,", &Whole::Data(big.clone())).unwrap();
        let mut blocks = 0;
        let mut got = Vec::new();
        let r = replay(&p, &mut |b| {
            assert!(b.ends_with(b"\n"));
            blocks += 1;
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(r, Reply::Data);
        assert_eq!(got, big);
        assert!(blocks > 1);
        // An interrupted write leaves nothing behind.
        let q = dir.path().join("x/y.txt.gz");
        let mut f = ArchiveFile::create(&q, "HTT,X").unwrap();
        f.write(b"a,\n").unwrap();
        drop(f);
        assert!(!q.exists());
        assert_eq!(std::fs::read_dir(q.parent().unwrap()).unwrap().count(), 0);
    }

    #[test]
    fn a_hostile_archive_file_is_refused_with_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("2024/06/12/ticks/AAPL.txt.gz");
        // 8 MB without a newline, as data and as the request line: no IQFeed line is that long.
        let long = vec![b'7'; 8 << 20];
        write_whole(&p, "HTT,AAPL,,,", &Whole::Data(long.clone())).unwrap();
        let e = format!("{:#}", read_whole(&p).unwrap_err());
        assert!(e.contains("a line longer than 1048576 bytes"), "{e}");
        let mut f = ArchiveFile::create(&p, &String::from_utf8(long).unwrap()).unwrap();
        f.write(b"a,\n").unwrap();
        f.finish(&Reply::Data).unwrap();
        let e = format!("{:#}", read_whole(&p).unwrap_err());
        assert!(e.contains("a line longer than 1048576 bytes"), "{e}");
        // An error reply is quoted short.
        let mut f = ArchiveFile::create(&p, "HTT,AAPL,,,").unwrap();
        f.write(format!("E,{}\n", "x".repeat(10_000)).as_bytes())
            .unwrap();
        f.finish(&Reply::Data).unwrap();
        let e = format!("{:#}", read_whole(&p).unwrap_err());
        assert!(
            e.contains("holds an error reply \"xxx") && e.len() < 400,
            "{e}"
        );
        // The thread's buffers, reused, leave nothing of one file in the next.
        write_whole(&p, "HTT,AAPL,,,", &Whole::Data(b"a,b,\n".to_vec())).unwrap();
        assert!(matches!(read_whole(&p).unwrap(), Whole::Data(b) if b == b"a,b,\n"));
    }

    #[test]
    fn symbols_stay_one_name_inside_the_archive() {
        assert_eq!(path_part("AAPL"), "AAPL");
        assert_eq!(path_part("BRK.B"), "BRK.B");
        assert_eq!(path_part("../../etc"), "%2E.%2F..%2Fetc");
        assert_eq!(path_part("A/B%"), "A%2FB%25");
        let dir = Path::new("/archive");
        assert!(under(dir, "2024/06/12/ticks/AAPL.txt.gz").is_ok());
        for bad in ["../x.txt.gz", "/etc/passwd", "a/../../b"] {
            assert!(under(dir, bad).is_err(), "{bad}");
        }
    }
}
