//! `xlpipeline reconcile`: [`reconcile`](super::reconcile) from the command line: a workbook
//! file against a FEED store (and a POST store for chain tables), the summary printed as
//! JSON, the exit code telling how it went.

use std::path::PathBuf;

use anyhow::Result;
use xlfeed_store::Store;
use xlfeed_store::url::redact;

use super::{Options, ReconcileError, Stores};

/// Exit code: a value, or a day, differs.
pub const EXIT_MISMATCH: i32 = 1;
/// Exit code: the file cannot be reconciled (not a spreadsheet, no table, over a limit, ...).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code: the store cannot be read, or the report cannot be written.
pub const EXIT_FAILED: i32 = 3;

const RECONCILE_EXAMPLES: &str = "\
Exit codes:
  0  every value matched, no day missing, no row extra
  1  mismatches, missing days or extra rows (the summary lists them)
  2  the file cannot be reconciled: not a spreadsheet, password-protected, over a size
     limit, a formula without a cached value or merged cells in a table, no table found,
     text in a quote's or a chain's number cell, a chain table without --post
  3  the store cannot be read, or the report cannot be written

Examples:
  # A workbook of MKT.HISTORY results (or an xlserver history report) against FEED
  xlpipeline reconcile --store embedded:///data/feed prices.xlsx

  # Their own column names, a tolerance, and the annotated workbook
  xlpipeline reconcile --store embedded:///data/feed desk.xlsx --symbol AAPL \\
      --map 'Trade Date:date,Px Close:close' --abs-tol 0.005 --out checked.xlsx

  # MKT.QUOTE results as of a time (default: the About sheet's at, else the latest)
  xlpipeline reconcile --store embedded:///data/feed quotes.xlsx --at '2024-06-28 15:30'

  # MKT.CHAIN results or a chain report: the chain's values come from POST
  xlpipeline reconcile --store embedded:///data/feed --post embedded:///data/post \\
      chain.xlsx --date 2024-06-28";

/// Options of `reconcile`.
#[derive(Debug, clap::Args)]
#[command(after_help = RECONCILE_EXAMPLES)]
pub struct ReconcileArgs {
    /// FEED store to compare with: embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/.
    #[arg(long, value_name = "URL")]
    store: String,
    /// POST store, for chain tables (their IV, Greeks, bid/ask, last and volume).
    #[arg(long, value_name = "URL")]
    post: Option<String>,
    /// The workbook: xlsx, xlsm, xls, ods or CSV (told apart by content, not by name).
    file: PathBuf,
    /// The symbol of every table (default: a symbol column, a title above the header,
    /// the sheet name, or the About sheet).
    #[arg(long)]
    symbol: Option<String>,
    /// Values within this absolute difference match.
    #[arg(long, default_value_t = 0.0)]
    abs_tol: f64,
    /// Values within this fraction of ours match.
    #[arg(long, default_value_t = 0.0)]
    rel_tol: f64,
    /// Column mapping of a history table, "their header:our field", comma-separated or
    /// repeated; our fields: date, open, high, low, close, volume, symbol.
    #[arg(long, value_name = "HEADER:FIELD")]
    map: Vec<String>,
    /// Quotes and chains as of this time: 2024-06-28T15:30 (New York), with Z or an offset,
    /// or a date for its end (default: the About sheet's at, else the latest quote and the
    /// whole day's chain).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The day of chain tables (default: the About sheet's date, else the day of --at, else
    /// the latest chain in the store).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    /// Also write the workbook with mismatches highlighted and a Differences sheet here.
    #[arg(long, value_name = "REPORT.xlsx")]
    out: Option<PathBuf>,
    /// Refuse a zipped workbook that inflates past this many bytes.
    #[arg(long, default_value_t = super::DEFAULT_MAX_UNCOMPRESSED_BYTES)]
    max_uncompressed_bytes: u64,
}

/// Runs `reconcile`; answers the exit code.
pub(crate) async fn run(args: ReconcileArgs) -> Result<i32> {
    let mut pairs: Vec<(String, String)> = vec![
        ("abs_tol".into(), args.abs_tol.to_string()),
        ("rel_tol".into(), args.rel_tol.to_string()),
    ];
    if let Some(s) = &args.symbol {
        pairs.push(("symbol".into(), s.clone()));
    }
    for m in &args.map {
        pairs.push(("map".into(), m.clone()));
    }
    if let Some(a) = &args.at {
        pairs.push(("at".into(), a.clone()));
    }
    if let Some(d) = &args.date {
        pairs.push(("date".into(), d.clone()));
    }
    let mut opts = match Options::from_pairs(pairs) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_BAD_INPUT);
        }
    };
    opts.want_xlsx = args.out.is_some();
    opts.max_uncompressed_bytes = args.max_uncompressed_bytes;
    opts.file_name = Some(args.file.display().to_string());
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: failed to read {}: {e}", args.file.display());
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let feed = match Store::open(&args.store).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "error: failed to open the store {}: {e}",
                redact(&args.store)
            );
            return Ok(EXIT_FAILED);
        }
    };
    let post = match &args.post {
        None => None,
        Some(url) => match Store::open(url).await {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: failed to open the store {}: {e}", redact(url));
                return Ok(EXIT_FAILED);
            }
        },
    };
    let stores = Stores { feed, post };
    let outcome = match super::reconcile_owned(bytes, opts, stores).await {
        Ok(o) => o,
        Err(e @ (ReconcileError::BadInput(_) | ReconcileError::TooLarge(_))) => {
            eprintln!("error: {}: {e}", args.file.display());
            return Ok(EXIT_BAD_INPUT);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    println!("{}", serde_json::to_string_pretty(&outcome.summary)?);
    if let (Some(path), Some(xlsx)) = (&args.out, &outcome.xlsx)
        && let Err(e) = std::fs::write(path, xlsx)
    {
        eprintln!("error: failed to write {}: {e}", path.display());
        return Ok(EXIT_FAILED);
    }
    Ok(if outcome.summary.all_matched() {
        0
    } else {
        EXIT_MISMATCH
    })
}
