//! The README's main job, as a user runs it: `xlserver demo` fills ./data from the
//! simulator, serves, answers, stops cleanly on SIGINT; a second run reuses the data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the demo in `dir` and returns it with its HTTP base URL once it serves.
fn start(dir: &std::path::Path) -> (Child, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xlserver"))
        .args([
            "demo",
            "--symbols",
            "KO,SPY",
            "--days",
            "2",
            "--tick-scale",
            "0.05",
        ])
        .current_dir(dir)
        // Environment overrides of the configuration: any free port.
        .env("XLFEED_SERVER__HTTP", "127.0.0.1:0")
        .env("XLFEED_SERVER__GRPC", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("HTTP") {
            let url = rest.split_whitespace().next().unwrap().to_owned();
            // Keep reading what it prints, as a terminal would.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, url, started.elapsed());
        }
    }
    let status = child.wait().unwrap();
    panic!("the demo exited ({status}) without serving");
}

fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_serves_stops_on_ctrl_c_and_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, _) = start(dir.path());
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
    assert!(interrupt(&mut child).success());
    assert!(dir.path().join("data/feed").is_dir());
    assert!(dir.path().join("data/postprocess-report.json").is_file());

    // Second run: everything is already there.
    let (mut child, url, _) = start(dir.path());
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
    assert!(interrupt(&mut child).success());
}
