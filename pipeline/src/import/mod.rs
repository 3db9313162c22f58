//! `xlpipeline import`: market data people already have in files, into SSDB-FEED.
//!
//! The importers write the same chunks as fetch (one per symbol-day, kind by kind, see
//! docs/storage.md), so everything downstream reads imported and fetched data alike. See
//! docs/importers.md for the formats, their columns and conventions.
//!
//! # Layout
//!
//! - [`table`]: the file as a header and rows of cells (CSV streamed, spreadsheets through
//!   calamine), and the cell readers that name the column and the value in their errors.
//! - [`engine`]: the two passes (check everything, then write symbol-day by symbol-day), bad
//!   row reporting, the summary.
//! - one file per format, each a [`engine::Format`]: [`yahoo`] (daily bars), [`ticks`]
//!   (trades), [`rates`] (rate curves), [`dividends`].

mod dividends;
mod engine;
mod rates;
mod table;
mod ticks;
mod yahoo;

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use xlfeed_core::Symbol;

use engine::{Format, Options};
use table::Source;

/// What `xlpipeline import` can read.
#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Import a CSV file of daily bars (Yahoo Finance's download) or of ticks (kinds `daily`,
    /// `trade`).
    #[command(after_help = CSV_EXAMPLES)]
    Csv(CsvArgs),
    /// Import rate curves (USD LIBOR, SOFR, the Treasury par curve, ...) from CSV, xlsx, xls
    /// or ods: a date, a curve name and one column per tenor, in percent (kind `rate`).
    #[command(after_help = RATES_EXAMPLES)]
    Rates(RatesArgs),
    /// Import dividends (ex-date, amount, optionally pay date and yield) from CSV, xlsx, xls
    /// or ods (kind `dividend`).
    #[command(after_help = DIVIDENDS_EXAMPLES)]
    Dividends(DividendsArgs),
}

/// The error behaviour every importer shares, for the end of each `--help`.
macro_rules! common_help {
    () => {
        "
Every importer checks the whole file before it writes anything: a header that is not the
format's rejects the file, and a bad row (a value that does not parse, a truncated line) is
reported as FILE:ROW: reason. With any bad row (more than --max-bad-rows) nothing is written
and the exit code is 1. Each symbol-day in the file replaces the one in the store; importing
the same file again writes the same bytes.
"
    };
}

const CSV_EXAMPLES: &str = concat!(
    "\
Examples:
  # Yahoo Finance daily history (Date,Open,High,Low,Close,Adj Close,Volume); rows of
  # \"null\" (days without trading) are skipped and counted
  xlpipeline import csv --format yahoo-daily --symbol AAPL --store embedded:///data/feed AAPL.csv

  # Ticks with their own column names, times in New York time (the default --tz)
  xlpipeline import csv --format ticks --symbol SPY --store redis://127.0.0.1:6379/0 \\
      --map time=Time,price=Last,size=Size,bid=Bid,ask=Ask spy-2024-01-02.csv

  # Ticks of many symbols in one file, times in UTC, separate date and time columns
  xlpipeline import csv --format ticks --tz UTC --map symbol=Ticker,date=Date,time=Time \\
      --store embedded:///data/feed ticks.csv

  # Check a file without writing anything
  xlpipeline import csv --format yahoo-daily --symbol MSFT --dry-run MSFT.csv
",
    common_help!()
);

const RATES_EXAMPLES: &str = concat!(
    "\
Examples:
  # A workbook of curves: Date, Curve, 1M, 3M, 6M, 1Y, 2Y, ... (percent)
  xlpipeline import rates --store embedded:///data/feed curves.xlsx

  # The Treasury's par yield curve CSV (Date,\"1 Mo\",\"2 Mo\",...,\"30 Yr\"): no curve column
  xlpipeline import rates --curve UST_PAR --store embedded:///data/feed par-yield-curve-2024.csv

  # A curve with no built-in convention, from the second sheet
  xlpipeline import rates --curve EUR_ESTR --convention money-market --sheet ESTR \\
      --store embedded:///data/feed curves.ods
",
    common_help!()
);

const DIVIDENDS_EXAMPLES: &str = concat!(
    "\
Examples:
  # Symbol, Ex Date, Pay Date, Amount, Yield
  xlpipeline import dividends --store embedded:///data/feed dividends.xlsx

  # Yahoo Finance's dividend history (Date,Dividends) of one symbol
  xlpipeline import dividends --symbol KO --store embedded:///data/feed KO-dividends.csv
",
    common_help!()
);

/// Options every importer takes.
#[derive(Debug, clap::Args)]
pub(crate) struct CommonArgs {
    /// Store to write (its FEED dataset): embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/.
    #[arg(long, value_name = "URL", required_unless_present = "dry_run")]
    store: Option<String>,
    /// Bad rows to skip (each reported) before the file is rejected. By default one bad row
    /// rejects the file and nothing is written.
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_bad_rows: u64,
    /// Check the file and print what would be written, without touching a store.
    #[arg(long)]
    dry_run: bool,
    /// Field separator of CSV files (a single character; `\t` for tab).
    #[arg(long, value_name = "CHAR", default_value = ",")]
    delimiter: String,
    /// The file to import.
    file: PathBuf,
}

impl CommonArgs {
    fn options(&self) -> Options {
        Options {
            store: self.store.clone(),
            max_bad_rows: self.max_bad_rows,
            dry_run: self.dry_run,
        }
    }

    fn delimiter(&self) -> Result<u8> {
        match self.delimiter.as_str() {
            "\\t" | "\t" | "tab" => Ok(b'\t'),
            d if d.len() == 1 && d.is_ascii() => Ok(d.as_bytes()[0]),
            d => bail!("delimiter {d:?} is not a single ASCII character"),
        }
    }

    fn source(&self, sheet: Option<&str>) -> Result<Source> {
        Source::open(&self.file, self.delimiter()?, sheet)
    }
}

/// What a CSV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CsvFormat {
    /// Yahoo Finance daily history: Date,Open,High,Low,Close,Adj Close,Volume.
    YahooDaily,
    /// Trades (ticks), columns named by --map.
    Ticks,
}

/// Options of `import csv`.
#[derive(Debug, clap::Args)]
pub(crate) struct CsvArgs {
    /// What the file holds.
    #[arg(long)]
    format: CsvFormat,
    /// The symbol the rows belong to (for ticks, unless --map names a symbol column).
    #[arg(long)]
    symbol: Option<String>,
    /// Ticks: which header holds each field, as FIELD=Header pairs. Fields: time (required),
    /// price (required), size, bid, ask, tick_id, basis, market_center, conditions, symbol,
    /// date (then time holds only the time of day). An unmapped field uses the column named
    /// like it, if any.
    #[arg(long, value_delimiter = ',', value_name = "FIELD=Header,...")]
    map: Vec<String>,
    /// Ticks: the time zone of times without an offset (an IANA name such as
    /// America/Chicago, or UTC). Times with an offset or Z keep theirs.
    #[arg(long, default_value = ticks::NEW_YORK)]
    tz: String,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options of `import rates`.
#[derive(Debug, clap::Args)]
pub(crate) struct RatesArgs {
    /// The curve of every row, for files without a curve column (USD_LIBOR, SOFR, UST_PAR).
    #[arg(long)]
    curve: Option<String>,
    /// How the rates are quoted; by default from the curve name (USD_LIBOR and SOFR:
    /// money-market, UST_PAR: par). Given, it applies to every curve of the file.
    #[arg(long)]
    convention: Option<rates::Convention>,
    /// The sheet to read (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options of `import dividends`.
#[derive(Debug, clap::Args)]
pub(crate) struct DividendsArgs {
    /// The symbol of every row, for files without a symbol column.
    #[arg(long)]
    symbol: Option<String>,
    /// The sheet to read (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

fn symbol(s: &Option<String>) -> Result<Option<Symbol>> {
    s.as_deref()
        .map(|s| Symbol::parse(s).map_err(|e| anyhow::anyhow!("--symbol: {e}")))
        .transpose()
}

/// Runs one `import` subcommand and prints its summary.
pub(crate) async fn run(cmd: ImportCommand) -> Result<()> {
    match cmd {
        ImportCommand::Csv(a) => {
            let source = a.common.source(None)?;
            match a.format {
                CsvFormat::YahooDaily => {
                    if !a.map.is_empty() {
                        bail!("--map is for --format ticks; yahoo-daily columns are fixed");
                    }
                    let Some(symbol) = symbol(&a.symbol)? else {
                        bail!("--format yahoo-daily needs --symbol: the file does not name it");
                    };
                    import(source, yahoo::YahooDaily::new(symbol), &a.common).await
                }
                CsvFormat::Ticks => {
                    let format = ticks::Ticks::new(symbol(&a.symbol)?, &a.map, &a.tz)?;
                    import(source, format, &a.common).await
                }
            }
        }
        ImportCommand::Rates(a) => {
            let format = rates::Rates::new(a.curve.as_deref(), a.convention)?;
            import(a.common.source(a.sheet.as_deref())?, format, &a.common).await
        }
        ImportCommand::Dividends(a) => {
            let format = dividends::Dividends::new(symbol(&a.symbol)?);
            import(a.common.source(a.sheet.as_deref())?, format, &a.common).await
        }
    }
}

async fn import<F>(source: Source, format: F, common: &CommonArgs) -> Result<()>
where
    F: Format + Send + 'static,
    F::Record: Send,
{
    let summary = engine::run(source, format, common.options()).await?;
    print!("{summary}");
    Ok(())
}
