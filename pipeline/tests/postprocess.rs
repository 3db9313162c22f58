//! `xlpipeline postprocess` end to end: FEED filled by `fetch --sim` (and the simulator's
//! rate curve written as SOFR), POST on both store backends, the simulator's smile recovered,
//! incremental re-runs, kill -9 and resume.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Run, committed, day, report, sym, wait_for};
use xlfeed_core::records::{ContractDaily, EnrichedOptionTrade, IvTerm, OptionTrade, quality};
use xlfeed_core::{Nyse, TradingDay};
use xlfeed_iqfeed::sim::{Market, Universe};
use xlfeed_store::testing::{RedisServer, TestStore};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store};

const SEED: &str = "7";
const FROM: &str = "2024-06-10";
const TO: &str = "2024-06-12";

fn xlpipeline(dir: &Path, args: &[&str]) -> Run {
    common::run(&mut command(dir, args))
}

/// `xlpipeline` with `args`, its report into `dir`, no progress shown.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = common::xlpipeline(args);
    c.arg("--report")
        .arg(dir.join("report.json"))
        .args(["--progress", "off"]);
    c
}

/// The stderr of a run that must have succeeded.
#[track_caller]
fn ok(run: Run) -> String {
    run.ok().stderr
}

/// FEED from the simulator: AAPL and SPY options and trades, their dividends, and the
/// simulator's own risk-free curve as SOFR (continuously compounded zero rates).
async fn fill_feed(dir: &Path, feed: &str) {
    ok(xlpipeline(
        dir,
        &[
            "fetch",
            "--sim",
            "--sim-seed",
            SEED,
            "--sim-tick-scale",
            "0.2",
            "--symbols",
            "AAPL,SPY",
            "--kinds",
            "ticks,options,dividends",
            "--from",
            FROM,
            "--to",
            TO,
            "--feed",
            feed,
        ],
    ));
    let m = Market::new(SEED.parse().unwrap(), Universe::standard());
    let store = Store::open(feed).await.unwrap();
    // The dividend history (as `import dividends` would bring it), each under its ex-date.
    for u in ["AAPL", "SPY"] {
        for d in m.dividends(u, day(TO)).unwrap() {
            let ex = TradingDay::from_yyyymmdd(d.ex_date).unwrap();
            let k = ChunkKey::new(Dataset::Feed, Kind::Dividend, sym(u), ex);
            store.put(&k, &Records::Dividends(vec![d])).await.unwrap();
        }
    }
    for d in Nyse.trading_days(day(FROM), day(TO)) {
        let points = m.rate_curve(d);
        store
            .put(
                &ChunkKey::new(Dataset::Feed, Kind::Rate, sym("SOFR"), d),
                &Records::RatePoints(points),
            )
            .await
            .unwrap();
    }
}

fn postprocess_args<'a>(feed: &'a str, post: &'a str) -> Vec<&'a str> {
    vec![
        "postprocess",
        "--feed",
        feed,
        "--post",
        post,
        "--from",
        FROM,
        "--to",
        TO,
    ]
}

async fn enriches_every_option_trade_and_recovers_the_smile(post: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let feed = format!("embedded://{}/feed", dir.path().display());
    fill_feed(dir.path(), &feed).await;
    let post_url = post.url();
    ok(xlpipeline(dir.path(), &postprocess_args(&feed, &post_url)));
    let r = report(dir.path());
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["kinds"]["options"]["done"], 6, "{r}");

    let m = Market::new(SEED.parse().unwrap(), Universe::standard());
    let feed_store = Store::open(&feed).await.unwrap();
    let post_store = post.open().await;
    let (mut checked, mut close) = (0usize, 0usize);
    for d in Nyse.trading_days(day(FROM), day(TO)) {
        for u in ["AAPL", "SPY"] {
            let k = |ds, kind| ChunkKey::new(ds, kind, sym(u), d);
            let raw: Vec<OptionTrade> = feed_store
                .get_rows(&k(Dataset::Feed, Kind::OptionTrade))
                .await
                .unwrap()
                .unwrap();
            let rows: Vec<EnrichedOptionTrade> = post_store
                .get_rows(&k(Dataset::Post, Kind::EnrichedTrade))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                rows.len(),
                raw.len(),
                "{u} {d}: one enriched row per option trade"
            );
            assert!(rows.windows(2).all(|w| w[0].time <= w[1].time));
            let first_underlying = feed_store
                .get_rows::<xlfeed_core::records::Trade>(&k(Dataset::Feed, Kind::Trade))
                .await
                .unwrap()
                .unwrap()
                .first()
                .map(|t| t.time)
                .unwrap();
            for e in &rows {
                assert_eq!(e.rate_curve, "SOFR");
                // Only a trade before the day's first underlying trade has no pair.
                assert_eq!(
                    e.underlying_price.is_none(),
                    e.time < first_underlying,
                    "{e:?}"
                );
                assert_eq!(
                    e.flags & quality::NO_UNDERLYING != 0,
                    e.underlying_price.is_none(),
                    "{e:?}"
                );
                assert!(
                    e.underlying_staleness_ns >= 0,
                    "backward pairing: no look-ahead"
                );
                let (Some(iv), Some(fwd_spot)) = (e.iv, e.underlying_price) else {
                    continue;
                };
                // Compare where the price carries the volatility well: not too near expiry,
                // not far from the money.
                let fwd = fwd_spot * ((e.rate - e.dividend_yield) * e.time_to_expiry).exp();
                let k = (e.strike / fwd).ln();
                if e.time_to_expiry < 14.0 / 365.0 || k.abs() > 0.1 || e.price < 0.5 {
                    continue;
                }
                let smile = m.smile(u, d, e.time_to_expiry, k).unwrap();
                checked += 1;
                // The simulator priced at smile × (1 ± 1%), then rounded to the tick.
                if (iv / smile - 1.0).abs() <= 0.02 {
                    close += 1;
                }
            }
            let daily: Vec<ContractDaily> = post_store
                .get_rows(&k(Dataset::Post, Kind::ContractDaily))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                daily.iter().map(|c| c.trades).sum::<i64>(),
                raw.len() as i64
            );
            let summary: Vec<IvTerm> = post_store
                .get_rows(&k(Dataset::Post, Kind::IvSummary))
                .await
                .unwrap()
                .unwrap();
            assert!(
                summary.iter().any(|t| t.atm_iv.is_some()),
                "{u} {d}: {summary:?}"
            );
        }
    }
    assert!(checked > 100, "only {checked} trades near the money");
    assert!(
        close as f64 >= 0.95 * checked as f64,
        "{close} of {checked} IVs within 2% of the simulator's smile"
    );
    drop((feed_store, post_store));

    // Nothing changed in FEED: a re-run skips every day and writes the same bytes.
    let before = snapshot(&post_url).await;
    ok(xlpipeline(dir.path(), &postprocess_args(&feed, &post_url)));
    assert_eq!(report(dir.path())["kinds"]["options"]["skipped"], 6);
    assert_eq!(snapshot(&post_url).await, before);
    // One FEED day changes (more option data fetched again with another scale): only it is redone.
    let feed_store = Store::open(&feed).await.unwrap();
    let k = ChunkKey::new(Dataset::Feed, Kind::OptionTrade, sym("SPY"), day(TO));
    let mut raw: Vec<OptionTrade> = feed_store.get_rows(&k).await.unwrap().unwrap();
    raw.truncate(raw.len() / 2);
    feed_store
        .put(&k, &Records::OptionTrades(raw))
        .await
        .unwrap();
    drop(feed_store);
    ok(xlpipeline(dir.path(), &postprocess_args(&feed, &post_url)));
    let r = report(dir.path());
    assert_eq!(r["kinds"]["options"]["done"], 1, "{r}");
    assert_eq!(r["kinds"]["options"]["skipped"], 5, "{r}");
}

/// Every chunk of the POST dataset, by key, as stored.
async fn snapshot(url: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    common::snapshot(url, &[Dataset::Post]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_embedded() {
    enriches_every_option_trade_and_recovers_the_smile(TestStore::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_redis() {
    enriches_every_option_trade_and_recovers_the_smile(TestStore::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_resume_equals_a_clean_run() {
    let dir = tempfile::tempdir().unwrap();
    let feed = format!("embedded://{}/feed", dir.path().display());
    fill_feed(dir.path(), &feed).await;
    let clean = format!("embedded://{}/clean", dir.path().display());
    ok(xlpipeline(dir.path(), &postprocess_args(&feed, &clean)));
    let want = snapshot(&clean).await;
    // POST on a redis-server, so that the test sees each day committed while the run goes
    // on; one day at a time, each kill landing after one more day is in.
    let server = RedisServer::start().unwrap();
    let resumed = server.url(0);
    let store = Store::open(&resumed).await.unwrap();
    let mut before = 0;
    for round in 0..2 {
        let mut args = postprocess_args(&feed, &resumed);
        args.extend(["--jobs", "1"]);
        let mut child = command(dir.path(), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(&mut child, "one more day was committed", async || {
            (committed(&store, Dataset::Post).await > before).then_some(())
        })
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = committed(&store, Dataset::Post).await;
        assert!(
            now < want.len(),
            "round {round}: the kill landed mid-run, {now} of {} chunks committed",
            want.len()
        );
        before = now;
    }
    drop(store);
    ok(xlpipeline(dir.path(), &postprocess_args(&feed, &resumed)));
    assert_eq!(snapshot(&resumed).await, want);
}

/// Issue 17: a registry entry lost while its series' days survived (as a Redis Cluster
/// failover can lose a write to another slot) is written back by the next fetch and
/// postprocess, which skip those days and write nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_registry_entry_is_written_back_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start().unwrap();
    let url = server.url(0);
    fill_feed(dir.path(), &url).await;
    ok(xlpipeline(dir.path(), &postprocess_args(&url, &url)));
    let store = Store::open(&url).await.unwrap();
    let feed_before = common::snapshot(&url, &[Dataset::Feed]).await;
    let post_before = snapshot(&url).await;
    let lost = [
        format!("sym:feed:{}", Kind::Trade),
        format!("sym:feed:{}", Kind::OptionTrade),
        format!("sym:post:{}", Kind::EnrichedTrade),
        format!("sym:post:{}", Kind::Lineage),
    ];
    for key in &lost {
        assert_eq!(
            server.cli(&["ZREM", key, "AAPL"]).unwrap().trim(),
            "1",
            "{key}"
        );
    }
    server
        .cli(&["ZREM", "kinds:post", &Kind::IvSummary.to_string()])
        .unwrap();
    assert!(
        !store
            .symbols(Dataset::Feed, Kind::Trade)
            .await
            .unwrap()
            .contains(&sym("AAPL"))
    );
    fill_feed(dir.path(), &url).await;
    let stderr = ok(xlpipeline(dir.path(), &postprocess_args(&url, &url)));
    assert!(stderr.contains("registered again"), "{stderr}");
    let r = report(dir.path());
    assert_eq!(r["kinds"]["options"]["done"], 0, "{r}");
    for (ds, kind) in [
        (Dataset::Feed, Kind::Trade),
        (Dataset::Feed, Kind::OptionTrade),
        (Dataset::Post, Kind::EnrichedTrade),
        (Dataset::Post, Kind::Lineage),
        (Dataset::Post, Kind::IvSummary),
    ] {
        assert_eq!(
            store.symbols(ds, kind).await.unwrap(),
            vec![sym("AAPL"), sym("SPY")],
            "{ds} {kind}"
        );
    }
    assert!(
        store
            .kinds(Dataset::Post)
            .await
            .unwrap()
            .contains(&Kind::IvSummary)
    );
    assert_eq!(common::snapshot(&url, &[Dataset::Feed]).await, feed_before);
    assert_eq!(snapshot(&url).await, post_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_pairing_looks_both_ways_and_flags_stale_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let feed = format!("embedded://{}/feed", dir.path().display());
    fill_feed(dir.path(), &feed).await;
    let post = format!("embedded://{}/post", dir.path().display());
    let mut args = postprocess_args(&feed, &post);
    args.extend(["--pairing", "nearest", "--staleness", "0.5"]);
    ok(xlpipeline(dir.path(), &args));
    // An underlying named without option trades in FEED is reported, not an error.
    let mut named = postprocess_args(&feed, &post);
    named.extend(["--underlyings", "SPY,KO"]);
    let stderr = ok(xlpipeline(dir.path(), &named));
    assert!(stderr.contains("no option trades options KO"), "{stderr}");
    let r = report(dir.path());
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["symbol"] == "KO"),
        "{r}"
    );
    let store = Store::open(&post).await.unwrap();
    let k = ChunkKey::new(Dataset::Post, Kind::EnrichedTrade, sym("SPY"), day(TO));
    let rows: Vec<EnrichedOptionTrade> = store.get_rows(&k).await.unwrap().unwrap();
    assert!(
        rows.iter().all(|e| e.underlying_price.is_some()),
        "nearest always pairs"
    );
    assert!(
        rows.iter().any(|e| e.underlying_staleness_ns < 0),
        "some pairs are later trades"
    );
    for e in &rows {
        let stale = e.underlying_staleness_ns.abs() > 500_000_000;
        assert_eq!(e.flags & quality::STALE_UNDERLYING != 0, stale, "{e:?}");
    }
}

#[test]
fn bad_arguments_name_the_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let feed = format!("embedded://{}/feed", dir.path().display());
    let post = format!("embedded://{}/post", dir.path().display());
    for (extra, wanted) in [
        (vec!["--staleness=-1"], "bad --staleness -1"),
        (vec!["--curves", "2023=SOFR"], "bad --curves"),
        (vec!["--shard", "2/2"], "\"2/2\""),
    ] {
        let mut args = postprocess_args(&feed, &post);
        args.extend(extra);
        xlpipeline(dir.path(), &args).fails(&[wanted]);
    }
}
