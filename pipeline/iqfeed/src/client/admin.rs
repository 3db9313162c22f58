//! `AdminClient`: IQConnect's admin port (9300), for its `S,STATS` status line.

use std::time::Duration;

use crate::connection::{self, LineReader, LineWriter};
use crate::error::IqError;
use crate::wire::Protocol;
use crate::wire::level1::{Message, Stats, UpdateFields, parse_message};

/// A client of the admin port.
pub struct AdminClient {
    reader: LineReader,
    writer: LineWriter,
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

    /// The next `S,STATS` line IQConnect sends (it sends one every second).
    pub async fn stats(&mut self) -> Result<Stats, IqError> {
        let fields = UpdateFields::default();
        let timeout = self.timeout;
        let wait = async {
            loop {
                let Some(line) = self.reader.next_line().await? else {
                    return Err(IqError::Unavailable {
                        addr: String::new(),
                        reason: "admin connection closed".into(),
                    });
                };
                if let Ok(Message::System { kind, fields }) = parse_message(line, &fields)
                    && kind == "STATS"
                {
                    return Ok(Stats { fields });
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| IqError::Timeout {
                request: "S,STATS".into(),
                millis: timeout.as_millis(),
            })?
    }
}
