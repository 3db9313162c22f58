//! `xlpipeline fetch` end to end: the real binary, the built-in simulator (`--sim`), both
//! store backends (a real redis-server the tests start), kill -9 and resume, shards, replay,
//! and the failure paths a data engineer meets.
//!
//! Faults (kill -9, SIGTERM, a store going down) are set off on a run's observed progress
//! (units committed to the store, replies in its archive), in runs paced by `--rate-limit`
//! so that they cannot finish first; each test then checks that the fault landed mid-run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, archived, committed, day, report, sym, wait_for};
use xlfeed_core::records::{Bar, DailyBar, OptionContract, OptionTrade, Trade};
use xlfeed_iqfeed::sim::{Market, SimConfig, Simulator, Universe};
use xlfeed_store::testing::{RedisCluster, RedisServer, TestStore as Backend};
use xlfeed_store::{ChunkKey, Dataset, Kind, Store};

const SEED: &str = "7";
const SCALE: &str = "0.05";
const FROM: &str = "2024-06-10";
const TO: &str = "2024-06-12";

/// Runs `xlpipeline fetch --sim ...` with the test's seed and scale, writing its report into
/// `dir`.
fn fetch(dir: &Path, feed: &str, extra: &[&str]) -> Run {
    common::run(&mut fetch_command(dir, feed, extra))
}

/// `xlpipeline fetch` into `feed`, from the simulator unless `extra` names another source,
/// unpaced unless `extra` gives `--rate-limit`.
fn fetch_command(dir: &Path, feed: &str, extra: &[&str]) -> Command {
    let mut c = common::xlpipeline(&["fetch"]);
    c.args(["--feed", feed, "--progress", "log"])
        .arg("--report")
        .arg(dir.join("report.json"))
        .args(extra);
    if !extra.contains(&"--replay") && !extra.iter().any(|a| a.starts_with("--iqfeed")) {
        c.args(["--sim", "--sim-seed", SEED, "--sim-tick-scale", SCALE]);
    }
    if !extra.contains(&"--rate-limit") {
        c.args(["--rate-limit", "100000"]);
    }
    c
}

#[track_caller]
fn ok(run: Run) -> Run {
    run.ok()
}

fn key(kind: Kind, symbol: &str, d: &str) -> ChunkKey {
    common::key(Dataset::Feed, kind, symbol, d)
}

/// Every chunk of the FEED dataset, by key, as stored (the store is closed again after).
async fn snapshot(url: &str) -> BTreeMap<String, Vec<u8>> {
    common::snapshot(url, &[Dataset::Feed]).await
}

fn market() -> Market {
    Market::new(SEED.parse().unwrap(), Universe::standard()).with_tick_scale(SCALE.parse().unwrap())
}

const ALL_KINDS: &str = "ticks,bars:300,daily,options,dividends,fundamentals";

async fn every_kind_lands_as_the_simulator_made_it(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = b.url();
    let run = ok(fetch(
        dir.path(),
        &url,
        &[
            "--symbols",
            "AAPL,SPY",
            "--kinds",
            ALL_KINDS,
            "--from",
            FROM,
            "--to",
            TO,
        ],
    ));
    assert!(run.stderr.contains("fetch complete"), "{}", run.stderr);
    let r = report(dir.path());
    assert_eq!(r["status"], "complete");
    assert_eq!(r["kinds"]["ticks"]["done"], 6, "{r}");
    assert_eq!(r["kinds"]["daily"]["days_written"], 6, "{r}");

    let m = market();
    let store = Store::open(&url).await.unwrap();
    for d in ["2024-06-10", "2024-06-11", "2024-06-12"] {
        for s in ["AAPL", "SPY"] {
            let got: Vec<Trade> = store
                .get_rows(&key(Kind::Trade, s, d))
                .await
                .unwrap()
                .unwrap();
            let want: Vec<Trade> = m
                .ticks(s, day(d))
                .unwrap()
                .into_iter()
                .map(|t| t.trade)
                .collect();
            assert_eq!(got.len(), want.len(), "{s} {d}");
            assert_eq!(got, want, "{s} {d}");
            let bars: Vec<Bar> = store
                .get_rows(&key(Kind::Bar(300), s, d))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(bars.len(), 78, "{s} {d}: 5-minute bars of a full session");
            assert_eq!(
                bars.iter().map(|b| b.volume).sum::<i64>(),
                want.iter().map(|t| t.size).sum::<i64>()
            );
            let daily: Vec<DailyBar> = store
                .get_rows(&key(Kind::Daily, s, d))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(daily.len(), 1);
            assert_eq!(daily[0].close, want.last().unwrap().price);
        }
        // Options: the chain listed that day and its contracts' trades, under the underlying.
        let chain: Vec<OptionContract> = store
            .get_rows(&key(Kind::Chain, "AAPL", d))
            .await
            .unwrap()
            .unwrap();
        assert!(!chain.is_empty());
        assert!(
            chain
                .iter()
                .all(|c| c.underlying == "AAPL" && c.expiry >= day(d).yyyymmdd())
        );
        let trades: Vec<OptionTrade> = store
            .get_rows(&key(Kind::OptionTrade, "AAPL", d))
            .await
            .unwrap()
            .unwrap();
        assert!(trades.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(
            trades
                .iter()
                .all(|t| chain.iter().any(|c| c.symbol == t.contract))
        );
    }
    // Fundamentals under the last day; AAPL pays dividends, filed under the ex-date.
    assert!(
        store
            .get(&key(Kind::Fundamental, "AAPL", TO))
            .await
            .unwrap()
            .is_some()
    );
    let divs = store
        .all_days(Dataset::Feed, Kind::Dividend, &sym("AAPL"))
        .await
        .unwrap();
    assert_eq!(divs.len(), 1, "{divs:?}");
    drop(store);

    // A second run skips everything and changes nothing.
    let before = snapshot(&url).await;
    ok(fetch(
        dir.path(),
        &url,
        &[
            "--symbols",
            "AAPL,SPY",
            "--kinds",
            ALL_KINDS,
            "--from",
            FROM,
            "--to",
            TO,
        ],
    ));
    let r = report(dir.path());
    assert_eq!(r["kinds"]["ticks"]["skipped"], 6, "{r}");
    assert_eq!(r["kinds"]["ticks"]["done"], 0, "{r}");
    assert_eq!(r["kinds"]["options"]["skipped"], 6, "{r}");
    assert_eq!(snapshot(&url).await, before);
}

async fn unknown_symbols_and_empty_days_are_reported_not_fatal(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = b.url();
    // A simulator of its own, over TCP like IQConnect, whose "today" is the 11th: the 12th
    // has no data yet.
    let mut cfg = SimConfig::ephemeral(SEED.parse().unwrap(), day("2024-06-11"));
    cfg.tick_scale = SCALE.parse().unwrap();
    let sim = Simulator::start(cfg).await.unwrap();
    let (lookup, level1) = (sim.lookup_addr().to_string(), sim.level1_addr().to_string());
    let args = [
        "--iqfeed",
        &lookup,
        "--level1",
        &level1,
        "--symbols",
        "AAPL,NOPE",
        "--kinds",
        "ticks,fundamentals",
        "--from",
        "2024-06-11",
        "--to",
        "2024-06-12",
    ];
    ok(fetch(dir.path(), &url, &args));
    let r = report(dir.path());
    assert_eq!(r["kinds"]["ticks"]["unknown_symbol"], 2, "{r}");
    assert_eq!(r["kinds"]["ticks"]["done"], 1, "{r}");
    assert_eq!(r["kinds"]["ticks"]["empty"], 1, "{r}");
    assert_eq!(r["kinds"]["fundamentals"]["unknown_symbol"], 1, "{r}");
    let problems = r["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["symbol"] == "NOPE" && p["status"] == "unknown symbol")
    );
    // The empty day is committed (no rows), so a re-run skips it; the unknown symbol is
    // asked again (IQFeed may have listed it since).
    let store = Store::open(&url).await.unwrap();
    let empty: Vec<Trade> = store
        .get_rows(&key(Kind::Trade, "AAPL", TO))
        .await
        .unwrap()
        .unwrap();
    assert!(empty.is_empty());
    drop(store);
    ok(fetch(dir.path(), &url, &args));
    let r = report(dir.path());
    assert_eq!(r["kinds"]["ticks"]["skipped"], 2, "{r}");
    assert_eq!(r["kinds"]["ticks"]["unknown_symbol"], 2, "{r}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_are_retried_and_the_store_is_the_same() {
    // An IQConnect that drops every lookup connection after 3,000 lines, mid-reply: units are
    // retried on a new connection and the store ends as a clean run's.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::ephemeral(SEED.parse().unwrap(), day(TO));
    cfg.tick_scale = SCALE.parse().unwrap();
    cfg.faults.drop_after_lines = Some(3_000);
    let sim = Simulator::start(cfg).await.unwrap();
    let (lookup, level1) = (sim.lookup_addr().to_string(), sim.level1_addr().to_string());
    let flaky = format!("embedded://{}/flaky", dir.path().display());
    let args = [
        "--iqfeed",
        &lookup,
        "--level1",
        &level1,
        "--symbols",
        "AAPL,SPY",
        "--kinds",
        "ticks,bars:60",
        "--from",
        FROM,
        "--to",
        TO,
        "--retries",
        "20",
    ];
    ok(fetch(dir.path(), &flaky, &args));
    assert_eq!(report(dir.path())["status"], "complete");
    sim.shutdown().await;
    let clean = format!("embedded://{}/clean", dir.path().display());
    ok(fetch(
        dir.path(),
        &clean,
        &[
            "--symbols",
            "AAPL,SPY",
            "--kinds",
            "ticks,bars:60",
            "--from",
            FROM,
            "--to",
            TO,
        ],
    ));
    assert_eq!(snapshot(&flaky).await, snapshot(&clean).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_embedded() {
    every_kind_lands_as_the_simulator_made_it(Backend::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_redis() {
    every_kind_lands_as_the_simulator_made_it(Backend::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_empty_embedded() {
    unknown_symbols_and_empty_days_are_reported_not_fatal(Backend::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_empty_redis() {
    unknown_symbols_and_empty_days_are_reported_not_fatal(Backend::redis()).await;
}

/// A run of 96 units (ticks, minute bars and options of 4 symbols over 8 days).
const KILL_ARGS: [&str; 8] = [
    "--symbols",
    "AAPL,MSFT,SPY,QQQ",
    "--kinds",
    "ticks,bars:60,options",
    "--from",
    "2024-06-03",
    "--to",
    TO,
];

/// A run of 32 tick units (4 symbols over 8 days), one request each.
const FAULT_ARGS: [&str; 8] = [
    "--symbols",
    "AAPL,MSFT,SPY,QQQ",
    "--kinds",
    "ticks",
    "--from",
    "2024-06-03",
    "--to",
    TO,
];

/// The units of [`FAULT_ARGS`].
const FAULT_UNITS: usize = 32;

/// `args` paced at `per_sec` requests a second: a run that takes seconds, where an unpaced one
/// may end in a fraction of one, so that a fault set off on its progress lands mid-run.
fn paced<'a>(args: &[&'a str], per_sec: &'a str) -> Vec<&'a str> {
    [args, &["--rate-limit", per_sec]].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_resume_equals_a_clean_run() {
    let dir = tempfile::tempdir().unwrap();
    let clean = format!("embedded://{}/clean", dir.path().display());
    ok(fetch(dir.path(), &clean, &KILL_ARGS));
    let want = snapshot(&clean).await;
    assert!(want.len() > 50);

    let resumed = format!("embedded://{}/resumed", dir.path().display());
    // Kill after a few, then more replies came in; each resume goes on from what was
    // committed, and each kill lands before the run's end.
    let mut committed = 0;
    for (round, replies) in [1, 40, 150].into_iter().enumerate() {
        let raw = dir.path().join(format!("raw{round}"));
        let raw_arg = raw.display().to_string();
        let mut args = paced(&KILL_ARGS, KILL_PACE);
        args.extend(["--archive", &raw_arg]);
        let mut child = fetch_command(dir.path(), &resumed, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let what = format!("{replies} replies came in");
        wait_for(&mut child, &what, async || {
            (archived(&raw) >= replies).then_some(())
        })
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = snapshot(&resumed).await.len();
        assert!(
            now < want.len(),
            "round {round}: the kill landed mid-run, {now} of {} chunks committed",
            want.len()
        );
        committed = now;
    }
    assert!(committed > 0, "the killed runs committed nothing");
    ok(fetch(dir.path(), &resumed, &KILL_ARGS));
    assert_eq!(snapshot(&resumed).await, want);
}

/// The pace of the runs [`kill_9_then_resume_equals_a_clean_run`] kills (requests a second).
const KILL_PACE: &str = "100";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_run_apart_make_the_same_store_as_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--symbols",
        "AAPL,MSFT,SPY,QQQ,IWM,XOM,KO",
        "--kinds",
        "ticks,daily",
        "--from",
        FROM,
        "--to",
        TO,
    ];
    let one = format!("embedded://{}/one", dir.path().display());
    ok(fetch(dir.path(), &one, &args));
    let sharded = format!("embedded://{}/sharded", dir.path().display());
    let mut symbols = 0;
    for i in 0..3 {
        let mut a = args.to_vec();
        let shard = format!("{i}/3");
        a.extend(["--shard", &shard]);
        ok(fetch(dir.path(), &sharded, &a));
        symbols += report(dir.path())["symbols"].as_u64().unwrap();
    }
    assert_eq!(symbols, 7, "every symbol in exactly one shard");
    // Kubernetes Indexed Job variables choose the shard when --shard is absent.
    let out = fetch_command(dir.path(), &sharded, &args)
        .env("JOB_COMPLETION_INDEX", "1")
        .env("XLFEED_SHARDS", "3")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(report(dir.path())["shard"], "1/3");
    assert_eq!(snapshot(&sharded).await, snapshot(&one).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_replays_into_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("raw");
    let args = [
        "--symbols",
        "AAPL,SPY",
        "--kinds",
        ALL_KINDS,
        "--from",
        FROM,
        "--to",
        TO,
    ];
    let live = format!("embedded://{}/live", dir.path().display());
    let mut a = args.to_vec();
    let archive_arg = archive.display().to_string();
    a.extend(["--archive", &archive_arg]);
    ok(fetch(dir.path(), &live, &a));
    assert!(archive.join("2024/06/12/ticks/AAPL.txt.gz").is_file());
    let replayed = format!("embedded://{}/replayed", dir.path().display());
    let mut a = args.to_vec();
    a.extend(["--replay", &archive_arg]);
    ok(fetch(dir.path(), &replayed, &a));
    assert_eq!(snapshot(&replayed).await, snapshot(&live).await);
    // A day the archive does not have is a failed unit that names the missing file.
    let mut a = [
        "--symbols",
        "AAPL",
        "--kinds",
        "ticks",
        "--from",
        "2024-06-07",
    ]
    .to_vec();
    a.extend(["--replay", &archive_arg]);
    let run = fetch(dir.path(), &replayed, &a);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("2024/06/07/ticks/AAPL.txt.gz"),
        "{}",
        run.stderr
    );
}

/// Starts a run of [`FAULT_ARGS`] paced at 4 requests a second into `url` (stderr piped) and
/// returns it, with the units committed, once at least one is.
async fn fault_run_after_a_commit(dir: &Path, url: &str) -> (std::process::Child, usize) {
    let mut child = fetch_command(dir, url, &paced(&FAULT_ARGS, "4"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let store = Store::open(url).await.unwrap();
    let before = wait_for(&mut child, "a unit was committed", async || {
        let n = committed(&store, Dataset::Feed).await;
        (n > 0).then_some(n)
    })
    .await;
    (child, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_goes_down_stops_the_run_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RedisServer::start().unwrap();
    let url = server.url(0);
    let (child, before) = fault_run_after_a_commit(dir.path(), &url).await;
    server.kill();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("FEED store") && stderr.contains(&url),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // Back up: what was committed before the store went down is there and decodes, the run
    // had more to do, and a re-run does just the rest.
    server.restart().unwrap();
    let store = Store::open(&url).await.unwrap();
    let kept = committed(&store, Dataset::Feed).await;
    assert!(
        (before..FAULT_UNITS).contains(&kept),
        "{before} units committed before the store went down, {kept} of {FAULT_UNITS} kept"
    );
    assert!(store.verify(Dataset::Feed).await.unwrap().is_empty());
    drop(store);
    ok(fetch(dir.path(), &url, &FAULT_ARGS));
    let r = report(dir.path());
    assert_eq!(r["kinds"]["ticks"]["skipped"], kept, "{r}");
    assert_eq!(r["kinds"]["ticks"]["done"], FAULT_UNITS - kept, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_blinks_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RedisServer::start().unwrap();
    let url = server.url(0);
    let (child, before) = fault_run_after_a_commit(dir.path(), &url).await;
    server.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("unavailable; retrying"), "{stderr}");
    // The blink came mid-run, and the run itself did every unit across it.
    assert!(
        before < FAULT_UNITS,
        "all {before} units were in before the blink"
    );
    let r = report(dir.path());
    assert_eq!(r["kinds"]["ticks"]["done"], FAULT_UNITS, "{r}");
    let clean = format!("embedded://{}/clean", dir.path().display());
    ok(fetch(dir.path(), &clean, &FAULT_ARGS));
    assert_eq!(snapshot(&url).await, snapshot(&clean).await);
}

/// Issue 17: a master of the cluster store killed (SIGKILL) mid-run; its replica takes over
/// and the run itself goes on across the failover (its store calls wait for an unavailable
/// store), ending with the store a single-node run makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_master_killed_mid_run_fails_over_and_the_store_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = RedisCluster::start().unwrap();
    let url = cluster.url();
    let (child, before) = fault_run_after_a_commit(dir.path(), &url).await;
    let masters = cluster.masters();
    assert_eq!(masters.len(), 3, "{masters:?}");
    let victim = masters[0];
    let heir = cluster
        .replica_of(victim)
        .expect("the master has a replica");
    cluster.nodes[victim].kill();
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| cluster.wait_ok(Duration::from_secs(30))).unwrap();
    let failed_over = killed_at.elapsed();
    assert!(cluster.masters().contains(&heir), "the replica took over");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("unavailable; retrying"),
        "the run never saw the gap: {stderr}"
    );
    assert!(
        before < FAULT_UNITS,
        "all {before} units were in before the kill"
    );
    let r = report(dir.path());
    assert_eq!(r["kinds"]["ticks"]["done"], FAULT_UNITS, "{r}");
    println!(
        "killed a master after {before} of {FAULT_UNITS} units; cluster ok again {} ms later",
        failed_over.as_millis()
    );
    let clean = format!("embedded://{}/clean", dir.path().display());
    ok(fetch(dir.path(), &clean, &FAULT_ARGS));
    assert_eq!(snapshot(&url).await, snapshot(&clean).await);
}

/// Issue 17: shards as separate processes at once (as an Indexed Job's pods) into one
/// cluster store make, together, the store one process makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_at_once_into_one_cluster_make_the_one_process_store() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = RedisCluster::start().unwrap();
    let url = cluster.url();
    let args = [
        "--symbols",
        "AAPL,MSFT,SPY,QQQ,IWM,XOM,KO",
        "--kinds",
        "ticks,daily,options",
        "--from",
        FROM,
        "--to",
        TO,
    ];
    let shards: Vec<_> = (0..3)
        .map(|i| {
            let sub = dir.path().join(format!("shard{i}"));
            std::fs::create_dir_all(&sub).unwrap();
            let mut c = fetch_command(&sub, &url, &args);
            c.env("JOB_COMPLETION_INDEX", i.to_string())
                .env("XLFEED_SHARDS", "3")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            (sub, c.spawn().unwrap())
        })
        .collect();
    let mut symbols = 0;
    for (sub, child) in shards {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        symbols += report(&sub)["symbols"].as_u64().unwrap();
    }
    assert_eq!(symbols, 7, "every symbol in exactly one shard");
    let one = format!("embedded://{}/one", dir.path().display());
    ok(fetch(dir.path(), &one, &args));
    let want = snapshot(&one).await;
    assert!(want.len() > 40, "{} chunks", want.len());
    assert_eq!(snapshot(&url).await, want);
}

/// Issue 17: several gateways (one per IQFeed login) in one `--iqfeed` list; each shard
/// fetches through the entry at its index mod their number (a closed port at every other
/// entry proves it), and the shards together make the one-process store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shard_fetches_through_the_gateway_at_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut sims = Vec::new();
    for _ in 0..2 {
        let mut cfg = SimConfig::ephemeral(SEED.parse().unwrap(), day(TO));
        cfg.tick_scale = SCALE.parse().unwrap();
        sims.push(Simulator::start(cfg).await.unwrap());
    }
    let lookup = |i: usize| sims[i].lookup_addr().to_string();
    let level1 = |i: usize| sims[i].level1_addr().to_string();
    let args = [
        "--symbols",
        "AAPL,MSFT,SPY,QQQ,IWM",
        "--kinds",
        "ticks,fundamentals",
        "--from",
        FROM,
        "--to",
        TO,
    ];
    let sharded = format!("embedded://{}/sharded", dir.path().display());
    for shard in 0..2 {
        // Shard 0 of 2 takes entries 0 and 2, shard 1 entry 1 (and 3).
        let (iq, l1) = if shard == 0 {
            (
                format!("{},{closed},{closed}", lookup(0)),
                format!("{},{closed},{closed}", level1(0)),
            )
        } else {
            (
                format!("{closed},{},{closed},{closed}", lookup(1)),
                format!("{closed},{}", level1(1)),
            )
        };
        let s = format!("{shard}/2");
        let mut a = args.to_vec();
        a.extend(["--iqfeed", &iq, "--level1", &l1, "--shard", &s]);
        ok(fetch(dir.path(), &sharded, &a));
        let r = report(dir.path());
        assert!(
            r["source"].as_str().unwrap().contains(&lookup(shard)),
            "shard {shard}: {r}"
        );
    }
    // The wrong entry is a closed port: the run cannot reach IQFeed.
    let mut a = args.to_vec();
    let wrong = format!("{closed},{}", lookup(0));
    a.extend(["--iqfeed", &wrong, "--shard", "0/2"]);
    let run = fetch(dir.path(), &sharded, &a);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&closed), "{}", run.stderr);
    let one = format!("embedded://{}/one", dir.path().display());
    ok(fetch(dir.path(), &one, &args));
    assert_eq!(snapshot(&sharded).await, snapshot(&one).await);
    for s in sims {
        s.shutdown().await;
    }
}

#[test]
fn bad_arguments_name_the_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let feed = format!("embedded://{}/f", dir.path().display());
    for (args, wanted) in [
        (
            vec!["--symbols", "AAPL", "--kinds", "tick", "--from", TO],
            "\"tick\"",
        ),
        (
            vec!["--symbols", "AAPL", "--kinds", "bars:0", "--from", TO],
            "\"0\"",
        ),
        (
            vec!["--symbols", "AAPL", "--from", "2024-13-01"],
            "2024-13-01",
        ),
        (
            vec!["--symbols", "AAPL", "--from", TO, "--to", FROM],
            "is after",
        ),
        (
            vec!["--symbols", "AAPL", "--from", TO, "--shard", "3/3"],
            "\"3/3\"",
        ),
        (vec!["--symbols", "AA PL", "--from", TO], "AA PL"),
        (
            vec!["--symbols", "AAPL", "--from", TO, "--rate-limit", "0"],
            "bad --rate-limit 0",
        ),
        (
            vec![
                "--symbols",
                "AAPL",
                "--from",
                "2024-06-15",
                "--to",
                "2024-06-16",
            ],
            "no trading days",
        ),
    ] {
        let run = fetch(dir.path(), &feed, &args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(wanted),
            "{wanted} not in:\n{}",
            run.stderr
        );
    }
    // IQFeed not there: a clear message, quickly.
    let started = Instant::now();
    let run = fetch(
        dir.path(),
        &feed,
        &["--iqfeed", "127.0.0.1:9", "--symbols", "AAPL", "--from", TO],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(60));
    // A FEED store that cannot be opened is named, without its password.
    let run = fetch(
        dir.path(),
        "redis://reader:s3cret-pw@127.0.0.1:9",
        &["--symbols", "AAPL", "--from", TO],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret-pw"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_after_the_units_in_flight_and_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("embedded://{}/f", dir.path().display());
    let raw = dir.path().join("raw");
    let raw_arg = raw.display().to_string();
    // One unit (a symbol's 8 days, one request) at a time, so that units are left to stop.
    let mut args = paced(&FAULT_ARGS, "4");
    args.extend(["--archive", &raw_arg, "--jobs", "1"]);
    let mut child = fetch_command(dir.path(), &url, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&mut child, "a reply came in", async || {
        (archived(&raw) > 0).then_some(())
    })
    .await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let r = report(dir.path());
    assert_eq!(r["status"], "interrupted", "{r}");
    // The unit whose reply came in was finished and committed; units not started were left.
    let done = r["kinds"]["ticks"]["done"].as_u64().unwrap() as usize;
    assert!(
        (1..FAULT_UNITS).contains(&done),
        "{done} of {FAULT_UNITS} units done: {r}"
    );
    ok(fetch(dir.path(), &url, &FAULT_ARGS));
    let r = report(dir.path());
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["kinds"]["ticks"]["skipped"], done, "{r}");
    assert_eq!(r["kinds"]["ticks"]["done"], FAULT_UNITS - done, "{r}");
}

/// Issue 17: one request per instrument over a run of days writes the store a request per
/// instrument-day writes, byte for byte, with several times fewer requests; and a gateway
/// that cuts long replies (`--max-points`) changes nothing but the request count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_requests_write_what_day_at_a_time_writes_with_fewer_requests() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--symbols",
        "AAPL,SPY",
        "--kinds",
        "ticks,bars:300,options",
        "--from",
        "2024-06-03",
        "--to",
        TO,
    ];
    let by_day = format!("embedded://{}/by-day", dir.path().display());
    let mut a = args.to_vec();
    a.push("--day-at-a-time");
    ok(fetch(dir.path(), &by_day, &a));
    let day_report = report(dir.path());
    let want = snapshot(&by_day).await;
    assert!(want.len() > 40);

    let ranged = format!("embedded://{}/ranged", dir.path().display());
    let archive = dir.path().join("raw");
    let archive_arg = archive.display().to_string();
    let mut a = args.to_vec();
    a.extend(["--archive", &archive_arg]);
    ok(fetch(dir.path(), &ranged, &a));
    let ranged_report = report(dir.path());
    assert_eq!(snapshot(&ranged).await, want);
    assert_eq!(
        ranged_report["kinds"]["ticks"]["done"], day_report["kinds"]["ticks"]["done"],
        "the report counts symbol-days either way"
    );
    let made = |r: &serde_json::Value| r["requests"]["made"].as_u64().unwrap();
    assert!(
        made(&day_report) >= 5 * made(&ranged_report),
        "{} requests a day at a time, {} ranged",
        made(&day_report),
        made(&ranged_report)
    );
    assert_eq!(
        ranged_report["requests"]["entities"],
        day_report["requests"]["entities"]
    );
    // The archive keeps a file per day, which a replay reads.
    assert!(archive.join("2024/06/05/ticks/AAPL.txt.gz").is_file());
    let replayed = format!("embedded://{}/replayed", dir.path().display());
    let mut a = args.to_vec();
    a.extend(["--replay", &archive_arg]);
    ok(fetch(dir.path(), &replayed, &a));
    assert_eq!(snapshot(&replayed).await, want);

    // A gateway that cuts replies at 3,000 points: more requests, the same bytes.
    let cut = format!("embedded://{}/cut", dir.path().display());
    let mut a = args.to_vec();
    a.extend(["--max-points", "3000"]);
    ok(fetch(dir.path(), &cut, &a));
    assert!(made(&report(dir.path())) > made(&ranged_report));
    assert_eq!(snapshot(&cut).await, want);
}
