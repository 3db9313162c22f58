//! The ceiling for xlserver's benchmark (scripts/bench-server): the same chunks the server's
//! answers need, read straight from the store and decoded in a loop, with no HTTP, no
//! routing, no JSON and no cache. Prints reads per second for each workload, as JSON.
//!
//! ```sh
//! cargo run --release -p xlfeed-server --example raw_read -- embedded://DIR/feed embedded://DIR/post [seconds]
//! ```
//!
//! Workloads (what one request of the benchmark reads):
//! - `history_1y`: AAPL's daily bars over 2023-07-03..2024-06-28 (one chunk per day);
//! - `quote`: SPY's trades of its last day (the chunk a quote is computed from);
//! - `chain`: SPY's chain in FEED and its enriched trades and daily aggregates in POST for
//!   its last day.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use xlfeed_core::TradingDay;
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store};

async fn keys(
    store: &Store,
    ds: Dataset,
    kind: Kind,
    sym: &str,
    from: &str,
    to: &str,
) -> Vec<ChunkKey> {
    let s = sym.parse().unwrap();
    store
        .days(
            ds,
            kind,
            &s,
            TradingDay::parse(from).unwrap(),
            TradingDay::parse(to).unwrap(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|d| ChunkKey::new(ds, kind, sym.parse().unwrap(), d))
        .collect()
}

/// Reads and decodes `groups` (one group = one request's chunks) for `secs` seconds with
/// `tasks` concurrent readers; requests per second.
async fn run(stores: &[(Store, Vec<ChunkKey>)], secs: f64, tasks: usize) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let stores: Vec<(Store, Vec<ChunkKey>)> = stores.to_vec();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                for (store, keys) in &stores {
                    for chunk in store.get_chunks(keys).await.unwrap().into_iter().flatten() {
                        std::hint::black_box(Records::decode(&chunk).unwrap());
                    }
                }
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total as f64 / secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let feed = Store::open(&args[1]).await.unwrap();
    let post = if args[2] == args[1] {
        feed.clone()
    } else {
        Store::open(&args[2]).await.unwrap()
    };
    let secs: f64 = args.get(3).map_or(10.0, |s| s.parse().unwrap());
    let last = "2024-06-28";
    let history = keys(
        &feed,
        Dataset::Feed,
        Kind::Daily,
        "AAPL",
        "2023-07-03",
        last,
    )
    .await;
    let quote = keys(&feed, Dataset::Feed, Kind::Trade, "SPY", last, last).await;
    let chain = vec![
        (
            feed.clone(),
            keys(&feed, Dataset::Feed, Kind::Chain, "SPY", last, last).await,
        ),
        (
            post.clone(),
            keys(&post, Dataset::Post, Kind::EnrichedTrade, "SPY", last, last).await,
        ),
        (
            post.clone(),
            keys(&post, Dataset::Post, Kind::ContractDaily, "SPY", last, last).await,
        ),
    ];
    assert!(history.len() > 200 && quote.len() == 1 && chain.iter().all(|(_, k)| k.len() == 1));
    let h = run(&[(feed.clone(), history)], secs, 8).await;
    let q = run(&[(feed.clone(), quote)], secs, 8).await;
    let c = run(&chain, secs, 8).await;
    println!(
        "{}",
        serde_json::json!({"history_1y": h, "quote": q, "chain": c})
    );
}
