//! xlfeed-iqfeed: talking to DTN IQFeed's IQConnect, and pretending to be it.
//!
//! # Layout
//!
//! - [`wire`]: the line format of every port, parsed and formatted without allocation per
//!   field: [`wire::LineSplitter`] (framing), [`wire::lookup`] (reply lines of port 9100),
//!   [`wire::history`] (ticks, bars, daily data), [`wire::num`] (numbers, dates, Eastern time).
//!
//! The reference for every format is `shared/reference/iqfeed-protocol.md`.

pub mod wire;
