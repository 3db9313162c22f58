//! The admin port (9300): `S,STATS` once a second, `S,CLIENTSTATS` when asked, and the login
//! and registration commands of reference §6.3, answered as IQConnect answers them.
//!
//! An `S,STATS` line also follows each accepted `S,SET PROTOCOL`, so a client that just
//! connected need not wait a second for its first status. The simulator is always
//! "connected to DTN" unless a client sends `S,DISCONNECT` (on this port or Level 1's
//! `S,DISCONNECT` for that connection only); the login id, password and switches are kept
//! for the simulator's lifetime and reported back, never checked.

use std::io;
use std::sync::atomic::Ordering;

use chrono::NaiveDateTime;
use tokio::time::{Duration, Instant, MissedTickBehavior};
use xlfeed_core::calendar::utc_ns_to_new_york;

use super::conn::{Conn, Handshake};
use super::shared::{Shared, lock};

/// Symbols a client may watch, as `S,STATS` reports and Level 1 enforces.
pub(crate) const MAX_SYMBOLS: usize = 500;
/// The IQConnect version the simulator reports.
pub(crate) const VERSION: &str = "6.2.0.25";

/// Serves one admin connection until the client hangs up.
pub(crate) async fn serve(mut conn: Conn) -> io::Result<()> {
    let mut client_stats = false;
    let mut every_second = tokio::time::interval_at(
        Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    every_second.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let line = tokio::select! {
            line = conn.next_line() => line?,
            _ = every_second.tick() => {
                let mut buf = stats_line(&conn.shared);
                if client_stats {
                    client_stats_lines(&conn.shared, &mut buf);
                }
                conn.out.send(&buf).await?;
                continue;
            }
        };
        let Some(line) = line else {
            return Ok(());
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = conn.handshake(line).await? {
            if h == Handshake::Protocol {
                let stats = stats_line(&conn.shared);
                conn.out.send(&stats).await?;
            }
            continue;
        }
        let reply = command(&conn.shared, line, &mut client_stats);
        if !reply.is_empty() {
            conn.out.send(&reply).await?;
        }
    }
}

/// The answer to one admin command (empty when there is none).
fn command(shared: &Shared, line: &str, client_stats: &mut bool) -> Vec<u8> {
    let Some(rest) = line.strip_prefix("S,") else {
        return b"E,!SYNTAX_ERROR!,\r\n".to_vec();
    };
    let (command, value) = rest.split_once(',').unwrap_or((rest, ""));
    let value = value.trim().trim_end_matches(',');
    let on = value.eq_ignore_ascii_case("on");
    let mut admin = lock(&shared.admin);
    let text = match command.trim() {
        "CLIENTSTATS ON" => {
            *client_stats = true;
            return Vec::new();
        }
        "CLIENTSTATS OFF" => {
            *client_stats = false;
            return Vec::new();
        }
        "REGISTER CLIENT APP" => "S,REGISTER CLIENT APP COMPLETED".to_owned(),
        "REMOVE CLIENT APP" => "S,REMOVE CLIENT APP COMPLETED".to_owned(),
        "SET LOGINID" => {
            admin.login_id = value.to_owned();
            format!("S,CURRENT LOGINID,{value}")
        }
        "SET PASSWORD" => {
            admin.password = value.to_owned();
            format!("S,CURRENT PASSWORD,{value}")
        }
        "SET AUTOCONNECT" => {
            admin.autoconnect = on;
            if on {
                "S,AUTOCONNECT ON"
            } else {
                "S,AUTOCONNECT OFF"
            }
            .to_owned()
        }
        "SET SAVE LOGIN INFO" => {
            admin.save_login = on;
            if on {
                "S,LOGIN INFO SAVED"
            } else {
                "S,LOGIN INFO NOT SAVED"
            }
            .to_owned()
        }
        "CONNECT" => {
            admin.connected = true;
            "S,SERVER CONNECTED".to_owned()
        }
        "DISCONNECT" => {
            admin.connected = false;
            "S,SERVER DISCONNECTED".to_owned()
        }
        "REQUEST STATS" => {
            drop(admin);
            return stats_line(shared);
        }
        _ => return Vec::new(),
    };
    format!("{text}\r\n").into_bytes()
}

/// `MMM dd h:mmtt`, as IQConnect stamps its start and market times (`Apr 07 9:30AM`).
fn stats_time(t: NaiveDateTime) -> String {
    t.format("%b %d %-I:%M%p").to_string()
}

fn kb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1024.0)
}

/// The `S,STATS,…` line (with `\r\n`), reference §4.7's 19 fields:
/// ServerIP, ServerPort, MaxSymbols, NumSymbols, ClientsConnected, SecondsSinceLastUpdate,
/// Reconnections, AttemptedReconnections, StartTime, MarketTime, Status, IQFeedVersion,
/// LoginID, TotalKBsRecv, KBsPerSecRecv, AvgKBsPerSecRecv, TotalKBsSent, KBsPerSecSent,
/// AvgKBsPerSecSent.
pub(crate) fn stats_line(shared: &Shared) -> Vec<u8> {
    let clients = shared.clients();
    let symbols: usize = clients.iter().map(|(_, c)| c.symbols).sum();
    let (login, connected) = {
        let a = lock(&shared.admin);
        (a.login_id.clone(), a.connected)
    };
    let elapsed = shared.started.elapsed().as_secs_f64().max(1.0);
    let recv = shared.bytes_received.load(Ordering::Relaxed);
    let sent = shared.bytes_sent.load(Ordering::Relaxed);
    let start = utc_ns_to_new_york(shared.clock.start_ns());
    let fields = [
        shared.addrs.level1.ip().to_string(),
        shared.addrs.level1.port().to_string(),
        MAX_SYMBOLS.to_string(),
        symbols.to_string(),
        clients.len().to_string(),
        "0".into(),
        "0".into(),
        "0".into(),
        stats_time(start),
        stats_time(shared.clock.now_local()),
        if connected {
            "Connected"
        } else {
            "Not Connected"
        }
        .into(),
        VERSION.into(),
        login,
        kb(recv),
        format!("{:.2}", recv as f64 / 1024.0 / elapsed),
        format!("{:.2}", recv as f64 / 1024.0 / elapsed),
        kb(sent),
        format!("{:.2}", sent as f64 / 1024.0 / elapsed),
        format!("{:.2}", sent as f64 / 1024.0 / elapsed),
    ];
    let mut out = b"S,STATS,".to_vec();
    for f in fields {
        out.extend_from_slice(f.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One `S,CLIENTSTATS,Type,ClientID,ClientName,Start,Symbols,RegionalSymbols,KBSent,KBRecv,
/// KBQueued,` line per connected client.
fn client_stats_lines(shared: &Shared, out: &mut Vec<u8>) {
    for (id, c) in shared.clients() {
        out.extend_from_slice(
            format!(
                "S,CLIENTSTATS,{},{id},{},{},{},0,{},{},0.00,\r\n",
                c.port.client_type(),
                c.name,
                c.started,
                c.symbols,
                kb(c.sent.load(Ordering::Relaxed)),
                kb(c.received.load(Ordering::Relaxed)),
            )
            .as_bytes(),
        );
    }
}
