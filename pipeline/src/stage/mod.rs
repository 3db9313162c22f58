//! The stage runner: what `fetch` and `postprocess` share. A stage is "plan units, run one
//! unit"; everything around that lives here, once.
//!
//! # Layout
//!
//! - [`scope`]: the scope of a run: its trading days, its shard and its universe.
//! - [`runner`]: the unit loop (`--jobs` at a time, stop on a signal or a cancel, stop when a
//!   store stays down, progress, the run report and the exit code), and the [`Units`] trait
//!   a stage implements.
//! - [`retry`]: store calls retried while the store is unavailable, the same rules for every
//!   stage.
//! - [`report`]: the run report (JSON and summary) and the exit codes.
//! - [`progress`]: the bar, the log lines and the [`Counters`] a caller reads.
//! - [`control`]: what a program that starts a run in process shares with it
//!   ([`RunControl`]), and what a run's arguments reach ([`Reach`]).
//!
//! Inside, too, uses point one way: `runner` uses `control`, `progress`, `report` and
//! `signal`; `retry` uses `runner`'s error; `control` uses `progress` and `report`.
//! - [`signal`]: the one shutdown signal of every program ([`shutdown_signal`]).
//!
//! Dependencies point one way: the stages use this module; it uses none of them.

pub(crate) mod control;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod retry;
pub(crate) mod runner;
pub(crate) mod scope;
pub(crate) mod signal;

pub use control::{Reach, RunControl};
pub use progress::Counters;
pub use signal::{ShutdownSignal, shutdown_signal};

pub(crate) use progress::ProgressMode;
pub(crate) use report::{Outcome, Report};
pub(crate) use retry::{Role, ensure_registered, store_call};
pub(crate) use runner::{Done, Label, Settings, UnitError, Units};
pub(crate) use scope::Scope;
