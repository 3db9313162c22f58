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
//! - [`http`]: the JSON API for Excel, the batch endpoint, OpenAPI, health, metrics, admin.
//! - [`grpc`]: the same service over gRPC (`xlfeed.v1.QueryService`), health, reflection.
//! - [`auth`], [`tls`]: API keys and roles, rate limit, CORS; rustls from PEM files.
//! - [`config`]: the TOML file and its environment overrides.
//! - [`listen`]: accepting connections, with their timeouts and cap; [`meter`]: what answering
//!   may cost, and calls stopped when their request is gone.
//! - [`serve`]: the two listeners put together; [`demo`]: the one-command demo.
//! - [`addin`]: the Excel add-in's files and its manifest, rendered for the server's origin.

pub mod auth;
pub mod config;
pub mod demo;
pub mod error;
pub mod grpc;
pub mod http;
pub mod listen;
pub mod meter;
pub mod metrics;
pub mod query;
pub mod report;
pub mod runs;
pub mod serve;
pub mod table;
pub mod tls;
