//! The README's main job, as a user runs it: `xlserver demo` fills ./data from the
//! simulator, serves, answers, stops cleanly on SIGINT; a second run reuses the data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

/// Starts the demo in `dir` (its data in `dir/data`) and returns it once it serves.
fn start(dir: &std::path::Path) -> Server {
    Server::spawn(
        &[
            "demo",
            "--symbols",
            "KO,SPY",
            "--days",
            "2",
            "--tick-scale",
            "0.05",
        ],
        &[],
        dir,
        None,
    )
}

/// Interrupts the demo as ctrl-c does: it must stop, and cleanly.
#[track_caller]
fn interrupt(mut server: Server) {
    let status = server.interrupt();
    assert!(
        status.is_some_and(|s| s.success()),
        "the demo did not stop cleanly on SIGINT ({status:?}); log:\n{}",
        server.log.lock().unwrap()
    );
}

#[test]
fn demo_serves_stops_on_ctrl_c_and_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = server.url.clone();
    let body = reqwest::blocking::get(format!("{url}/api/v1/quote?symbol=SPY&field=last"))
        .unwrap()
        .text()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["rows"][0][0].as_f64().unwrap() > 0.0, "{body}");
    let chain = reqwest::blocking::get(format!("{url}/api/v1/chain?underlying=KO"))
        .unwrap()
        .text()
        .unwrap();
    assert!(chain.contains("\"iv\""), "{chain}");
    interrupt(server);
    assert!(dir.path().join("data/feed").is_dir());
    assert!(dir.path().join("data/postprocess-report.json").is_file());

    // Second run: everything is already there.
    let server = start(dir.path());
    let url = server.url.clone();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/fetch-intraday-report.json")).unwrap(),
    )
    .unwrap();
    let done: u64 = report["kinds"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["done"].as_u64().unwrap())
        .sum();
    assert_eq!(done, 0, "the second run fetched again: {report}");
    let r = reqwest::blocking::get(format!("{url}/healthz")).unwrap();
    assert!(r.status().is_success());
    interrupt(server);
}
