//! The import engine: check a whole file, then write it, one chunk per symbol-day.
//!
//! Every importer is a [`Format`]: it binds itself to the file's header and turns each row
//! into records keyed by (symbol, day). The engine reads the file twice:
//!
//! 1. **check**: every row is parsed and nothing is written. A bad row (a value that does not
//!    parse, a line with the wrong number of fields, a second row for a day that takes one) is
//!    reported with file, row and reason. More than `--max-bad-rows` of them and the import
//!    stops there, having written nothing; a header that is not the format's rejects the file
//!    before any row is read. The check also notes the last row of each symbol-day.
//! 2. **write**: rows are parsed again and a symbol-day's chunk is encoded and written as soon
//!    as its last row has been read, in batches, so memory holds the symbol-days in progress
//!    (one day of ticks for a time-ordered tick file), never the whole file.
//!
//! A chunk holds a symbol-day's records in a fixed order ([`Format::finish`]), so the same file
//! always writes the same bytes: importing it again changes nothing. A symbol-day in the file
//! replaces the one in the store; days the file does not mention are left alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use anyhow::{Context, Result, bail};
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::codec::{self, Columnar};
use xlfeed_store::{ChunkKey, Dataset, Kind, Store};

use super::table::{Header, Item, Row, Source};

/// Bad rows listed one by one; past this only their number is reported.
const LISTED_BAD_ROWS: usize = 50;
/// Chunks per write batch.
const BATCH_CHUNKS: usize = 512;
/// Encoded bytes per write batch.
const BATCH_BYTES: usize = 32 << 20;

/// One symbol-day: the unit the store keeps.
pub(crate) type Unit = (Symbol, TradingDay);

/// What a row turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Records were added.
    Records,
    /// The row holds no data, for an expected reason (counted in the summary, not an error).
    Skipped(&'static str),
}

/// An importer: one file format into one kind.
pub(crate) trait Format {
    /// The record type written.
    type Record: Columnar;
    /// What the file claims to be, for messages: `yahoo daily csv`.
    const WHAT: &'static str;
    /// The kind written.
    const KIND: Kind;
    /// Whether a symbol-day comes from one row (daily bars, rate curves), so that a second
    /// row for it is a bad row, rather than from many (ticks, dividends).
    const ONE_ROW_PER_DAY: bool;

    /// Binds the format to the file's header; an error rejects the file. Returns notes for
    /// the user (columns ignored, defaults taken).
    fn bind(&mut self, header: &Header) -> Result<Vec<String>>;

    /// Parses one row, pushing its records; the error is the reason the row is bad, naming
    /// the column and the value.
    fn parse(&self, row: &Row<'_>, out: &mut Vec<(Unit, Self::Record)>) -> Result<Parsed, String>;

    /// Puts one symbol-day's records in their stored order, and fills what depends on it.
    fn finish(&self, records: &mut Vec<Self::Record>);
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The store to write (FEED); `None` only for a dry run.
    pub(crate) store: Option<String>,
    /// Bad rows tolerated (skipped and reported) before the file is rejected.
    pub(crate) max_bad_rows: u64,
    /// Check only: write nothing, do not open the store.
    pub(crate) dry_run: bool,
}

/// What an import did, printed at the end.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    file: String,
    what: &'static str,
    kind: Kind,
    store: Option<String>,
    dry_run: bool,
    /// Data rows read (blank rows are not counted).
    rows: u64,
    /// Rows that gave records.
    imported: u64,
    /// Rows without data, by reason.
    skipped: BTreeMap<&'static str, u64>,
    /// Bad rows skipped under `--max-bad-rows`.
    bad: u64,
    /// Records written.
    records: u64,
    /// Per symbol: first day, last day, symbol-days.
    days: BTreeMap<Symbol, (TradingDay, TradingDay, u64)>,
    /// Chunks written.
    chunks: u64,
}

/// What the check pass learnt.
struct Check {
    rows: u64,
    imported: u64,
    records: u64,
    skipped: BTreeMap<&'static str, u64>,
    bad_rows: HashSet<u64>,
    bad: u64,
    listed: Vec<String>,
    last_row: HashMap<Unit, u64>,
    notes: Vec<String>,
}

/// Imports `source` as `format` into the store of `opts`; see the module documentation.
pub(crate) async fn run<F>(source: Source, mut format: F, opts: Options) -> Result<Summary>
where
    F: Format + Send + 'static,
    F::Record: Send,
{
    let file = source.name().to_owned();
    // Parsing is CPU work on a blocking thread; writes go back to the runtime.
    let (source, format, check) = tokio::task::spawn_blocking(move || {
        let check = check(&source, &mut format);
        (source, format, check)
    })
    .await
    .context("the import check stopped")?;
    let check = check?;
    for note in &check.notes {
        eprintln!("note: {file}: {note}");
    }
    if check.rows == 0 {
        eprintln!("note: {file}: no data rows after the header");
    }
    let over = check.bad > opts.max_bad_rows;
    for line in &check.listed {
        eprintln!("{}: {line}", if over { "error" } else { "skipped" });
    }
    if check.bad as usize > check.listed.len() {
        eprintln!(
            "... and {} more bad rows",
            check.bad as usize - check.listed.len()
        );
    }
    if over {
        bail!(
            "{file}: {} bad row{} (at most {} allowed with --max-bad-rows); nothing was written",
            check.bad,
            if check.bad == 1 { "" } else { "s" },
            opts.max_bad_rows
        );
    }
    let mut summary = Summary {
        file: file.clone(),
        what: F::WHAT,
        kind: F::KIND,
        store: opts.store.clone(),
        dry_run: opts.dry_run,
        rows: check.rows,
        imported: check.imported,
        skipped: check.skipped.clone(),
        bad: check.bad,
        records: check.records,
        days: BTreeMap::new(),
        chunks: 0,
    };
    for (symbol, day) in check.last_row.keys() {
        let e = summary
            .days
            .entry(symbol.clone())
            .or_insert((*day, *day, 0));
        e.0 = e.0.min(*day);
        e.1 = e.1.max(*day);
        e.2 += 1;
    }
    if opts.dry_run {
        return Ok(summary);
    }
    let Some(url) = &opts.store else {
        bail!("no --store to write to");
    };
    let store = Store::open(url).await.with_context(|| {
        format!(
            "failed to open the store {}",
            xlfeed_store::url::redact(url)
        )
    })?;
    let handle = tokio::runtime::Handle::current();
    let written =
        tokio::task::spawn_blocking(move || write(&source, format, check, &store, &handle))
            .await
            .context("the import stopped")?;
    summary.chunks = written?;
    Ok(summary)
}

/// Pass 1: parse every row, write nothing.
fn check<F: Format>(source: &Source, format: &mut F) -> Result<Check> {
    let mut c = Check {
        rows: 0,
        imported: 0,
        records: 0,
        skipped: BTreeMap::new(),
        bad_rows: HashSet::new(),
        bad: 0,
        listed: Vec::new(),
        last_row: HashMap::new(),
        notes: Vec::new(),
    };
    let name = source.name().to_owned();
    let mut out = Vec::new();
    source.scan(|item| {
        let row = match item {
            Item::Header(header) => {
                c.notes = format.bind(header).with_context(|| {
                    format!("{name} is not a {} file; nothing was written", F::WHAT)
                })?;
                return Ok(());
            }
            Item::Row(Ok(row)) => row,
            Item::Row(Err((number, why))) => {
                c.rows += 1;
                c.bad(&name, number, why);
                return Ok(());
            }
        };
        c.rows += 1;
        out.clear();
        match format.parse(&row, &mut out) {
            Err(why) => c.bad(&name, row.number, why),
            Ok(Parsed::Skipped(why)) => *c.skipped.entry(why).or_default() += 1,
            Ok(Parsed::Records) => {
                if F::ONE_ROW_PER_DAY
                    && let Some((unit, _)) = out.first()
                    && let Some(&earlier) = c.last_row.get(unit)
                    && earlier != row.number
                {
                    let why = format!(
                        "{} {} {} is also on row {earlier} (one row per day)",
                        F::KIND,
                        unit.0,
                        unit.1
                    );
                    c.bad(&name, row.number, why);
                    return Ok(());
                }
                c.imported += 1;
                c.records += out.len() as u64;
                for (unit, _) in out.drain(..) {
                    c.last_row.insert(unit, row.number);
                }
            }
        }
        Ok(())
    })?;
    Ok(c)
}

impl Check {
    fn bad(&mut self, file: &str, number: u64, why: String) {
        self.bad += 1;
        self.bad_rows.insert(number);
        if self.listed.len() < LISTED_BAD_ROWS {
            self.listed.push(format!("{file}:{number}: {why}"));
        }
    }
}

/// A batch of encoded chunks on its way to the store.
struct Batch<'a> {
    store: &'a Store,
    handle: &'a tokio::runtime::Handle,
    chunks: Vec<(ChunkKey, Vec<u8>)>,
    bytes: usize,
    written: u64,
}

impl Batch<'_> {
    fn push<F: Format>(
        &mut self,
        format: &F,
        unit: Unit,
        mut records: Vec<F::Record>,
    ) -> Result<()> {
        format.finish(&mut records);
        let chunk = codec::encode(&records);
        self.bytes += chunk.len();
        self.chunks
            .push((ChunkKey::new(Dataset::Feed, F::KIND, unit.0, unit.1), chunk));
        if self.chunks.len() >= BATCH_CHUNKS || self.bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        let n = self.chunks.len() as u64;
        self.bytes = 0;
        self.handle
            .block_on(self.store.put_chunks(std::mem::take(&mut self.chunks)))
            .with_context(|| {
                format!(
                    "failed to write to {} after {} symbol-days were committed; \
                     importing the file again completes the import",
                    self.store.url(),
                    self.written
                )
            })?;
        self.written += n;
        Ok(())
    }
}

/// Pass 2: parse again and write each symbol-day when its last row has been read. Returns
/// the number of chunks written.
fn write<F: Format>(
    source: &Source,
    mut format: F,
    check: Check,
    store: &Store,
    handle: &tokio::runtime::Handle,
) -> Result<u64> {
    let mut open: HashMap<Unit, Vec<F::Record>> = HashMap::new();
    let mut batch = Batch {
        store,
        handle,
        chunks: Vec::new(),
        bytes: 0,
        written: 0,
    };
    let mut out = Vec::new();
    let mut touched: Vec<Unit> = Vec::new();
    source.scan(|item| {
        let row = match item {
            Item::Header(header) => {
                format.bind(header)?;
                return Ok(());
            }
            Item::Row(Ok(row)) if !check.bad_rows.contains(&row.number) => row,
            Item::Row(_) => return Ok(()),
        };
        out.clear();
        if format.parse(&row, &mut out) != Ok(Parsed::Records) {
            return Ok(());
        }
        touched.clear();
        for (unit, record) in out.drain(..) {
            if touched.last() != Some(&unit) {
                touched.push(unit.clone());
            }
            open.entry(unit).or_default().push(record);
        }
        for unit in touched.drain(..) {
            if check.last_row.get(&unit) == Some(&row.number)
                && let Some(records) = open.remove(&unit)
            {
                batch.push(&format, unit, records)?;
            }
        }
        Ok(())
    })?;
    // Every symbol-day closes at its last row; one left open means the file changed.
    if !open.is_empty() {
        bail!(
            "{} changed while it was imported ({} symbol-days left open); import it again",
            source.name(),
            open.len()
        );
    }
    batch.flush()?;
    Ok(batch.written)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.store, self.dry_run) {
            (Some(store), false) => writeln!(
                f,
                "imported {} ({}) into {store}, kind {}",
                self.file, self.what, self.kind
            )?,
            _ => writeln!(
                f,
                "checked {} ({}), kind {}: dry run, nothing written",
                self.file, self.what, self.kind
            )?,
        }
        writeln!(f, "  rows read      {:>10}", self.rows)?;
        writeln!(f, "    imported     {:>10}", self.imported)?;
        let skipped: u64 = self.skipped.values().sum();
        let reasons: Vec<String> = self
            .skipped
            .iter()
            .map(|(why, n)| format!("{why}: {n}"))
            .collect();
        writeln!(
            f,
            "    skipped      {skipped:>10}{}",
            if reasons.is_empty() {
                String::new()
            } else {
                format!("  ({})", reasons.join(", "))
            }
        )?;
        writeln!(f, "    bad, skipped {:>10}", self.bad)?;
        writeln!(f, "  records        {:>10}", self.records)?;
        let units: u64 = self.days.values().map(|d| d.2).sum();
        if self.dry_run {
            writeln!(f, "  symbol-days    {units:>10}  (to write)")?;
        } else {
            writeln!(f, "  symbol-days    {:>10}  written", self.chunks)?;
        }
        const LISTED: usize = 20;
        for (symbol, (first, last, n)) in self.days.iter().take(LISTED) {
            writeln!(
                f,
                "    {:<12} {n:>6} days  {first} .. {last}",
                symbol.as_str()
            )?;
        }
        if self.days.len() > LISTED {
            writeln!(f, "    ... and {} more symbols", self.days.len() - LISTED)?;
        }
        Ok(())
    }
}
