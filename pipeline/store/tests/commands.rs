//! The RESP backend sends only the commands SSDB, Kvrocks and Redis implement the same way
//! (docs/storage.md, "Commands"): every store operation runs against a real redis-server and
//! a real cluster, and the servers' own `INFO commandstats` must name nothing else. A URL
//! with a database other than 0 fails at open, saying what to do, on a server without SELECT.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;

use xlfeed_core::{ErrorKind, Symbol, TradingDay};
use xlfeed_store::migrate::migrate;
use xlfeed_store::resp_commands::{CLUSTER_COMMANDS, COMMANDS, SELECT};
use xlfeed_store::synth::{self, EVERY_KIND};
use xlfeed_store::testing::{RedisServer, TestStore};
use xlfeed_store::{ChunkKey, Dataset, Kind, Store, StoreError, StoreUrl};

/// Commands the test harness itself sends (resetting and reading the statistics, waiting for
/// the cluster) and those servers send each other to replicate: not the backend's.
const NOT_OURS: &[&str] = &[
    "info",
    "config|resetstat",
    "cluster|info",
    "replconf",
    "psync",
    "sync",
];

/// A test store's servers.
fn servers(b: &TestStore) -> Vec<&RedisServer> {
    match b {
        TestStore::Redis { server } => vec![server],
        TestStore::Cluster { cluster } => cluster.nodes.iter().collect(),
        TestStore::Embedded { .. } => unreachable!("only RESP stores count commands"),
    }
}

/// The commands `servers` ran since their statistics were reset, less the harness's.
fn counted(servers: &[&RedisServer]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for server in servers {
        for line in server.cli(&["info", "commandstats"]).unwrap().lines() {
            // cmdstat_zadd:calls=12,usec=…
            if let Some((name, stats)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
                && !stats.starts_with("calls=0,")
                && !NOT_OURS.contains(&name)
            {
                seen.insert(name.to_owned());
            }
        }
    }
    seen
}

fn reset(servers: &[&RedisServer]) {
    for server in servers {
        server.cli(&["config", "resetstat"]).unwrap();
    }
}

fn day(s: &str) -> TradingDay {
    TradingDay::parse(s).unwrap()
}

/// Every operation of the Store API, and a migration from key layout 1 (the operations only
/// a migration uses), on the store `b`.
async fn every_operation(b: &TestStore) {
    let old = vec![
        (Dataset::Feed, "otrade", "SPY", 20240102, {
            synth::records(Kind::OptionTrade, 20, 1).encode()
        }),
        (Dataset::Feed, "trade", "SPY", 20240102, {
            synth::records(Kind::Trade, 20, 2).encode()
        }),
    ];
    b.write_layout1(&old).await;
    reset(&servers(b));

    let url = b.url();
    let refused = Store::open(&url).await.err().expect("layout 1 is refused");
    assert!(matches!(refused, StoreError::OldLayout { .. }), "{refused}");
    let done = migrate(StoreUrl::parse(&url).unwrap()).await.unwrap();
    assert_eq!(done.from, 1);

    let store = b.open().await;
    let aapl = Symbol::parse("AAPL").unwrap();
    for (i, &kind) in EVERY_KIND.iter().enumerate() {
        for d in ["2024-01-02", "2024-01-03"] {
            let k = ChunkKey::new(Dataset::Feed, kind, aapl.clone(), day(d));
            store
                .put(&k, &synth::records(kind, 30, i as u64))
                .await
                .unwrap();
        }
    }
    let k = ChunkKey::new(Dataset::Feed, Kind::Trade, aapl.clone(), day("2024-01-02"));
    assert!(store.get(&k).await.unwrap().is_some());
    assert_eq!(
        store
            .get_chunks(std::slice::from_ref(&k))
            .await
            .unwrap()
            .len(),
        1
    );
    let days = store
        .days(
            Dataset::Feed,
            Kind::Trade,
            &aapl,
            day("2024-01-01"),
            day("2024-01-31"),
        )
        .await
        .unwrap();
    assert_eq!(days.len(), 2);
    assert!(!store.stats(Dataset::Feed).await.unwrap().kinds.is_empty());
    assert!(store.verify(Dataset::Feed).await.unwrap().is_empty());
    // The last day of a series: the symbol leaves the registry too.
    for d in ["2024-01-02", "2024-01-03"] {
        let k = ChunkKey::new(Dataset::Feed, Kind::Quote, aapl.clone(), day(d));
        assert!(store.delete(&k).await.unwrap());
    }
    assert!(
        !store
            .symbols(Dataset::Feed, Kind::Quote)
            .await
            .unwrap()
            .contains(&aapl)
    );
}

/// Runs every operation on `b`; the commands its servers counted must be exactly `allowed`.
async fn only_listed_commands(b: TestStore, allowed: BTreeSet<String>) {
    every_operation(&b).await;
    let seen = counted(&servers(&b));
    let unlisted: Vec<&String> = seen.difference(&allowed).collect();
    assert!(
        unlisted.is_empty(),
        "the RESP backend sent {unlisted:?}, which is not on the documented list \
         (backend/resp.rs COMMANDS, docs/storage.md): is it the same on SSDB and Kvrocks?"
    );
    // Every listed command was seen: the list is not stale and this test exercised it.
    let unseen: Vec<&String> = allowed.difference(&seen).collect();
    assert!(unseen.is_empty(), "listed but never sent: {unseen:?}");
}

fn listed(extra: &[&str]) -> BTreeSet<String> {
    COMMANDS
        .iter()
        .chain(extra)
        .map(|c| (*c).to_owned())
        .collect()
}

#[tokio::test]
async fn on_redis_server_only_listed_commands_are_sent() {
    only_listed_commands(TestStore::redis(), listed(&[])).await;
}

#[tokio::test]
async fn on_a_cluster_only_listed_commands_are_sent() {
    only_listed_commands(TestStore::cluster(), listed(CLUSTER_COMMANDS)).await;
}

/// Commands named in the backend's source, `cmd("…")`, must all be listed: this also covers
/// paths the operations above may not reach.
#[test]
fn every_command_in_the_backend_source_is_listed() {
    let source = include_str!("../src/backend/resp.rs");
    let mut named = BTreeSet::new();
    for part in source.split("cmd(\"").skip(1) {
        let name = part.split('"').next().unwrap();
        // A command name; the doc comment's `cmd("…")` is not one.
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()) {
            named.insert(name.to_ascii_lowercase());
        }
    }
    assert!(
        named.len() >= 8,
        "found only {named:?}: has the source changed shape?"
    );
    let unlisted: Vec<&String> = named
        .iter()
        .filter(|n| !COMMANDS.contains(&n.as_str()))
        .collect();
    assert!(unlisted.is_empty(), "resp.rs sends unlisted {unlisted:?}");
}

#[tokio::test]
async fn a_database_needs_select_and_a_server_without_it_is_refused_at_open() {
    // A server with SELECT: database 1 opens, and SELECT is the only extra command.
    let b = TestStore::redis();
    let TestStore::Redis { server } = &b else {
        unreachable!()
    };
    reset(&[server]);
    let store = Store::open(&server.url(1)).await.unwrap();
    let k = ChunkKey::new(
        Dataset::Feed,
        Kind::Trade,
        Symbol::parse("AAPL").unwrap(),
        day("2024-01-02"),
    );
    store
        .put(&k, &synth::records(Kind::Trade, 5, 1))
        .await
        .unwrap();
    assert!(counted(&[server]).contains(SELECT));
    drop(store);

    // As on SSDB: no SELECT at all.
    let ssdb_like = RedisServer::start_with(&["--rename-command", "SELECT", ""]).unwrap();
    let url = ssdb_like.url(1);
    let err = Store::open(&url)
        .await
        .err()
        .expect("database 1 must be refused");
    assert!(matches!(err, StoreError::BadUrl { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let msg = err.to_string();
    for want in [
        "database 1 needs SELECT",
        "unknown command",
        "use database 0",
        "\"feed:\"",
    ] {
        assert!(
            msg.to_lowercase().contains(&want.to_lowercase()),
            "{want:?} not in {msg}"
        );
    }
    assert!(msg.len() < 600, "{msg}");
    println!("database 1 on a server without SELECT: {msg}");
    // Database 0 of the same server works.
    let store = Store::open(&ssdb_like.url(0)).await.unwrap();
    store
        .put(&k, &synth::records(Kind::Trade, 5, 1))
        .await
        .unwrap();
    assert!(store.get(&k).await.unwrap().is_some());
}
