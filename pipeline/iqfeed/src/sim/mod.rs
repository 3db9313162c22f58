//! The synthetic market behind the IQFeed simulator: deterministic ticks, bars, daily data,
//! option chains, option trades, dividends and fundamentals for a universe of US stocks,
//! ETFs and an index.
//!
//! The simulator's server answers IQFeed requests from a [`Market`], the pure part, with no
//! sockets and no async. Same seed, same market: every number is drawn from a
//! random stream keyed by (seed, symbol, day, quantity), so any day of any symbol can be
//! generated alone, in any order, and comes out the same.
//!
//! # Layout
//!
//! From the bottom up, each layer built on the one before:
//!
//! - [`universe`]: the instruments and their parameters ([`Universe`], [`Instrument`]): the
//!   standard 21 and any ticker derived from its name, symbol list files.
//! - `path` (private): each instrument's daily closing price, a mean-reverting random walk
//!   in log price through its 2024-01-02 reference price.
//! - `tape` (private): one session trade by trade (times, prices, sizes, quotes, conditions)
//!   from the day's open and close; interval bars from trades.
//! - [`market`]: [`Market`], the front door: ticks, interval bars, daily, weekly and monthly
//!   bars, symbol search.
//! - `tables` (private): the lookup port's reference tables (listed markets, security types,
//!   trade conditions, SIC and NAICS codes) and the searches by industry code.
//! - [`fundamentals`]: dividends and the [`FundamentalsSnapshot`] behind the `F` message.
//! - [`options`]: listed expiries and strikes, the rate curve, the volatility smile, and
//!   option trades priced with [`bsm`].
//! - [`bsm`]: Black–Scholes–Merton prices and an accurate normal CDF.
//!
//! The network side sits on top: [`server`] ([`Simulator::start`], [`SimConfig`]) listens on
//! the lookup, Level 1 and admin ports and hands each connection to its port's handler
//! (`lookup_port`, `level1_port`, `admin_port`, one file each, the same shape); [`faults`]
//! holds the fault knobs ([`Faults`]) and the writer that applies them.
//!
//! Units everywhere: times are UTC nanoseconds (on whole microseconds, IQFeed's precision),
//! dates `yyyymmdd` or [`TradingDay`](xlfeed_core::TradingDay), prices in dollars on a cent
//! grid, rates and volatilities as annual decimal fractions (0.053 is 5.3%).

mod admin_port;
pub mod bsm;
mod error;
pub mod faults;
pub mod fundamentals;
mod level1_port;
mod lookup_port;
pub mod market;
pub mod options;
mod path;
mod rng;
pub mod server;
mod tables;
mod tape;
pub mod universe;

pub use error::SimError;
pub use faults::Faults;
pub use fundamentals::FundamentalsSnapshot;
pub use market::Market;
pub use options::{listed_expiries, option_tick, strike_increment};
pub use server::{RunningSimulator, ShutdownHandle, SimConfig, Simulator, default_today};
pub use universe::{DividendHabit, Instrument, SecurityKind, Universe, parse_symbol_list};
