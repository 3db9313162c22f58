//! `xlpipeline`: the command-line entry to xlfeed's data flow, and the same stages for other
//! programs in this workspace (xlserver runs fetch and postprocess in process: [`runs`]).
//!
//! Subcommands:
//!
//! - `iqfeed-sim`: run the IQFeed simulator (IQConnect's lookup, Level 1 and admin ports over
//!   a deterministic synthetic market), so the rest of the flow runs without a subscription.
//! - `import`: files people already have (Yahoo daily CSV, tick CSV, rate curves, dividends)
//!   into SSDB-FEED ([`import`]).
//! - `show`, `stats`: a series of a store as CSV, and what a store holds ([`inspect`]).
//! - `fetch`: IQFeed (or the simulator, or a raw archive) into SSDB-FEED ([`fetch`]).
//! - `postprocess`: SSDB-FEED into SSDB-POST: pairing, rates, IV and Greeks ([`postprocess`]).
//! - `reconcile`: an analyst's workbook checked cell by cell against SSDB-FEED
//!   ([`reconcile`]; xlserver's `POST /api/v1/reconcile` calls the same).
//! - `migrate`: a store written by an older xlfeed into the current key layout ([`migrate`]).
//!
//! # Layout
//!
//! - [`stage`]: the stage runner fetch and postprocess share: the scope of a run, the unit
//!   loop, store retries, progress, the run report, and the one shutdown signal.
//! - [`fetch`], [`postprocess`]: each plans its units and runs one; they use [`stage`] and
//!   nothing of each other.
//! - [`runs`]: the stages for other programs (xlserver), above them.
//! - [`import`], [`inspect`], [`migrate`]: the file importers, the store inspection commands
//!   and the store migration.
//!
//! Modules use the ones listed before them, never the other way round.

mod fetch;
mod import;
mod inspect;
mod migrate;
mod postprocess;
pub mod reconcile;
pub mod runs;
pub mod stage;

pub use stage::{ShutdownSignal, shutdown_signal};

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use xlfeed_core::TradingDay;
use xlfeed_iqfeed::sim::{Faults, SimConfig, Simulator, Universe, default_today};
use xlfeed_iqfeed::wire::Protocol;

/// xlfeed's pipeline: market data from IQFeed into the stores.
#[derive(Debug, Parser)]
#[command(name = "xlpipeline", version, about)]
struct Cli {
    /// Check the arguments (fetch, postprocess, iqfeed-sim) and say in one line what the
    /// command would do, without opening a store, connecting or running anything (it reads
    /// a --symbols-file): exit 0, or 2 naming the bad value. For a container's command line.
    #[arg(long, global = true)]
    check: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the IQFeed simulator: IQConnect's lookup (9100), Level 1 (5009) and admin (9300)
    /// ports, answering from a deterministic synthetic market.
    #[command(after_help = SIM_EXAMPLES)]
    IqfeedSim(SimArgs),
    /// Import market data from files (CSV, xlsx, xls, ods) into SSDB-FEED.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Print one series of a store (a kind, a symbol, a range of days) as CSV.
    Show(inspect::ShowArgs),
    /// Print what a store holds: per dataset and kind, symbols, days, chunks and bytes.
    Stats(inspect::StatsArgs),
    /// Fetch stocks, options, dividends and fundamentals from IQFeed (or the simulator, or
    /// a raw archive) into SSDB-FEED: resumable, shardable, with progress and a run report.
    #[command(after_help = fetch::FETCH_EXAMPLES)]
    Fetch(Box<fetch::FetchArgs>),
    /// SSDB-FEED into SSDB-POST: option details, the rate for each option's tenor, the
    /// paired underlying trade, the dividend yield, implied volatility and Greeks; per-contract
    /// daily aggregates and per-expiry IV summaries. Incremental and resumable.
    #[command(after_help = postprocess::POSTPROCESS_EXAMPLES)]
    Postprocess(Box<postprocess::PostprocessArgs>),
    /// Rewrite a store written by an older xlfeed into the key layout this one reads (the
    /// stages and xlserver refuse a store of an older layout, naming this command).
    Migrate(migrate::MigrateArgs),
    /// Check a workbook (xlsx, xlsm, xls, ods, CSV) of daily bars against SSDB-FEED, cell by
    /// cell; print a JSON summary (exit 0: all matched, 1: mismatches, 2: bad input).
    Reconcile(reconcile::command::ReconcileArgs),
}

const SIM_EXAMPLES: &str = "\
Examples:
  # IQConnect's usual ports on localhost, the standard 21 symbols
  xlpipeline iqfeed-sim

  # Replies that never change: a fixed seed and a fixed \"today\"
  xlpipeline iqfeed-sim --seed 7 --today 2024-06-12

  # Free ports, extra symbols, Level 1 replayed at 60x
  xlpipeline iqfeed-sim --lookup-port 0 --level1-port 0 --admin-port 0 \\
      --symbols AAPL,MSFT,ORCL --l1-speed 60

  # A misbehaving IQConnect, to test a client: drop each lookup connection after
  # 10,000 lines, fragment every write, answer every 5th history request with the
  # rate-limit error
  xlpipeline iqfeed-sim --drop-after-lines 10000 --fragment-writes --rate-limit-every 5";

/// Options of `iqfeed-sim`.
#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Seed of the synthetic market: same seed and same --today, same bytes on the wire.
    #[arg(long, env = "XLFEED_SIM__SEED", default_value_t = 42)]
    seed: u64,
    /// Address to listen on.
    #[arg(long, env = "XLFEED_SIM__HOST", default_value = "127.0.0.1")]
    host: String,
    /// Lookup/history port (0 = any free port).
    #[arg(long, env = "XLFEED_SIM__LOOKUP_PORT", default_value_t = 9100)]
    lookup_port: u16,
    /// Level 1 port (0 = any free port).
    #[arg(long, env = "XLFEED_SIM__LEVEL1_PORT", default_value_t = 5009)]
    level1_port: u16,
    /// Admin port (0 = any free port).
    #[arg(long, env = "XLFEED_SIM__ADMIN_PORT", default_value_t = 9300)]
    admin_port: u16,
    /// Symbols to add to the standard universe, comma-separated (AAPL,MSFT,ORCL).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// A file of symbols to add, one per line (# starts a comment).
    #[arg(long)]
    symbols_file: Option<PathBuf>,
    /// The simulator's "now" (YYYY-MM-DD): the last day of history and the session Level 1
    /// replays. Default: the last trading day before today.
    #[arg(long, env = "XLFEED_SIM__TODAY")]
    today: Option<String>,
    /// History requests per second (the token bucket holds as many).
    #[arg(long, default_value_t = 50)]
    rate_limit: u32,
    /// Level 1 replay speed: simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    l1_speed: f64,
    /// Trades per session relative to the standard market (0.1 light, 10 heavy).
    #[arg(long, default_value_t = 1.0)]
    tick_scale: f64,
    /// Newest protocol to accept (6.1 plays an older IQConnect).
    #[arg(long, default_value = "6.2")]
    max_protocol: String,
    /// Most data points in one history reply (a gateway's per-reply limit): a longer reply
    /// is cut to its newest points, as MaxDatapoints cuts one. Default: no limit.
    #[arg(long)]
    max_datapoints: Option<u32>,
    /// Fault: close each lookup connection after this many lines.
    #[arg(long)]
    drop_after_lines: Option<u64>,
    /// Fault: wait this many milliseconds before each lookup reply.
    #[arg(long)]
    delay_ms: Option<u64>,
    /// Fault: replace every Nth data line of a lookup connection by a malformed one.
    #[arg(long)]
    malformed_every: Option<u64>,
    /// Fault: answer every Nth history request with the rate-limit error.
    #[arg(long)]
    rate_limit_every: Option<u64>,
    /// Fault: split writes at pseudo-random byte offsets.
    #[arg(long)]
    fragment_writes: bool,
}

impl SimArgs {
    fn config(self) -> Result<SimConfig> {
        let mut universe = Universe::standard();
        let mut extra = String::new();
        if let Some(path) = &self.symbols_file {
            extra = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read symbol file {}", path.display()))?;
        }
        for s in &self.symbols {
            extra.push('\n');
            extra.push_str(s.trim());
        }
        if !extra.trim().is_empty() {
            let symbols = xlfeed_iqfeed::sim::parse_symbol_list(&extra)
                .context("failed to read the symbols")?;
            for s in &symbols {
                universe.add_symbol(s);
            }
        }
        let today = match &self.today {
            Some(t) => TradingDay::parse(t).with_context(|| format!("bad --today {t:?}"))?,
            None => default_today(),
        };
        let Some(max_protocol) = Protocol::parse(&self.max_protocol) else {
            bail!(
                "protocol {:?} is not one the simulator speaks (6.1 or 6.2)",
                self.max_protocol
            );
        };
        if !(self.l1_speed.is_finite() && self.l1_speed > 0.0) {
            bail!("--l1-speed {} is not a positive number", self.l1_speed);
        }
        Ok(SimConfig {
            seed: self.seed,
            universe,
            host: self.host,
            lookup_port: self.lookup_port,
            level1_port: self.level1_port,
            admin_port: self.admin_port,
            today,
            rate_limit: (self.rate_limit, f64::from(self.rate_limit)),
            l1_speed: self.l1_speed,
            tick_scale: self.tick_scale,
            max_protocol,
            max_datapoints: self.max_datapoints.filter(|n| *n > 0),
            faults: Faults {
                drop_after_lines: self.drop_after_lines,
                delay: self.delay_ms.map(Duration::from_millis),
                malformed_every: self.malformed_every,
                rate_limit_every: self.rate_limit_every,
                fragment_writes: self.fragment_writes,
            },
            // A gateway answers several clients: one busy generating must not hold up the
            // others' handshakes.
            offload_generation: true,
        })
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info, storage engines at warn).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the `xlpipeline` command line of this process; exits the process with the stage's
/// exit code when a stage ends with one other than 0.
pub async fn cli() -> Result<()> {
    let cli = Cli::parse();
    if cli.check {
        match check(cli.command) {
            Ok(line) => {
                println!("{line}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("xlpipeline: {e:#}");
                std::process::exit(2);
            }
        }
    }
    match cli.command {
        Command::IqfeedSim(args) => iqfeed_sim(args).await,
        Command::Import(cmd) => import::run(cmd).await,
        Command::Show(args) => inspect::show(args).await,
        Command::Stats(args) => inspect::stats(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Reconcile(args) => match reconcile::command::run(args).await? {
            0 => Ok(()),
            code => std::process::exit(code),
        },
        Command::Fetch(args) => match fetch::run(*args, &stage::RunControl::cli()).await? {
            0 => Ok(()),
            // Everything the run opened is closed by now; the code tells a scheduler how
            // the run ended (see `fetch --help`).
            code => std::process::exit(i32::from(code)),
        },
        Command::Postprocess(args) => {
            match postprocess::run(*args, &stage::RunControl::cli()).await? {
                0 => Ok(()),
                code => std::process::exit(i32::from(code)),
            }
        }
    }
}

/// `--check`: the command's one-line plan, or the error naming the bad value.
fn check(command: Command) -> Result<String> {
    match command {
        Command::Fetch(args) => fetch::check(&args),
        Command::Postprocess(args) => postprocess::check(&args),
        Command::IqfeedSim(args) => {
            let c = args.config()?;
            Ok(format!(
                "iqfeed-sim: {} symbols, seed {}, today {}, listening on {}:{} (lookup), {} (level 1), {} (admin) (nothing started)",
                c.universe.len(),
                c.seed,
                c.today,
                c.host,
                c.lookup_port,
                c.level1_port,
                c.admin_port
            ))
        }
        _ => bail!("--check applies to fetch, postprocess and iqfeed-sim"),
    }
}

async fn iqfeed_sim(args: SimArgs) -> Result<()> {
    let config = args.config()?;
    let (today, seed, symbols) = (config.today, config.seed, config.universe.len());
    let sim = Simulator::start(config)
        .await
        .context("failed to start the iqfeed simulator")?;
    println!("iqfeed simulator: seed {seed}, today {today}, {symbols} symbols");
    println!("lookup  {}", sim.lookup_addr());
    println!("level1  {}", sim.level1_addr());
    println!("admin   {}", sim.admin_addr());
    let handle = sim.shutdown_handle();
    let signal = ShutdownSignal::listen();
    tokio::spawn(async move {
        signal.recv().await;
        tracing::info!("stopping the iqfeed simulator");
        handle.shutdown();
    });
    sim.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `--check` on `args`: the line, or the error's text.
    fn checked(args: &[&str]) -> Result<String, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        assert!(cli.check);
        check(cli.command).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn check_says_what_a_command_would_do_and_names_bad_values() {
        let line = checked(&[
            "xlpipeline",
            "fetch",
            "--iqfeed",
            "iqfeed-gateway:9100",
            "--symbols",
            "AAPL,MSFT",
            "--kinds",
            "ticks,options",
            "--from",
            "2024-06-03",
            "--to",
            "2024-06-07",
            "--shard",
            "0/1",
            "--feed",
            "redis://:hunter2@ssdb-feed:8888/0",
            "--check",
        ])
        .unwrap();
        assert!(line.contains("2 symbols over 5 trading days"), "{line}");
        assert!(line.contains("IQFeed at iqfeed-gateway:9100"), "{line}");
        assert!(!line.contains("hunter2"), "{line}");
        let line = checked(&[
            "xlpipeline",
            "postprocess",
            "--check",
            "--feed",
            "redis://ssdb-feed:8888",
            "--post",
            "redis://ssdb-post:8888",
            "--from",
            "2024-06-03",
            "--shard",
            "2/3",
        ])
        .unwrap();
        assert!(line.contains("shard 2/3"), "{line}");
        assert!(
            checked(&["xlpipeline", "iqfeed-sim", "--check", "--host", "0.0.0.0"])
                .unwrap()
                .contains("0.0.0.0:9100")
        );
        for (args, names) in [
            (
                &[
                    "fetch",
                    "--check",
                    "--iqfeed",
                    "gateway",
                    "--symbols",
                    "A",
                    "--from",
                    "2024-06-03",
                    "--feed",
                    "embedded:///x",
                ][..],
                "\"gateway\" is not host:port",
            ),
            (
                &[
                    "fetch",
                    "--check",
                    "--sim",
                    "--symbols",
                    "A",
                    "--from",
                    "2024-06-03",
                    "--feed",
                    "ftp://x",
                ][..],
                "\"ftp://x\"",
            ),
            (
                &[
                    "fetch",
                    "--check",
                    "--symbols",
                    "A",
                    "--from",
                    "2024-06-03",
                    "--feed",
                    "embedded:///x",
                ][..],
                "where from?",
            ),
            (
                &[
                    "postprocess",
                    "--check",
                    "--feed",
                    "redis://f",
                    "--post",
                    "redis://p",
                    "--from",
                    "2024-06-03",
                    "--staleness=-1",
                ][..],
                "--staleness -1",
            ),
            (
                &["iqfeed-sim", "--check", "--today", "2024-02-30"][..],
                "2024-02-30",
            ),
            (
                &["stats", "--check", "--store", "embedded:///x"][..],
                "--check applies to",
            ),
        ] {
            let mut full = vec!["xlpipeline"];
            full.extend_from_slice(args);
            let e = checked(&full).unwrap_err();
            assert!(e.contains(names), "{args:?}: {e}");
        }
    }

    #[test]
    fn sim_flags_make_the_config() {
        let cli = Cli::try_parse_from([
            "xlpipeline",
            "iqfeed-sim",
            "--seed",
            "9",
            "--lookup-port",
            "0",
            "--symbols",
            "AAPL,orcl",
            "--today",
            "2024-06-12",
            "--rate-limit",
            "20",
            "--max-protocol",
            "6.1",
            "--delay-ms",
            "5",
            "--fragment-writes",
        ])
        .unwrap();
        let Command::IqfeedSim(args) = cli.command else {
            unreachable!()
        };
        let c = args.config().unwrap();
        assert_eq!((c.seed, c.lookup_port, c.level1_port), (9, 0, 5009));
        assert_eq!(c.today.to_string(), "2024-06-12");
        assert!(c.universe.get("ORCL").is_some());
        assert_eq!(c.universe.len(), Universe::standard().len() + 1);
        assert_eq!(c.rate_limit, (20, 20.0));
        assert_eq!(c.max_protocol, Protocol::V61);
        assert_eq!(c.faults.delay, Some(Duration::from_millis(5)));
        assert!(c.faults.fragment_writes);
        let bad =
            Cli::try_parse_from(["xlpipeline", "iqfeed-sim", "--today", "2024-02-30"]).unwrap();
        let Command::IqfeedSim(args) = bad.command else {
            unreachable!()
        };
        let e = args.config().unwrap_err();
        assert!(format!("{e:#}").contains("2024-02-30"), "{e:#}");
    }
}
