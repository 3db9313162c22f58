//! What the server's integration tests share: a configuration for a server on free loopback
//! ports whose own files (run records) stay in the test's temporary folder.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use xlfeed_server::config::Config;

/// The default configuration, on ports 0, keeping its runs under `dir`.
pub(crate) fn config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.http = "127.0.0.1:0".into();
    c.server.grpc = "127.0.0.1:0".into();
    c.runs.dir = dir.join("runs");
    c.security.keys_file = Some(dir.join("no-keys.json"));
    c
}
