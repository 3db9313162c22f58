//! `xlpipeline fetch`: IQFeed (or the simulator, or a raw archive) into SSDB-FEED.
//!
//! The run is a list of units ([`plan::Unit`]); a unit already in the store is skipped
//! (`--force` refetches), the others run `--jobs` at a time, each committed as soon as it is
//! complete, so killing the run loses at most the units in flight and a re-run finishes the
//! job with the same bytes as an uninterrupted run. Unknown symbols and empty days are
//! recorded and do not stop the run; IQFeed failures are retried with backoff; a store that
//! stays down stops the run (exit 3) with everything committed so far kept.
//!
//! This module plans the units and runs one; the loop around them (jobs, signals, store
//! retries, progress, the report) is [`crate::stage`]'s.

mod convert;
mod plan;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use backon::Retryable;
use tokio::task::JoinSet;
use xlfeed_core::records::OptionTrade;
use xlfeed_core::{Backoff, Nyse, Symbol, TradingDay};
use xlfeed_iqfeed::client::lookup::{LookupClient, LookupConfig};
use xlfeed_iqfeed::sim::{SimConfig, Simulator};
use xlfeed_iqfeed::wire::request::{
    BarSpec, ChainFilter, DateTime, Direction, IntervalType, Request, Sides, Window,
};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store};

use crate::stage::runner::{self, planning_failed};
use crate::stage::{
    Done, Label, Outcome, ProgressMode, Reach, Report, Role, RunControl, Scope, Settings,
    UnitError, Units, store_call,
};
use plan::{FetchKind, Unit};
use source::{Reply, Source, SourceError, path_part};

pub(crate) const FETCH_EXAMPLES: &str = "\
Examples:
  # Five days of ticks and 1-minute bars for two symbols from the built-in simulator
  xlpipeline fetch --sim --symbols AAPL,MSFT --kinds ticks,bars:60 \\
      --from 2024-06-06 --to 2024-06-12 --feed embedded:///var/lib/xlfeed/feed

  # Options (near two expiries, 5 strikes each side of the money) and dividends from
  # IQConnect, the universe in a file, raw replies archived for audit
  xlpipeline fetch --iqfeed 10.0.0.5:9100 --symbols-file universe.txt \\
      --kinds options,dividends,fundamentals --from 2024-06-12 \\
      --feed redis://ssdb-feed:8888 --archive /mnt/gluster/raw

  # Shard 2 of 8 (a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX; XLFEED_SHARDS=8)
  xlpipeline fetch --sim --symbols-file universe.txt --shard 2/8 --from 2024-06-03 \\
      --to 2024-06-12 --feed embedded:///data/feed

  # Rebuild a store from an archive, without IQFeed
  xlpipeline fetch --replay /mnt/gluster/raw --symbols AAPL --kinds ticks \\
      --from 2024-06-12 --feed embedded:///tmp/feed

Exit codes: 0 every unit fetched, skipped, empty or of an unknown symbol (see the report);
1 bad arguments or IQFeed unreachable at the start; 2 a command line that does not parse;
3 the store could not be written (everything committed before is kept); 4 some units
failed after retries; 130 stopped by SIGINT/SIGTERM after the units in flight.";

/// Options of `fetch`.
#[derive(Debug, clap::Args)]
pub(crate) struct FetchArgs {
    /// Symbols, comma-separated (the underlyings, for `options`).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// A file of symbols: one per line, `#` starts a comment.
    #[arg(long)]
    symbols_file: Option<PathBuf>,
    /// What to fetch, comma-separated: ticks, bars:<seconds> (e.g. bars:60), daily, options,
    /// dividends, fundamentals.
    #[arg(long, value_delimiter = ',', default_value = "ticks")]
    kinds: Vec<String>,
    /// First day: YYYY-MM-DD, YYYYMMDD, `today` or `-ND` (N days before today, in New York);
    /// weekends and NYSE holidays are skipped.
    #[arg(long)]
    from: String,
    /// Last day (default: --from).
    #[arg(long)]
    to: Option<String>,
    /// IQConnect's lookup port, host:port.
    #[arg(long, env = "XLFEED_IQFEED", conflicts_with_all = ["sim", "replay"])]
    iqfeed: Option<String>,
    /// IQConnect's Level 1 port (default: the --iqfeed host, port 5009).
    #[arg(long, env = "XLFEED_IQFEED_LEVEL1")]
    level1: Option<String>,
    /// Start the built-in IQFeed simulator in this process and fetch from it.
    #[arg(long, conflicts_with = "replay")]
    sim: bool,
    /// The simulator's seed (with --sim).
    #[arg(long, default_value_t = 42)]
    sim_seed: u64,
    /// The simulator's trades per real trade (with --sim; 1 = realistic counts).
    #[arg(long, default_value_t = 1.0, value_parser = tick_scale)]
    sim_tick_scale: f64,
    /// With --sim: the simulator also lists every symbol of the run outside its standard 21,
    /// each with parameters derived from the ticker (2,000–12,000 trades a day, options,
    /// maybe dividends), so a universe of any size can be fetched. Without it such symbols
    /// are unknown, as they would be to IQFeed.
    #[arg(long, requires = "sim")]
    sim_any_symbol: bool,
    /// Read the replies from an archive written by an earlier --archive run.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Keep every raw reply, gzip-compressed, under this folder (YYYY/MM/DD/kind/symbol).
    #[arg(long)]
    archive: Option<PathBuf>,
    /// The FEED store: embedded:///dir or redis://host:port/db.
    #[arg(long, env = "XLFEED_FEED")]
    feed: String,
    /// Units fetched at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// IQFeed history requests per second at most [default: 50; with --sim, no limit].
    #[arg(long)]
    rate_limit: Option<f64>,
    /// IQFeed requests in flight at most.
    #[arg(long, default_value_t = 15)]
    max_in_flight: usize,
    /// Seconds to wait for the next line of a reply.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Attempts per unit when IQFeed fails in a way a retry may cure.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// Refetch units the store already has.
    #[arg(long)]
    force: bool,
    /// This run's part of the universe, i/n (by a hash of the symbol). Without it,
    /// JOB_COMPLETION_INDEX and XLFEED_SHARDS are used when set.
    #[arg(long)]
    shard: Option<String>,
    /// Option expiries to fetch: the nearest N months.
    #[arg(long, default_value_t = 2)]
    option_months: u32,
    /// Option strikes to fetch per expiry and side: N in and N out of the money.
    #[arg(long, default_value_t = 5)]
    option_strikes: u32,
    /// Where the JSON run report goes.
    #[arg(long, default_value = "fetch-report.json")]
    report: PathBuf,
    /// How progress is shown.
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressMode,
}

/// `--sim-tick-scale`: a finite number above 0, at most 100 (a hundred times realistic counts
/// is already millions of trades a day).
fn tick_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 100.0 => Ok(v),
        _ => Err(format!(
            "{} is not a number above 0 and at most 100",
            xlfeed_core::quoted(s)
        )),
    }
}

impl FetchArgs {
    /// What these options reach outside the process.
    pub(crate) fn reach(&self) -> Reach {
        let mut r = Reach::default();
        if let Some(p) = &self.symbols_file {
            r.reads.push(("--symbols-file", p.clone()));
        }
        if let Some(p) = &self.replay {
            r.reads.push(("--replay", p.clone()));
        }
        if let Some(p) = &self.archive {
            r.writes.push(("--archive", p.clone()));
        }
        r.stores.push(("--feed", self.feed.clone()));
        if let Some(h) = &self.iqfeed {
            r.gateways.push(("--iqfeed", h.clone()));
        }
        if let Some(h) = &self.level1 {
            r.gateways.push(("--level1", h.clone()));
        }
        r
    }
}

/// What every unit needs.
struct Ctx {
    store: Store,
    source: Source,
    force: bool,
    retries: u32,
    timeout: Duration,
    option_months: u32,
    option_strikes: u32,
}

/// What a run is given once its options passed every check that needs no store, gateway or
/// data: `fetch --check` stops there.
struct Checked {
    kinds: Vec<FetchKind>,
    scope: Scope,
    symbols: Vec<Symbol>,
    /// IQFeed history requests per second.
    rate: f64,
}

/// Checks `args` without opening, connecting or reading anything but `--symbols-file`.
fn checked(args: &FetchArgs) -> Result<Checked> {
    let kinds = parse_kinds(&args.kinds)?;
    let scope = Scope::parse(&args.from, args.to.as_deref(), args.shard.as_deref())?;
    let symbols = scope.owned(crate::stage::scope::universe(
        &args.symbols,
        args.symbols_file.as_deref(),
    )?);
    if args.jobs == 0 {
        bail!("--jobs 0: at least one unit must run at a time");
    }
    xlfeed_store::StoreUrl::parse(&args.feed).context("bad --feed")?;
    if args.replay.is_none() && !args.sim && args.iqfeed.is_none() {
        bail!("where from? give --iqfeed host:port, --sim or --replay DIR");
    }
    for (flag, addr) in [("--iqfeed", &args.iqfeed), ("--level1", &args.level1)] {
        if let Some(a) = addr {
            crate::stage::scope::host_port(flag, a)?;
        }
    }
    // IQConnect is paced (DTN limits history requests); the simulator in this process
    // need not be.
    let rate = match args.rate_limit {
        Some(r) if r > 0.0 && r.is_finite() => r,
        Some(r) => bail!("bad --rate-limit {r}: expected requests per second above 0"),
        None if args.sim => 1e6,
        None => 50.0,
    };
    Ok(Checked {
        kinds,
        scope,
        symbols,
        rate,
    })
}

/// `fetch --check`: what the run would do, in one line, or the error naming the bad value.
pub(crate) fn check(args: &FetchArgs) -> Result<String> {
    let c = checked(args)?;
    let source = match (&args.replay, &args.iqfeed) {
        (Some(dir), _) => format!("a replay of {}", dir.display()),
        (None, Some(addr)) => format!("IQFeed at {addr}"),
        (None, None) => format!("the simulator (seed {})", args.sim_seed),
    };
    Ok(format!(
        "fetch: {} of {} symbols over {} trading days ({} to {}), shard {}, from {source} into {} (nothing opened)",
        args.kinds.join(","),
        c.symbols.len(),
        c.scope.days.len(),
        c.scope.first(),
        c.scope.last(),
        c.scope.shard,
        xlfeed_store::url::redact(&args.feed),
    ))
}

/// Runs `fetch`; the exit code.
pub(crate) async fn run(args: FetchArgs, control: &RunControl) -> Result<u8> {
    let started = Instant::now();
    let Checked {
        kinds,
        scope,
        symbols,
        rate,
    } = checked(&args)?;
    let last = scope.last();

    let store = control.open(&args.feed).await.with_context(|| {
        format!(
            "cannot open the FEED store {}",
            xlfeed_store::url::redact(&args.feed)
        )
    })?;
    let mut sim = None;
    let (source, source_name) = if let Some(dir) = &args.replay {
        if !dir.is_dir() {
            bail!("--replay {}: no such folder", dir.display());
        }
        (
            Source::Replay(dir.clone()),
            format!("replay of {}", dir.display()),
        )
    } else {
        let (lookup_addr, level1_addr, name) = if args.sim {
            let mut cfg = SimConfig::ephemeral(args.sim_seed, last);
            cfg.tick_scale = args.sim_tick_scale;
            if args.sim_any_symbol {
                for s in &symbols {
                    cfg.universe.add_symbol(s);
                }
            }
            // The simulator in this process paces nothing: the client's limit does.
            cfg.rate_limit = (100_000, 1e9);
            let running = Simulator::start(cfg)
                .await
                .context("cannot start the simulator")?;
            let addrs = (
                running.lookup_addr().to_string(),
                running.level1_addr().to_string(),
                format!("simulator (seed {}, today {last})", args.sim_seed),
            );
            sim = Some(running);
            addrs
        } else {
            let Some(addr) = args.iqfeed.clone() else {
                bail!("where from? give --iqfeed host:port, --sim or --replay DIR");
            };
            let l1 = args.level1.clone().unwrap_or_else(|| {
                let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
                format!("{host}:5009")
            });
            let name = format!("iqfeed {addr}");
            (addr, l1, name)
        };
        let lookup = LookupClient::connect(LookupConfig {
            addr: lookup_addr,
            rate_per_sec: rate,
            burst: rate.ceil().clamp(1.0, 10_000.0) as u32,
            max_in_flight: args.max_in_flight,
            request_timeout: Duration::from_secs(args.timeout),
            ..LookupConfig::default()
        })
        .await
        .context("cannot reach IQFeed's lookup port")?;
        (
            Source::Live {
                lookup,
                level1_addr,
                level1: Box::new(tokio::sync::Mutex::new(Vec::new())),
                archive: args.archive.clone(),
            },
            name,
        )
    };
    let ctx = Arc::new(Ctx {
        store,
        source,
        force: args.force,
        retries: args.retries.max(1),
        timeout: Duration::from_secs(args.timeout),
        option_months: args.option_months,
        option_strikes: args.option_strikes,
    });

    let mut report = Report {
        stage: "fetch".into(),
        store: ctx.store.url().to_owned(),
        source: source_name,
        from: scope.from.to_string(),
        to: last.to_string(),
        shard: scope.shard.to_string(),
        symbols: symbols.len(),
        ..Report::default()
    };
    let units = match plan_units(&ctx, &kinds, &symbols, &scope.days, &mut report).await {
        Ok(u) => u,
        Err(e) => return Ok(planning_failed("fetch", &e)),
    };
    let skipped: u64 = report.kinds.values().map(|k| k.skipped).sum();
    report.units = units.len() as u64 + skipped;
    tracing::info!(
        units = units.len(),
        skipped,
        symbols = symbols.len(),
        shard = %scope.shard,
        "fetch planned"
    );
    let settings = Settings {
        jobs: args.jobs,
        progress: args.progress,
        report_file: &args.report,
        started,
    };
    let code = runner::run(Arc::new(Fetch(ctx)), units, report, settings, control).await;
    if let Some(s) = sim {
        s.shutdown().await;
    }
    code
}

/// The fetch stage, as the unit loop runs it.
struct Fetch(Arc<Ctx>);

impl Units for Fetch {
    type Unit = Unit;
    const NAME: &'static str = "fetch";

    fn label(unit: &Unit) -> Label {
        let days = match unit.days.as_slice() {
            [d] => d.to_string(),
            [a, .., b] => format!("{a}..{b}"),
            [] => String::new(),
        };
        Label {
            kind: unit.kind.to_string(),
            symbol: unit.symbol.to_string(),
            days,
        }
    }

    async fn run_one(&self, unit: &Unit) -> Result<Done, UnitError> {
        run_unit(&self.0, unit).await
    }
}

fn parse_kinds(names: &[String]) -> Result<Vec<FetchKind>> {
    let mut kinds = names
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| FetchKind::parse(s))
        .collect::<Result<Vec<_>>>()?;
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        bail!("no kinds: give --kinds with some of {}", plan::KIND_HELP);
    }
    Ok(kinds)
}

/// The units still to do; skipped ones are counted in the report.
async fn plan_units(
    ctx: &Ctx,
    kinds: &[FetchKind],
    symbols: &[Symbol],
    days: &[TradingDay],
    report: &mut Report,
) -> Result<Vec<Unit>, UnitError> {
    let (first, last) = (days[0], days[days.len() - 1]);
    let mut units = Vec::new();
    for &kind in kinds {
        report.kinds.entry(kind.to_string()).or_default().symbols = symbols.len();
        for symbol in symbols {
            let present: Vec<TradingDay> = if ctx.force {
                Vec::new()
            } else {
                store_call(&ctx.store, Role::Feed, || {
                    ctx.store
                        .days(Dataset::Feed, kind.store_kind(), symbol, first, last)
                })
                .await?
            };
            let missing: Vec<TradingDay> = days
                .iter()
                .copied()
                .filter(|d| !present.contains(d))
                .collect();
            let skipped = (days.len() - missing.len()) as u64;
            match kind {
                FetchKind::Ticks | FetchKind::Bars(_) | FetchKind::Options => {
                    for _ in 0..skipped {
                        report.record(&kind.to_string(), Outcome::Skipped, 0);
                    }
                    units.extend(missing.into_iter().map(|d| Unit {
                        kind,
                        symbol: symbol.clone(),
                        days: vec![d],
                    }));
                }
                FetchKind::Daily => {
                    if missing.is_empty() {
                        report.record(&kind.to_string(), Outcome::Skipped, 0);
                    } else {
                        units.push(Unit {
                            kind,
                            symbol: symbol.clone(),
                            days: missing,
                        });
                    }
                }
                // A snapshot as of the last day; dividends are filed under their ex-date,
                // so they are asked for every run.
                FetchKind::Fundamentals if present.contains(&last) => {
                    report.record(&kind.to_string(), Outcome::Skipped, 0);
                }
                FetchKind::Fundamentals | FetchKind::Dividends => units.push(Unit {
                    kind,
                    symbol: symbol.clone(),
                    days: vec![last],
                }),
            }
        }
    }
    // Day by day (kinds and symbols in order within a day), so that the store fills evenly
    // through a long run and an interrupted one leaves whole days behind.
    units.sort_by_key(|u| u.days[0]);
    Ok(units)
}

/// `YYYY/MM/DD` of a day, for archive paths.
fn day_path(d: TradingDay) -> String {
    let n = d.yyyymmdd();
    format!("{:04}/{:02}/{:02}", n / 10_000, (n / 100) % 100, n % 100)
}

/// The whole of a day, as a request range.
fn whole_day(d: TradingDay) -> (Option<DateTime>, Option<DateTime>) {
    let date = d.yyyymmdd();
    (
        Some(DateTime { date, time: 0 }),
        Some(DateTime {
            date,
            time: 235_959,
        }),
    )
}

fn oldest_first() -> Window {
    Window {
        direction: Direction::OldestFirst,
        ..Window::default()
    }
}

/// A request, retried ([`Backoff`], `--retries` attempts) while it fails in a way a retry may
/// cure; its data lines are parsed into rows by `parse` as they arrive (a retry starts the
/// rows over).
async fn request<T: Send>(
    ctx: &Ctx,
    req: &Request,
    path: &str,
    parse: impl Fn(&[u8], &mut Vec<T>) -> Result<()> + Send + Sync,
) -> Result<(Reply, Vec<T>), UnitError> {
    let attempts = AtomicU32::new(0);
    let (counted, parse) = (&attempts, &parse);
    let got = (move || async move {
        counted.fetch_add(1, Ordering::Relaxed);
        let mut rows = Vec::new();
        let reply = ctx
            .source
            .request(req, path, &mut |block| parse(block, &mut rows))
            .await?;
        Ok((reply, rows))
    })
    .retry(REQUEST_BACKOFF.with_attempts(ctx.retries).builder())
    .when(|e| matches!(e, SourceError::Retryable(_)))
    .notify(|e, pause| {
        tracing::warn!(
            attempt = attempts.load(Ordering::Relaxed),
            error = %e,
            pause_ms = pause.as_millis() as u64,
            "iqfeed request failed; retrying"
        );
    })
    .await;
    match got {
        Ok(v) => Ok(v),
        Err(SourceError::Retryable(e)) => Err(UnitError::Failed(format!(
            "{e} (after {} attempts)",
            attempts.load(Ordering::Relaxed)
        ))),
        Err(SourceError::Failed(e)) => Err(UnitError::Failed(e)),
    }
}

/// IQFeed requests: pauses from 250 ms doubling to 10 s (`--retries` sets the attempts).
const REQUEST_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(250), Duration::from_secs(10), 5);

/// Encodes rows off the async threads and commits chunks in one batch (retried while the
/// store is unavailable: [`store_call`]).
async fn commit(ctx: &Ctx, chunks: Vec<(ChunkKey, Records)>) -> Result<(), UnitError> {
    let encoded = tokio::task::spawn_blocking(move || {
        chunks
            .into_iter()
            .map(|(k, r)| (k, r.encode()))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| UnitError::Failed(format!("encoding failed: {e}")))?;
    store_call(&ctx.store, Role::Feed, || {
        ctx.store.put_chunks(encoded.clone())
    })
    .await
}

/// A unit of a symbol IQFeed does not know.
fn unknown_symbol() -> Done {
    Done {
        note: Some((
            "unknown symbol".into(),
            "IQFeed does not know this symbol".into(),
        )),
        ..Done::nothing(Outcome::UnknownSymbol)
    }
}

fn key(kind: Kind, symbol: &Symbol, day: TradingDay) -> ChunkKey {
    ChunkKey::new(Dataset::Feed, kind, symbol.clone(), day)
}

/// Runs one unit: (outcome, symbol-days committed).
async fn run_unit(ctx: &Arc<Ctx>, unit: &Unit) -> Result<Done, UnitError> {
    let sym = &unit.symbol;
    let day = unit.days[0];
    match unit.kind {
        FetchKind::Ticks | FetchKind::Bars(_) => {
            let (begin, end) = whole_day(day);
            let (req, path) = match unit.kind {
                FetchKind::Bars(secs) => (
                    Request::BarsRange {
                        symbol: sym.to_string(),
                        spec: BarSpec {
                            interval: secs,
                            interval_type: IntervalType::Seconds,
                            label_at_beginning: false,
                        },
                        begin,
                        end,
                        window: oldest_first(),
                    },
                    format!(
                        "{}/bars{secs}/{}.txt.gz",
                        day_path(day),
                        path_part(sym.as_str())
                    ),
                ),
                _ => (
                    Request::TicksRange {
                        symbol: sym.to_string(),
                        begin,
                        end,
                        window: oldest_first(),
                    },
                    format!("{}/ticks/{}.txt.gz", day_path(day), path_part(sym.as_str())),
                ),
            };
            let kind = unit.kind.store_kind();
            let rows = match kind {
                Kind::Bar(_) => match request(ctx, &req, &path, convert::bars).await? {
                    (Reply::InvalidSymbol(_), _) => return Ok(unknown_symbol()),
                    (_, rows) => Records::Bars(rows),
                },
                _ => match request(ctx, &req, &path, convert::trades).await? {
                    (Reply::InvalidSymbol(_), _) => return Ok(unknown_symbol()),
                    (_, rows) => Records::Trades(rows),
                },
            };
            let n = rows.len() as u64;
            commit(ctx, vec![(key(kind, sym, day), rows)]).await?;
            Ok(Done::rows(n, 1))
        }
        FetchKind::Daily => {
            let (first, last) = (day, *unit.days.last().unwrap_or(&day));
            let req = Request::DailyRange {
                symbol: sym.to_string(),
                begin: Some(first.yyyymmdd()),
                end: Some(last.yyyymmdd()),
                max_points: None,
                direction: Direction::OldestFirst,
            };
            let path = format!(
                "daily/{}/{}-{}.txt.gz",
                path_part(sym.as_str()),
                first.yyyymmdd(),
                last.yyyymmdd()
            );
            let bars = match request(ctx, &req, &path, convert::daily).await? {
                (Reply::InvalidSymbol(_), _) => return Ok(unknown_symbol()),
                (_, bars) => bars,
            };
            let n = bars.len() as u64;
            // One chunk per missing day (an empty one where IQFeed has no bar, so that a
            // re-run skips it).
            let chunks = unit
                .days
                .iter()
                .map(|d| {
                    let rows: Vec<_> = bars
                        .iter()
                        .filter(|b| b.date == d.yyyymmdd())
                        .cloned()
                        .collect();
                    (key(Kind::Daily, sym, *d), Records::DailyBars(rows))
                })
                .collect::<Vec<_>>();
            let written = chunks.len() as u64;
            commit(ctx, chunks).await?;
            Ok(Done::rows(n, written))
        }
        FetchKind::Options => options_unit(ctx, sym, day).await,
        FetchKind::Fundamentals | FetchKind::Dividends => {
            let path = format!(
                "{}/level1/{}.txt.gz",
                day_path(day),
                path_part(sym.as_str())
            );
            let f = match ctx
                .source
                .fundamental(sym.as_str(), &path, ctx.timeout)
                .await
            {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(unknown_symbol()),
                Err(e) => return Err(UnitError::Failed(e.to_string())),
            };
            if unit.kind == FetchKind::Fundamentals {
                let time = Nyse.session(day).map_or(0, |s| s.close_utc_ns());
                let rows = Records::Fundamentals(vec![convert::fundamentals(&f, time)]);
                commit(ctx, vec![(key(Kind::Fundamental, sym, day), rows)]).await?;
                return Ok(Done::rows(1, 1));
            }
            let Some(d) = convert::dividend(&f) else {
                return Ok(Done::nothing(Outcome::Empty));
            };
            let ex = TradingDay::from_yyyymmdd(d.ex_date)
                .map_err(|e| UnitError::Failed(format!("ex-date of {sym}: {e}")))?;
            commit(
                ctx,
                vec![(key(Kind::Dividend, sym, ex), Records::Dividends(vec![d]))],
            )
            .await?;
            Ok(Done::rows(1, 1))
        }
    }
}

/// An underlying's options for a day: the chain, then every listed contract's trades;
/// the chain and the trades are committed together.
async fn options_unit(ctx: &Arc<Ctx>, und: &Symbol, day: TradingDay) -> Result<Done, UnitError> {
    let req = Request::EquityChain {
        symbol: und.to_string(),
        sides: Sides::Both,
        month_codes: String::new(),
        near_months: Some(ctx.option_months),
        filter: ChainFilter::Moneyness(ctx.option_strikes, ctx.option_strikes),
        include_nonstandard: false,
    };
    let path = format!("{}/chain/{}.txt.gz", day_path(day), path_part(und.as_str()));
    let parse = |b: &[u8], out: &mut Vec<_>| convert::chain(b, und.as_str(), day, out);
    let mut contracts = match request(ctx, &req, &path, parse).await? {
        (Reply::InvalidSymbol(_), _) => return Ok(unknown_symbol()),
        (_, contracts) => contracts,
    };
    contracts.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    contracts.dedup_by(|a, b| a.symbol == b.symbol);
    // Every contract's trades at once: the client paces the requests and bounds those in
    // flight; the trades are sorted afterwards, so arrival order does not matter.
    let (begin, end) = whole_day(day);
    let mut tasks = JoinSet::new();
    for c in &contracts {
        let req = Request::TicksRange {
            symbol: c.symbol.clone(),
            begin,
            end,
            window: oldest_first(),
        };
        let path = format!(
            "{}/options/{}/{}.txt.gz",
            day_path(day),
            path_part(und.as_str()),
            path_part(&c.symbol)
        );
        let (ctx, contract) = (ctx.clone(), c.symbol.clone());
        tasks.spawn(async move {
            let parse = |b: &[u8], out: &mut Vec<_>| convert::option_trades(&contract, b, out);
            Ok::<_, UnitError>(request(&ctx, &req, &path, parse).await?.1)
        });
    }
    let mut trades: Vec<OptionTrade> = Vec::new();
    while let Some(t) = tasks.join_next().await {
        let part: Result<Vec<OptionTrade>, UnitError> =
            t.map_err(|e| UnitError::Failed(format!("a contract's fetch panicked: {e}")))?;
        trades.extend(part?);
    }
    trades.sort_by(|a, b| (a.time, &a.contract, a.tick_id).cmp(&(b.time, &b.contract, b.tick_id)));
    let n = trades.len() as u64;
    commit(
        ctx,
        vec![
            (key(Kind::Chain, und, day), Records::Contracts(contracts)),
            (
                key(Kind::OptionTrade, und, day),
                Records::OptionTrades(trades),
            ),
        ],
    )
    .await?;
    Ok(Done::rows(n, 1))
}
