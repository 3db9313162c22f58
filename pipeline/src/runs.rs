//! The fetch and postprocess stages for other programs: xlserver's demo and its admin API run
//! them in process, with the command line's own options, and watch, cancel and read them.
//!
//! A run is started with the argument list `xlpipeline fetch` or `xlpipeline postprocess`
//! would take ([`run_stage`]); a [`RunControl`] shared with the caller carries the progress
//! counters, the cancel flag, the report when the run ends, and store handles the run should
//! reuse (an embedded store admits one handle per process, so a server that already has
//! FEED and POST open lends them to the runs it starts).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::Parser;
use xlfeed_store::Store;

use crate::report::{ProgressMode, Report};

/// The stages a program can run in process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `xlpipeline fetch`.
    Fetch,
    /// `xlpipeline postprocess`.
    Postprocess,
}

impl Stage {
    /// The stage's command name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Postprocess => "postprocess",
        }
    }
}

/// Progress counters of a run, updated as units finish.
#[derive(Debug, Default)]
pub struct Counters {
    /// Units planned (known once planning is done).
    pub total: AtomicU64,
    /// Units finished, whatever their outcome.
    pub done: AtomicU64,
    /// Rows written so far.
    pub rows: AtomicU64,
}

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

#[derive(Debug, Parser)]
#[command(name = "fetch", no_binary_name = true)]
struct FetchCli {
    #[command(flatten)]
    args: crate::fetch::FetchArgs,
}

#[derive(Debug, Parser)]
#[command(name = "postprocess", no_binary_name = true)]
struct PostprocessCli {
    #[command(flatten)]
    args: crate::postprocess::PostprocessArgs,
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

/// What `args` would make the stage reach (see [`Reach`]); the error is clap's message.
pub fn reach(stage: Stage, args: &[String]) -> Result<Reach, String> {
    let err = |e: clap::Error| e.render().to_string().trim().to_owned();
    Ok(match stage {
        Stage::Fetch => FetchCli::try_parse_from(args).map_err(err)?.args.reach(),
        Stage::Postprocess => PostprocessCli::try_parse_from(args)
            .map_err(err)?
            .args
            .reach(),
    })
}

/// Checks `args` as the stage's command line would, without running anything; the error is
/// clap's message, naming the bad option or value.
pub fn check_args(stage: Stage, args: &[String]) -> Result<(), String> {
    let r = match stage {
        Stage::Fetch => FetchCli::try_parse_from(args).map(|_| ()),
        Stage::Postprocess => PostprocessCli::try_parse_from(args).map(|_| ()),
    };
    r.map_err(|e| e.render().to_string().trim().to_owned())
}

/// Runs `stage` with the command-line arguments `args` (without the stage's name), under
/// `control`; the stage's exit code (see `xlpipeline fetch --help`). The report is also left
/// in `control.report`.
pub async fn run_stage(stage: Stage, args: &[String], control: &RunControl) -> Result<u8> {
    match stage {
        Stage::Fetch => {
            let cli = FetchCli::try_parse_from(args)
                .map_err(|e| anyhow::anyhow!("{}", e.render().to_string().trim()))
                .context("bad fetch arguments")?;
            crate::fetch::run(cli.args, control).await
        }
        Stage::Postprocess => {
            let cli = PostprocessCli::try_parse_from(args)
                .map_err(|e| anyhow::anyhow!("{}", e.render().to_string().trim()))
                .context("bad postprocess arguments")?;
            crate::postprocess::run(cli.args, control).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_scale_is_bounded() {
        for bad in ["inf", "NaN", "0", "-1", "1000"] {
            let e = check_args(
                Stage::Fetch,
                &[
                    "--sim".into(),
                    "--sim-tick-scale".into(),
                    bad.into(),
                    "--from".into(),
                    "2024-06-10".into(),
                    "--feed".into(),
                    "embedded://x".into(),
                ],
            )
            .unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_arguments_are_named() {
        let e = check_args(
            Stage::Fetch,
            &["--from".into(), "2024-06-10".into(), "--bogus".into()],
        )
        .unwrap_err();
        assert!(e.contains("--bogus"), "{e}");
        assert!(
            check_args(
                Stage::Postprocess,
                &[
                    "--feed".into(),
                    "embedded://x".into(),
                    "--post".into(),
                    "embedded://y".into(),
                    "--from".into(),
                    "2024-06-10".into()
                ]
            )
            .is_ok()
        );
    }
}
