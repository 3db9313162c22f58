//! `LookupClient`: history, chains and symbol search on port 9100.
//!
//! One socket carries many requests at once: every request gets a unique id, and a reader
//! task routes each reply line to its request by that id (lines for ids nobody waits for —
//! a request that timed out or was dropped — are discarded). A token bucket paces requests
//! (default 50 a second), a semaphore bounds the requests in flight, each reply must make
//! progress within the request timeout, and a dropped socket is reopened on the next request
//! with capped exponential backoff and jitter.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use backon::Retryable;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};
use xlfeed_core::Backoff;

use super::limiter::RateLimiter;
use crate::connection::{self, LineWriter};
use crate::error::IqError;
use crate::wire::chain::{Chain, SymbolMatch, parse_option_chain, parse_symbol_match};
use crate::wire::history::{DailyLine, IntervalBar, Tick, parse_bar, parse_daily, parse_tick};
use crate::wire::lookup::{self, Reply, parse_line};
use crate::wire::num::Eastern;
use crate::wire::request::Request;
use crate::wire::scan::parse_tick_lines;
use crate::wire::{LineSplitter, Protocol};

/// How the lookup client behaves.
#[derive(Debug, Clone)]
pub struct LookupConfig {
    /// `host:port` of IQConnect's lookup port (default `127.0.0.1:9100`).
    pub addr: String,
    /// Protocol to ask for.
    pub protocol: Protocol,
    /// History requests a second.
    pub rate_per_sec: f64,
    /// Requests the bucket lets through at once after a pause.
    pub burst: u32,
    /// Requests in flight at most.
    pub max_in_flight: usize,
    /// Longest wait for the next line of a reply.
    pub request_timeout: Duration,
    /// Longest wait to connect and hand-shake.
    pub connect_timeout: Duration,
    /// Connection attempts per request before giving up.
    pub connect_attempts: u32,
    /// Longest pause between connection attempts (before jitter).
    pub max_backoff: Duration,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            addr: "127.0.0.1:9100".into(),
            protocol: Protocol::V62,
            rate_per_sec: 50.0,
            burst: 50,
            max_in_flight: 15,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            connect_attempts: 5,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// The reconnection policy: `connect_attempts` attempts, pauses from 100 ms doubling to
/// `max_backoff`, with jitter (xlfeed's one [`Backoff`]).
fn connect_backoff(cfg: &LookupConfig) -> Backoff {
    Backoff::new(
        Duration::from_millis(100),
        cfg.max_backoff,
        cfg.connect_attempts.max(1),
    )
}

/// What the reader task hands a request: lines, or the reason there will be no more.
enum Chunk {
    Lines(Vec<u8>),
    Closed(IqError),
}

type Routes = Arc<StdMutex<HashMap<String, mpsc::Sender<Chunk>>>>;

/// One open socket: its writer, its routing table, and whether its reader still runs.
struct Link {
    writer: Mutex<LineWriter>,
    routes: Routes,
    alive: Arc<AtomicBool>,
}

/// A client of the lookup port; cheap to clone and share.
#[derive(Clone)]
pub struct LookupClient {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: LookupConfig,
    link: Mutex<Option<Arc<Link>>>,
    limiter: RateLimiter,
    in_flight: Arc<Semaphore>,
    next_id: AtomicU64,
    sent: AtomicU64,
}

impl LookupClient {
    /// A client for `cfg`; connects now, so a wrong address fails here with a clear error.
    pub async fn connect(cfg: LookupConfig) -> Result<LookupClient, IqError> {
        let client = LookupClient {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(cfg.rate_per_sec, cfg.burst),
                in_flight: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
                next_id: AtomicU64::new(1),
                sent: AtomicU64::new(0),
                link: Mutex::new(None),
                cfg,
            }),
        };
        client.link().await?;
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &LookupConfig {
        &self.inner.cfg
    }

    /// Requests sent so far (history, chains and lookups alike; a retry is another one):
    /// what IQFeed's request-rate limit counts.
    pub fn requests(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    async fn open(cfg: &LookupConfig) -> Result<Arc<Link>, IqError> {
        let (mut reader, writer) =
            connection::connect(&cfg.addr, cfg.protocol, cfg.connect_timeout).await?;
        let routes: Routes = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        let link = Arc::new(Link {
            writer: Mutex::new(writer),
            routes: routes.clone(),
            alive: alive.clone(),
        });
        let addr = cfg.addr.clone();
        // A reply not read for half the request timeout is cut off, before the requests
        // queued behind it on the socket reach their own timeouts.
        let stall = cfg.request_timeout / 2;
        tokio::spawn(async move {
            let mut batches: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let reason = loop {
                match reader.fill().await {
                    Ok(true) => {}
                    Ok(false) => break "iqfeed closed the connection".to_string(),
                    Err(e) => break e.to_string(),
                }
                route_lines(reader.splitter(), &mut batches);
                for (id, lines) in batches.drain(..) {
                    let id = String::from_utf8_lossy(&id);
                    let tx = routes.lock().ok().and_then(|r| r.get(id.as_ref()).cloned());
                    // A request whose consumer has gone away simply misses its lines; one
                    // that stops reading is cut off, so that it cannot hold up the other
                    // requests sharing the socket.
                    if let Some(tx) = tx
                        && let Err(mpsc::error::SendTimeoutError::Timeout(_)) =
                            tx.send_timeout(Chunk::Lines(lines), stall).await
                        && let Ok(mut r) = routes.lock()
                    {
                        r.remove(id.as_ref());
                    }
                }
            };
            alive.store(false, Ordering::SeqCst);
            let senders: Vec<_> = routes
                .lock()
                .map(|mut r| r.drain().map(|(_, tx)| tx).collect())
                .unwrap_or_default();
            for tx in senders {
                let _ = tx
                    .send(Chunk::Closed(IqError::Unavailable {
                        addr: addr.clone(),
                        reason: reason.clone(),
                    }))
                    .await;
            }
        });
        Ok(link)
    }

    /// The open link, reconnecting ([`connect_backoff`]) if it dropped.
    async fn link(&self) -> Result<Arc<Link>, IqError> {
        let mut guard = self.inner.link.lock().await;
        if let Some(l) = guard.as_ref()
            && l.alive.load(Ordering::SeqCst)
        {
            return Ok(l.clone());
        }
        let cfg = &self.inner.cfg;
        // A protocol mismatch will not cure itself; a refused or dropped connection may.
        let link = (|| Self::open(cfg))
            .retry(connect_backoff(cfg).builder())
            .when(|e| !matches!(e, IqError::Protocol { .. }))
            .notify(|e, pause| {
                tracing::warn!(
                    addr = %cfg.addr,
                    error = %e,
                    pause_ms = pause.as_millis() as u64,
                    "iqfeed lookup connect failed; retrying"
                );
            })
            .await?;
        *guard = Some(link.clone());
        Ok(link)
    }

    /// Sends a request and returns its reply as a stream of lines.
    pub async fn request(&self, req: &Request) -> Result<ReplyLines, IqError> {
        // IQFeed fields cannot hold a comma or a line break: one would shift the request id
        // out of its field and the reply could never be matched.
        if req.symbol().contains([',', '\r', '\n']) {
            return Err(IqError::Rejected {
                request: req.format("X"),
                text: format!("{:?} contains a comma or a line break", req.symbol()),
            });
        }
        let permit = self
            .inner
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| IqError::Unavailable {
                addr: self.inner.cfg.addr.clone(),
                reason: "client is shutting down".into(),
            })?;
        if req.is_history() {
            self.inner.limiter.acquire().await;
        }
        let link = self.link().await?;
        let id = format!("X{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let line = req.format(&id);
        let (tx, rx) = mpsc::channel(64);
        if let Ok(mut r) = link.routes.lock() {
            r.insert(id.clone(), tx);
        }
        link.writer.lock().await.send(&line).await?;
        self.inner.sent.fetch_add(1, Ordering::Relaxed);
        Ok(ReplyLines {
            rx,
            split: LineSplitter::new(),
            id,
            line,
            addr: self.inner.cfg.addr.clone(),
            symbol: req.symbol().to_owned(),
            protocol: self.inner.cfg.protocol,
            timeout: self.inner.cfg.request_timeout,
            routes: link.routes.clone(),
            done: false,
            _permit: permit,
        })
    }

    /// Ticks (`HTX`, `HTD`, `HTT`).
    pub async fn ticks(&self, req: &Request) -> Result<Records<Tick>, IqError> {
        Ok(Records::new(self.request(req).await?, parse_tick).with_bulk(parse_tick_lines))
    }

    /// Interval bars (`HIX`, `HID`, `HIT`).
    pub async fn bars(&self, req: &Request) -> Result<Records<IntervalBar>, IqError> {
        Ok(Records::new(self.request(req).await?, |f, clock| {
            parse_bar(f, clock)
        }))
    }

    /// Daily, weekly or monthly bars (`HDX`, `HDT`, `HWX`, `HMX`).
    pub async fn daily(&self, req: &Request) -> Result<Records<DailyLine>, IqError> {
        Ok(Records::new(self.request(req).await?, |f, _| {
            parse_daily(f)
        }))
    }

    /// An option chain (`CEO`, `CFO`), collected.
    pub async fn chain(&self, req: &Request) -> Result<Chain, IqError> {
        let mut lines = self.request(req).await?;
        let mut chain = Chain::default();
        while let Some(fields) = lines.next_data().await? {
            let part = parse_option_chain(&fields)?;
            chain.calls.extend(part.calls);
            chain.puts.extend(part.puts);
        }
        Ok(chain)
    }

    /// Symbol search results (`SBF`), collected.
    pub async fn search(&self, req: &Request) -> Result<Vec<SymbolMatch>, IqError> {
        let mut lines = self.request(req).await?;
        let mut out = Vec::new();
        while let Some(fields) = lines.next_data().await? {
            out.push(parse_symbol_match(&fields)?);
        }
        Ok(out)
    }
}

/// Splits the complete lines the socket delivered into per-request batches (request id,
/// lines). A reply streams, so consecutive lines usually belong to one request: a line is
/// matched against the previous line's id by its prefix, and a run of them is copied as one
/// range. Lines without an id (there are none on a socket where every request carries one)
/// are dropped.
fn route_lines(split: &mut LineSplitter, batches: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    let data = split.unread();
    let mut pos = 0;
    // The batch the current run goes to, and where the run started.
    let mut run: Option<(usize, usize)> = None;
    while let Some(nl) = memchr::memchr(b'\n', &data[pos..]) {
        let line = &data[pos..=pos + nl];
        let same = run.is_some_and(|(i, _)| {
            let id = &batches[i].0;
            line.len() > id.len() && line.starts_with(id) && line[id.len()] == b','
        });
        if !same {
            if let Some((i, start)) = run.take() {
                batches[i].1.extend_from_slice(&data[start..pos]);
            }
            if let Some(comma) = memchr::memchr(b',', line).filter(|&c| c > 0) {
                let id = &line[..comma];
                let i = match batches.iter().position(|(b, _)| b == id) {
                    Some(i) => i,
                    None => {
                        batches.push((id.to_vec(), Vec::new()));
                        batches.len() - 1
                    }
                };
                run = Some((i, pos));
            }
        }
        pos += nl + 1;
    }
    if let Some((i, start)) = run {
        batches[i].1.extend_from_slice(&data[start..pos]);
    }
    split.consume(pos);
}

/// The lines of one reply, in order, until its end.
pub struct ReplyLines {
    rx: mpsc::Receiver<Chunk>,
    split: LineSplitter,
    id: String,
    line: String,
    addr: String,
    symbol: String,
    protocol: Protocol,
    timeout: Duration,
    routes: Routes,
    done: bool,
    _permit: OwnedSemaphorePermit,
}

impl ReplyLines {
    /// The request line as sent.
    pub fn request_line(&self) -> &str {
        &self.line
    }

    /// The fields of the next data line (after the id and record type); `None` at the end
    /// of the reply, including an empty (`!NO_DATA!`) one. An error reply is an error.
    pub async fn next_data(&mut self) -> Result<Option<Vec<u8>>, IqError> {
        let mut out = Vec::new();
        Ok(self.next_into(&mut out).await?.then_some(out))
    }

    /// Like [`ReplyLines::next_data`], into a reused buffer; `false` at the end.
    pub async fn next_into(&mut self, out: &mut Vec<u8>) -> Result<bool, IqError> {
        loop {
            if self.done {
                return Ok(false);
            }
            if let Some(line) = self.split.next_line() {
                let parsed = parse_line(line, true, self.protocol)?;
                match parsed.reply {
                    Reply::Data { fields, .. } => {
                        out.clear();
                        out.extend_from_slice(fields);
                        return Ok(true);
                    }
                    Reply::End => {
                        self.finish();
                        return Ok(false);
                    }
                    Reply::Error(text) => {
                        let text = String::from_utf8_lossy(text).into_owned();
                        self.finish();
                        return match text.as_str() {
                            lookup::NO_DATA => Ok(false),
                            t if t.starts_with("Invalid symbol") => Err(IqError::InvalidSymbol {
                                symbol: self.symbol.clone(),
                                text,
                            }),
                            t if t.starts_with(lookup::TOO_MANY) => Err(IqError::RateLimited {
                                request: self.line.clone(),
                            }),
                            _ => Err(IqError::Rejected {
                                request: self.line.clone(),
                                text,
                            }),
                        };
                    }
                }
            }
            let chunk = tokio::time::timeout(self.timeout, self.rx.recv()).await;
            match chunk {
                Ok(Some(Chunk::Lines(bytes))) => self.split.push(&bytes),
                Ok(Some(Chunk::Closed(e))) => {
                    self.finish();
                    return Err(e);
                }
                Ok(None) => {
                    self.finish();
                    return Err(IqError::Unavailable {
                        addr: self.addr.clone(),
                        reason: format!(
                            "the reply to {:?} was dropped: it was not read for {} ms while \
                             other requests waited",
                            self.line,
                            (self.timeout / 2).as_millis()
                        ),
                    });
                }
                Err(_) => {
                    self.finish();
                    return Err(IqError::Timeout {
                        request: self.line.clone(),
                        millis: self.timeout.as_millis(),
                    });
                }
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        if let Ok(mut r) = self.routes.lock() {
            r.remove(&self.id);
        }
    }
}

impl Drop for ReplyLines {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A parser of many lines at once: the complete lines at the start of a buffer that begin
/// with a prefix (`<ReqID>,LH,`) into records, returning the bytes it used.
type Bulk<T> = fn(&[u8], &[u8], &mut Eastern, &mut Vec<T>) -> usize;

/// A reply parsed into records, one at a time ([`Records::next`]) or in batches
/// ([`Records::next_batch`]).
pub struct Records<T> {
    lines: ReplyLines,
    parse: fn(&[u8], &mut Eastern) -> Result<T, crate::wire::WireError>,
    /// The bulk parser and the line prefix it looks for, where the record type has one.
    bulk: Option<(Bulk<T>, Vec<u8>)>,
    clock: Eastern,
    buf: Vec<u8>,
    ready: VecDeque<T>,
    batch: Vec<T>,
}

impl<T> Records<T> {
    fn new(
        lines: ReplyLines,
        parse: fn(&[u8], &mut Eastern) -> Result<T, crate::wire::WireError>,
    ) -> Self {
        Records {
            lines,
            parse,
            bulk: None,
            clock: Eastern::new(),
            buf: Vec::new(),
            ready: VecDeque::new(),
            batch: Vec::new(),
        }
    }

    /// Parses runs of data lines with `bulk` (lines it does not take go record by record).
    fn with_bulk(mut self, bulk: Bulk<T>) -> Self {
        let mut prefix = self.lines.id.as_bytes().to_vec();
        prefix.push(b',');
        if self.lines.protocol == Protocol::V62 {
            prefix.extend_from_slice(b"LH,");
        }
        self.bulk = Some((bulk, prefix));
        self
    }

    /// Appends the next records to `out` (at least one); `false` at the end of the reply.
    /// A line that does not parse is an error; the records before it were appended by
    /// earlier calls, and the call after it goes on with the next line.
    pub async fn next_batch(&mut self, out: &mut Vec<T>) -> Result<bool, IqError> {
        if self.lines.done {
            return Ok(false);
        }
        if let Some((bulk, prefix)) = &self.bulk {
            let before = out.len();
            let used = bulk(self.lines.split.unread(), prefix, &mut self.clock, out);
            self.lines.split.consume(used);
            if out.len() > before {
                return Ok(true);
            }
        }
        // The next line another way: waiting for more bytes, the end, an error, or a line
        // the bulk parser leaves to the record parser.
        if !self.lines.next_into(&mut self.buf).await? {
            return Ok(false);
        }
        out.push((self.parse)(&self.buf, &mut self.clock)?);
        Ok(true)
    }

    /// The next record, or `None` at the end of the reply.
    pub async fn next(&mut self) -> Option<Result<T, IqError>> {
        if self.ready.is_empty() {
            let mut batch = std::mem::take(&mut self.batch);
            let more = self.next_batch(&mut batch).await;
            self.ready.extend(batch.drain(..));
            self.batch = batch;
            match more {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        self.ready.pop_front().map(Ok)
    }

    /// Every remaining record.
    pub async fn collect(mut self) -> Result<Vec<T>, IqError> {
        let mut out = Vec::new();
        while self.next_batch(&mut out).await? {}
        Ok(out)
    }
}
