//! Starting and stopping the simulator: [`SimConfig`], [`Simulator::start`] (the listeners
//! and their accept loops), [`RunningSimulator`] (addresses and shutdown), and the dispatch
//! of each accepted connection to its port's handler.
//!
//! Each connection is one task; a watch channel tells every task to stop, and
//! [`RunningSimulator::shutdown`] waits for them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use xlfeed_core::calendar::new_york_day;
use xlfeed_core::{Nyse, TradingDay};

use super::conn::Conn;
use super::faults::Faults;
use super::shared::{Addrs, Shared};
use super::{admin_port, level1_port, lookup_port};
use crate::sim::SimError;
use crate::sim::market::Market;
use crate::sim::market::universe::Universe;
use crate::wire::Protocol;

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
    /// Most data points in one history reply, whatever its `MaxDatapoints` (`None`: no
    /// limit, the default). A reply past it is cut as `MaxDatapoints` cuts one: the newest
    /// points are kept, without an error; a client that knows the limit asks again for the
    /// rest. Plays a gateway with a per-reply limit.
    pub max_datapoints: Option<u32>,
    /// Faults to inject.
    pub faults: Faults,
    /// Generate replies off the runtime's worker threads (default true), so that a
    /// handshake is answered while other clients' replies are being generated: what a
    /// gateway serving several clients needs. `fetch --sim`, one client in the same process,
    /// sets it false: there generating is that fetch's own work, and the extra threads cost
    /// it time and memory (docs/BENCHMARKS.md).
    pub offload_generation: bool,
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
            max_datapoints: None,
            faults: Faults::default(),
            offload_generation: true,
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
    #[allow(clippy::expect_used)] // a constant inside the calendar's range, not input
    let fallback = TradingDay::from_ymd(2024, 12, 31).expect("2024-12-31 is a supported day");
    let today = new_york_day(now_ns).unwrap_or(fallback);
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
        let shared = Arc::new(Shared::new(market, config, addrs));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_today_is_a_past_session() {
        let d = default_today();
        assert!(Nyse.is_trading_day(d));
        assert!(d.date() < chrono::Utc::now().date_naive());
    }
}
