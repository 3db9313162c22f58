//! The run report of a stage: what happened to each unit, counted per kind, the units that
//! did not end well, how the run ended and its exit code; a JSON file and a one-screen
//! summary.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// What happened to one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done and committed, with this many rows.
    Done(u64),
    /// Already in the store, or its inputs did not change (skipped without work).
    Skipped,
    /// Nothing to do (IQFeed's `!NO_DATA!`, no option trades): an empty day is committed so a
    /// re-run skips it.
    Empty,
    /// The symbol is unknown (to IQFeed).
    UnknownSymbol,
    /// Failed (after retries where a retry could help).
    Failed,
}

/// Counts for one kind.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct KindReport {
    /// Symbols the kind covered.
    pub(crate) symbols: usize,
    /// Units done and committed.
    pub(crate) done: u64,
    /// Units skipped because the store had them (or their inputs did not change).
    pub(crate) skipped: u64,
    /// Units with nothing to do.
    pub(crate) empty: u64,
    /// Units of unknown symbols.
    pub(crate) unknown_symbol: u64,
    /// Units that failed.
    pub(crate) failed: u64,
    /// Rows written.
    pub(crate) rows: u64,
    /// Symbol-days committed (a daily unit commits one per day).
    pub(crate) days_written: u64,
}

/// One unit that did not end well.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    /// The kind (`ticks`, `bars:60`, ...).
    pub(crate) kind: String,
    /// The symbol.
    pub(crate) symbol: String,
    /// The first and last day of the unit (`YYYY-MM-DD`).
    pub(crate) days: String,
    /// `unknown symbol` or `failed`.
    pub(crate) status: String,
    /// Why.
    pub(crate) reason: String,
}

/// The report of a run.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    /// The stage: `fetch` or `postprocess`.
    pub(crate) stage: String,
    /// The store written.
    pub(crate) store: String,
    /// Where the data came from.
    pub(crate) source: String,
    /// First and last day of the range.
    pub(crate) from: String,
    /// Last day.
    pub(crate) to: String,
    /// The shard, `i/n`.
    pub(crate) shard: String,
    /// Symbols of this shard.
    pub(crate) symbols: usize,
    /// Units planned.
    pub(crate) units: u64,
    /// Seconds the run took.
    pub(crate) seconds: f64,
    /// Rows written per second.
    pub(crate) rows_per_second: f64,
    /// How the run ended: `complete`, `complete with failures`, `interrupted`,
    /// `store unavailable`.
    pub(crate) status: String,
    /// Per kind.
    pub(crate) kinds: BTreeMap<String, KindReport>,
    /// Units that did not end well.
    pub(crate) problems: Vec<Problem>,
    /// The requests made of IQFeed (fetch from a gateway only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) requests: Option<Requests>,
}

/// What a fetch asked of IQFeed, whose history servers allow about 50 requests a second:
/// the bound on a backfill's wall time.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct Requests {
    /// Requests sent (history and chains; a retry is another one).
    pub(crate) made: u64,
    /// Instruments asked for: each stock's kind and each option contract, once per run.
    pub(crate) entities: u64,
    /// `made` per 1,000 `entities`.
    pub(crate) per_1000_entities: f64,
    /// `made` per 1,000 rows written (the entities of the fetch benchmarks).
    pub(crate) per_1000_rows: f64,
}

impl Report {
    /// Records a unit's outcome.
    pub(crate) fn record(&mut self, kind: &str, outcome: Outcome, days_written: u64) {
        let k = self.kinds.entry(kind.to_owned()).or_default();
        match outcome {
            Outcome::Done(rows) => {
                k.done += 1;
                k.rows += rows;
            }
            Outcome::Skipped => k.skipped += 1,
            Outcome::Empty => k.empty += 1,
            Outcome::UnknownSymbol => k.unknown_symbol += 1,
            Outcome::Failed => k.failed += 1,
        }
        k.days_written += days_written;
    }

    /// Rows written in all.
    pub(crate) fn rows(&self) -> u64 {
        self.kinds.values().map(|k| k.rows).sum()
    }

    /// Units that failed in all.
    pub(crate) fn failed(&self) -> u64 {
        self.kinds.values().map(|k| k.failed).sum()
    }

    /// Writes the JSON report.
    pub(crate) fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write the report {}", path.display()))
    }

    /// The one-screen summary.
    pub(crate) fn summary(&self) -> String {
        let mut s = format!(
            "{} {}: {} symbols, {} .. {}, shard {}, into {}\n",
            self.stage, self.status, self.symbols, self.from, self.to, self.shard, self.store
        );
        s += &format!(
            "{:<14} {:>8} {:>9} {:>8} {:>7} {:>8} {:>7} {:>12}\n",
            "kind", "symbols", "done", "skipped", "empty", "unknown", "failed", "rows"
        );
        for (name, k) in &self.kinds {
            s += &format!(
                "{name:<14} {:>8} {:>9} {:>8} {:>7} {:>8} {:>7} {:>12}\n",
                k.symbols, k.done, k.skipped, k.empty, k.unknown_symbol, k.failed, k.rows
            );
        }
        s += &format!(
            "{} rows in {:.1} s ({:.0} rows/s)\n",
            self.rows(),
            self.seconds,
            self.rows_per_second
        );
        if let Some(r) = &self.requests {
            s += &format!(
                "{} IQFeed requests for {} entities ({:.0} per 1,000 entities, {:.3} per 1,000 rows)\n",
                r.made, r.entities, r.per_1000_entities, r.per_1000_rows
            );
        }
        let shown = 10;
        for p in self.problems.iter().take(shown) {
            s += &format!(
                "  {} {} {} {}: {}\n",
                p.status, p.kind, p.symbol, p.days, p.reason
            );
        }
        if self.problems.len() > shown {
            s += &format!(
                "  ... and {} more in the JSON report\n",
                self.problems.len() - shown
            );
        }
        s
    }
}

/// Exit code when some units failed (2 is clap's, for a command line it cannot parse).
pub(crate) const EXIT_FAILURES: u8 = 4;
/// Exit code when a store could not be read or written.
pub(crate) const EXIT_STORE: u8 = 3;
/// Exit code when stopped by SIGINT or SIGTERM.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

impl Report {
    /// Ends a run: its status and exit code from how it went (a store error, a signal,
    /// failed units), the report written to `path` (when given) and the summary printed.
    /// `store_down` names the store that failed and why.
    pub(crate) fn finish(
        &mut self,
        started: std::time::Instant,
        store_down: Option<String>,
        interrupted: bool,
        path: Option<&Path>,
    ) -> Result<u8> {
        self.seconds = started.elapsed().as_secs_f64();
        self.rows_per_second = self.rows() as f64 / self.seconds.max(1e-9);
        let code = if let Some(why) = store_down {
            self.status = "store unavailable".into();
            eprintln!(
                "{}: stopped: {why}. Everything committed before is kept; run again when it \
                 is back.",
                self.stage
            );
            EXIT_STORE
        } else if interrupted {
            self.status = "interrupted".into();
            EXIT_INTERRUPTED
        } else if self.failed() > 0 {
            self.status = "complete with failures".into();
            EXIT_FAILURES
        } else {
            self.status = "complete".into();
            0
        };
        eprint!("{}", self.summary());
        if let Some(path) = path {
            self.write(path)?;
            eprintln!("report: {}", path.display());
        }
        Ok(code)
    }
}
