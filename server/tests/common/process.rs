//! The one place the suites start xlserver as a process: the real binary, on free ports
//! (configuration overrides in its environment), its banner read for its URL and admin token,
//! its log kept, its resident memory and CPU time read from /proc.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running xlserver process.
pub(crate) struct Server {
    /// The process.
    pub(crate) child: Child,
    /// The base URL of its HTTP side, from its banner.
    pub(crate) url: String,
    /// Its admin token, when its banner shows one.
    pub(crate) token: Option<String>,
    /// What it printed on stdout up to serving.
    pub(crate) banner: String,
    /// What it logs on stderr, as it comes.
    pub(crate) log: Arc<Mutex<String>>,
}

impl Server {
    /// Runs `xlserver args` in `cwd` with `env` (under an open-file limit when `nofile`), and
    /// waits for its banner.
    pub(crate) fn spawn(
        args: &[&str],
        env: &[(&str, String)],
        cwd: &Path,
        nofile: Option<u64>,
    ) -> Server {
        let bin = env!("CARGO_BIN_EXE_xlserver");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args)
            .current_dir(cwd)
            .env("XLFEED_SERVER__HTTP", "127.0.0.1:0")
            .env("XLFEED_SERVER__GRPC", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("xlserver starts");
        let log = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                log2.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                banner.push_str(&(line + "\n"));
                if banner.contains("Stop with ctrl-c") {
                    let _ = tx.send(banner.clone());
                }
            }
        });
        let banner = rx
            .recv_timeout(Duration::from_secs(600))
            .unwrap_or_else(|_| panic!("no banner; log:\n{}", log.lock().unwrap()));
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap()
            .to_owned();
        let token = banner
            .split_whitespace()
            .find(|w| w.starts_with("xlf_admin_"))
            .map(str::to_owned);
        Server {
            child,
            url,
            token,
            banner,
            log,
        }
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    pub(crate) fn proc_field(&self, file: &str, pick: impl Fn(&str) -> Option<u64>) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap();
        pick(&text).unwrap()
    }

    /// Resident memory, MB.
    pub(crate) fn rss_mb(&self) -> u64 {
        self.proc_field("status", |t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb / 1024)
        })
    }

    /// CPU time used so far, clock ticks (user + system).
    pub(crate) fn cpu_ticks(&self) -> u64 {
        self.proc_field("stat", |t| {
            let after = &t[t.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
    }

    /// CPU seconds used during `window`.
    pub(crate) fn cpu_during(&self, window: Duration) -> f64 {
        let a = self.cpu_ticks();
        std::thread::sleep(window);
        (self.cpu_ticks() - a) as f64 / 100.0
    }

    /// Sends SIGINT and waits up to 20 s for the process to end: its exit status, or
    /// `None` if it had to be killed.
    pub(crate) fn interrupt(&mut self) -> Option<ExitStatus> {
        self.signal("-INT")
    }

    /// Sends `signal` (`-INT`, `-TERM`) and waits up to 20 s for the process to end: its exit
    /// status, or `None` if it had to be killed.
    pub(crate) fn signal(&mut self, signal: &str) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Stops it: SIGINT, then SIGKILL after 20 s.
    pub(crate) fn stop(mut self) {
        self.interrupt();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client of `server` (sending its admin token when it has one).
pub(crate) fn client(server: &Server, timeout: Duration) -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = &server.token {
        headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .build()
        .unwrap()
}
