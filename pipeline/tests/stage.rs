//! The stage runner end to end: a POST store restarted in the middle of a postprocess run
//! (a real redis-server, killed and started again on the same port and data) is waited for,
//! the run completes, and POST is the same as after an undisturbed run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use xlfeed_pipeline::runs::{RunControl, Stage, run_stage};
use xlfeed_store::testing::{self, RedisServer};
use xlfeed_store::{Dataset, Store};

const FROM: &str = "2024-06-03";
const TO: &str = "2024-06-12";

/// FEED from the simulator: options and trades of four underlyings over eight days.
fn fill_feed(dir: &Path, feed: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_xlpipeline"))
        .args([
            "fetch",
            "--sim",
            "--sim-seed",
            "7",
            "--sim-tick-scale",
            "0.2",
        ])
        .args(["--symbols", "AAPL,SPY,MSFT,QQQ", "--kinds", "ticks,options"])
        .args(["--from", FROM, "--to", TO, "--feed", feed])
        .args(["--rate-limit", "100000", "--progress", "off"])
        .arg("--report")
        .arg(dir.join("fetch-report.json"))
        .env("RUST_LOG", "warn")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("XLFEED_SHARDS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn postprocess_args(feed: &str, post: &str) -> Vec<String> {
    ["--feed", feed, "--post", post, "--from", FROM, "--to", TO]
        .into_iter()
        .chain(["--jobs", "1"])
        .map(String::from)
        .collect()
}

fn control() -> RunControl {
    let mut c = RunControl::embedded(Vec::new(), true);
    c.no_report_file = true;
    c
}

async fn post_snapshot(url: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let store = Store::open(url).await.unwrap();
    testing::snapshot(&store, &[Dataset::Post]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_store_restarted_mid_postprocess_is_waited_for_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let feed = format!("embedded://{}/feed", dir.path().display());
    fill_feed(dir.path(), &feed);

    // The undisturbed run, into an embedded POST.
    let clean = format!("embedded://{}/clean", dir.path().display());
    let undisturbed = control();
    let code = run_stage(
        Stage::Postprocess,
        &postprocess_args(&feed, &clean),
        &undisturbed,
    )
    .await
    .unwrap();
    assert_eq!(code, 0);
    let total = undisturbed.counters.total.load(Ordering::SeqCst);
    assert!(
        total >= 8,
        "only {total} units: too few to restart a store among"
    );

    // The same run into redis, restarted once the first unit is committed.
    let mut server = RedisServer::start().unwrap();
    let post = server.url(0);
    let disturbed = control();
    let run = tokio::spawn({
        let (args, control) = (postprocess_args(&feed, &post), disturbed.clone());
        async move { run_stage(Stage::Postprocess, &args, &control).await }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while disturbed.counters.done.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "no unit finished within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    let done_at_kill = disturbed.counters.done.load(Ordering::SeqCst);
    // Down long enough for the units in flight to meet it, not so long that they give up.
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.restart().unwrap();
    let code = run.await.unwrap().unwrap();

    assert!(
        done_at_kill < total,
        "the restart came after the run ({done_at_kill} of {total} units done)"
    );
    assert_eq!(code, 0, "{:?}", disturbed.report.lock().unwrap());
    let report = disturbed.report.lock().unwrap().clone().unwrap();
    assert_eq!(report["status"], "complete");
    assert_eq!(disturbed.counters.done.load(Ordering::SeqCst), total);
    let clean_post = post_snapshot(&clean).await;
    assert!(!clean_post.is_empty());
    assert_eq!(post_snapshot(&post).await, clean_post);
}
