//! xlsx reports: any answer of the query layer as a workbook, a batch as a workbook, and
//! (in [`named`]) the named reports with native Excel charts. Written with
//! `rust_xlsxwriter` from the query layer's typed [`Table`]s, in constant memory mode, to an
//! anonymous temporary file that is then sent (or, for `xlserver report`, copied to its
//! destination).
//!
//! | entry | what |
//! |---|---|
//! | [`Reports::function`] | one function's answer: a sheet with an Excel Table, and About |
//! | [`Reports::batch`] | many calls: a sheet per call, their errors on About |
//! | [`Reports::named`] | `history`, `chain`, `compare`, `ivsurface` with charts ([`named`]) |
//!
//! Limits: at most `reports.max_rows` data rows in one workbook (over it, a 400 naming the
//! cap, before anything is written); at most `reports.concurrency` workbooks built at once
//! (busy: 503 with `Retry-After`); `reports.timeout_secs` to build one. `ticks` exports
//! are not paged: every trade of the range, read a day at a time without filling the chunk
//! cache, so the server's memory does not grow with the rows.

mod about;
pub(crate) mod book;
pub mod cli;
pub(crate) mod columns;
pub mod named;
pub(crate) mod names;
mod stream;

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) use about::About;
use book::Book;

use crate::error::{ApiError, ApiResult};
use crate::query::{Args, QueryService};
use crate::table::Table;

/// The media type of an xlsx workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The `[reports]` section of the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportLimits {
    /// Data rows in one workbook at most (all its sheets).
    pub max_rows: u64,
    /// Workbooks built or reconciled at once; one more is a 503 with `Retry-After`.
    pub concurrency: usize,
    /// Seconds a workbook (or a reconciliation) may take to build.
    pub timeout_secs: u64,
    /// Where sheets spill while they are written (default: the system's temporary folder).
    pub tempdir: Option<PathBuf>,
    /// Bytes of an uploaded workbook at most (`POST /api/v1/reconcile`).
    pub max_upload_bytes: usize,
    /// Cells of an uploaded workbook at most, all sheets' spans together: a read cell costs
    /// 32 to 88 bytes while it is reconciled (docs/reports.md, "Memory").
    pub max_cells: u64,
}

impl Default for ReportLimits {
    fn default() -> Self {
        ReportLimits {
            max_rows: 5_000_000,
            concurrency: 2,
            timeout_secs: 600,
            tempdir: None,
            max_upload_bytes: 20 << 20,
            max_cells: 5_000_000,
        }
    }
}

impl ReportLimits {
    /// Checks values that deserialize but cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_rows == 0 || self.concurrency == 0 || self.timeout_secs == 0 {
            return Err(
                "reports.max_rows, reports.concurrency and reports.timeout_secs must be at least 1"
                    .into(),
            );
        }
        if self.max_upload_bytes == 0 || self.max_cells == 0 {
            return Err("reports.max_upload_bytes and reports.max_cells must be at least 1".into());
        }
        if let Some(d) = &self.tempdir
            && !d.is_dir()
        {
            return Err(format!("reports.tempdir {} is not a folder", d.display()));
        }
        Ok(())
    }
}

/// A built workbook: an anonymous temporary file at its start, and what it is called.
#[derive(Debug)]
pub struct Built {
    /// The workbook's bytes.
    pub file: File,
    /// Its length.
    pub len: u64,
    /// A file name for it (`history-AAPL.xlsx`).
    pub file_name: String,
}

/// At most `reports.concurrency` workbooks built or reconciled at once.
#[derive(Debug, Clone)]
struct Slots {
    count: usize,
    free: Arc<Semaphore>,
}

impl Slots {
    fn new(count: usize) -> Slots {
        let count = count.max(1);
        Slots {
            count,
            free: Arc::new(Semaphore::new(count)),
        }
    }

    /// A slot, held until dropped, or the 503 saying to come back.
    fn take(&self) -> ApiResult<OwnedSemaphorePermit> {
        self.free.clone().try_acquire_owned().map_err(|_| {
            ApiError::unavailable(format!(
                "the server is building or reconciling as many workbooks as it may at once ({}, reports.concurrency): send this again shortly",
                self.count
            ))
            .retry_after(2)
        })
    }
}

/// Builds workbooks within the limits.
#[derive(Debug, Clone)]
pub struct Reports {
    query: Arc<QueryService>,
    limits: ReportLimits,
    slots: Slots,
}

impl Reports {
    /// Reports over `query` within `limits`.
    pub fn new(query: Arc<QueryService>, limits: ReportLimits) -> Reports {
        let slots = Slots::new(limits.concurrency);
        Reports {
            query,
            limits,
            slots,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &ReportLimits {
        &self.limits
    }

    /// A slot to build or reconcile one workbook, held until dropped, or the 503 saying to
    /// come back (the same slots for both: each can take hundreds of megabytes).
    pub fn permit(&self) -> ApiResult<OwnedSemaphorePermit> {
        self.slots.take()
    }

    /// The stores, as About names them (passwords removed).
    fn about(&self, title: String) -> About {
        let data = self.query.data();
        About::new(
            title,
            data.store(xlfeed_store::Dataset::Feed).url(),
            data.store(xlfeed_store::Dataset::Post).url(),
        )
    }

    /// The answer of `function` to `args` as a workbook.
    pub async fn function(&self, function: &str, args: &Args) -> ApiResult<Built> {
        let _permit = self.permit()?;
        crate::query::checked(function, args)?;
        let mut about = self.about(format!("xlfeed {function}"));
        about.call(function, args);
        let file_name = file_name(function, args);
        if function == "ticks" {
            return stream::ticks(self, args, about, file_name).await;
        }
        let t = self.query.call(function, args).await?;
        self.check_rows(t.rows.len() as u64, &format!("{function} answers"))?;
        let wanted = sheet_title(function, args);
        self.write(
            file_name,
            move |book, about| {
                let name = book.table(&wanted, &t)?;
                about.rows(&name, t.rows.len() as u64, t.next.as_deref());
                Ok(())
            },
            about,
        )
        .await
    }

    /// The calls of a batch (`calls`, each a function and its arguments, or the error it
    /// already is) as one workbook: a sheet per call that answered, every error on About.
    pub async fn batch(&self, calls: Vec<Result<(String, Args), ApiError>>) -> ApiResult<Built> {
        let _permit = self.permit()?;
        let about = self.about("xlfeed batch".to_owned());
        // The calls one after another: a batch workbook is a report, not a recalculation
        // burst, and the row cap is checked as the answers arrive.
        // Identical calls run once.
        let mut answers: Vec<(usize, String, Args, ApiResult<Table>)> = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        let mut rows = 0u64;
        for (i, c) in calls.into_iter().enumerate() {
            match c {
                Err(e) => answers.push((i, String::new(), Args::default(), Err(e))),
                Ok((f, a)) => {
                    let key = format!("{f}\u{0}{}", a.to_json());
                    let r = match seen.get(&key) {
                        Some(&j) => answers[j].3.clone(),
                        None => self.query.call(&f, &a).await,
                    };
                    seen.entry(key).or_insert(answers.len());
                    if let Ok(t) = &r {
                        rows += t.rows.len() as u64;
                        self.check_rows(rows, "the batch's answers")?;
                    }
                    answers.push((i, f, a, r));
                }
            }
        }
        self.write(
            "batch.xlsx".to_owned(),
            move |book, about| {
                for (i, f, a, r) in answers {
                    match r {
                        Ok(t) => {
                            let name = book.table(&sheet_title(&f, &a), &t)?;
                            about.rows(&name, t.rows.len() as u64, t.next.as_deref());
                        }
                        Err(e) => about.error(i, &f, &a, &e),
                    }
                }
                Ok(())
            },
            about,
        )
        .await
    }

    /// The named report `name` for `args` (see [`named`]).
    pub async fn named(&self, name: &str, args: &Args) -> ApiResult<Built> {
        let report = named::report(name)?;
        let _permit = self.permit()?;
        report.check(args)?;
        let mut about = self.about(format!("xlfeed {name} report"));
        about.call(&format!("report {name}"), args);
        let data = (report.fetch)(&self.query, args).await?;
        let rows = data.rows();
        self.check_rows(rows, &format!("the {name} report"))?;
        let file_name = file_name(&format!("report-{name}"), args);
        let args = args.clone();
        self.write(
            file_name,
            move |book, about| (report.write)(book, about, &args, data),
            about,
        )
        .await
    }

    /// Over the row cap: the 400 naming it.
    fn check_rows(&self, rows: u64, what: &str) -> ApiResult<()> {
        if rows > self.limits.max_rows {
            return Err(ApiError::bad(format!(
                "{what} {rows} rows, more than reports.max_rows {}: ask for a shorter range or fewer symbols",
                self.limits.max_rows
            )));
        }
        Ok(())
    }

    /// Builds the workbook on a blocking thread: `fill` writes the sheets, then About, the
    /// properties, and the file.
    async fn write(
        &self,
        file_name: String,
        fill: impl FnOnce(&mut Book, &mut About) -> ApiResult<()> + Send + 'static,
        mut about: About,
    ) -> ApiResult<Built> {
        let tempdir = self.limits.tempdir.clone();
        run_blocking(move || {
            let mut book = Book::new(tempdir.as_deref())?;
            fill(&mut book, &mut about)?;
            finish(book, about, file_name, tempdir.as_deref())
        })
        .await
    }
}

/// A workbook written row by row in constant memory: the writer of the server's exports,
/// for programs with rows of their own (and the benchmark). Rows past a sheet's 1,048,575
/// continue on the next; each sheet holds an Excel Table.
#[derive(Debug)]
pub struct RowWriter {
    book: Book,
    sheet: book::SheetWriter,
}

impl RowWriter {
    /// A workbook whose sheet `title` will hold `rows` rows of `columns`, each column
    /// formatted for its name and for `sample`'s cell in it (see [`columns`]); sheets spill
    /// to `tempdir` (the system's when `None`).
    pub fn new(
        title: &str,
        columns: &[&str],
        sample: &[crate::table::Cell],
        rows: u64,
        tempdir: Option<&std::path::Path>,
    ) -> ApiResult<RowWriter> {
        let mut book = Book::new(tempdir)?;
        let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        let looks: Vec<columns::Look> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| columns::Look::of(c, sample.get(i)))
            .collect();
        let longest: Vec<usize> = sample
            .iter()
            .map(|c| match c {
                crate::table::Cell::Text(s) => s.chars().count(),
                _ => 0,
            })
            .collect();
        let sheet = book.sheet(title, &names, &looks, &longest, rows)?;
        Ok(RowWriter { book, sheet })
    }

    /// Writes the next row.
    pub fn row(&mut self, cells: &[crate::table::Cell]) -> ApiResult<()> {
        self.sheet.row(&mut self.book, cells)
    }

    /// Writes the workbook to `out`.
    pub fn save<W: std::io::Write + Seek + Send>(self, out: W) -> ApiResult<()> {
        self.book.save(out)
    }
}

/// The Excel serial (1900 date system) of a UTC instant in New York time, as the writer
/// stores times.
pub fn book_time_serial(ns: i64) -> Option<f64> {
    book::time_serial(ns)
}

/// Runs `f` on tokio's blocking threads (writing a workbook is CPU and file work).
pub(crate) async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "a workbook task failed");
            Err(ApiError::new(
                xlfeed_core::ErrorKind::Internal,
                "the workbook could not be written; see the server log",
            ))
        }
    }
}

/// Adds About and the properties to `book` and saves it to an anonymous temporary file.
pub(crate) fn finish(
    mut book: Book,
    mut about: About,
    file_name: String,
    tempdir: Option<&std::path::Path>,
) -> ApiResult<Built> {
    for name in book.plain.clone() {
        about.note(format!(
            "{name}: more than {} rows, so an autofilter on its header rather than an Excel Table (Insert > Table makes one)",
            book::TABLE_ROWS
        ));
    }
    about.write(&mut book)?;
    if let Some(first) = book.sheets.first().map(|s| s.0.clone()) {
        book.activate(&first)?;
    }
    let mut file = match tempdir {
        Some(d) => tempfile::tempfile_in(d),
        None => tempfile::tempfile(),
    }
    .map_err(|e| {
        tracing::error!(error = %e, "no temporary file for a workbook");
        ApiError::unavailable("no room to write the workbook; try again later")
    })?;
    book.save(&mut file)?;
    let len = file.stream_position().unwrap_or(0);
    file.seek(SeekFrom::Start(0)).map_err(|e| {
        tracing::error!(error = %e, "rewinding a workbook failed");
        ApiError::unavailable("the workbook could not be read back; try again later")
    })?;
    Ok(Built {
        file,
        len,
        file_name,
    })
}

/// A sheet's title for a call: the function and its first argument (`history AAPL`).
fn sheet_title(function: &str, args: &Args) -> String {
    let first = args
        .to_json()
        .as_object()
        .and_then(|m| {
            [
                "symbol",
                "symbols",
                "underlying",
                "contract",
                "query",
                "date",
            ]
            .iter()
            .find_map(|k| m.get(*k))
            .cloned()
        })
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            v => v.to_string(),
        });
    match first {
        Some(f) if !f.is_empty() => format!("{function} {f}"),
        _ => function.to_owned(),
    }
}

/// A safe file name for a call's workbook: letters, digits, `-`, `_`, `.` only.
fn file_name(what: &str, args: &Args) -> String {
    let title = sheet_title(what, args).replace(' ', "-");
    let safe: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{safe}.xlsx")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles_and_file_names_are_safe() {
        let a = Args::from_json(&json!({"symbol": "BRK.B", "start": "2024-01-02"})).unwrap();
        assert_eq!(sheet_title("history", &a), "history BRK.B");
        assert_eq!(file_name("history", &a), "history-BRK.B.xlsx");
        let a = Args::from_json(&json!({"symbols": ["AAPL", "MSFT"]})).unwrap();
        assert_eq!(file_name("compare", &a), "compare-AAPL_MSFT.xlsx");
        let a = Args::from_json(&json!({"symbol": "../../etc/passwd\r\n"})).unwrap();
        assert!(!file_name("ticks", &a).contains('/'));
        assert!(ReportLimits::default().validate().is_ok());
        let bad = ReportLimits {
            concurrency: 0,
            ..ReportLimits::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn a_busy_slot_is_a_503_with_retry_after_until_freed() {
        let slots = Slots::new(1);
        let held = slots.take().unwrap();
        let busy = slots.take().unwrap_err();
        assert_eq!(busy.surfaces().http, 503);
        assert_eq!(busy.retry_after, Some(2));
        assert!(busy.message.contains("reports.concurrency"), "{busy:?}");
        drop(held);
        assert!(slots.take().is_ok());
    }
}
