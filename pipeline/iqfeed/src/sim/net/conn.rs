//! One client connection, the type every port's handler is served: its socket (read as
//! command lines, written through the fault [`Sink`]), its protocol, its entry in the client
//! list, and the `S,SET PROTOCOL` / `S,SET CLIENT NAME` handshake every port answers the same
//! way.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

use super::faults::Sink;
use super::server::Port;
use super::shared::{ClientInfo, Shared};
use crate::sim::market::rng::Rng;
use crate::wire::{LineSplitter, Protocol};

/// Longest command line a client may send before the simulator hangs up on it.
const MAX_REQUEST_LINE: usize = 64 * 1024;
/// Bytes read from a client socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// One client connection: its socket, its protocol, and its entry in the client list.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    pub(crate) out: Sink,
    pub(crate) protocol: Protocol,
    pub(crate) port: Port,
    pub(crate) id: u64,
    reader: OwnedReadHalf,
    split: LineSplitter,
    chunk: Vec<u8>,
    received: Arc<AtomicU64>,
}

/// What a handshake line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// `S,SET PROTOCOL` accepted (and answered).
    Protocol,
    /// `S,SET PROTOCOL` rejected (and answered with the error).
    Rejected,
    /// `S,SET CLIENT NAME` (no answer).
    ClientName,
}

impl Conn {
    pub(super) fn new(stream: TcpStream, port: Port, shared: Arc<Shared>) -> Conn {
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let id = shared.next_client_id();
        let faults = &shared.config.faults;
        let fragment = faults
            .fragment_writes
            .then(|| Rng::stream(shared.config.seed, "fragment", id as u32, "writes"));
        let drop_after = if port == Port::Lookup {
            faults.drop_after_lines
        } else {
            None
        };
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let out = Sink::new(
            writer,
            fragment,
            drop_after,
            sent.clone(),
            shared.bytes_sent.clone(),
        );
        let started = shared.clock.now_local().format("%Y%m%d %H%M%S").to_string();
        shared.add_client(
            id,
            ClientInfo {
                port,
                name: String::new(),
                started,
                symbols: 0,
                sent,
                received: received.clone(),
            },
        );
        Conn {
            shared,
            out,
            protocol: Protocol::V62,
            port,
            id,
            reader,
            split: LineSplitter::new(),
            chunk: vec![0; READ_CHUNK],
            received,
        }
    }

    /// The next command line without its terminator (`\r\n` or `\n`); `None` when the
    /// client closed the socket. Cancel-safe: a line is never lost to a dropped call.
    pub(crate) async fn next_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(line) = self.split.next_line() {
                return Ok(Some(String::from_utf8_lossy(line).into_owned()));
            }
            if self.split.pending() > MAX_REQUEST_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("command line longer than {MAX_REQUEST_LINE} bytes"),
                ));
            }
            let n = self.reader.read(&mut self.chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.received.fetch_add(n as u64, Ordering::Relaxed);
            self.shared
                .bytes_received
                .fetch_add(n as u64, Ordering::Relaxed);
            self.split.push(&self.chunk[..n]);
        }
    }

    /// Answers the commands every port shares: `S,SET PROTOCOL,x` (→ `S,CURRENT PROTOCOL,x`,
    /// or `E,x is not a valid protocol.,`) and `S,SET CLIENT NAME,name` (silently). `None`
    /// for any other line.
    pub(crate) async fn handshake(&mut self, line: &str) -> io::Result<Option<Handshake>> {
        let mut parts = line.splitn(3, ',');
        if parts.next() != Some("S") {
            return Ok(None);
        }
        let command = parts.next().unwrap_or("").trim();
        let value = parts.next().unwrap_or("").trim().trim_end_matches(',');
        match command {
            "SET PROTOCOL" => match Protocol::parse(value) {
                Some(p) if p <= self.shared.config.max_protocol => {
                    self.protocol = p;
                    self.out
                        .send(format!("S,CURRENT PROTOCOL,{p}\r\n").as_bytes())
                        .await?;
                    Ok(Some(Handshake::Protocol))
                }
                _ => {
                    self.out
                        .send(format!("E,{value} is not a valid protocol.,\r\n").as_bytes())
                        .await?;
                    Ok(Some(Handshake::Rejected))
                }
            },
            "SET CLIENT NAME" => {
                let name = value.to_owned();
                self.shared.update_client(self.id, |c| c.name = name);
                Ok(Some(Handshake::ClientName))
            }
            _ => Ok(None),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.shared.remove_client(self.id);
    }
}
