//! The simulator's network side: IQConnect's lookup (9100), Level 1 (5009) and admin (9300)
//! ports, answered from a [`Market`](crate::sim::Market).
//!
//! # Layout
//!
//! Like a request's path through it:
//!
//! - [`server`]: [`SimConfig`](server::SimConfig), [`Simulator::start`](server::Simulator::start)
//!   (the listeners and their accept loops), the running simulator and its shutdown.
//! - `conn`: the one connection type every port is served: line reading, the write side
//!   (through the fault sink), and the `S,SET PROTOCOL` / `S,SET CLIENT NAME` handshake
//!   every port answers the same way.
//! - `lookup_port`, `level1_port`, `admin_port`: one file per port, each the same shape: a
//!   `serve(conn)` loop that reads command lines and answers them. What the lookup port
//!   selects (sessions, time filters, chain contracts, search matches) is worked out in
//!   `select`, pure functions with no connection.
//! - `shared`: what every connection of one simulator shares: the market, the clock, the
//!   rate-limit bucket, the client list and the statistics. Per connection state (protocol,
//!   client name, watches, field set) lives in the connection's task.
//! - `rate` (the history rate limit's token bucket) and `clock` (the simulated clock
//!   Level 1 replays on).
//! - [`faults`]: the fault knobs ([`Faults`](faults::Faults)) and the writer that applies
//!   them.
//!
//! Behaviour follows shared/reference/iqfeed-protocol.md (§1.3, §1.4, §2–§6, §7, §10); the
//! port files say where the reference was unsure and what the simulator does then.

mod admin_port;
mod clock;
mod conn;
pub mod faults;
mod level1_port;
mod lookup_port;
mod rate;
mod select;
pub mod server;
mod shared;
