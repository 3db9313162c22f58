//! What the server's integration tests share: the one place that starts xlserver, in process
//! ([`App`], [`shared`]) or as a process ([`Server`]), on each store; and the OpenAPI contract
//! every response the suites see is checked against ([`Contract`]).

#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

mod app;
mod contract;
mod process;

pub(crate) use app::{App, Data, On, Shared, TODAY, config, demo_args, serve_on, shared};
pub(crate) use contract::{Checked, Contract};
pub(crate) use process::{Server, client};
