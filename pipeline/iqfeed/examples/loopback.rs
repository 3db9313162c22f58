//! The end-to-end figure of docs/BENCHMARKS.md: tick history downloaded from the simulator
//! over loopback by the client, ticks parsed into records (`Records::next_batch`), `--rounds`
//! times; prints each round and the median in ticks/s. Simulator and client share the
//! machine (and, by default, one tokio runtime with two worker threads).
//!
//! Run: `cargo run --release -p xlfeed-iqfeed --example loopback -- --days 5 --scale 10`
//! (`--symbol`, `--rounds`, `--requests N` for N requests of different symbols at once).

#![allow(clippy::expect_used)] // a benchmark: a failure to set up should stop it loudly

use std::time::{Duration, Instant};

use xlfeed_core::TradingDay;
use xlfeed_iqfeed::client::lookup::{LookupClient, LookupConfig};
use xlfeed_iqfeed::sim::{SimConfig, Simulator};
use xlfeed_iqfeed::wire::Protocol;
use xlfeed_iqfeed::wire::request::{Direction, Request, Window};

const SYMBOLS: [&str; 8] = ["SPY", "QQQ", "AAPL", "MSFT", "IWM", "NVDA", "AMZN", "TSLA"];

#[tokio::main(worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str, default: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let days: u32 = opt("--days", "5").parse().expect("--days N");
    let scale: f64 = opt("--scale", "10").parse().expect("--scale X");
    let rounds: usize = opt("--rounds", "5").parse().expect("--rounds N");
    let requests: usize = opt("--requests", "1").parse().expect("--requests N");
    let first = opt("--symbol", "SPY");

    let mut cfg = SimConfig::ephemeral(7, TradingDay::parse("2024-06-12").expect("a day"));
    cfg.tick_scale = scale;
    let sim = Simulator::start(cfg).await.expect("start the simulator");
    let client = LookupClient::connect(LookupConfig {
        addr: sim.lookup_addr().to_string(),
        protocol: Protocol::V62,
        request_timeout: Duration::from_secs(120),
        ..LookupConfig::default()
    })
    .await
    .expect("connect");
    let symbols: Vec<String> = std::iter::once(first.clone())
        .chain(
            SYMBOLS
                .iter()
                .filter(|s| **s != first)
                .map(|s| s.to_string()),
        )
        .take(requests)
        .collect();

    let mut rates = Vec::new();
    for round in 0..rounds {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for symbol in &symbols {
            let client = client.clone();
            let req = Request::TicksDays {
                symbol: symbol.clone(),
                days,
                window: Window {
                    direction: Direction::OldestFirst,
                    ..Window::default()
                },
            };
            tasks.push(tokio::spawn(async move {
                let mut records = client.ticks(&req).await.expect("request");
                let mut batch = Vec::with_capacity(8192);
                let mut n = 0usize;
                while records.next_batch(&mut batch).await.expect("ticks") {
                    n += batch.len();
                    batch.clear();
                }
                n
            }));
        }
        let mut ticks = 0;
        for t in tasks {
            ticks += t.await.expect("task");
        }
        let secs = started.elapsed().as_secs_f64();
        let rate = ticks as f64 / secs;
        println!(
            "round {round}: {ticks} ticks of {} in {secs:.3} s: {:.2} M ticks/s",
            symbols.join(","),
            rate / 1e6
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median: {:.2} M ticks/s ({days} days, tick scale {scale}, {requests} request(s) at once)",
        rates[rates.len() / 2] / 1e6
    );
    sim.shutdown().await;
}
