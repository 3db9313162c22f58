//! The unit loop every stage runs: a stage plans its units, then [`run`] runs them `--jobs`
//! at a time, each through the stage's [`Units::run_one`]. The loop owns what stages share:
//! stopping on SIGINT/SIGTERM or a caller's cancel after the units in flight, stopping when a
//! store stays down (after [`super::retry`]'s retries, inside the unit), progress, the run
//! report and the exit code.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::task::JoinSet;
use xlfeed_store::StoreError;

use super::control::RunControl;
use super::progress::{Progress, ProgressMode};
use super::report::{EXIT_STORE, Outcome, Problem, Report};
use super::signal;

/// How a unit failed.
#[derive(Debug)]
pub(crate) enum UnitError {
    /// The unit's data or its source (IQFeed, an archive, a chunk that does not decode):
    /// this unit fails, the run goes on.
    Failed(String),
    /// A store, after its retries: the run stops.
    Store {
        /// Which store: `the FEED store redis://...`.
        store: String,
        /// What it answered.
        error: StoreError,
    },
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitError::Failed(reason) => f.write_str(reason),
            UnitError::Store { store, error } => write!(f, "{store} failed: {error}"),
        }
    }
}

impl From<anyhow::Error> for UnitError {
    fn from(e: anyhow::Error) -> Self {
        UnitError::Failed(format!("{e:#}"))
    }
}

/// What a unit did.
#[derive(Debug)]
pub(crate) struct Done {
    /// Its outcome.
    pub(crate) outcome: Outcome,
    /// Symbol-days committed.
    pub(crate) written: u64,
    /// Something the report should show although the unit ended: (status, reason).
    pub(crate) note: Option<(String, String)>,
    /// The outcomes of the further symbol-days a unit of several stands for (a ranged
    /// fetch's days after its first), each counted in the report as one unit of its kind.
    pub(crate) more: Vec<Outcome>,
}

impl Done {
    /// `rows` rows committed over `written` symbol-days: `Done`, or `Empty` without rows.
    pub(crate) fn rows(rows: u64, written: u64) -> Done {
        Done {
            outcome: if rows == 0 {
                Outcome::Empty
            } else {
                Outcome::Done(rows)
            },
            written,
            note: None,
            more: Vec::new(),
        }
    }

    /// An outcome without rows or symbol-days written.
    pub(crate) fn nothing(outcome: Outcome) -> Done {
        Done {
            outcome,
            written: 0,
            note: None,
            more: Vec::new(),
        }
    }

    /// One outcome per symbol-day of a unit of several: the first is the unit's, the rest
    /// go in [`Done::more`]; `written` symbol-days committed in all.
    pub(crate) fn days(mut outcomes: Vec<Outcome>, written: u64) -> Done {
        let first = if outcomes.is_empty() {
            Outcome::Empty
        } else {
            outcomes.remove(0)
        };
        Done {
            outcome: first,
            written,
            note: None,
            more: outcomes,
        }
    }
}

/// Where a unit sits in the report.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    /// The report's kind (`ticks`, `options`, ...).
    pub(crate) kind: String,
    /// The symbol (the underlying for options).
    pub(crate) symbol: String,
    /// The first and last day (`YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`).
    pub(crate) days: String,
}

/// A stage, as the loop sees it: how to name a unit and how to run one.
pub(crate) trait Units: Send + Sync + 'static {
    /// One unit of work: fetched or computed, committed and skipped on a re-run as a whole.
    type Unit: fmt::Display + Send + Sync + 'static;

    /// The stage's name (`fetch`, `postprocess`): messages and the report.
    const NAME: &'static str;

    /// Where `unit` goes in the report.
    fn label(unit: &Self::Unit) -> Label;

    /// Runs one unit to its commit.
    fn run_one(&self, unit: &Self::Unit) -> impl Future<Output = Result<Done, UnitError>> + Send;

    /// Adds what only this stage knows to the report before it is written (fetch: the
    /// requests it made of IQFeed).
    fn complete(&self, _report: &mut Report) {}
}

/// How the loop runs.
#[derive(Debug)]
pub(crate) struct Settings<'a> {
    /// Units at once (at least 1).
    pub(crate) jobs: usize,
    /// The stage's `--progress` (the control may override it).
    pub(crate) progress: ProgressMode,
    /// The stage's `--report` file (unless the control keeps the report itself).
    pub(crate) report_file: &'a Path,
    /// When the run started (planning included).
    pub(crate) started: Instant,
}

/// Runs `units` of `stage` under `control`, records every outcome in `report` (planned and
/// skipped units are already in it), ends it and returns the exit code.
pub(crate) async fn run<S: Units>(
    stage: Arc<S>,
    units: Vec<S::Unit>,
    mut report: Report,
    settings: Settings<'_>,
    control: &RunControl,
) -> Result<u8> {
    let stop = control.stop.clone();
    if control.signals {
        signal::watch(stop.clone(), S::NAME);
    }
    let mut progress = Progress::new(
        S::NAME,
        control.progress.unwrap_or(settings.progress),
        units.len() as u64,
    )
    .with_counters(control.counters.clone());
    let mut running = JoinSet::new();
    let mut queue = units.into_iter();
    let mut store_down: Option<String> = None;
    loop {
        while running.len() < settings.jobs.max(1)
            && store_down.is_none()
            && !stop.load(Ordering::SeqCst)
            && let Some(unit) = queue.next()
        {
            let stage = stage.clone();
            running.spawn(async move {
                let r = stage.run_one(&unit).await;
                (unit, r)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (unit, result) = joined.with_context(|| format!("a {} task panicked", S::NAME))?;
        let label = S::label(&unit);
        let done = match result {
            Ok(done) => done,
            Err(e @ UnitError::Store { .. }) => {
                tracing::error!(unit = %unit, error = %e, "a store failed");
                store_down.get_or_insert(e.to_string());
                continue;
            }
            Err(UnitError::Failed(reason)) => {
                tracing::warn!(unit = %unit, %reason, "unit failed");
                Done {
                    outcome: Outcome::Failed,
                    written: 0,
                    note: Some(("failed".into(), reason)),
                    more: Vec::new(),
                }
            }
        };
        if let Some((status, reason)) = done.note {
            report.problems.push(Problem {
                kind: label.kind.clone(),
                symbol: label.symbol,
                days: label.days,
                status,
                reason,
            });
        }
        report.record(&label.kind, done.outcome, done.written);
        for &o in &done.more {
            report.record(&label.kind, o, 0);
        }
        let rows = [done.outcome]
            .iter()
            .chain(&done.more)
            .map(|o| if let Outcome::Done(r) = o { *r } else { 0 })
            .sum();
        progress.tick(&unit.to_string(), rows);
    }
    progress.finish();
    stage.complete(&mut report);
    let code = report.finish(
        settings.started,
        store_down,
        stop.load(Ordering::SeqCst),
        (!control.no_report_file).then_some(settings.report_file),
    );
    control.keep_report(&report);
    code
}

/// Ends a run whose planning failed on a store: the message, and exit code 3.
pub(crate) fn planning_failed(stage: &str, e: &UnitError) -> u8 {
    eprintln!("{stage}: {e} while planning");
    EXIT_STORE
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::stage::report::{EXIT_FAILURES, EXIT_INTERRUPTED};

    /// A stage of numbered units: unit `n` sleeps a little and does what `fate(n)` says;
    /// it counts the units in flight at once.
    struct Numbers {
        fate: fn(u32) -> Result<Done, UnitError>,
        in_flight: AtomicUsize,
        most: AtomicUsize,
        started: AtomicUsize,
    }

    impl Units for Numbers {
        type Unit = u32;
        const NAME: &'static str = "numbers";

        fn label(unit: &u32) -> Label {
            Label {
                kind: "n".into(),
                symbol: format!("S{unit}"),
                days: "2024-06-12".into(),
            }
        }

        async fn run_one(&self, unit: &u32) -> Result<Done, UnitError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            (self.fate)(*unit)
        }
    }

    async fn go(
        fate: fn(u32) -> Result<Done, UnitError>,
        control: &RunControl,
    ) -> (u8, Arc<Numbers>) {
        let stage = Arc::new(Numbers {
            fate,
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
        });
        let report = Report {
            stage: "numbers".into(),
            ..Report::default()
        };
        let settings = Settings {
            jobs: 3,
            progress: ProgressMode::Off,
            report_file: Path::new("unused.json"),
            started: Instant::now(),
        };
        let code = run(stage.clone(), (0..40).collect(), report, settings, control)
            .await
            .unwrap();
        (code, stage)
    }

    fn quiet() -> RunControl {
        RunControl {
            no_report_file: true,
            ..RunControl::embedded(Vec::new(), true)
        }
    }

    fn report_of(control: &RunControl) -> serde_json::Value {
        control.report.lock().unwrap().clone().unwrap()
    }

    #[tokio::test]
    async fn units_run_jobs_at_a_time_and_failures_are_reported() {
        let control = quiet();
        let (code, stage) = go(
            |n| match n {
                7 => Err(UnitError::Failed("no luck".into())),
                _ => Ok(Done::rows(u64::from(n % 2), 1)),
            },
            &control,
        )
        .await;
        assert_eq!(code, EXIT_FAILURES);
        assert_eq!(stage.most.load(Ordering::SeqCst), 3);
        let r = report_of(&control);
        assert_eq!(r["status"], "complete with failures");
        assert_eq!(r["kinds"]["n"]["failed"], 1);
        assert_eq!(r["kinds"]["n"]["done"], 19);
        assert_eq!(r["kinds"]["n"]["empty"], 20);
        assert_eq!(r["problems"][0]["symbol"], "S7");
        assert_eq!(r["problems"][0]["reason"], "no luck");
        assert_eq!(control.counters.done.load(Ordering::SeqCst), 40);
    }

    #[tokio::test]
    async fn a_store_that_stays_down_stops_the_run_after_the_units_in_flight() {
        let control = quiet();
        let (code, stage) = go(
            |n| match n {
                5 => Err(UnitError::Store {
                    store: "the POST store redis://h:1/0".into(),
                    error: StoreError::Unavailable {
                        url: "redis://h:1/0".into(),
                        reason: "connection refused".into(),
                    },
                }),
                _ => Ok(Done::rows(1, 1)),
            },
            &control,
        )
        .await;
        assert_eq!(code, EXIT_STORE);
        let started = stage.started.load(Ordering::SeqCst);
        assert!(
            started < 12,
            "{started} units started after the store went down"
        );
        assert_eq!(report_of(&control)["status"], "store unavailable");
    }

    #[tokio::test]
    async fn a_cancel_stops_the_run_as_interrupted() {
        let control = quiet();
        control.cancel();
        let (code, stage) = go(|_| Ok(Done::rows(1, 1)), &control).await;
        assert_eq!(code, EXIT_INTERRUPTED);
        assert_eq!(stage.started.load(Ordering::SeqCst), 0);
        assert_eq!(report_of(&control)["status"], "interrupted");
    }
}
