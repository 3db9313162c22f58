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
mod ranged;
mod source;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use backon::Retryable;
use tokio::task::JoinSet;
use xlfeed_core::records::{OptionContract, OptionTrade};
use xlfeed_core::{Backoff, Nyse, Symbol, TradingDay};
use xlfeed_iqfeed::client::lookup::{LookupClient, LookupConfig};
use xlfeed_iqfeed::sim::{SimConfig, Simulator};
use xlfeed_iqfeed::wire::request::{
    BarSpec, ChainFilter, Direction, IntervalType, Request, Sides, Window,
};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store};

use crate::stage::report::Requests;
use crate::stage::runner::{self, planning_failed};
use crate::stage::{
    Done, Label, Outcome, ProgressMode, Reach, Report, Role, RunControl, Scope, Settings,
    UnitError, Units, ensure_registered, store_call,
};
use plan::{FetchKind, Unit};
use ranged::{End, Series, What};
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
    /// IQConnect's lookup port, host:port. Several gateways (one per IQFeed login),
    /// comma-separated: shard i uses entry i mod their number.
    #[arg(long, env = "XLFEED_IQFEED", conflicts_with_all = ["sim", "replay"])]
    iqfeed: Option<String>,
    /// IQConnect's Level 1 port (default: the chosen --iqfeed host, port 5009); a list is
    /// chosen from as --iqfeed's.
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
    /// The FEED store: embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/.
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
    /// Ask IQFeed for each instrument's trades and bars one day at a time (a request per
    /// instrument-day), as fetch did before ranged requests; for comparison.
    #[arg(long)]
    day_at_a_time: bool,
    /// Most trading days asked for in one request (ticks, bars, an option contract's
    /// trades); a unit covers as many consecutive missing days.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=260))]
    range_days: u32,
    /// The gateway's most data points in one reply, sent as MaxDatapoints on multi-day
    /// requests: a reply that reaches it is taken as cut (IQFeed keeps the newest points)
    /// and the rest is asked again. Default: no limit. With --sim, the simulator plays a
    /// gateway with this limit.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_points: Option<u32>,
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
        for (flag, list) in [("--iqfeed", &self.iqfeed), ("--level1", &self.level1)] {
            for h in list.iter().flat_map(|l| l.split(',')) {
                r.gateways.push((flag, h.trim().to_owned()));
            }
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
    /// `--max-points`.
    max_points: Option<u32>,
    /// The instruments asked for in this run (a stock's kind, an option contract), for the
    /// report's requests per 1,000 entities.
    entities: Mutex<HashSet<String>>,
}

impl Ctx {
    /// Notes that `entity` was asked for.
    fn asked(&self, entity: String) {
        if let Ok(mut e) = self.entities.lock() {
            e.insert(entity);
        }
    }
}

/// What a run is given once its options passed every check that needs no store, gateway or
/// data: `fetch --check` stops there.
struct Checked {
    kinds: Vec<FetchKind>,
    scope: Scope,
    symbols: Vec<Symbol>,
    /// IQFeed history requests per second.
    rate: f64,
    /// This shard's gateway from `--iqfeed` (one of its list).
    iqfeed: Option<String>,
    /// This shard's Level 1 port from `--level1`.
    level1: Option<String>,
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
    let iqfeed = args
        .iqfeed
        .as_deref()
        .map(|list| scope.shard.gateway("--iqfeed", list))
        .transpose()?;
    let level1 = args
        .level1
        .as_deref()
        .map(|list| scope.shard.gateway("--level1", list))
        .transpose()?;
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
        iqfeed,
        level1,
    })
}

/// `fetch --check`: what the run would do, in one line, or the error naming the bad value.
pub(crate) fn check(args: &FetchArgs) -> Result<String> {
    let c = checked(args)?;
    let source = match (&args.replay, &c.iqfeed) {
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
        iqfeed,
        level1,
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
            cfg.max_datapoints = args.max_points;
            if args.sim_any_symbol {
                for s in &symbols {
                    cfg.universe.add_symbol(s);
                }
            }
            // The simulator in this process paces nothing: the client's limit does.
            cfg.rate_limit = (100_000, 1e9);
            // Its one client is this fetch: generating is this process's work either way.
            cfg.offload_generation = false;
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
            let Some(addr) = iqfeed else {
                bail!("where from? give --iqfeed host:port, --sim or --replay DIR");
            };
            let l1 = level1.unwrap_or_else(|| {
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
        max_points: args.max_points,
        entities: Mutex::new(HashSet::new()),
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
    let span = if args.day_at_a_time {
        1
    } else {
        args.range_days as usize
    };
    let units = match plan_units(&ctx, &kinds, &symbols, &scope.days, span, &mut report).await {
        Ok(u) => u,
        Err(e) => return Ok(planning_failed("fetch", &e)),
    };
    let skipped: u64 = report.kinds.values().map(|k| k.skipped).sum();
    // A ranged unit stands for each of its symbol-days in the report.
    report.units = units.iter().map(Unit::weight).sum::<u64>() + skipped;
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

    fn complete(&self, report: &mut Report) {
        let Some(made) = self.0.source.requests() else {
            return;
        };
        let entities = self.0.entities.lock().map_or(0, |e| e.len() as u64);
        let per_1000 = |n: u64| {
            if n == 0 {
                0.0
            } else {
                made as f64 * 1000.0 / n as f64
            }
        };
        report.requests = Some(Requests {
            made,
            entities,
            per_1000_entities: per_1000(entities).round(),
            per_1000_rows: (per_1000(report.rows()) * 1000.0).round() / 1000.0,
        });
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
    span: usize,
    report: &mut Report,
) -> Result<Vec<Unit>, UnitError> {
    let (first, last) = (days[0], days[days.len() - 1]);
    // Each unit with its symbol's position, for the order below.
    let mut units: Vec<(usize, Unit)> = Vec::new();
    for &kind in kinds {
        report.kinds.entry(kind.to_string()).or_default().symbols = symbols.len();
        // The symbols that already have days of this kind, for their registry below.
        let mut stored = Vec::new();
        for (at, symbol) in symbols.iter().enumerate() {
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
            if !present.is_empty() {
                stored.push(symbol.clone());
            }
            let mut push = |u: Unit| units.push((at, u));
            match kind {
                FetchKind::Ticks | FetchKind::Bars(_) | FetchKind::Options => {
                    for _ in 0..skipped {
                        report.record(&kind.to_string(), Outcome::Skipped, 0);
                    }
                    for run in runs(days, &missing, span) {
                        push(Unit {
                            kind,
                            symbol: symbol.clone(),
                            days: run,
                        });
                    }
                }
                FetchKind::Daily => {
                    if missing.is_empty() {
                        report.record(&kind.to_string(), Outcome::Skipped, 0);
                    } else {
                        push(Unit {
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
                FetchKind::Fundamentals | FetchKind::Dividends => push(Unit {
                    kind,
                    symbol: symbol.clone(),
                    days: vec![last],
                }),
            }
        }
        // Days this run skips are not written again, nor their registry entries: one lost
        // (a cluster failover, see `Store::ensure_registered`) is written back here.
        ensure_registered(
            &ctx.store,
            Role::Feed,
            Dataset::Feed,
            kind.store_kind(),
            &stored,
        )
        .await?;
    }
    // Day by day, so that the store fills evenly through a long run and an interrupted one
    // leaves whole days behind; within a day (or a run of days), symbol by symbol with each
    // symbol's kinds together, so that every stretch of the run has the same mix. Kind by kind
    // made phases: all the ticks of a run of days (fast in rows a second), then all its
    // options (many requests for few rows), and a 1B run's first and last tenths fell in
    // different phases. The Level 1 units (fundamentals, dividends: one per symbol, filed
    // under the last day) are spread over the run, the n-th of them with the days at n /
    // their number of the way: at the end they were a tail of slow, row-less units (a 1B
    // run's last 17 s) while the history port idled.
    let level1 = units
        .iter()
        .filter(|(_, u)| u.kind.is_level1())
        .count()
        .max(1);
    let mut nth = 0;
    let mut keyed: Vec<((usize, usize), Unit)> = units
        .into_iter()
        .map(|(symbol_at, u)| {
            let at = if u.kind.is_level1() {
                nth += 1;
                (nth - 1) * days.len() / level1
            } else {
                days.partition_point(|d| *d < u.days[0])
            };
            ((at, symbol_at), u)
        })
        .collect();
    // Stable: a symbol's kinds stay in the order asked.
    keyed.sort_by_key(|(at, _)| *at);
    Ok(keyed.into_iter().map(|(_, u)| u).collect())
}

/// The `missing` days (in the order of `days`) as runs of consecutive days of `days`, at
/// most `span` long: what one request may ask for. A day the store has breaks a run.
fn runs(days: &[TradingDay], missing: &[TradingDay], span: usize) -> Vec<Vec<TradingDay>> {
    let mut out: Vec<Vec<TradingDay>> = Vec::new();
    let mut last_at = None;
    for (i, d) in days.iter().enumerate() {
        if !missing.contains(d) {
            continue;
        }
        match out.last_mut() {
            Some(run) if last_at == Some(i.wrapping_sub(1)) && run.len() < span.max(1) => {
                run.push(*d);
            }
            _ => out.push(vec![*d]),
        }
        last_at = Some(i);
    }
    out
}

/// `YYYY/MM/DD` of a day, for archive paths.
fn day_path(d: TradingDay) -> String {
    let n = d.yyyymmdd();
    format!("{:04}/{:02}/{:02}", n / 10_000, (n / 100) % 100, n % 100)
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
        FetchKind::Ticks | FetchKind::Bars(_) => history_unit(ctx, unit).await,
        FetchKind::Daily => {
            ctx.asked(format!("daily {sym}"));
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
        FetchKind::Options => options_unit(ctx, sym, &unit.days).await,
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

/// Fetches `days` of `series` with [`ranged::fetch`], sending each day's rows as records
/// (`wrap`) to `tx`. Owns both ends it joins: when the commits stop, the fetch's sends fail
/// instead of waiting for ever.
async fn forward<T: Send>(
    ctx: &Ctx,
    series: &Series,
    days: &[TradingDay],
    parse: &ranged::Parse<T>,
    wrap: fn(Vec<T>) -> Records,
    tx: tokio::sync::mpsc::Sender<(TradingDay, Records)>,
) -> Result<ranged::End, UnitError> {
    let (dtx, mut drx) = tokio::sync::mpsc::channel(1);
    let fwd = async move {
        while let Some((d, rows)) = drx.recv().await {
            if tx.send((d, wrap(rows))).await.is_err() {
                break;
            }
        }
    };
    let (end, ()) = tokio::join!(
        async {
            let r = ranged::fetch(ctx, series, days, parse, &dtx).await;
            drop(dtx);
            r
        },
        fwd
    );
    end
}

/// A ticks or bars unit: its days in as few requests as IQFeed allows ([`ranged`]), each
/// day committed as soon as it is whole.
async fn history_unit(ctx: &Arc<Ctx>, unit: &Unit) -> Result<Done, UnitError> {
    let sym = &unit.symbol;
    let kind = unit.kind.store_kind();
    let (what, folder) = match unit.kind {
        FetchKind::Bars(secs) => (
            What::Bars(BarSpec {
                interval: secs,
                interval_type: IntervalType::Seconds,
                label_at_beginning: false,
            }),
            format!("bars{secs}"),
        ),
        _ => (What::Ticks, "ticks".to_owned()),
    };
    ctx.asked(format!("{} {sym}", unit.kind));
    let series = Series {
        symbol: sym.to_string(),
        what,
        folder,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(TradingDay, Records)>(2);
    let fetched = async {
        match what {
            What::Bars(_) => {
                forward(ctx, &series, &unit.days, &convert::bars, Records::Bars, tx).await
            }
            What::Ticks => {
                forward(
                    ctx,
                    &series,
                    &unit.days,
                    &convert::trades,
                    Records::Trades,
                    tx,
                )
                .await
            }
        }
    };
    // Owns the receiver: a commit that fails drops it, so the fetch stops too.
    let committed = async move {
        let mut outcomes = BTreeMap::new();
        while let Some((d, rows)) = rx.recv().await {
            let n = rows.len() as u64;
            commit(ctx, vec![(key(kind, sym, d), rows)]).await?;
            outcomes.insert(d, Done::rows(n, 1).outcome);
        }
        Ok::<_, UnitError>(outcomes)
    };
    let (end, outcomes) = tokio::join!(fetched, committed);
    let outcomes = outcomes?;
    let written = outcomes.len() as u64;
    match end? {
        End::Complete => Ok(Done::days(outcomes.into_values().collect(), written)),
        End::UnknownSymbol => Ok(unknown_days(unit.days.len() - outcomes.len(), outcomes)),
    }
}

/// A unit of a symbol IQFeed does not know, after `committed` days it did have: one
/// unknown-symbol outcome for each of the `unknown` days.
fn unknown_days(unknown: usize, committed: BTreeMap<TradingDay, Outcome>) -> Done {
    let written = committed.len() as u64;
    let mut outcomes = vec![Outcome::UnknownSymbol; unknown.max(1)];
    outcomes.extend(committed.into_values());
    Done {
        note: unknown_symbol().note,
        ..Done::days(outcomes, written)
    }
}

/// An underlying's options over a run of days: the chain (`CEO`, which lists the contracts
/// listed now whatever the day: asked once, each day keeps the contracts not expired by it),
/// then every listed contract's trades over the days it is listed, one request a contract
/// ([`ranged`]); each day's chain and trades are committed together.
async fn options_unit(
    ctx: &Arc<Ctx>,
    und: &Symbol,
    days: &[TradingDay],
) -> Result<Done, UnitError> {
    let Some(chains) = chains(ctx, und, days).await? else {
        return Ok(unknown_days(days.len(), BTreeMap::new()));
    };
    // Each contract over the days whose chain lists it, in runs of consecutive days.
    let mut listed: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (_, contracts)) in chains.iter().enumerate() {
        for c in contracts {
            listed.entry(c.symbol.clone()).or_default().push(i);
        }
    }
    // Every contract at once: the client paces the requests and bounds those in flight;
    // the trades are sorted afterwards, so arrival order does not matter.
    let mut tasks = JoinSet::new();
    for (contract, at) in listed {
        let mut run: Vec<TradingDay> = Vec::new();
        let mut runs = Vec::new();
        for (k, &i) in at.iter().enumerate() {
            if k > 0 && at[k - 1] + 1 != i {
                runs.push(std::mem::take(&mut run));
            }
            run.push(days[i]);
        }
        runs.push(run);
        ctx.asked(format!("option {contract}"));
        let series = Series {
            symbol: contract.clone(),
            what: What::Ticks,
            folder: format!("options/{}", path_part(und.as_str())),
        };
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let parse = move |b: &[u8], out: &mut Vec<OptionTrade>| {
                convert::option_trades(&contract, b, out)
            };
            let mut got = Vec::new();
            for run in runs {
                let (tx, mut rx) = tokio::sync::mpsc::channel(4);
                let collect = async {
                    while let Some(day_rows) = rx.recv().await {
                        got.push(day_rows);
                    }
                };
                let (end, ()) = tokio::join!(
                    async {
                        let r = ranged::fetch(&ctx, &series, &run, &parse, &tx).await;
                        drop(tx);
                        r
                    },
                    collect
                );
                // A contract IQFeed does not know has no trades.
                end?;
            }
            Ok::<_, UnitError>(got)
        });
    }
    let mut trades: BTreeMap<TradingDay, Vec<OptionTrade>> = BTreeMap::new();
    while let Some(t) = tasks.join_next().await {
        let part = t.map_err(|e| UnitError::Failed(format!("a contract's fetch panicked: {e}")))?;
        for (d, rows) in part? {
            trades.entry(d).or_default().extend(rows);
        }
    }
    let mut chunks = Vec::new();
    let mut outcomes = Vec::new();
    for (day, contracts) in chains {
        let mut t = trades.remove(&day).unwrap_or_default();
        t.sort_by(|a, b| (a.time, &a.contract, a.tick_id).cmp(&(b.time, &b.contract, b.tick_id)));
        outcomes.push(Done::rows(t.len() as u64, 1).outcome);
        chunks.push((key(Kind::Chain, und, day), Records::Contracts(contracts)));
        chunks.push((key(Kind::OptionTrade, und, day), Records::OptionTrades(t)));
    }
    let written = outcomes.len() as u64;
    commit(ctx, chunks).await?;
    Ok(Done::days(outcomes, written))
}

/// The chain of `und` on each of `days` (sorted by contract, without repeats); `None` for
/// an unknown underlying. Live, one `CEO` serves every day (IQFeed lists today's contracts
/// whatever the day) and is archived under each; a replay reads each day's.
async fn chains(
    ctx: &Arc<Ctx>,
    und: &Symbol,
    days: &[TradingDay],
) -> Result<Option<Vec<(TradingDay, Vec<OptionContract>)>>, UnitError> {
    let req = Request::EquityChain {
        symbol: und.to_string(),
        sides: Sides::Both,
        month_codes: String::new(),
        near_months: Some(ctx.option_months),
        filter: ChainFilter::Moneyness(ctx.option_strikes, ctx.option_strikes),
        include_nonstandard: false,
    };
    let path = |d: TradingDay| format!("{}/chain/{}.txt.gz", day_path(d), path_part(und.as_str()));
    let tidy = |mut contracts: Vec<OptionContract>| {
        contracts.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        contracts.dedup_by(|a, b| a.symbol == b.symbol);
        contracts
    };
    let mut out = Vec::with_capacity(days.len());
    if ctx.source.is_replay() {
        for &day in days {
            let parse = |b: &[u8], o: &mut Vec<_>| convert::chain(b, und.as_str(), day, o);
            match request(ctx, &req, &path(day), parse).await? {
                (Reply::InvalidSymbol(_), _) => return Ok(None),
                (_, contracts) => out.push((day, tidy(contracts))),
            }
        }
        return Ok(Some(out));
    }
    let Some(&first) = days.first() else {
        return Ok(Some(out));
    };
    let keep = |b: &[u8], body: &mut Vec<u8>| {
        body.extend_from_slice(b);
        Ok(())
    };
    let (reply, body) = request(ctx, &req, &path(first), keep).await?;
    if let Reply::InvalidSymbol(_) = reply {
        return Ok(None);
    }
    for &day in days {
        if day != first
            && let Some(mut f) = ctx
                .source
                .archive_file(&path(day), &req)
                .map_err(|e| UnitError::Failed(e.to_string()))?
        {
            f.write(&body)
                .and_then(|()| f.finish(&reply))
                .map_err(|e| UnitError::Failed(format!("{e:#}")))?;
        }
        let mut contracts = Vec::new();
        convert::chain(&body, und.as_str(), day, &mut contracts)
            .map_err(|e| UnitError::Failed(format!("{e:#}")))?;
        out.push((day, tidy(contracts)));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_days_make_runs_a_request_may_ask_for() {
        let days: Vec<TradingDay> = Nyse
            .trading_days(
                TradingDay::parse("2024-06-03").unwrap(),
                TradingDay::parse("2024-06-14").unwrap(),
            )
            .collect();
        assert_eq!(days.len(), 10);
        let all = runs(&days, &days, 20);
        assert_eq!(all, vec![days.clone()], "a weekend does not break a run");
        let by4: Vec<usize> = runs(&days, &days, 4).iter().map(Vec::len).collect();
        assert_eq!(by4, [4, 4, 2]);
        assert_eq!(runs(&days, &days, 1).len(), 10, "--day-at-a-time");
        // A day the store has breaks a run.
        let missing: Vec<TradingDay> = days.iter().copied().filter(|d| *d != days[3]).collect();
        let got: Vec<usize> = runs(&days, &missing, 20).iter().map(Vec::len).collect();
        assert_eq!(got, [3, 6]);
        assert!(runs(&days, &[], 20).is_empty());
    }
}
