//! The listeners: TCP connections accepted (with TLS when configured) and served by hyper
//! (HTTP/1.1 and HTTP/2), with the defences a server facing hostile clients needs at the
//! connection level, before any request exists:
//!
//! - **header-read timeout**: a connection must deliver a request's whole header within
//!   `header_read`, counted from its first byte (or from the accept, for a new connection that
//!   sends nothing); slow-header clients are cut off;
//! - **idle timeout**: a connection with no request in flight and nothing sent for `idle` is
//!   closed (HTTP/1.1 keep-alive and HTTP/2 alike), and so is one whose client took no frame
//!   of an answer for as long;
//! - **body timeout**: a request's body must arrive within `header_read` of its header;
//! - **connection cap**: at most `max_connections` at once. A new connection over the cap
//!   evicts the connection idle the longest (one that is not answering anything); when every
//!   connection is busy it is answered `503` with `Retry-After` and closed. Past a small
//!   overflow even that is skipped: the socket is closed at once, so file descriptors stay
//!   bounded.
//!
//! Every request carries the client's address ([`ClientAddr`]) for per-address limits, and a
//! stop ([`serve`]'s `shutdown`) lets requests in flight finish for up to ten seconds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long requests in flight may take to finish once the server is told to stop.
const DRAIN: Duration = Duration::from_secs(10);
/// Connections over the cap answered with a 503 at once, at most; past that they are closed.
const OVERFLOW: usize = 64;
/// How long an over-cap connection may take to be told 503.
const OVERFLOW_DEADLINE: Duration = Duration::from_secs(5);
/// Evicted connections still closing at most before new ones wait.
const DYING_MAX: usize = 8;
/// How often each connection's timeouts are checked.
const TICK: Duration = Duration::from_millis(250);

/// Connection-level limits (from `[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A request's header must arrive within this, from its first byte.
    pub header_read: Duration,
    /// A connection with nothing in flight is closed after this.
    pub idle: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// The client's address, in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Milliseconds since the first call in this process (a cheap, shared clock for atomics).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What one connection is doing, updated by its socket, its service and its answers' bodies,
/// read by its watchdog and by the eviction on accept.
#[derive(Debug)]
struct ConnState {
    /// Last time bytes came in, ms.
    last_read: AtomicU64,
    /// Last time bytes went out, ms.
    last_write: AtomicU64,
    /// When the connection last had nothing in flight: accepted, or its last answer ended.
    idle_since: AtomicU64,
    /// First byte of a request header read since `idle_since` (0: none yet).
    header_since: AtomicU64,
    /// Requests whose handler is running.
    handling: AtomicUsize,
    /// Answers whose body is still being sent: when each last gave the connection a frame.
    answers: Mutex<HashMap<u64, u64>>,
    /// The next answer's number on this connection.
    next_answer: AtomicU64,
    /// Request bodies still arriving: when each began.
    bodies_in: Mutex<HashMap<u64, u64>>,
    /// Whether the connection speaks HTTP/2 (several requests at once, frames between them).
    h2: AtomicBool,
    /// Whether the first bytes have been looked at.
    sniffed: AtomicBool,
    /// Whether a request has been seen (a kept-alive connection, not a new one).
    served: AtomicBool,
    /// Set once the connection was chosen for eviction (it is on its way out).
    evicted: AtomicBool,
    /// The connection's place under the cap; an eviction hands it to the newcomer at once.
    place: Mutex<Option<OwnedSemaphorePermit>>,
    /// Tells the connection's task to drop the connection.
    kill: Notify,
}

/// Why a connection is closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A request header took too long.
    Header,
    /// Nothing in flight for too long.
    Idle,
    /// The client stopped reading an answer.
    Stalled,
    /// A request body took too long to arrive.
    SlowBody,
}

impl ConnState {
    fn new(now: u64) -> ConnState {
        ConnState {
            last_read: AtomicU64::new(now),
            last_write: AtomicU64::new(now),
            idle_since: AtomicU64::new(now),
            header_since: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
            answers: Mutex::new(HashMap::new()),
            next_answer: AtomicU64::new(0),
            bodies_in: Mutex::new(HashMap::new()),
            h2: AtomicBool::new(false),
            sniffed: AtomicBool::new(false),
            served: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            place: Mutex::new(None),
            kill: Notify::new(),
        }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn busy(&self) -> bool {
        self.handling.load(Ordering::Acquire) > 0 || !self.answers().is_empty()
    }

    /// Whether the connection is past one of its timeouts at `now`.
    fn expired(&self, now: u64, limits: &ConnLimits) -> Option<Expiry> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let since = |t: &AtomicU64| now.saturating_sub(t.load(Ordering::Acquire));
        if self.handling.load(Ordering::Acquire) > 0 {
            // A handler is bounded by the request timeout, not here; but the body it waits
            // for must arrive within the header timeout (a trickle holds a place otherwise).
            let slow = self
                .bodies()
                .values()
                .any(|t| now.saturating_sub(*t) > ms(limits.header_read));
            return slow.then_some(Expiry::SlowBody);
        }
        {
            // An answer whose body the connection has not taken a frame of for the idle
            // timeout: its client stopped reading (or gave it no flow-control window).
            let answers = self.answers();
            if !answers.is_empty() {
                let stalled = answers
                    .values()
                    .any(|t| now.saturating_sub(*t) > ms(limits.idle));
                return stalled.then_some(Expiry::Stalled);
            }
        }
        let header = self.header_since.load(Ordering::Acquire);
        if header > 0 && !self.h2.load(Ordering::Acquire) {
            return (now.saturating_sub(header) > ms(limits.header_read)).then_some(Expiry::Header);
        }
        // A new connection must start its first request within the header timeout; a
        // kept-alive one may wait for the next for the idle timeout.
        let allowed = if !self.served.load(Ordering::Acquire) {
            limits.header_read
        } else {
            limits.idle
        };
        (since(&self.idle_since) > ms(allowed)).then_some(Expiry::Idle)
    }

    fn on_read(&self, first: &[u8]) {
        let now = now_ms();
        self.last_read.store(now, Ordering::Release);
        if !self.sniffed.swap(true, Ordering::AcqRel) && first.starts_with(b"PRI * HTTP/2.0") {
            self.h2.store(true, Ordering::Release);
        }
        if !self.busy() {
            let _ = self
                .header_since
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    fn request_started(&self) {
        self.handling.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        self.header_since.store(0, Ordering::Release);
    }

    fn bodies(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        self.bodies_in
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn answer_started(&self) -> u64 {
        let id = self.next_answer.fetch_add(1, Ordering::Relaxed);
        self.answers().insert(id, now_ms());
        id
    }

    fn answer_progressed(&self, id: u64) {
        if let Some(t) = self.answers().get_mut(&id) {
            *t = now_ms();
        }
    }

    fn answer_ended(&self, id: u64) {
        let now = now_ms();
        let mut answers = self.answers();
        answers.remove(&id);
        if answers.is_empty() && self.handling.load(Ordering::Acquire) == 0 {
            self.idle_since.store(now, Ordering::Release);
        }
    }
}

/// A socket that tells its [`ConnState`] when bytes move.
struct Tracked<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.on_read(&buf.filled()[before..]);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.last_write.store(now_ms(), Ordering::Release);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.last_write.store(now_ms(), Ordering::Release);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An answer's body that tells its [`ConnState`] when the connection takes a frame of it,
/// and when it has been sent (or dropped).
struct TrackedBody {
    inner: Body,
    state: Arc<ConnState>,
    id: u64,
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.state.answer_ended(self.id);
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(Some(Ok(_)))) {
            self.state.answer_progressed(self.id);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request's body that tells its [`ConnState`] when it has all arrived (or is dropped).
struct TimedBody {
    inner: Incoming,
    state: Arc<ConnState>,
    id: u64,
    open: bool,
}

impl TimedBody {
    fn new(inner: Incoming, state: Arc<ConnState>) -> TimedBody {
        let open = !hyper::body::Body::is_end_stream(&inner);
        let id = state.next_answer.fetch_add(1, Ordering::Relaxed);
        if open {
            state.bodies().insert(id, now_ms());
        }
        TimedBody {
            inner,
            state,
            id,
            open,
        }
    }

    fn close(&mut self) {
        if std::mem::take(&mut self.open) {
            self.state.bodies().remove(&self.id);
        }
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        self.close();
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None | Some(Err(_))))
            || hyper::body::Body::is_end_stream(&self.inner)
        {
            self.close();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Decrements `handling` when a handler ends, however it ends.
struct Handling(Arc<ConnState>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.handling.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, for eviction.
#[derive(Default)]
struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    /// Connections evicted whose sockets are not closed yet.
    dying: AtomicUsize,
}

impl Registry {
    fn add(&self, state: Arc<ConnState>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, state);
        id
    }

    fn remove(&self, id: u64) {
        if let Some(c) = self.lock().remove(&id)
            && c.evicted.load(Ordering::Acquire)
        {
            self.dying.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells the connection idle the longest to close and takes its place; `None` when every
    /// connection is busy.
    fn evict_one(&self) -> Option<OwnedSemaphorePermit> {
        let conns = self.lock();
        let victim = conns
            .values()
            .filter(|c| !c.busy() && !c.evicted.load(Ordering::Acquire))
            .min_by_key(|c| {
                c.last_read
                    .load(Ordering::Acquire)
                    .max(c.last_write.load(Ordering::Acquire))
            });
        let c = victim?;
        c.evicted.store(true, Ordering::Release);
        self.dying.fetch_add(1, Ordering::AcqRel);
        c.kill.notify_one();
        c.place
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Everything the accept loop shares with its connections.
struct Shared {
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnLimits,
    builder: auto::Builder<TokioExecutor>,
    places: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    registry: Registry,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Serves `app` on `listener` until `shutdown` turns true, then lets requests in flight
/// finish (for up to ten seconds).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnLimits,
    metrics: Arc<crate::metrics::Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Header and idle timeouts are the watchdog's (hyper's would also close kept-alive
        // connections waiting for their next request after the header timeout).
        .header_read_timeout(None)
        .max_buf_size(64 << 10);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(256)
        .max_header_list_size(64 << 10);
    let shared = Arc::new(Shared {
        app,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        limits,
        builder,
        places: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        overflow: Arc::new(Semaphore::new(OVERFLOW)),
        registry: Registry::default(),
        metrics,
    });
    let mut conns = JoinSet::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    loop {
        // Evicted connections close in their own tasks: let them, before taking more sockets,
        // so that the open files stay within the cap and its small overflow.
        for _ in 0..100 {
            if shared.registry.dying.load(Ordering::Acquire) <= DYING_MAX {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => break,
        };
        // Reap finished connection tasks so the set does not grow.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, or the peer gave up during the handshake: wait a
                // little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Answers go out in frames: without TCP_NODELAY the last one of a batch waits for
        // the client's delayed ACK (a 40 ms p99 measured); with it, small answers lose nothing.
        let _ = stream.set_nodelay(true);
        let shared2 = shared.clone();
        let place = match shared.places.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                shared.metrics.connections_refused.inc();
                shared.registry.evict_one()
            }
        };
        match place {
            Some(place) => {
                // Registered here, before its task runs, so that the next arrival over the cap
                // sees it.
                let state = Arc::new(ConnState::new(now_ms()));
                *state
                    .place
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(place);
                let id = shared.registry.add(state.clone());
                let stop = stop_rx.clone();
                conns
                    .spawn(async move { connection(shared2, stream, peer, state, id, stop).await });
            }
            None => match shared.overflow.clone().try_acquire_owned() {
                Ok(slot) => {
                    conns.spawn(async move { refuse(shared2, stream, slot).await });
                }
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        conns.abort_all();
    }
}

/// Serves one connection within the cap, under its watchdog.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnState>,
    id: u64,
    mut stop: watch::Receiver<bool>,
) {
    shared.metrics.connections.inc();
    let io = Tracked {
        inner: stream,
        state: state.clone(),
    };
    let limits = shared.limits;
    match &shared.tls {
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(limits.header_read, acceptor.clone().accept(io)).await;
            if let Ok(Ok(tls)) = handshake {
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    state.h2.store(true, Ordering::Release);
                }
                drive(&shared, tls, peer, &state, &mut stop).await;
            }
        }
        None => drive(&shared, io, peer, &state, &mut stop).await,
    }
    shared.registry.remove(id);
    shared.metrics.connections.dec();
    // The place, unless an eviction already handed it on.
    drop(
        state
            .place
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(),
    );
}

/// Runs hyper on `io` until the connection ends, its watchdog expires it, it is evicted, or
/// the server stops (then gracefully).
async fn drive<I>(
    shared: &Arc<Shared>,
    io: I,
    peer: SocketAddr,
    state: &Arc<ConnState>,
    stop: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = shared.app.clone();
    let service_state = state.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let app = app.clone();
        let state = service_state.clone();
        state.request_started();
        req.extensions_mut().insert(ClientAddr(peer));
        let req = req.map(|b| Body::new(TimedBody::new(b, state.clone())));
        async move {
            let handling = Handling(state.clone());
            let response = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let id = state.answer_started();
            drop(handling);
            Ok::<_, Infallible>(response.map(|inner| TrackedBody { inner, state, id }))
        }
    });
    let conn = shared.builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(TICK);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = state.kill.notified() => {
                tracing::debug!(%peer, "connection evicted (connection cap)");
                shared.metrics.connections_closed("evicted");
                return;
            }
            _ = tick.tick() => {
                if let Some(why) = state.expired(now_ms(), &shared.limits) {
                    let reason = match why {
                        Expiry::Header => "header_timeout",
                        Expiry::Idle => "idle",
                        Expiry::Stalled => "stalled",
                        Expiry::SlowBody => "slow_body",
                    };
                    tracing::debug!(%peer, reason, "connection closed");
                    shared.metrics.connections_closed(reason);
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Tells a connection over the cap `503` (over TLS when the listener has it) and closes it.
async fn refuse(shared: Arc<Shared>, stream: TcpStream, slot: OwnedSemaphorePermit) {
    let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
        let e = crate::error::ApiError::unavailable(
            "the server has too many connections open; retry shortly",
        );
        Ok::<_, Infallible>(crate::http::respond::error_response(&e))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(false);
    let served = async {
        match &shared.tls {
            Some(acceptor) => {
                if let Ok(tls) = acceptor.clone().accept(stream).await {
                    let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                }
            }
            None => {
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        }
    };
    let _ = tokio::time::timeout(OVERFLOW_DEADLINE, served).await;
    drop(slot);
}

/// Raises this process's open-file limit to its hard limit and returns the soft limit now in
/// force (`None` where it cannot be read).
pub fn raise_open_files() -> Option<u64> {
    #[cfg(unix)]
    {
        let _ = rlimit::increase_nofile_limit(u64::MAX);
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap when the configuration leaves it to the server: most of the open-file
/// limit (the stores, files and the other listener need some), at most 10,000.
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    let Some(n) = open_files else {
        return 1_000;
    };
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    n.saturating_sub(128).max(n / 2).clamp(16, 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            max_connections: 10,
        }
    }

    #[test]
    fn a_new_connection_that_sends_nothing_expires_after_the_header_timeout() {
        let s = ConnState::new(1_000);
        assert_eq!(s.expired(10_000, &limits()), None);
        assert_eq!(s.expired(11_001, &limits()), Some(Expiry::Idle));
        // Kept alive after a request: the idle timeout applies.
        s.request_started();
        s.handling.fetch_sub(1, Ordering::AcqRel);
        assert_eq!(s.expired(11_001, &limits()), None);
        assert_eq!(s.expired(61_001, &limits()), Some(Expiry::Idle));
    }

    #[test]
    fn half_a_header_expires_after_the_header_timeout_from_its_first_byte() {
        let s = ConnState::new(0);
        s.header_since.store(5_000, Ordering::Release);
        assert_eq!(s.expired(15_000, &limits()), None);
        assert_eq!(s.expired(15_001, &limits()), Some(Expiry::Header));
        // HTTP/2 sends frames between requests: only the idle timeout counts.
        s.h2.store(true, Ordering::Release);
        s.served.store(true, Ordering::Release);
        assert_eq!(s.expired(15_001, &limits()), None);
        assert_eq!(s.expired(60_001, &limits()), Some(Expiry::Idle));
    }

    #[test]
    fn handlers_are_not_timed_here_but_a_stalled_reader_is() {
        let s = ConnState::new(0);
        s.request_started();
        assert_eq!(s.expired(1_000_000, &limits()), None);
        s.handling.fetch_sub(1, Ordering::AcqRel);
        let a = s.answer_started();
        let b = s.answer_started();
        s.answers().insert(a, 100_000);
        s.answers().insert(b, 150_000);
        // Writes on the connection (another answer, pings) do not hide a stalled one.
        s.last_write.store(159_000, Ordering::Release);
        assert_eq!(s.expired(150_000, &limits()), None);
        assert_eq!(s.expired(160_001, &limits()), Some(Expiry::Stalled));
        s.answer_ended(a);
        assert_eq!(s.expired(160_001, &limits()), None);
        s.answer_ended(b);
        assert!(!s.busy());
    }

    #[test]
    fn the_default_cap_leaves_room_under_the_open_file_limit() {
        assert_eq!(default_max_connections(Some(256)), 128);
        assert_eq!(default_max_connections(Some(1024)), 896);
        assert_eq!(default_max_connections(Some(1 << 20)), 10_000);
        assert_eq!(default_max_connections(None), 1_000);
    }
}
