//! Test support: a real `redis-server` on a free loopback port, in a temporary directory.
//!
//! Tests of every crate that needs a RESP store start one with [`RedisServer::start`]; it
//! runs with `appendonly yes` so that [`RedisServer::restart`] reopens the same data, and it
//! is killed when dropped. The binary is `redis-server` on the `PATH`, or `XLFEED_REDIS_SERVER`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server owned by a test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn binary() -> String {
    std::env::var("XLFEED_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

fn spawn(port: u16, dir: &Path) -> Result<Child, String> {
    let mut child = Command::new(binary())
        .arg("--port")
        .arg(port.to_string())
        .arg("--bind")
        .arg("127.0.0.1")
        .arg("--dir")
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ])
        .args([
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {} (apt-get install redis-server): {e}",
                binary()
            )
        })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 64];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read(&mut buf)
                    .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
            {
                return Ok(child);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server on port {port} exited: {status}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "redis-server on port {port} did not answer within 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RedisServer {
    /// Starts a server on a free port in a new temporary directory.
    pub fn start() -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port().map_err(|e| format!("free port: {e}"))?;
            match spawn(port, dir.path()) {
                Ok(child) => {
                    return Ok(RedisServer {
                        child: Some(child),
                        port,
                        dir,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store URL of database `db`.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Kills the server (SIGKILL, no shutdown save) and starts it again on the same port and
    /// directory, so that only what the append-only file holds survives.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.child = Some(spawn(self.port, self.dir.path())?);
        Ok(())
    }

    /// Kills the server; the port stops answering.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
