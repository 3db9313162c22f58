//! `xlserver report`: the server's workbooks written to files, for a nightly job writing to a
//! shared volume. One report from the command line, or every report of a spec file:
//!
//! ```toml
//! # reports.toml: each [[report]] is a named report (`report = "history"`) or one
//! # function's answer (`function = "ticks"`), its arguments, and optionally its file name.
//! [[report]]
//! report = "history"
//! args = { symbol = "AAPL", start = "2024-01-02", end = "2024-06-28" }
//!
//! [[report]]
//! function = "ticks"
//! args = { symbol = "SPY", start = "2024-06-28" }
//! file = "spy-ticks.xlsx"
//! ```
//!
//! Each file is written whole or not at all (a temporary file renamed into place), so a
//! reader of the shared volume never sees half a workbook. The exit status is 0 when every
//! report was written, 1 when one failed (each failure is printed with its reason).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use super::{Built, ReportLimits, Reports};
use crate::query::{Args, QueryService};

/// `xlserver report` arguments.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples (after `xlserver demo`, whose stores are in ./data):\n  \
    xlserver report --data data --out reports history symbol=AAPL start=2024-01-02 end=2024-06-28\n  \
    xlserver report --data data --out reports --function ticks symbol=SPY start=2024-06-28\n  \
    xlserver report --config xlserver.toml --spec reports.toml --out /mnt/reports"
)]
pub struct ReportArgs {
    /// Folder the workbooks are written to (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// A spec file (TOML) listing the reports to write; see `xlserver report --help`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "function"])]
    pub spec: Option<PathBuf>,
    /// Read the demo's embedded stores in DIR (DIR/feed, DIR/post) instead of the configured
    /// ones.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Write one function's answer (history, ticks, quote, chain, ...) rather than a named
    /// report.
    #[arg(long, value_name = "FUNCTION")]
    pub function: Option<String>,
    /// The named report: history, chain, compare, ivsurface.
    #[arg(value_name = "REPORT")]
    pub name: Option<String>,
    /// Its arguments, as name=value (the same names as the HTTP API's).
    #[arg(value_name = "NAME=VALUE")]
    pub args: Vec<String>,
}

/// A spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    report: Vec<Entry>,
}

/// One report of a spec.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    report: Option<String>,
    function: Option<String>,
    #[serde(default)]
    args: serde_json::Map<String, Value>,
    file: Option<String>,
}

/// What to write: a named report or a function's answer, its arguments, its file name.
#[derive(Debug)]
struct Job {
    named: bool,
    name: String,
    args: Args,
    file: Option<String>,
}

impl Job {
    fn shown(&self) -> String {
        let kind = if self.named { "report" } else { "function" };
        format!("{kind} {} {}", self.name, self.args.to_json())
    }
}

/// The jobs `args` asks for.
fn jobs(a: &ReportArgs) -> Result<Vec<Job>> {
    if let Some(spec) = &a.spec {
        if !spec.is_file() {
            bail!("the spec {} does not exist", spec.display());
        }
        use figment2::providers::Format as _;
        let parsed: Spec = figment2::Figment::from(figment2::providers::Toml::file(spec))
            .extract()
            .map_err(|e| anyhow::anyhow!("the spec {}: {e}", spec.display()))?;
        return parsed
            .report
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let (named, name) = match (e.report, e.function) {
                    (Some(r), None) => (true, r),
                    (None, Some(f)) => (false, f),
                    _ => bail!(
                        "report {} of the spec: give one of report or function",
                        i + 1
                    ),
                };
                let args = Args::from_json(&Value::Object(e.args))
                    .map_err(|e| anyhow::anyhow!("report {} of the spec: {}", i + 1, e.message))?;
                if let Some(f) = &e.file {
                    check_file_name(f)?;
                }
                Ok(Job {
                    named,
                    name,
                    args,
                    file: e.file,
                })
            })
            .collect();
    }
    // With --function, the first NAME=VALUE lands in `name` (the positional before them).
    let mut first = None;
    let (named, name) = match (&a.function, &a.name) {
        (Some(f), None) => (false, f.clone()),
        (Some(f), Some(n)) if n.contains('=') => {
            first = Some(n);
            (false, f.clone())
        }
        (Some(_), Some(n)) => bail!(
            "give a report ({}) or --function, not both",
            xlfeed_core::quoted(n)
        ),
        (None, Some(n)) => (true, n.clone()),
        (None, None) => bail!(
            "name a report (history, chain, compare, ivsurface), --function F, or --spec FILE"
        ),
    };
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for p in first.into_iter().chain(&a.args) {
        let Some((k, v)) = p.split_once('=') else {
            bail!("argument {} is not NAME=VALUE", xlfeed_core::quoted(p));
        };
        pairs.push((k, v));
    }
    let args = Args::from_pairs(pairs).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    Ok(vec![Job {
        named,
        name,
        args,
        file: None,
    }])
}

/// `xlserver report --check`: the workbooks `a` asks for once each names a known report or
/// function with arguments it takes (nothing is read from the stores), or the error.
pub fn check(a: &ReportArgs) -> Result<String> {
    let jobs = jobs(a)?;
    for job in &jobs {
        let checked = if job.named {
            super::named::report(&job.name).and_then(|r| r.check(&job.args))
        } else {
            crate::query::checked(&job.name, &job.args).map(|_| ())
        };
        checked.map_err(|e| anyhow::anyhow!("{}: {}", job.shown(), e.message))?;
    }
    let shown: Vec<String> = jobs.iter().map(Job::shown).collect();
    Ok(format!("{} workbook(s): {}", jobs.len(), shown.join("; ")))
}

/// A file name of a spec: a plain name ending in `.xlsx`, no folders.
fn check_file_name(f: &str) -> Result<()> {
    let p = Path::new(f);
    if !f.ends_with(".xlsx")
        || p.components().count() != 1
        || f.starts_with('.')
        || f.contains(['/', '\\'])
    {
        bail!(
            "file {} is not a plain file name ending in .xlsx",
            xlfeed_core::quoted(f)
        );
    }
    Ok(())
}

/// Runs `xlserver report` over `query`; returns whether every report was written.
pub async fn run(a: &ReportArgs, query: Arc<QueryService>, limits: ReportLimits) -> Result<bool> {
    let jobs = jobs(a)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let reports = Reports::new(query, limits);
    let mut all = true;
    for job in jobs {
        let built = if job.named {
            reports.named(&job.name, &job.args).await
        } else {
            reports.function(&job.name, &job.args).await
        };
        match built {
            Ok(b) => {
                let path = a.out.join(job.file.as_deref().unwrap_or(&b.file_name));
                let len = b.len;
                save(b, &path)?;
                println!("wrote {} ({len} bytes): {}", path.display(), job.shown());
            }
            Err(e) => {
                all = false;
                eprintln!("failed: {}: {} ({})", job.shown(), e.message, e.code());
            }
        }
    }
    Ok(all)
}

/// Copies a built workbook to `path`, whole or not at all.
fn save(mut b: Built, path: &Path) -> Result<()> {
    let mut f = xlfeed_core::AtomicFile::create(path, xlfeed_core::fsutil::Access::Shared)?;
    std::io::copy(&mut b.file, &mut f)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.flush()?;
    f.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Line {
        #[command(flatten)]
        a: ReportArgs,
    }

    fn parsed(args: &[&str]) -> Result<Vec<Job>> {
        use clap::Parser as _;
        let line = Line::try_parse_from(std::iter::once("report").chain(args.iter().copied()))?;
        jobs(&line.a)
    }

    #[test]
    fn a_function_or_a_report_from_the_command_line() {
        let j = parsed(&["--function", "ticks", "symbol=SPY", "start=2024-06-28"]).unwrap();
        assert!(!j[0].named);
        assert_eq!(j[0].name, "ticks");
        assert_eq!(
            j[0].args.to_json(),
            serde_json::json!({"symbol": "SPY", "start": "2024-06-28"})
        );
        let j = parsed(&["history", "symbol=AAPL"]).unwrap();
        assert!(j[0].named);
        assert_eq!(j[0].name, "history");
        let e = parsed(&["--function", "ticks", "history", "symbol=AAPL"]).unwrap_err();
        assert!(e.to_string().contains("(\"history\") or --function"), "{e}");
        assert!(
            parsed(&[])
                .unwrap_err()
                .to_string()
                .contains("name a report")
        );
        assert!(
            parsed(&["history", "symbol"])
                .unwrap_err()
                .to_string()
                .contains("\"symbol\" is not NAME=VALUE")
        );
    }

    #[test]
    fn spec_file_names_stay_in_the_folder() {
        assert!(check_file_name("spy.xlsx").is_ok());
        for bad in [
            "../x.xlsx",
            "/etc/x.xlsx",
            "a/b.xlsx",
            ".hidden.xlsx",
            "x.csv",
            "a\\b.xlsx",
        ] {
            let e = check_file_name(bad).unwrap_err().to_string();
            assert!(e.contains("is not a plain file name"), "{e}");
        }
    }
}
