//! `Level1Client`: watches, fundamentals, summaries and updates on port 5009.
//!
//! A reader task parses every line with the connection's current dynamic field set (it
//! follows `S,CURRENT UPDATE FIELDNAMES` lines) and queues the messages; the caller sends
//! commands and takes messages with [`Level1Client::next`].

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};

use crate::connection::{self, LineWriter};
use crate::error::IqError;
use crate::wire::Protocol;
use crate::wire::level1::{Message, UpdateFields, parse_message};

/// Messages queued before the reader waits for the caller.
const QUEUE: usize = 4096;

/// A client of the Level 1 port.
pub struct Level1Client {
    addr: String,
    writer: Mutex<LineWriter>,
    rx: Mutex<mpsc::Receiver<Result<Message, IqError>>>,
    fields: Arc<StdMutex<UpdateFields>>,
}

impl Level1Client {
    /// Connects to `addr` (default port 5009) and sets the protocol.
    pub async fn connect(
        addr: &str,
        protocol: Protocol,
        timeout: Duration,
    ) -> Result<Level1Client, IqError> {
        let (mut reader, writer) = connection::connect(addr, protocol, timeout).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let fields = Arc::new(StdMutex::new(UpdateFields::default()));
        let shared = fields.clone();
        let addr = addr.to_owned();
        let reader_addr = addr.clone();
        tokio::spawn(async move {
            let addr = reader_addr;
            loop {
                let line = match reader.next_line().await {
                    Ok(Some(l)) => l,
                    Ok(None) => {
                        let _ = tx
                            .send(Err(IqError::Unavailable {
                                addr: addr.clone(),
                                reason: "iqfeed closed the connection".into(),
                            }))
                            .await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                let current = shared.lock().map(|f| f.clone()).unwrap_or_default();
                let msg = parse_message(line, &current).map_err(IqError::from);
                if let Ok(Message::System { kind, fields }) = &msg
                    && kind == "CURRENT UPDATE FIELDNAMES"
                    && let Ok(mut f) = shared.lock()
                {
                    *f = UpdateFields::from_names(fields.iter().map(String::as_str));
                }
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        });
        Ok(Level1Client {
            addr,
            writer: Mutex::new(writer),
            rx: Mutex::new(rx),
            fields,
        })
    }

    async fn send(&self, line: &str) -> Result<(), IqError> {
        self.writer.lock().await.send(line).await
    }

    /// Watches trades and quotes of `symbol` (`w`): an `F`, a `P`, then `Q` updates.
    pub async fn watch(&self, symbol: &str) -> Result<(), IqError> {
        self.send(&format!("w{symbol}")).await
    }

    /// Watches trades only (`t`).
    pub async fn watch_trades(&self, symbol: &str) -> Result<(), IqError> {
        self.send(&format!("t{symbol}")).await
    }

    /// Stops watching `symbol` (`r`).
    pub async fn unwatch(&self, symbol: &str) -> Result<(), IqError> {
        self.send(&format!("r{symbol}")).await
    }

    /// Asks again for the `F` and `P` of a watched symbol (`f`).
    pub async fn refresh(&self, symbol: &str) -> Result<(), IqError> {
        self.send(&format!("f{symbol}")).await
    }

    /// Stops every watch.
    pub async fn unwatch_all(&self) -> Result<(), IqError> {
        self.send("S,UNWATCH ALL").await
    }

    /// Asks for one `S,STATS` message.
    pub async fn request_stats(&self) -> Result<(), IqError> {
        self.send("S,REQUEST STATS").await
    }

    /// Turns the once-a-second `T` messages on or off.
    pub async fn timestamps(&self, on: bool) -> Result<(), IqError> {
        self.send(if on {
            "S,TIMESTAMPSON"
        } else {
            "S,TIMESTAMPSOFF"
        })
        .await
    }

    /// Chooses the `P`/`Q` fields (`Symbol` is always first); acknowledged by a
    /// `S,CURRENT UPDATE FIELDNAMES` message, which the client then parses with.
    pub async fn select_update_fields(&self, names: &[&str]) -> Result<(), IqError> {
        let names: Vec<&str> = names.iter().copied().filter(|n| *n != "Symbol").collect();
        self.send(&format!("S,SELECT UPDATE FIELDS,{}", names.join(",")))
            .await
    }

    /// The field set `P`/`Q` lines are parsed with now.
    pub fn update_fields(&self) -> UpdateFields {
        self.fields.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// The next message; `None` once the connection is gone and its error was taken.
    pub async fn next(&self) -> Option<Result<Message, IqError>> {
        self.rx.lock().await.recv().await
    }

    /// Waits up to `timeout` for the next message that `want` accepts, skipping others.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut want: impl FnMut(&Message) -> Option<T>,
    ) -> Result<T, IqError> {
        let waiting = async {
            loop {
                match self.next().await {
                    Some(Ok(m)) => {
                        if let Some(t) = want(&m) {
                            return Ok(t);
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(IqError::Unavailable {
                            addr: self.addr.clone(),
                            reason: "level 1 connection closed".into(),
                        });
                    }
                }
            }
        };
        tokio::time::timeout(timeout, waiting)
            .await
            .map_err(|_| IqError::Timeout {
                request: "level 1 message".into(),
                millis: timeout.as_millis(),
            })?
    }
}
