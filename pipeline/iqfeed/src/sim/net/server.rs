//! The simulator's network side: IQConnect's lookup (9100), Level 1 (5009) and admin (9300)
//! ports, answered from a [`Market`].
//!
//! # Layout
//!
//! - this file: [`SimConfig`], [`Simulator::start`] (listeners and their accept loops),
//!   [`RunningSimulator`] (addresses and shutdown), and what every connection shares: the
//!   state of the whole simulator (`Shared`: market, clock, rate-limit bucket, client list)
//!   and the per-connection plumbing (`Conn`: line reading and the `S,SET PROTOCOL` /
//!   `S,SET CLIENT NAME` handshake every port answers the same way).
//! - `lookup_port`, `level1_port`, `admin_port`: one file per port, each the same shape: a
//!   `serve(conn)` loop that reads command lines and answers them.
//! - [`super::faults`]: the fault knobs and the writer that applies them.
//!
//! Each connection is one task; a watch channel tells every task to stop, and
//! [`RunningSimulator::shutdown`] waits for them. Per connection state (protocol, client
//! name, watches, field set) lives in the connection's task; nothing but the market, the
//! rate-limit bucket and the statistics is shared.
//!
//! Behaviour follows shared/reference/iqfeed-protocol.md (§1.3, §1.4, §2–§6, §7, §10); the
//! port files say where the reference was unsure and what the simulator does then.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use chrono::{NaiveDateTime, NaiveTime};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use xlfeed_core::calendar::{new_york_to_utc_ns, utc_ns_to_new_york};
use xlfeed_core::{Nyse, TradingDay};

use super::error::SimError;
use super::faults::{Faults, Sink};
use super::market::Market;
use super::rng::Rng;
use super::universe::Universe;
use super::{admin_port, level1_port, lookup_port};
use crate::wire::history::Tick;
use crate::wire::{LineSplitter, Protocol};

/// Longest command line a client may send before the simulator hangs up on it.
const MAX_REQUEST_LINE: usize = 64 * 1024;
/// Bytes read from a client socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of the synthetic market: same seed (and same `today`), same bytes on the wire.
    pub seed: u64,
    /// The instruments traded.
    pub universe: Universe,
    /// Address to listen on (default `127.0.0.1`).
    pub host: String,
    /// Lookup/history port (default 9100; 0 = any free port).
    pub lookup_port: u16,
    /// Level 1 port (default 5009; 0 = any free port).
    pub level1_port: u16,
    /// Admin port (default 9300; 0 = any free port).
    pub admin_port: u16,
    /// The simulator's "now": the last day history reaches, the day `HTD`/`HID` count back
    /// from and `HTX`/`HIX`/`HDX` end on, and the session Level 1 replays. History includes
    /// this day's whole session. Default: the last NYSE trading day before the real date in
    /// New York ([`default_today`]); set it for replies that do not change from day to day.
    pub today: TradingDay,
    /// History rate limit shared by every lookup connection: a token bucket of `(capacity,
    /// refills per second)`, starting full (default 50, 50).
    pub rate_limit: (u32, f64),
    /// Level 1 replay speed: simulated seconds per real second (default 1). The simulated
    /// clock starts at `today`'s open when the simulator starts.
    pub l1_speed: f64,
    /// Trades per session relative to the market's standard (default 1; 0.05 makes tests
    /// quick, 10 makes benchmarks long).
    pub tick_scale: f64,
    /// Newest protocol this IQConnect knows (default 6.2). 6.1 stands in for an older
    /// IQConnect that rejects `S,SET PROTOCOL,6.2`.
    pub max_protocol: Protocol,
    /// Faults to inject.
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            universe: Universe::standard(),
            host: "127.0.0.1".into(),
            lookup_port: 9100,
            level1_port: 5009,
            admin_port: 9300,
            today: default_today(),
            rate_limit: (50, 50.0),
            l1_speed: 1.0,
            tick_scale: 1.0,
            max_protocol: Protocol::V62,
            faults: Faults::default(),
        }
    }
}

impl SimConfig {
    /// The default configuration with every port 0 (any free port), for tests.
    pub fn ephemeral(seed: u64, today: TradingDay) -> SimConfig {
        SimConfig {
            seed,
            today,
            lookup_port: 0,
            level1_port: 0,
            admin_port: 0,
            ..SimConfig::default()
        }
    }
}

/// The last NYSE trading day strictly before today's date in New York.
pub fn default_today() -> TradingDay {
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let date = utc_ns_to_new_york(now_ns).date();
    #[allow(clippy::expect_used)] // a constant inside the calendar's range, not input
    let fallback = TradingDay::from_ymd(2024, 12, 31).expect("2024-12-31 is a supported day");
    let today = TradingDay::from_date(date).unwrap_or(fallback);
    Nyse.prev_trading_day(today).unwrap_or(fallback)
}

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds the three ports and starts answering; the error names a port that cannot be
    /// bound.
    pub async fn start(mut config: SimConfig) -> Result<RunningSimulator, SimError> {
        let universe = std::mem::take(&mut config.universe);
        let market = Market::new(config.seed, universe).with_tick_scale(config.tick_scale);
        let bind = |port: u16| {
            let addr = format!("{}:{port}", config.host);
            async move {
                TcpListener::bind(&addr)
                    .await
                    .map_err(|e| SimError::Listen {
                        addr,
                        reason: e.to_string(),
                    })
            }
        };
        let lookup = bind(config.lookup_port).await?;
        let level1 = bind(config.level1_port).await?;
        let admin = bind(config.admin_port).await?;
        let local = |l: &TcpListener| {
            l.local_addr().map_err(|e| SimError::Listen {
                addr: config.host.clone(),
                reason: e.to_string(),
            })
        };
        let addrs = Addrs {
            lookup: local(&lookup)?,
            level1: local(&level1)?,
            admin: local(&admin)?,
        };
        let (stop, stopped) = watch::channel(false);
        let clock = SimClock::new(config.today, config.l1_speed);
        let (capacity, per_second) = config.rate_limit;
        let shared = Arc::new(Shared {
            market,
            bucket: Mutex::new(Bucket::new(capacity, per_second)),
            history_requests: AtomicU64::new(0),
            clients: Mutex::new(BTreeMap::new()),
            next_client: AtomicU64::new(1),
            admin: Mutex::new(AdminState::default()),
            today_ticks: Mutex::new(HashMap::new()),
            bytes_sent: Arc::new(AtomicU64::new(0)),
            bytes_received: AtomicU64::new(0),
            started: Instant::now(),
            addrs,
            clock,
            config,
        });
        let mut tasks = JoinSet::new();
        for (listener, port) in [
            (lookup, Port::Lookup),
            (level1, Port::Level1),
            (admin, Port::Admin),
        ] {
            tasks.spawn(accept_loop(listener, port, shared.clone(), stopped.clone()));
        }
        tracing::info!(
            lookup = %addrs.lookup,
            level1 = %addrs.level1,
            admin = %addrs.admin,
            today = %shared.config.today,
            seed = shared.config.seed,
            "iqfeed simulator listening"
        );
        Ok(RunningSimulator {
            shared,
            stop,
            tasks,
        })
    }
}

/// A simulator that is running; dropping it stops it too, without waiting.
#[derive(Debug)]
pub struct RunningSimulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningSimulator {
    /// Address of the lookup/history port.
    pub fn lookup_addr(&self) -> SocketAddr {
        self.shared.addrs.lookup
    }

    /// Address of the Level 1 port.
    pub fn level1_addr(&self) -> SocketAddr {
        self.shared.addrs.level1
    }

    /// Address of the admin port.
    pub fn admin_addr(&self) -> SocketAddr {
        self.shared.addrs.admin
    }

    /// The market the simulator answers from.
    pub fn market(&self) -> &Market {
        &self.shared.market
    }

    /// The configuration it runs with (its universe is in [`RunningSimulator::market`]).
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// A handle that stops the simulator from elsewhere (a signal handler).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.stop.clone())
    }

    /// Stops accepting, closes every connection and waits for all of it to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("iqfeed simulator stopped");
    }

    /// Waits until a [`ShutdownHandle`] stops the simulator, then for its tasks to end.
    pub async fn wait(mut self) {
        stopped(&mut self.stop.subscribe()).await;
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("iqfeed simulator stopped");
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Stops a [`RunningSimulator`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Tells every listener and connection to stop.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// Which port a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    Lookup,
    Level1,
    Admin,
}

impl Port {
    /// The client type number `S,CLIENTSTATS` reports (0 admin, 1 Level 1, 3 lookup).
    pub(crate) fn client_type(self) -> u8 {
        match self {
            Port::Admin => 0,
            Port::Level1 => 1,
            Port::Lookup => 3,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    port: Port,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let for_conns = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let conn = Conn::new(stream, port, shared.clone());
                    let mut stop = for_conns.clone();
                    conns.spawn(async move {
                        tokio::select! {
                            _ = stopped(&mut stop) => {}
                            r = serve(conn) => {
                                if let Err(e) = r {
                                    tracing::debug!(?port, %peer, error = %e, "simulator connection ended");
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(?port, error = %e, "simulator accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }
    while conns.join_next().await.is_some() {}
}

/// Resolves once the simulator is told to stop (or its handle is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn serve(conn: Conn) -> io::Result<()> {
    match conn.port {
        Port::Lookup => lookup_port::serve(conn).await,
        Port::Level1 => level1_port::serve(conn).await,
        Port::Admin => admin_port::serve(conn).await,
    }
}

/// The addresses bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addrs {
    pub(crate) lookup: SocketAddr,
    pub(crate) level1: SocketAddr,
    pub(crate) admin: SocketAddr,
}

/// What every connection of one simulator shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) market: Market,
    pub(crate) config: SimConfig,
    pub(crate) clock: SimClock,
    pub(crate) addrs: Addrs,
    bucket: Mutex<Bucket>,
    history_requests: AtomicU64,
    clients: Mutex<BTreeMap<u64, ClientInfo>>,
    next_client: AtomicU64,
    pub(crate) admin: Mutex<AdminState>,
    today_ticks: Mutex<HashMap<String, Weak<[Tick]>>>,
    pub(crate) bytes_sent: Arc<AtomicU64>,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) started: Instant,
}

/// Locks shared state; every update leaves it consistent, so a poisoned lock is taken over.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Counts a history request against the rate limit; `false` when it must be refused
    /// (bucket empty, or the `rate_limit_every` fault).
    pub(crate) fn admit_history(&self) -> bool {
        let n = self.history_requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(every) = self.config.faults.rate_limit_every
            && every > 0
            && n.is_multiple_of(every)
        {
            return false;
        }
        lock(&self.bucket).take(Instant::now())
    }

    /// The trades of `symbol` in `today`'s session (Level 1 replays them), shared by every
    /// watch of the symbol while one exists.
    pub(crate) fn today_ticks(
        &self,
        symbol: &str,
        ticks: impl FnOnce() -> Vec<Tick>,
    ) -> Arc<[Tick]> {
        if let Some(t) = lock(&self.today_ticks).get(symbol).and_then(Weak::upgrade) {
            return t;
        }
        let t: Arc<[Tick]> = ticks().into();
        let mut cache = lock(&self.today_ticks);
        cache.retain(|_, w| w.strong_count() > 0);
        cache.insert(symbol.to_owned(), Arc::downgrade(&t));
        t
    }

    /// The connected clients, by id.
    pub(crate) fn clients(&self) -> Vec<(u64, ClientInfo)> {
        lock(&self.clients)
            .iter()
            .map(|(id, c)| (*id, c.clone()))
            .collect()
    }

    /// Updates the entry of client `id`.
    pub(crate) fn update_client(&self, id: u64, f: impl FnOnce(&mut ClientInfo)) {
        if let Some(c) = lock(&self.clients).get_mut(&id) {
            f(c);
        }
    }
}

/// The login settings the admin port sets and reports.
#[derive(Debug, Clone)]
pub(crate) struct AdminState {
    pub(crate) login_id: String,
    pub(crate) password: String,
    pub(crate) autoconnect: bool,
    pub(crate) save_login: bool,
    pub(crate) connected: bool,
}

impl Default for AdminState {
    fn default() -> Self {
        AdminState {
            login_id: "SIMULATOR".into(),
            password: String::new(),
            autoconnect: true,
            save_login: false,
            connected: true,
        }
    }
}

/// One connected client, as `S,CLIENTSTATS` reports it.
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    pub(crate) port: Port,
    pub(crate) name: String,
    /// Connection time on the simulated clock, `YYYYMMDD HHMMSS`.
    pub(crate) started: String,
    pub(crate) symbols: usize,
    pub(crate) sent: Arc<AtomicU64>,
    pub(crate) received: Arc<AtomicU64>,
}

/// The history rate limit: a token bucket that starts full.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: u32, per_second: f64) -> Bucket {
        let capacity = f64::from(capacity.max(1));
        Bucket {
            capacity,
            per_second: if per_second.is_finite() && per_second > 0.0 {
                per_second
            } else {
                0.0
            },
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The simulated clock: `today`'s open when the simulator started, running at `l1_speed`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimClock {
    start: Instant,
    origin_ns: i64,
    speed: f64,
}

impl SimClock {
    fn new(today: TradingDay, speed: f64) -> SimClock {
        let origin_ns = Nyse.session(today).map_or_else(
            || {
                let open = NaiveTime::from_hms_opt(9, 30, 0).unwrap_or(NaiveTime::MIN);
                new_york_to_utc_ns(today.date().and_time(open)).unwrap_or(0)
            },
            |s| s.open_utc_ns(),
        );
        SimClock {
            start: Instant::now(),
            origin_ns,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Simulated time now, UTC nanoseconds.
    pub(crate) fn now_ns(&self) -> i64 {
        let real = Instant::now().duration_since(self.start).as_secs_f64();
        self.origin_ns + (real * self.speed * 1e9) as i64
    }

    /// The real instant the simulated clock reaches `ns`.
    pub(crate) fn instant_of(&self, ns: i64) -> Instant {
        let secs = ((ns - self.origin_ns) as f64 / 1e9 / self.speed).max(0.0);
        self.start + std::time::Duration::from_secs_f64(secs.min(1e9))
    }

    /// Simulated time when the simulator started (`today`'s open), UTC nanoseconds.
    pub(crate) fn start_ns(&self) -> i64 {
        self.origin_ns
    }

    /// Simulated time now in New York.
    pub(crate) fn now_local(&self) -> NaiveDateTime {
        utc_ns_to_new_york(self.now_ns())
    }
}

/// One client connection: its socket, its protocol, and its entry in the client list.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) out: Sink,
    pub(crate) protocol: Protocol,
    pub(crate) port: Port,
    pub(crate) id: u64,
    reader: OwnedReadHalf,
    split: LineSplitter,
    chunk: Vec<u8>,
    received: Arc<AtomicU64>,
}

/// What a handshake line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// `S,SET PROTOCOL` accepted (and answered).
    Protocol,
    /// `S,SET PROTOCOL` rejected (and answered with the error).
    Rejected,
    /// `S,SET CLIENT NAME` (no answer).
    ClientName,
}

impl Conn {
    fn new(stream: TcpStream, port: Port, shared: Arc<Shared>) -> Conn {
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let id = shared.next_client.fetch_add(1, Ordering::Relaxed);
        let faults = &shared.config.faults;
        let fragment = faults
            .fragment_writes
            .then(|| Rng::stream(shared.config.seed, "fragment", id as u32, "writes"));
        let drop_after = if port == Port::Lookup {
            faults.drop_after_lines
        } else {
            None
        };
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let out = Sink::new(
            writer,
            fragment,
            drop_after,
            sent.clone(),
            shared.bytes_sent.clone(),
        );
        let started = shared.clock.now_local().format("%Y%m%d %H%M%S").to_string();
        lock(&shared.clients).insert(
            id,
            ClientInfo {
                port,
                name: String::new(),
                started,
                symbols: 0,
                sent,
                received: received.clone(),
            },
        );
        Conn {
            shared,
            out,
            protocol: Protocol::V62,
            port,
            id,
            reader,
            split: LineSplitter::new(),
            chunk: vec![0; READ_CHUNK],
            received,
        }
    }

    /// The next command line without its terminator (`\r\n` or `\n`); `None` when the
    /// client closed the socket. Cancel-safe: a line is never lost to a dropped call.
    pub(crate) async fn next_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(line) = self.split.next_line() {
                return Ok(Some(String::from_utf8_lossy(line).into_owned()));
            }
            if self.split.pending() > MAX_REQUEST_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("command line longer than {MAX_REQUEST_LINE} bytes"),
                ));
            }
            let n = self.reader.read(&mut self.chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.received.fetch_add(n as u64, Ordering::Relaxed);
            self.shared
                .bytes_received
                .fetch_add(n as u64, Ordering::Relaxed);
            self.split.push(&self.chunk[..n]);
        }
    }

    /// Answers the commands every port shares: `S,SET PROTOCOL,x` (→ `S,CURRENT PROTOCOL,x`,
    /// or `E,x is not a valid protocol.,`) and `S,SET CLIENT NAME,name` (silently). `None`
    /// for any other line.
    pub(crate) async fn handshake(&mut self, line: &str) -> io::Result<Option<Handshake>> {
        let mut parts = line.splitn(3, ',');
        if parts.next() != Some("S") {
            return Ok(None);
        }
        let command = parts.next().unwrap_or("").trim();
        let value = parts.next().unwrap_or("").trim().trim_end_matches(',');
        match command {
            "SET PROTOCOL" => match Protocol::parse(value) {
                Some(p) if p <= self.shared.config.max_protocol => {
                    self.protocol = p;
                    self.out
                        .send(format!("S,CURRENT PROTOCOL,{p}\r\n").as_bytes())
                        .await?;
                    Ok(Some(Handshake::Protocol))
                }
                _ => {
                    self.out
                        .send(format!("E,{value} is not a valid protocol.,\r\n").as_bytes())
                        .await?;
                    Ok(Some(Handshake::Rejected))
                }
            },
            "SET CLIENT NAME" => {
                let name = value.to_owned();
                self.shared.update_client(self.id, |c| c.name = name);
                Ok(Some(Handshake::ClientName))
            }
            _ => Ok(None),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        lock(&self.shared.clients).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_starts_full_and_refills_at_its_rate() {
        let mut b = Bucket::new(3, 2.0);
        let now = Instant::now();
        assert!((0..3).all(|_| b.take(now)));
        assert!(!b.take(now));
        assert!(!b.take(now + Duration::from_millis(400)));
        assert!(b.take(now + Duration::from_millis(500)));
        // Never more than its capacity, however long it rests.
        let later = now + Duration::from_secs(60);
        assert!((0..3).all(|_| b.take(later)));
        assert!(!b.take(later));
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_starts_at_the_open_and_runs_at_its_speed() {
        let today = TradingDay::parse("2024-06-12").unwrap();
        let clock = SimClock::new(today, 60.0);
        let open = Nyse.session(today).unwrap().open_utc_ns();
        assert_eq!(clock.now_ns(), open);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(clock.now_ns(), open + 60_000_000_000);
        assert_eq!(clock.now_local().format("%H:%M:%S").to_string(), "09:31:00");
        let at = clock.instant_of(open + 120_000_000_000);
        assert_eq!(at.duration_since(clock.start), Duration::from_secs(2));
    }

    #[test]
    fn the_default_today_is_a_past_session() {
        let d = default_today();
        assert!(Nyse.is_trading_day(d));
        assert!(d.date() < chrono::Utc::now().date_naive());
    }
}
