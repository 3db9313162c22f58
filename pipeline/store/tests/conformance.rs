//! The store conformance suite: every backend must pass every case.
//!
//! Each case is an async function over a [`Backend`] fixture; the `conformance!` macro runs
//! it against the embedded store (fjall in a temp dir) and against a real `redis-server`
//! started on a free port with append-only persistence.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xlfeed_core::records::{Lineage, Trade};
use xlfeed_core::{ErrorKind, Symbol, TradingDay};
use xlfeed_store::migrate::migrate;
use xlfeed_store::synth::{self, EVERY_KIND};
use xlfeed_store::testing::{Layout1Chunk, RedisServer, TestStore as Backend};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store, StoreError, StoreUrl};

/// Overwrites the raw bytes at a chunk key, bypassing the Store API's checks. The store
/// handle must have been dropped (the embedded store allows one process, one handle).
async fn write_raw(b: &Backend, key: &ChunkKey, bytes: Vec<u8>) {
    b.raw_set(&key.chunk_key(), &bytes).await;
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn day(s: &str) -> TradingDay {
    TradingDay::parse(s).unwrap()
}

fn key(kind: Kind, symbol: &str, d: &str) -> ChunkKey {
    ChunkKey::new(Dataset::Feed, kind, sym(symbol), day(d))
}

async fn round_trip_every_kind(b: Backend) {
    let store = b.open().await;
    for (i, &kind) in EVERY_KIND.iter().enumerate() {
        for (n, ds) in [
            (0usize, Dataset::Feed),
            (1, Dataset::Post),
            (1000, Dataset::Feed),
        ] {
            let rows = synth::records(kind, n, i as u64 + 7);
            let k = ChunkKey::new(ds, kind, sym("AAPL"), day("2024-01-02"));
            store.put(&k, &rows).await.unwrap();
            let back = store.get(&k).await.unwrap().unwrap();
            assert_eq!(back, rows, "{kind} with {n} rows");
        }
    }
    assert_eq!(
        store.kinds(Dataset::Feed).await.unwrap().len(),
        EVERY_KIND.len()
    );
    let trades: Vec<Trade> = store
        .get_rows(&key(Kind::Trade, "AAPL", "2024-01-02"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trades.len(), 1000);
    // Typed reads of the wrong record type say what the chunk holds.
    let err = store
        .get_rows::<Trade>(&key(Kind::Quote, "AAPL", "2024-01-02"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("quote"), "{err}");
    // A chunk of the wrong schema for its kind is refused before it is written.
    let wrong = synth::records(Kind::Quote, 3, 1);
    let err = store
        .put(&key(Kind::Trade, "MSFT", "2024-01-02"), &wrong)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        store
            .all_days(Dataset::Feed, Kind::Trade, &sym("MSFT"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn overwrite_is_idempotent(b: Backend) {
    let store = b.open().await;
    let k = key(Kind::Trade, "SPY", "2024-03-01");
    let first = synth::records(Kind::Trade, 500, 1);
    let second = synth::records(Kind::Trade, 300, 2);
    store.put(&k, &first).await.unwrap();
    let bytes1 = store.get_chunks(std::slice::from_ref(&k)).await.unwrap();
    store.put(&k, &first).await.unwrap();
    let bytes2 = store.get_chunks(std::slice::from_ref(&k)).await.unwrap();
    assert_eq!(bytes1, bytes2, "the same rows encode to the same bytes");
    store.put(&k, &second).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap().unwrap(), second);
    let days = store
        .all_days(Dataset::Feed, Kind::Trade, &sym("SPY"))
        .await
        .unwrap();
    assert_eq!(days, vec![day("2024-03-01")]);
    let stats = store.stats(Dataset::Feed).await.unwrap();
    let t = stats.kinds[&Kind::Trade];
    assert_eq!((t.series, t.chunks), (1, 1));
    assert_eq!(t.bytes, second.encode().len() as u64);
}

async fn range_listing_at_the_edges(b: Backend) {
    let store = b.open().await;
    let days = [
        "2023-12-29",
        "2024-01-02",
        "2024-01-03",
        "2024-01-05",
        "2024-02-01",
    ];
    let items = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                key(Kind::Bar(60), "QQQ", d),
                synth::records(Kind::Bar(60), 10, i as u64).encode(),
            )
        })
        .collect();
    store.put_chunks(items).await.unwrap();
    // Another symbol sharing a prefix must not leak into the listing.
    store
        .put(
            &key(Kind::Bar(60), "QQQM", "2024-01-04"),
            &synth::records(Kind::Bar(60), 5, 9),
        )
        .await
        .unwrap();
    let q = sym("QQQ");
    let get = |a: &str, z: &str| store.days(Dataset::Feed, Kind::Bar(60), &q, day(a), day(z));
    assert_eq!(
        get("2024-01-02", "2024-01-05").await.unwrap(),
        vec![day("2024-01-02"), day("2024-01-03"), day("2024-01-05")]
    );
    assert_eq!(
        get("2024-01-03", "2024-01-03").await.unwrap(),
        vec![day("2024-01-03")]
    );
    assert_eq!(get("2024-01-04", "2024-01-04").await.unwrap(), vec![]);
    assert_eq!(
        get("2023-12-30", "2024-01-02").await.unwrap(),
        vec![day("2024-01-02")]
    );
    assert_eq!(
        get("1990-01-01", "2023-12-29").await.unwrap(),
        vec![day("2023-12-29")]
    );
    assert_eq!(
        get("2024-02-01", "2035-12-31").await.unwrap(),
        vec![day("2024-02-01")]
    );
    assert_eq!(get("2024-02-02", "2035-12-31").await.unwrap(), vec![]);
    assert_eq!(
        store
            .all_days(Dataset::Feed, Kind::Bar(60), &q)
            .await
            .unwrap()
            .len(),
        5
    );
    let err = get("2024-01-05", "2024-01-02").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("2024-01-05"), "{err}");
    // Other datasets and kinds are separate series.
    assert!(
        store
            .all_days(Dataset::Post, Kind::Bar(60), &q)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .all_days(Dataset::Feed, Kind::Bar(300), &q)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.symbols(Dataset::Feed, Kind::Bar(60)).await.unwrap(),
        vec![sym("QQQ"), sym("QQQM")]
    );
    assert!(
        store
            .symbols(Dataset::Feed, Kind::Trade)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn delete_removes_a_day(b: Backend) {
    let store = b.open().await;
    let k1 = key(Kind::Trade, "IWM", "2024-01-02");
    let k2 = key(Kind::Trade, "IWM", "2024-01-03");
    for k in [&k1, &k2] {
        store
            .put(k, &synth::records(Kind::Trade, 50, 3))
            .await
            .unwrap();
    }
    assert!(store.delete(&k1).await.unwrap());
    assert!(
        !store.delete(&k1).await.unwrap(),
        "a second delete finds nothing"
    );
    assert_eq!(store.get(&k1).await.unwrap(), None);
    assert_eq!(
        store
            .all_days(Dataset::Feed, Kind::Trade, &sym("IWM"))
            .await
            .unwrap(),
        vec![day("2024-01-03")]
    );
    assert!(store.delete(&k2).await.unwrap());
    assert!(
        store
            .symbols(Dataset::Feed, Kind::Trade)
            .await
            .unwrap()
            .is_empty(),
        "an emptied series leaves the symbol list"
    );
    assert_eq!(store.stats(Dataset::Feed).await.unwrap().total().chunks, 0);
}

async fn corrupt_chunk_is_reported_with_its_key(b: Backend) {
    let k = key(Kind::Trade, "MSFT", "2024-01-02");
    let good = key(Kind::Trade, "MSFT", "2024-01-03");
    let bytes = {
        let store = b.open().await;
        let rows = synth::records(Kind::Trade, 2000, 5);
        store.put(&k, &rows).await.unwrap();
        store.put(&good, &rows).await.unwrap();
        store
            .get_chunks(std::slice::from_ref(&k))
            .await
            .unwrap()
            .pop()
            .unwrap()
            .unwrap()
    };
    let damages: Vec<(&str, Vec<u8>)> = vec![
        ("flipped body byte", {
            let mut v = bytes.clone();
            let i = v.len() / 2;
            v[i] ^= 0x40;
            v
        }),
        ("truncated", bytes[..bytes.len() - 7].to_vec()),
        ("bad magic", [b"XXXX".as_slice(), &bytes[4..]].concat()),
        ("empty", Vec::new()),
    ];
    for (what, damaged) in damages {
        write_raw(&b, &k, damaged).await;
        let store = b.open().await;
        let err = store.get(&k).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
        assert!(
            err.to_string().contains("{feed:trade:MSFT}:20240102"),
            "{what}: {err}"
        );
        let err = store.get_rows::<Trade>(&k).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{what}: {err}");
        let bad = store.verify(Dataset::Feed).await.unwrap();
        assert_eq!(bad.len(), 1, "{what}: only the damaged day is reported");
        assert_eq!(bad[0].0, k);
        assert!(
            store.get(&good).await.unwrap().is_some(),
            "{what}: other days still read"
        );
    }
}

async fn reopen_keeps_every_committed_day(b: Backend) {
    let rows = synth::records(Kind::Trade, 1000, 11);
    {
        let store = b.open().await;
        store
            .put(&key(Kind::Trade, "AAPL", "2024-01-02"), &rows)
            .await
            .unwrap();
    }
    let b = match b {
        Backend::Redis { mut server } => {
            server.restart().unwrap();
            Backend::Redis { server }
        }
        other => other,
    };
    let store = b.open().await;
    assert_eq!(
        store
            .get(&key(Kind::Trade, "AAPL", "2024-01-02"))
            .await
            .unwrap(),
        Some(rows)
    );
}

async fn killed_writer_leaves_a_decodable_store(b: Backend) {
    let url = b.url();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writer_child",
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .env("XLFEED_WRITER_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the child to report a committed batch, then kill it in the middle of a later
    // one (a batch takes far longer to write than the pause below).
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut committed = 0usize;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("committed ") {
                committed = n.trim().parse().unwrap();
                let _ = tx.send(committed);
            }
        }
        committed
    });
    let first = rx.recv_timeout(Duration::from_secs(60));
    assert!(first.is_ok(), "the writer committed nothing within 60 s");
    tokio::time::sleep(Duration::from_millis(137)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the writer stopped by itself"
    );
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let committed = reader.join().unwrap();
    assert!(
        committed >= 1,
        "the writer committed nothing before it was killed"
    );
    let b = match b {
        Backend::Redis { mut server } => {
            server.restart().unwrap();
            Backend::Redis { server }
        }
        other => other,
    };
    let store = b.open().await;
    let bad = store.verify(Dataset::Feed).await.unwrap();
    assert!(bad.is_empty(), "indexed days that do not decode: {bad:?}");
    let days = store
        .all_days(Dataset::Feed, Kind::Trade, &sym("KILL"))
        .await
        .unwrap();
    assert!(
        days.len() >= committed * WRITER_BATCH,
        "{} days indexed, but the writer reported {} committed",
        days.len(),
        committed * WRITER_BATCH
    );
}

/// Days per batch the killed writer commits.
const WRITER_BATCH: usize = 8;

/// The writer process of the kill -9 case: commits batches of days until it is killed.
#[ignore = "runs only as the child process of killed_writer_leaves_a_decodable_store"]
#[tokio::test]
async fn writer_child() {
    let Ok(url) = std::env::var("XLFEED_WRITER_URL") else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let mut d = day("2010-01-04");
    for batch in 1.. {
        let mut items = Vec::new();
        for _ in 0..WRITER_BATCH {
            let rows = synth::records(Kind::Trade, 20_000, u64::from(d.yyyymmdd()));
            items.push((
                ChunkKey::new(Dataset::Feed, Kind::Trade, sym("KILL"), d),
                rows.encode(),
            ));
            d = d.succ().unwrap();
        }
        store.put_chunks(items).await.unwrap();
        println!("committed {batch}");
    }
}

#[tokio::test]
async fn unreachable_store_fails_fast_naming_the_url() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let t = Instant::now();
    let err = Store::open(&url).await.err().expect("open must fail");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&url), "{err}");

    // A port that accepts connections but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis://127.0.0.1:{}/0",
        silent.local_addr().unwrap().port()
    );
    let t = Instant::now();
    let err = Store::open(&url).await.err().expect("open must fail");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&url), "{err}");

    // Malformed URLs are the caller's mistake, named.
    for bad in [
        "ftp://x",
        "redis://",
        "embedded://",
        "redis://127.0.0.1:notaport/0",
    ] {
        let err = Store::open(bad).await.err().expect("must fail");
        assert!(err.to_string().contains(bad), "{bad}: {err}");
    }

    // An embedded store whose directory cannot be created.
    let file = tempfile::NamedTempFile::new().unwrap();
    let url = format!("embedded://{}/sub", file.path().display());
    let err = Store::open(&url).await.err().expect("must fail");
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
async fn redis_server_death_after_open_is_an_error_not_a_hang() {
    let mut server = RedisServer::start().unwrap();
    let store = Store::open(&server.url(0)).await.unwrap();
    let k = key(Kind::Trade, "AAPL", "2024-01-02");
    store
        .put(&k, &synth::records(Kind::Trade, 10, 1))
        .await
        .unwrap();
    server.kill();
    let t = Instant::now();
    let err = store.get(&k).await.unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(40),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&server.url(0)), "{err}");
    let err = store
        .put(&k, &synth::records(Kind::Trade, 10, 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

async fn data_on_closed_days_is_kept(b: Backend) {
    // The calendar says these were closed; data that exists for them is still stored.
    let store = b.open().await;
    let closed = ["2025-01-09", "2024-12-25", "2024-06-15"];
    for d in closed {
        assert!(!xlfeed_core::Nyse.is_trading_day(day(d)), "{d}");
        let rows = synth::records(Kind::Trade, 20, 1);
        store.put(&key(Kind::Trade, "SPY", d), &rows).await.unwrap();
        assert_eq!(
            store.get(&key(Kind::Trade, "SPY", d)).await.unwrap(),
            Some(rows)
        );
    }
    let days = store
        .all_days(Dataset::Feed, Kind::Trade, &sym("SPY"))
        .await
        .unwrap();
    assert_eq!(
        days,
        vec![day("2024-06-15"), day("2024-12-25"), day("2025-01-09")]
    );
}

async fn a_new_store_is_marked_before_its_first_chunk(b: Backend) {
    {
        let store = b.open().await;
        assert!(store.kinds(Dataset::Feed).await.unwrap().is_empty());
    }
    assert_eq!(
        b.layout_marker().await,
        None,
        "opening to read marks nothing"
    );
    {
        let store = b.open().await;
        store
            .put(
                &key(Kind::OptionTrade, "SPY", "2024-01-02"),
                &synth::records(Kind::OptionTrade, 10, 1),
            )
            .await
            .unwrap();
        assert_eq!(
            store.kinds(Dataset::Feed).await.unwrap(),
            vec![Kind::OptionTrade]
        );
    }
    assert_eq!(b.layout_marker().await.as_deref(), Some("3"));
    let store = b.open().await;
    assert_eq!(
        store
            .all_days(Dataset::Feed, Kind::OptionTrade, &sym("SPY"))
            .await
            .unwrap(),
        vec![day("2024-01-02")]
    );
}

/// A store of layout 1: option trades and trades in FEED, every POST kind of a postprocess
/// run in POST (lineage naming its inputs by their layout 1 keys), two underlyings.
fn layout1_store() -> Vec<Layout1Chunk> {
    let mut chunks = Vec::new();
    for (i, symbol) in ["SPY", "QQQ"].into_iter().enumerate() {
        for d in [20240102, 20240103, 20240104] {
            let seed = u64::from(d) + i as u64;
            let rows = |kind: Kind, n: usize| synth::records(kind, n, seed).encode();
            chunks.push((
                Dataset::Feed,
                "otrade",
                symbol,
                d,
                rows(Kind::OptionTrade, 50),
            ));
            chunks.push((Dataset::Feed, "trade", symbol, d, rows(Kind::Trade, 40)));
            chunks.push((
                Dataset::Post,
                "etrade",
                symbol,
                d,
                rows(Kind::EnrichedTrade, 50),
            ));
            chunks.push((
                Dataset::Post,
                "cdaily",
                symbol,
                d,
                rows(Kind::ContractDaily, 5),
            ));
            chunks.push((
                Dataset::Post,
                "ivsummary",
                symbol,
                d,
                rows(Kind::IvSummary, 3),
            ));
            let lineage = Records::Lineages(vec![
                Lineage {
                    input: format!("feed:otrade:{symbol}:{d}"),
                    fingerprint: 11,
                },
                Lineage {
                    input: format!("feed:trade:{symbol}:{d}"),
                    fingerprint: 12,
                },
                Lineage {
                    input: format!("feed:dividend:{symbol}:*"),
                    fingerprint: 0,
                },
            ]);
            chunks.push((Dataset::Post, "lineage", symbol, d, lineage.encode()));
        }
    }
    chunks
}

/// The kind a layout 1 name is now.
fn renamed(old: &str) -> Kind {
    xlfeed_store::migrate::RENAMED
        .iter()
        .find(|(o, _)| *o == old)
        .map_or_else(|| Kind::parse(old).unwrap(), |(_, k)| *k)
}

/// Checks that the store holds `old` under the new names: the same bytes, lineage inputs
/// renamed, and nothing left under the old names.
async fn assert_migrated(store: &Store, old: &[Layout1Chunk]) {
    for (ds, name, symbol, d, bytes) in old {
        let k = ChunkKey::new(
            *ds,
            renamed(name),
            sym(symbol),
            TradingDay::from_yyyymmdd(*d).unwrap(),
        );
        let got = store.get_chunks(std::slice::from_ref(&k)).await.unwrap();
        let got = got.into_iter().next().flatten();
        let got = got.unwrap_or_else(|| panic!("{k} is missing after the migration"));
        if *name == "lineage" {
            let Records::Lineages(before) = Records::decode(bytes).unwrap() else {
                unreachable!()
            };
            let Records::Lineages(after) = Records::decode(&got).unwrap() else {
                panic!("{k} holds no lineage")
            };
            let inputs: Vec<&str> = after.iter().map(|l| l.input.as_str()).collect();
            assert_eq!(
                inputs,
                vec![
                    format!("feed:option_trade:{symbol}:{d}"),
                    format!("feed:trade:{symbol}:{d}"),
                    format!("feed:dividend:{symbol}:*"),
                ]
            );
            let prints = |v: &[Lineage]| v.iter().map(|l| l.fingerprint).collect::<Vec<_>>();
            assert_eq!(prints(&after), prints(&before));
        } else {
            assert_eq!(&got, bytes, "{k} changed");
        }
        let days = store
            .all_days(*ds, renamed(name), &sym(symbol))
            .await
            .unwrap();
        assert_eq!(days.len(), 3, "{k}");
    }
    assert_eq!(
        store.kinds(Dataset::Feed).await.unwrap(),
        vec![Kind::Trade, Kind::OptionTrade]
    );
    assert_eq!(
        store.kinds(Dataset::Post).await.unwrap(),
        vec![
            Kind::EnrichedTrade,
            Kind::ContractDaily,
            Kind::IvSummary,
            Kind::Lineage
        ]
    );
    assert!(store.verify(Dataset::Feed).await.unwrap().is_empty());
    assert!(store.verify(Dataset::Post).await.unwrap().is_empty());
}

async fn an_old_layout_store_is_refused_until_migrated(b: Backend) {
    let old = layout1_store();
    b.write_layout1(&old).await;
    let url = b.url();
    let err = Store::open(&url)
        .await
        .err()
        .expect("a layout 1 store must be refused");
    assert!(
        matches!(err, StoreError::OldLayout { found: 1, .. }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Internal);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("store {url} is in key layout 1")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("run `xlpipeline migrate --store {url}`")),
        "{msg}"
    );

    let done = migrate(StoreUrl::parse(&url).unwrap()).await.unwrap();
    assert_eq!(done.from, 1);
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    let moved: Vec<(Dataset, &str, Kind, u64, u64)> = done
        .renamed
        .iter()
        .map(|r| (r.dataset, r.from, r.to, r.series, r.chunks))
        .collect();
    assert_eq!(
        moved,
        vec![
            (Dataset::Feed, "otrade", Kind::OptionTrade, 2, 6),
            (Dataset::Post, "cdaily", Kind::ContractDaily, 2, 6),
            (Dataset::Post, "etrade", Kind::EnrichedTrade, 2, 6),
            (Dataset::Post, "ivsummary", Kind::IvSummary, 2, 6),
        ]
    );
    assert_eq!(done.lineages, 6);
    assert_eq!(b.layout_marker().await.as_deref(), Some("3"));
    {
        let store = b.open().await;
        assert_migrated(&store, &old).await;
    }
    let again = migrate(StoreUrl::parse(&url).unwrap()).await.unwrap();
    assert!(again.was_current(), "{again:?}");
}

async fn a_migration_killed_midway_finishes_when_run_again(b: Backend) {
    let old = layout1_store();
    b.write_layout1(&old).await;
    // What a run killed midway leaves: FEED's option trades of SPY moved and their old keys
    // gone, those of QQQ copied for one day and still all under the old name; a lineage
    // chunk already rewritten; no marker.
    let spy_moved: Vec<Layout1Chunk> = old
        .iter()
        .filter(|c| c.1 == "otrade" && c.2 == "SPY")
        .map(|c| (c.0, "option_trade", c.2, c.3, c.4.clone()))
        .chain(
            old.iter()
                .filter(|c| c.1 == "otrade" && c.2 == "QQQ" && c.3 == 20240102)
                .map(|c| (c.0, "option_trade", c.2, c.3, c.4.clone())),
        )
        .collect();
    b.write_layout1(&spy_moved).await;
    b.remove_layout1_series(
        Dataset::Feed,
        "otrade",
        "SPY",
        &[20240102, 20240103, 20240104],
    )
    .await;
    let rewritten = Records::Lineages(vec![
        Lineage {
            input: "feed:option_trade:QQQ:20240102".into(),
            fingerprint: 11,
        },
        Lineage {
            input: "feed:trade:QQQ:20240102".into(),
            fingerprint: 12,
        },
        Lineage {
            input: "feed:dividend:QQQ:*".into(),
            fingerprint: 0,
        },
    ]);
    b.write_layout1(&[(
        Dataset::Post,
        "lineage",
        "QQQ",
        20240102,
        rewritten.encode(),
    )])
    .await;
    let err = Store::open(&b.url()).await.err().expect("still refused");
    assert!(matches!(err, StoreError::OldLayout { .. }), "{err}");

    let done = migrate(StoreUrl::parse(&b.url()).unwrap()).await.unwrap();
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    assert_eq!(done.renamed[0].series, 1, "only QQQ was left to move");
    let store = b.open().await;
    assert_migrated(&store, &old).await;
}

/// A store of layout 2: layout 1's data under the kind names of today, keys without hash
/// tags, marked "2".
fn layout2_store() -> Vec<Layout1Chunk> {
    layout1_store()
        .into_iter()
        .map(|(ds, name, symbol, d, bytes)| {
            let kind: &'static str = match name {
                "otrade" => "option_trade",
                "etrade" => "enriched_trade",
                "cdaily" => "contract_daily",
                "ivsummary" => "iv_summary",
                other => other,
            };
            let bytes = if name == "lineage" {
                let Records::Lineages(mut rows) = Records::decode(&bytes).unwrap() else {
                    unreachable!()
                };
                for row in &mut rows {
                    row.input = row.input.replace(":otrade:", ":option_trade:");
                }
                Records::Lineages(rows).encode()
            } else {
                bytes
            };
            (ds, kind, symbol, d, bytes)
        })
        .collect()
}

async fn a_layout2_store_moves_to_hash_tagged_keys(b: Backend) {
    let old = layout2_store();
    b.write_layout1(&old).await;
    b.set_layout_marker("2").await;
    let err = Store::open(&b.url())
        .await
        .err()
        .expect("layout 2 is refused");
    assert!(
        matches!(err, StoreError::OldLayout { found: 2, .. }),
        "{err}"
    );
    let done = migrate(StoreUrl::parse(&b.url()).unwrap()).await.unwrap();
    assert_eq!(done.from, 2);
    assert!(done.renamed.is_empty(), "{:?}", done.renamed);
    assert_eq!((done.series, done.chunks), (12, 36));
    assert_eq!(
        done.lineages, 0,
        "layout 2 lineage already has today's names"
    );
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    assert_eq!(b.layout_marker().await.as_deref(), Some("3"));
    // Nothing is left under a layout 2 key.
    for (ds, kind, symbol, d, _) in &old {
        assert_eq!(b.raw_get(&format!("{ds}:{kind}:{symbol}:{d}")).await, None);
    }
    for (ds, kind, symbol, d, bytes) in &old {
        let raw = b.raw_get(&format!("{{{ds}:{kind}:{symbol}}}:{d}")).await;
        assert_eq!(raw.as_ref(), Some(bytes), "{ds}:{kind}:{symbol}:{d}");
    }
    let store = b.open().await;
    assert_migrated(&store, &layout1_store()).await;
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::embedded()).await;
                }
            )*
        }
        mod redis_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::redis()).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::cluster()).await;
                }
            )*
        }
    };
}

conformance!(
    round_trip_every_kind,
    overwrite_is_idempotent,
    range_listing_at_the_edges,
    delete_removes_a_day,
    corrupt_chunk_is_reported_with_its_key,
    reopen_keeps_every_committed_day,
    killed_writer_leaves_a_decodable_store,
    data_on_closed_days_is_kept,
    a_new_store_is_marked_before_its_first_chunk,
    an_old_layout_store_is_refused_until_migrated,
    a_migration_killed_midway_finishes_when_run_again,
    a_layout2_store_moves_to_hash_tagged_keys,
);
