//! xlserver: xlfeed's query server. It answers Excel (the add-in's HTTP JSON API), programs
//! (gRPC) and administrators (HTTP admin routes) from SSDB-FEED and SSDB-POST, and runs the
//! one-command demo.
//!
//! # Layout
//!
//! - [`query`]: the transport-neutral QueryService (history, ticks, quote, chain, option,
//!   dividends, rate, fundamentals, search, compare), reading the stores through a cache of
//!   decoded chunks ([`query::data`]).
//! - [`table`]: the tabular answer every function returns, rendered for Excel.
//! - [`error`]: one error type, mapped to HTTP statuses, gRPC codes and Excel error values.
//! - [`metrics`]: Prometheus metrics.

pub mod auth;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod query;
pub mod table;
pub mod tls;
