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

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tokio::sync::Mutex;
use xlfeed_iqfeed::IqError;
use xlfeed_iqfeed::client::level1::Level1Client;
use xlfeed_iqfeed::client::lookup::LookupClient;
use xlfeed_iqfeed::wire::level1::{Fundamental, Message};
use xlfeed_iqfeed::wire::request::Request;

/// What a request brought back.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Data lines (the body described in the module docs), possibly none.
    Data(Vec<u8>),
    /// `!NO_DATA!`: nothing in the range.
    NoData,
    /// The symbol is unknown to IQFeed.
    InvalidSymbol(String),
}

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
        /// The Level 1 connection, shared by the snapshot units one at a time.
        level1: Box<Mutex<Option<Level1Client>>>,
        /// Where raw replies are archived, if anywhere.
        archive: Option<PathBuf>,
    },
    /// An archive written by an earlier `--archive` run.
    Replay(PathBuf),
}

impl Source {
    /// A history, chain or search request's reply; `path` is its place in the archive.
    pub(crate) async fn request(&self, req: &Request, path: &str) -> Result<Reply, SourceError> {
        match self {
            Source::Replay(dir) => {
                read_archive(&dir.join(path)).map_err(|e| SourceError::Failed(format!("{e:#}")))
            }
            Source::Live {
                lookup, archive, ..
            } => {
                let reply = live_request(lookup, req).await?;
                if let Some(dir) = archive {
                    write_archive(&dir.join(path), &req.format(""), &reply)
                        .map_err(|e| SourceError::Failed(format!("{e:#}")))?;
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
                read_archive(&dir.join(path)).map_err(|e| SourceError::Failed(format!("{e:#}")))?
            }
            Source::Live {
                level1,
                level1_addr,
                archive,
                lookup,
            } => {
                let mut guard = level1.lock().await;
                if guard.is_none() {
                    let protocol = lookup.config().protocol;
                    *guard = Some(
                        Level1Client::connect(level1_addr, protocol, timeout)
                            .await
                            .map_err(SourceError::from)?,
                    );
                }
                let l1 = guard
                    .as_ref()
                    .ok_or_else(|| SourceError::Failed("no level 1".into()))?;
                let got = watch_fundamental(l1, symbol, timeout).await;
                if got.is_err() {
                    // The connection may be broken: the next unit opens a fresh one.
                    *guard = None;
                }
                let reply = got?;
                if let Some(dir) = archive {
                    write_archive(&dir.join(path), &format!("w{symbol}"), &reply)
                        .map_err(|e| SourceError::Failed(format!("{e:#}")))?;
                }
                reply
            }
        };
        match reply {
            Reply::Data(body) => {
                let line = body.strip_suffix(b"\n").unwrap_or(&body);
                Fundamental::parse(line)
                    .map(Some)
                    .map_err(|e| SourceError::Failed(e.to_string()))
            }
            Reply::InvalidSymbol(_) | Reply::NoData => Ok(None),
        }
    }
}

/// Sends a request and gathers its body.
async fn live_request(lookup: &LookupClient, req: &Request) -> Result<Reply, IqError> {
    let mut lines = match lookup.request(req).await {
        Ok(l) => l,
        Err(IqError::InvalidSymbol { text, .. }) => return Ok(Reply::InvalidSymbol(text)),
        Err(e) => return Err(e),
    };
    let mut body = Vec::new();
    let mut line = Vec::new();
    let mut any = false;
    loop {
        match lines.next_into(&mut line).await {
            Ok(true) => {
                any = true;
                body.extend_from_slice(&line);
                body.push(b'\n');
            }
            // `!NO_DATA!` and an empty reply both end without data.
            Ok(false) => break,
            Err(IqError::InvalidSymbol { text, .. }) => return Ok(Reply::InvalidSymbol(text)),
            Err(e) => return Err(e),
        }
    }
    Ok(if any {
        Reply::Data(body)
    } else {
        Reply::NoData
    })
}

/// Watches `symbol` on Level 1 until its `F` message (or `n`, not found) arrives.
async fn watch_fundamental(
    l1: &Level1Client,
    symbol: &str,
    timeout: Duration,
) -> Result<Reply, SourceError> {
    l1.watch(symbol).await?;
    let got = l1
        .wait_for(timeout, |m| match m {
            Message::Fundamental(f) if f.symbol() == symbol => {
                let mut line = Vec::new();
                f.write(&mut line);
                line.push(b'\n');
                Some(Reply::Data(line))
            }
            Message::NotFound(s) if s == symbol => Some(Reply::InvalidSymbol(format!(
                "level 1 does not know {symbol}"
            ))),
            _ => None,
        })
        .await;
    let _ = l1.unwatch(symbol).await;
    Ok(got?)
}

/// Writes one reply to the archive (atomically: a temporary file renamed into place).
fn write_archive(path: &Path, request: &str, reply: &Reply) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create archive folder {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp)
        .with_context(|| format!("cannot write archive file {}", tmp.display()))?;
    let mut gz = GzEncoder::new(file, Compression::fast());
    // The request id is the client's and changes from run to run; it is left out.
    writeln!(gz, "# {}", request.trim_end())?;
    match reply {
        Reply::Data(body) => gz.write_all(body)?,
        Reply::NoData => gz.write_all(b"E,!NO_DATA!\n")?,
        Reply::InvalidSymbol(text) => writeln!(gz, "E,{text}")?,
    }
    gz.finish()?.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move archive file into {}", path.display()))?;
    Ok(())
}

/// Reads one reply from the archive.
fn read_archive(path: &Path) -> Result<Reply> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "the replay archive has no {} (was it fetched with --archive?)",
            path.display()
        )
    })?;
    let mut text = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut text)
        .with_context(|| format!("archive file {} is not readable gzip", path.display()))?;
    let Some(nl) = text
        .iter()
        .position(|&b| b == b'\n')
        .filter(|_| text.starts_with(b"# "))
    else {
        bail!(
            "archive file {} does not start with its request line",
            path.display()
        );
    };
    let body = text.split_off(nl + 1);
    let last = body
        .strip_suffix(b"\n")
        .unwrap_or(&body)
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    Ok(match last.strip_prefix(b"E,") {
        Some(b"!NO_DATA!") => Reply::NoData,
        Some(t) if t.starts_with(b"Invalid symbol") || t.starts_with(b"level 1 does not know") => {
            Reply::InvalidSymbol(String::from_utf8_lossy(t).into_owned())
        }
        Some(t) => bail!(
            "archive file {} holds an error reply {:?}",
            path.display(),
            String::from_utf8_lossy(t)
        ),
        None if body.is_empty() => Reply::NoData,
        None => Reply::Data(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_round_trips_every_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("2024/06/12/ticks/AAPL.txt.gz");
        write_archive(&p, "HTT,AAPL,,,", &Reply::Data(b"a,b,\nc,d,\n".to_vec())).unwrap();
        assert!(matches!(read_archive(&p).unwrap(), Reply::Data(b) if b == b"a,b,\nc,d,\n"));
        write_archive(&p, "HTT,AAPL,,,", &Reply::NoData).unwrap();
        assert!(matches!(read_archive(&p).unwrap(), Reply::NoData));
        write_archive(
            &p,
            "HTT,NOPE,,,",
            &Reply::InvalidSymbol("Invalid symbol.".into()),
        )
        .unwrap();
        assert!(matches!(read_archive(&p).unwrap(), Reply::InvalidSymbol(_)));
        let missing = read_archive(&dir.path().join("nope.txt.gz")).unwrap_err();
        assert!(format!("{missing:#}").contains("nope.txt.gz"));
        std::fs::write(&p, b"not gzip").unwrap();
        assert!(format!("{:#}", read_archive(&p).unwrap_err()).contains("gzip"));
    }
}
