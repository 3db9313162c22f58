//! xlfeed-iqfeed: talking to DTN IQFeed's IQConnect, and pretending to be it.
//!
//! # Layout
//!
//! - [`wire`]: the line format of every port, parsed and formatted without allocation per
//!   field: [`wire::LineSplitter`] (framing), [`wire::lookup`] (reply lines of port 9100),
//!   [`wire::history`] (ticks, bars, daily data), [`wire::num`] (numbers, dates, Eastern time).
//! - [`connection`]: line framing over a socket and the `S,SET PROTOCOL` handshake.
//! - [`client`]: the lookup, Level 1 and admin clients, with request ids, a rate limit, a
//!   bound on requests in flight, timeouts and reconnection.
//! - [`error`]: [`IqError`], with `kind()`.
//! - [`sim`]: the simulator: its synthetic market ([`sim::Market`]: deterministic ticks, bars,
//!   daily data, option chains and trades, dividends and fundamentals) and its network side
//!   ([`sim::Simulator`]: IQConnect's lookup, Level 1 and admin ports, with fault injection).
//!
//! The reference for every format is `shared/reference/iqfeed-protocol.md`.

pub mod client;
pub mod connection;
pub mod error;
pub mod sim;
pub mod wire;

pub use error::IqError;
