//! The IQFeed simulator: a synthetic market answered over IQConnect's ports.
//!
//! Deterministic ticks, bars, daily data, option chains, option trades, dividends and
//! fundamentals for a universe of US stocks, ETFs and an index, served on the lookup, Level 1
//! and admin ports as IQConnect serves them. Same seed, same market: every number is drawn
//! from a random stream keyed by (seed, symbol, day, quantity), so any day of any symbol can
//! be generated alone, in any order, and comes out the same.
//!
//! # Layout
//!
//! Two layers, the network side on top of the market:
//!
//! - [`market`]: the pure part, no sockets and no async. [`Market`] is its front door; below
//!   it the instruments ([`Universe`]), the daily price paths, the session tapes, the option
//!   chains and their prices, dividends and fundamentals, and the lookup port's reference
//!   tables.
//! - [`net`]: the network side. [`Simulator::start`] ([`SimConfig`]) listens on the ports
//!   and hands each connection (one type for every port) to its port's handler, one file a
//!   port; the fault knobs ([`Faults`]), the history rate limit and the simulated clock sit
//!   beside them.
//! - `error`: [`SimError`], shared by both.
//!
//! Units everywhere: times are UTC nanoseconds (on whole microseconds, IQFeed's precision),
//! dates `yyyymmdd` or [`TradingDay`](xlfeed_core::TradingDay), prices in dollars on a cent
//! grid, rates and volatilities as annual decimal fractions (0.053 is 5.3%).

mod error;
pub mod market;
pub mod net;

pub use error::SimError;
pub use market::Market;
pub use market::fundamentals::FundamentalsSnapshot;
pub use market::options::{listed_expiries, option_tick, strike_increment};
pub use market::universe::{DividendHabit, Instrument, SecurityKind, Universe, parse_symbol_list};
pub use net::faults::Faults;
pub use net::server::{RunningSimulator, ShutdownHandle, SimConfig, Simulator, default_today};
