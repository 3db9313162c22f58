//! The fetch and postprocess stages for other programs: xlserver's demo and its admin API run
//! them in process, with the command line's own options, and watch, cancel and read them.
//!
//! A run is started with the argument list `xlpipeline fetch` or `xlpipeline postprocess`
//! would take ([`run_stage`]); a [`RunControl`] shared with the caller carries the progress
//! counters, the cancel flag, the report when the run ends, and store handles the run should
//! reuse (an embedded store admits one handle per process, so a server that already has
//! FEED and POST open lends them to the runs it starts).
//!
//! This module is the stages' door for other programs and sits above them: it parses their
//! arguments and calls them; they know nothing of it (their shared machinery is
//! [`crate::stage`]).

use anyhow::{Context, Result};
use clap::Parser;

pub use crate::stage::{Counters, Reach, RunControl};

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
