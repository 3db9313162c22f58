//! The progress display of a run: a bar on a terminal, log lines every 10 seconds otherwise,
//! JSON lines every second for a script, and the counters a program that started the run in
//! process reads.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

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

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProgressMode {
    /// A bar on a terminal, log lines otherwise.
    Auto,
    /// Always a bar.
    Bar,
    /// Always log lines (every 10 seconds).
    Log,
    /// One JSON line a second on stderr, and one when the run ends, for scripts that chart a
    /// run: `{"progress":"fetch","seconds":12.0,"done":340,"total":1000,"rows":2400000}`.
    Json,
    /// Nothing until the summary.
    Off,
}

/// Units done out of the total, as a bar or as periodic log lines.
pub(crate) struct Progress {
    stage: &'static str,
    bar: Option<ProgressBar>,
    log: bool,
    json: bool,
    total: u64,
    done: u64,
    rows: u64,
    started: Instant,
    last_log: Instant,
    counters: Option<Arc<Counters>>,
}

impl Progress {
    /// Progress of `stage` over `total` units.
    pub(crate) fn new(stage: &'static str, mode: ProgressMode, total: u64) -> Progress {
        let bar = match mode {
            ProgressMode::Bar => true,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
            ProgressMode::Log | ProgressMode::Json | ProgressMode::Off => false,
        };
        let bar = bar.then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} units \
                     ({per_sec}, ETA {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let json = mode == ProgressMode::Json;
        let log = bar.is_none() && !json && mode != ProgressMode::Off;
        let progress = Progress {
            stage,
            bar,
            log,
            json,
            total,
            done: 0,
            rows: 0,
            started: Instant::now(),
            last_log: Instant::now(),
            counters: None,
        };
        progress.json_line();
        progress
    }

    /// Also counts into `counters` (for a program that started the run in process).
    pub(crate) fn with_counters(mut self, counters: Arc<Counters>) -> Progress {
        counters.total.store(self.total, Ordering::Relaxed);
        self.counters = Some(counters);
        self
    }

    /// One more unit done, with `rows` rows.
    pub(crate) fn tick(&mut self, unit: &str, rows: u64) {
        self.done += 1;
        self.rows += rows;
        if let Some(c) = &self.counters {
            c.done.fetch_add(1, Ordering::Relaxed);
            c.rows.fetch_add(rows, Ordering::Relaxed);
        }
        if self.json {
            if self.last_log.elapsed() >= Duration::from_secs(1) {
                self.last_log = Instant::now();
                self.json_line();
            }
        } else if let Some(b) = &self.bar {
            b.inc(1);
            b.set_message(format!("{} rows, last {unit}", self.rows));
        } else if self.log && self.last_log.elapsed() >= Duration::from_secs(10) {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64();
            let rate = self.done as f64 / secs.max(1e-9);
            let eta = (self.total - self.done) as f64 / rate.max(1e-9);
            tracing::info!(
                "{}: {}/{} units, {} rows, {:.1} units/s, ETA {:.0} s",
                self.stage,
                self.done,
                self.total,
                self.rows,
                rate,
                eta
            );
        }
    }

    /// Clears the bar (or writes the last JSON line).
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        self.json_line();
    }

    /// With `--progress json`, the line of [`ProgressMode::Json`].
    fn json_line(&self) {
        if self.json {
            eprintln!(
                "{{\"progress\":\"{}\",\"seconds\":{:.3},\"done\":{},\"total\":{},\"rows\":{}}}",
                self.stage,
                self.started.elapsed().as_secs_f64(),
                self.done,
                self.total,
                self.rows
            );
        }
    }
}
