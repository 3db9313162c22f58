//! xlfeed-core: the domain types every stage of the flow shares.
//!
//! # Layout
//!
//! - [`error`]: [`ErrorKind`], the one failure classification, and [`ParseError`].
//! - [`symbol`]: [`Symbol`], a validated ticker.
//! - [`day`]: [`TradingDay`], the session date that partitions every store.
//! - [`datetime`]: the one parser of written dates, times of day and date-times, with a
//!   typed [`DateTimeError`] naming the part that is wrong.
//! - [`calendar`]: [`Nyse`], the NYSE trading calendar: which days have a [`Session`], its
//!   hours in New York time and in UTC, and the New York ↔ UTC conversion.
//! - [`option_symbol`]: [`OptionSymbol`], one option contract in IQFeed (`AAPL2417A190`) or
//!   OCC (`AAPL  240117C00190000`) form.
//! - [`range`]: [`TimeRange`] (half-open UTC nanoseconds) and [`DayRange`] (inclusive days),
//!   validated once so no stage sees a reversed range.
//! - [`excel`]: [`DateSystem`], Excel serial dates in the 1900 and 1904 systems.
//! - [`records`]: the rows the stores hold (trades, bars, quotes, option chains, dividends,
//!   rate curves, and post-processed option analytics).
//! - [`retry`]: [`Backoff`], the one retry policy (capped exponential backoff with jitter)
//!   of every loop that waits for IQFeed or a store; callers drive it with `backon`.
//! - [`fsutil`]: [`write_atomically`] and [`AtomicFile`], a file replaced whole or not at
//!   all (the keys file, run records, the fetch archive).
//!
//! No async and no network here, and no I/O but [`fsutil`]'s: the crate stays small so that
//! the pipeline, the store and the server can all depend on it.

pub mod calendar;
pub mod datetime;
pub mod day;
pub mod error;
pub mod excel;
pub mod fsutil;
pub mod option_symbol;
pub mod range;
pub mod records;
pub mod retry;
pub mod symbol;

pub use calendar::{Nyse, Session};
pub use datetime::DateTimeError;
pub use day::TradingDay;
pub use error::{ErrorKind, ParseError, quoted};
pub use excel::DateSystem;
pub use fsutil::{AtomicFile, write_atomically};
pub use option_symbol::{OptionSymbol, Right};
pub use range::{DayRange, TimeRange};
pub use records::Conditions;
pub use retry::Backoff;
pub use symbol::Symbol;
