//! `AdminClient`: IQConnect's admin port (9300): its `S,STATS` status line, every other
//! system message it sends (`S,CLIENTSTATS,…` once they are switched on), and the commands
//! it takes.

use std::time::Duration;

use crate::connection::{self, LineReader, LineWriter};
use crate::error::IqError;
use crate::wire::Protocol;
use crate::wire::level1::{Message, Stats, UpdateFields, parse_message};

/// A client of the admin port.
pub struct AdminClient {
    reader: LineReader,
    writer: LineWriter,
    addr: String,
    timeout: Duration,
}

impl AdminClient {
    /// Connects to `addr` (default port 9300) and sets the protocol.
    pub async fn connect(
        addr: &str,
        protocol: Protocol,
        timeout: Duration,
    ) -> Result<AdminClient, IqError> {
        let (reader, writer) = connection::connect(addr, protocol, timeout).await?;
        Ok(AdminClient {
            reader,
            writer,
            addr: addr.to_owned(),
            timeout,
        })
    }

    /// Sends `S,CLIENTSTATS ON|OFF`.
    pub async fn client_stats(&mut self, on: bool) -> Result<(), IqError> {
        self.writer
            .send(if on {
                "S,CLIENTSTATS ON"
            } else {
                "S,CLIENTSTATS OFF"
            })
            .await
    }

    /// Sends a system command (`S,…`, e.g. `S,REQUEST STATS`); its answer comes as a
    /// message ([`AdminClient::next_message`]).
    pub async fn command(&mut self, line: &str) -> Result<(), IqError> {
        self.writer.send(line).await
    }

    /// The next message IQConnect sends on this port (a `System` message: `STATS`,
    /// `CLIENTSTATS`, `CURRENT PROTOCOL`, …), waiting up to the timeout.
    pub async fn next_message(&mut self) -> Result<Message, IqError> {
        let fields = UpdateFields::default();
        let (timeout, addr) = (self.timeout, &self.addr);
        let reader = &mut self.reader;
        let wait = async {
            let Some(line) = reader.next_line().await? else {
                return Err(IqError::Unavailable {
                    addr: addr.clone(),
                    reason: "iqfeed closed the admin connection".into(),
                });
            };
            Ok(parse_message(line, &fields)?)
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| IqError::Timeout {
                request: "admin message".into(),
                millis: timeout.as_millis(),
            })?
    }

    /// The next `S,STATS` line IQConnect sends (it sends one every second), skipping other
    /// messages.
    pub async fn stats(&mut self) -> Result<Stats, IqError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = tokio::time::timeout(left, self.next_message()).await;
            match msg {
                Ok(Ok(Message::System { kind, fields })) if kind == "STATS" => {
                    return Ok(Stats { fields });
                }
                Ok(Ok(_)) => {}
                Ok(Err(e @ (IqError::Unavailable { .. } | IqError::Timeout { .. }))) => {
                    return Err(e);
                }
                // A line that does not parse is not the stats line; keep waiting.
                Ok(Err(_)) => {}
                Err(_) => {
                    return Err(IqError::Timeout {
                        request: "S,STATS".into(),
                        millis: self.timeout.as_millis(),
                    });
                }
            }
        }
    }
}
