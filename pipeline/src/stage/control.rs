//! What a caller shares with a run it starts ([`RunControl`]: cancel flag, progress counters,
//! the report, lent stores) and what a run's arguments reach outside the process ([`Reach`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use xlfeed_store::Store;

use super::progress::{Counters, ProgressMode};
use super::report::Report;

/// What a caller shares with a run it starts: see the module documentation.
#[derive(Clone, Default)]
pub struct RunControl {
    /// Set to stop the run after the units in flight (they finish and commit).
    pub stop: Arc<AtomicBool>,
    /// Units planned and done, rows written.
    pub counters: Arc<Counters>,
    /// The run's report, once it ended.
    pub report: Arc<Mutex<Option<serde_json::Value>>>,
    /// Open stores the run uses instead of opening their URLs again.
    pub stores: Vec<Store>,
    /// Whether SIGINT/SIGTERM stop the run (the command line's behaviour).
    pub signals: bool,
    /// Whether the report is also written to the stage's `--report` file (the caller may
    /// keep it its own way: it is in [`RunControl::report`] either way).
    pub no_report_file: bool,
    /// Progress display (`None`: the stage's `--progress` option decides).
    pub(crate) progress: Option<ProgressMode>,
}

impl std::fmt::Debug for RunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl")
            .field("stop", &self.stop)
            .field("counters", &self.counters)
            .field(
                "stores",
                &self.stores.iter().map(Store::url).collect::<Vec<_>>(),
            )
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

impl RunControl {
    /// The command line's control: signals stop the run, nothing shared.
    pub(crate) fn cli() -> RunControl {
        RunControl {
            signals: true,
            ..RunControl::default()
        }
    }

    /// A control for a run in another program, reusing `stores`; `quiet` turns the progress
    /// display off (the caller shows [`Counters`] its own way).
    pub fn embedded(stores: Vec<Store>, quiet: bool) -> RunControl {
        RunControl {
            stores,
            progress: quiet.then_some(ProgressMode::Off),
            ..RunControl::default()
        }
    }

    /// Asks the run to stop after the units in flight.
    pub fn cancel(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The store at `url`: a lent handle when one has that URL, else a new one.
    pub(crate) async fn open(&self, url: &str) -> Result<Store, xlfeed_store::StoreError> {
        let location = xlfeed_store::StoreUrl::parse(url)?;
        match self.stores.iter().find(|s| *s.location() == location) {
            Some(s) => Ok(s.clone()),
            None => Store::open_at(location).await,
        }
    }

    /// Keeps the report of a finished run.
    pub(crate) fn keep_report(&self, report: &Report) {
        if let Ok(v) = serde_json::to_value(report)
            && let Ok(mut slot) = self.report.lock()
        {
            *slot = Some(v);
        }
    }
}

/// What a run's arguments reach outside the process: files and folders it reads, folders it
/// writes, stores and IQFeed gateways it connects to (as parsed, defaults and environment
/// included), so that a caller running stages for others can hold them to a policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reach {
    /// Files and folders read (`--symbols-file`, `--replay`).
    pub reads: Vec<(&'static str, std::path::PathBuf)>,
    /// Folders written (`--archive`).
    pub writes: Vec<(&'static str, std::path::PathBuf)>,
    /// Store URLs (`--feed`, `--post`).
    pub stores: Vec<(&'static str, String)>,
    /// IQFeed gateways, `host:port` (`--iqfeed`, `--level1`).
    pub gateways: Vec<(&'static str, String)>,
}
