//! What every connection of one simulator shares: the market, the configuration, the
//! simulated clock, the history rate limit, the client list `S,CLIENTSTATS` reports, the
//! admin port's login settings, the byte counters, and the trades Level 1 replays.
//!
//! Everything else lives in the connection's task ([`super::conn::Conn`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::time::Instant;

use super::clock::SimClock;
use super::rate::Bucket;
use super::server::{Port, SimConfig};
use crate::sim::market::Market;
use crate::wire::history::Tick;

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
    /// The state of a simulator listening on `addrs`: its clock at `today`'s open, its
    /// rate-limit bucket full, no client yet.
    pub(crate) fn new(market: Market, config: SimConfig, addrs: Addrs) -> Shared {
        let (capacity, per_second) = config.rate_limit;
        Shared {
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
            clock: SimClock::new(config.today, config.l1_speed),
            config,
        }
    }

    /// A new client id: they count from 1 and are never reused.
    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }

    /// Puts client `id` on the list `S,CLIENTSTATS` reports.
    pub(crate) fn add_client(&self, id: u64, client: ClientInfo) {
        lock(&self.clients).insert(id, client);
    }

    /// Takes client `id` off the list (its connection ended).
    pub(crate) fn remove_client(&self, id: u64) {
        lock(&self.clients).remove(&id);
    }

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

/// Runs `work`, CPU-bound market generation (a session's trades, a chain, years of daily
/// bars). With `offload` ([`SimConfig::offload_generation`]) on a multi-thread runtime, the
/// worker hands its other tasks to another thread for the duration ([`block_in_place`]), so
/// that a client's handshake is answered while other clients' replies are generated;
/// otherwise (and on a current-thread runtime) it runs in place.
///
/// [`block_in_place`]: tokio::task::block_in_place
pub(crate) fn generate<T>(offload: bool, work: impl FnOnce() -> T) -> T {
    let multi_thread = || {
        tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
    };
    if offload && multi_thread() {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::generate;

    /// While one connection's task generates, the runtime's other tasks still run, even with
    /// one worker: the generating task here waits for a message only another task sends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_tasks_run_while_one_generates() {
        let (tx, rx) = mpsc::channel::<()>();
        let generating = tokio::spawn(async move {
            generate(true, || rx.recv_timeout(Duration::from_secs(20)).is_ok())
        });
        let other = tokio::spawn(async move {
            // Runs only once `generating` is blocked in its work.
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(()).is_ok()
        });
        assert!(generating.await.unwrap(), "the other task never ran");
        assert!(other.await.unwrap());
    }

    /// On a current-thread runtime (the tests' default) the work runs in place, offload or not.
    #[tokio::test]
    async fn a_current_thread_runtime_runs_the_work_in_place() {
        assert_eq!(generate(true, || 7), 7);
        assert_eq!(generate(false, || 8), 8);
    }
}
