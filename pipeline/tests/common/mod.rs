//! What the pipeline's end-to-end suites share: running the real `xlpipeline` binary, reading
//! its run report and the stores it wrote, and waiting for a run's observed progress before a
//! fault is set off (never for a fixed time, which a fast build outruns).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{ChunkKey, Dataset, Kind, Store, testing};

/// What a run of the binary printed.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The run, which must have exited 0.
    #[track_caller]
    pub(crate) fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The run, which must have exited 1 (bad input) with every one of `wanted` in stderr.
    #[track_caller]
    pub(crate) fn fails(self, wanted: &[&str]) -> Run {
        assert_eq!(
            self.code, 1,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        for w in wanted {
            assert!(
                self.stderr.contains(w),
                "{w:?} not in stderr:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// The `xlpipeline` binary with `args`, logging warnings only and blind to the Kubernetes
/// variables of the environment it runs in.
pub(crate) fn xlpipeline(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xlpipeline"));
    c.args(args)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "warn")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("XLFEED_SHARDS");
    c
}

/// Runs `command` to its end.
pub(crate) fn run(command: &mut Command) -> Run {
    let out = command.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The JSON run report a run wrote into `dir` (as `--report dir/report.json`).
pub(crate) fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

pub(crate) fn day(s: &str) -> TradingDay {
    TradingDay::parse(s).unwrap()
}

pub(crate) fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

pub(crate) fn key(dataset: Dataset, kind: Kind, symbol: &str, d: &str) -> ChunkKey {
    ChunkKey::new(dataset, kind, sym(symbol), day(d))
}

/// Every chunk of `datasets` in the store at `url`, by key, as stored; the store is closed
/// again after (an embedded store admits one process).
pub(crate) async fn snapshot(url: &str, datasets: &[Dataset]) -> BTreeMap<String, Vec<u8>> {
    let store = Store::open(url).await.unwrap();
    testing::snapshot(&store, datasets).await
}

/// How many chunks of `dataset` the store's index lists: what runs have committed so far.
pub(crate) async fn committed(store: &Store, dataset: Dataset) -> usize {
    let mut n = 0;
    for kind in store.kinds(dataset).await.unwrap() {
        for s in store.symbols(dataset, kind).await.unwrap() {
            n += store.all_days(dataset, kind, &s).await.unwrap().len();
        }
    }
    n
}

/// How many complete raw replies an `--archive` folder holds (files being written have a
/// temporary name of their own).
pub(crate) fn archived(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                archived(&p)
            } else {
                usize::from(p.to_string_lossy().ends_with(".txt.gz"))
            }
        })
        .sum()
}

/// Waits until `progress` gives a value (checked every few milliseconds) and returns it, so
/// that a fault is set off on a run's observed progress. Panics if the run `child` ends
/// first, or after two minutes: either way the fault would not land mid-run.
pub(crate) async fn wait_for<T>(
    child: &mut Child,
    what: &str,
    mut progress: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = progress().await {
            return v;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before {what}: its workload must outlast the fault");
        }
        assert!(Instant::now() < deadline, "no {what} within two minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
