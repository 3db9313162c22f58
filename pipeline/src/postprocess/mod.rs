//! `xlpipeline postprocess`: SSDB-FEED → SSDB-POST.
//!
//! A unit is one (underlying, day) with option trades in FEED. Its inputs (the day's option
//! trades, chain and underlying trades, the rate curve it uses, the underlying's dividends)
//! are fingerprinted (CRC-32 of their stored bytes) and the fingerprints are written to POST
//! as the day's `lineage`, in the same commit as its outputs (`enriched_trade`,
//! `contract_daily`, `iv_summary`). A re-run redoes a day only when its inputs' fingerprints
//! changed (or with `--force`), so it is incremental, idempotent, and resumable after kill -9
//! with the same bytes.
//!
//! This module plans the units and runs one; the loop around them (jobs, signals, store
//! retries, progress, the report) is [`crate::stage`]'s, the same as fetch's: a store that
//! blinks mid-run is waited for, one that stays down stops the run (exit 3) naming it.

mod enrich;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use xlfeed_analytics::asof::Direction;
use xlfeed_analytics::rates::{Curve, CurvePolicy};
use xlfeed_core::records::{Dividend, Lineage, OptionContract, OptionTrade, RatePoint, Trade};
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store};

use crate::stage::report::Problem;
use crate::stage::runner::{self, planning_failed};
use crate::stage::{
    Done, Label, Outcome, ProgressMode, Reach, Report, Role, RunControl, Scope, Settings,
    UnitError, Units, ensure_registered, store_call,
};
use enrich::{DayCurve, Inputs, Pairing};

/// How far back a rate curve may be: the latest curve at or before the day, within this.
const CURVE_LOOKBACK_DAYS: i64 = 31;

pub(crate) const POSTPROCESS_EXAMPLES: &str = "\
Examples:
  # Everything fetch wrote for June 2024, into POST next to FEED
  xlpipeline postprocess --feed embedded://data/feed --post embedded://data/post \\
      --from 2024-06-03 --to 2024-06-28

  # Two underlyings, pairing with the nearest underlying trade within 2 s
  xlpipeline postprocess --feed redis://ssdb-feed:8888 --post redis://ssdb-post:8888 \\
      --from 2024-06-12 --underlyings AAPL,SPY --pairing nearest --staleness 2

  # LIBOR before 2023-07, SOFR after, the Treasury par curve when those are missing
  xlpipeline postprocess ... --curves '..2023-06-30=USD_LIBOR,2023-07-01..=SOFR;fallback=UST_PAR'

A day is redone only when its FEED inputs changed since it was processed (--force redoes
all). Exit codes: 0 done; 1 bad arguments or a store that does not open; 2 a command line
that does not parse; 3 a store failed mid-run (what was committed is kept); 4 some days
failed; 130 interrupted by SIGINT/SIGTERM after the days in flight.";

impl PostprocessArgs {
    /// What these options reach outside the process.
    pub(crate) fn reach(&self) -> Reach {
        Reach {
            stores: vec![("--feed", self.feed.clone()), ("--post", self.post.clone())],
            ..Reach::default()
        }
    }
}

/// How option trades pair with underlying trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PairingArg {
    /// The latest underlying trade at or before the option trade (no look-ahead).
    Backward,
    /// The nearest underlying trade, before or after.
    Nearest,
}

/// Options of `postprocess`.
#[derive(Debug, clap::Args)]
pub(crate) struct PostprocessArgs {
    /// The FEED store to read: embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/.
    #[arg(long, env = "XLFEED_FEED")]
    feed: String,
    /// The POST store to write (may be the same URL as --feed).
    #[arg(long, env = "XLFEED_POST")]
    post: String,
    /// First day: YYYY-MM-DD, YYYYMMDD, `today` or `-ND` (N days before today, in New York).
    #[arg(long)]
    from: String,
    /// Last day (default: --from).
    #[arg(long)]
    to: Option<String>,
    /// Underlyings, comma-separated (default: every underlying with option trades in FEED).
    #[arg(long, value_delimiter = ',')]
    underlyings: Vec<String>,
    /// This run's part of the underlyings, i/n (or JOB_COMPLETION_INDEX and XLFEED_SHARDS).
    #[arg(long)]
    shard: Option<String>,
    /// How option trades pair with underlying trades.
    #[arg(long, value_enum, default_value = "backward")]
    pairing: PairingArg,
    /// Seconds between an option trade and its underlying trade beyond which the record is
    /// flagged stale.
    #[arg(long, default_value_t = 5.0)]
    staleness: f64,
    /// Rate curve per date range and the fallback (see the examples).
    #[arg(long)]
    curves: Option<String>,
    /// Days processed at once. More than the cores: while one day's commit waits for the
    /// disk (or the network), another's maths runs (30M entities: 6.0 s with 2, 4.0 s with 8).
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Redo days whose inputs did not change.
    #[arg(long)]
    force: bool,
    /// Where the JSON run report goes.
    #[arg(long, default_value = "postprocess-report.json")]
    report: PathBuf,
    /// How progress is shown.
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressMode,
}

/// Checks `args` without opening or reading anything: the days and the shard, the pairing,
/// the curves, the stores' URLs. `postprocess --check` stops there.
fn checked(args: &PostprocessArgs) -> Result<(Scope, CurvePolicy)> {
    let scope = Scope::parse(&args.from, args.to.as_deref(), args.shard.as_deref())?;
    if !(args.staleness.is_finite() && args.staleness >= 0.0) {
        bail!(
            "bad --staleness {}: expected seconds, 0 or more",
            args.staleness
        );
    }
    if args.jobs == 0 {
        bail!("--jobs 0: at least one day must run at a time");
    }
    let policy = match &args.curves {
        Some(s) => CurvePolicy::parse(s).with_context(|| format!("bad --curves {s:?}"))?,
        None => CurvePolicy::default_usd(),
    };
    xlfeed_store::StoreUrl::parse(&args.feed).context("bad --feed")?;
    xlfeed_store::StoreUrl::parse(&args.post).context("bad --post")?;
    if !args.underlyings.is_empty() {
        crate::stage::scope::universe(&args.underlyings, None)?;
    }
    Ok((scope, policy))
}

/// `postprocess --check`: what the run would do, in one line, or the error naming the bad
/// value.
pub(crate) fn check(args: &PostprocessArgs) -> Result<String> {
    let (scope, _) = checked(args)?;
    let underlyings = if args.underlyings.is_empty() {
        "every underlying with options in FEED".to_owned()
    } else {
        format!("{} underlyings", args.underlyings.len())
    };
    Ok(format!(
        "postprocess: {underlyings} over {} trading days ({} to {}), shard {}, from {} into {} (nothing opened)",
        scope.days.len(),
        scope.first(),
        scope.last(),
        scope.shard,
        xlfeed_store::url::redact(&args.feed),
        xlfeed_store::url::redact(&args.post),
    ))
}

struct Ctx {
    feed: Store,
    post: Store,
    policy: CurvePolicy,
    pairing: Pairing,
    force: bool,
}

/// One unit: an underlying's options on one day.
struct Day {
    underlying: Symbol,
    day: TradingDay,
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.underlying, self.day)
    }
}

impl Units for Ctx {
    type Unit = Day;
    const NAME: &'static str = "postprocess";

    fn label(unit: &Day) -> Label {
        Label {
            kind: "options".into(),
            symbol: unit.underlying.to_string(),
            days: unit.day.to_string(),
        }
    }

    async fn run_one(&self, unit: &Day) -> Result<Done, UnitError> {
        run_unit(self, &unit.underlying, unit.day).await
    }
}

/// Runs `postprocess`; the exit code.
pub(crate) async fn run(args: PostprocessArgs, control: &RunControl) -> Result<u8> {
    let started = Instant::now();
    let (scope, policy) = checked(&args)?;
    let feed = control.open(&args.feed).await.with_context(|| {
        format!(
            "cannot open the FEED store {}",
            xlfeed_store::url::redact(&args.feed)
        )
    })?;
    // One embedded directory admits one handle per process: the same URL shares it.
    let post = if args.post == args.feed {
        feed.clone()
    } else {
        control.open(&args.post).await.with_context(|| {
            format!(
                "cannot open the POST store {}",
                xlfeed_store::url::redact(&args.post)
            )
        })?
    };
    let underlyings: Vec<Symbol> = if args.underlyings.is_empty() {
        match store_call(&feed, Role::Feed, || {
            feed.symbols(Dataset::Feed, Kind::OptionTrade)
        })
        .await
        {
            Ok(u) => u,
            Err(e) => return Ok(planning_failed("postprocess", &e)),
        }
    } else {
        crate::stage::scope::universe(&args.underlyings, None)?
    };
    let underlyings = scope.owned(underlyings);
    let ctx = Arc::new(Ctx {
        feed,
        post,
        policy,
        pairing: Pairing {
            direction: match args.pairing {
                PairingArg::Backward => Direction::Backward,
                PairingArg::Nearest => Direction::Nearest,
            },
            staleness_ns: (args.staleness * 1e9) as i64,
        },
        force: args.force,
    });

    let mut report = Report {
        stage: "postprocess".into(),
        store: ctx.post.url().to_owned(),
        source: ctx.feed.url().to_owned(),
        from: scope.from.to_string(),
        to: scope.last().to_string(),
        shard: scope.shard.to_string(),
        symbols: underlyings.len(),
        ..Report::default()
    };
    report.kinds.entry("options".into()).or_default().symbols = underlyings.len();
    let units = match plan_units(
        &ctx,
        &scope,
        &underlyings,
        !args.underlyings.is_empty(),
        &mut report,
    )
    .await
    {
        Ok(u) => u,
        Err(e) => return Ok(planning_failed("postprocess", &e)),
    };
    report.units = units.len() as u64;
    let settings = Settings {
        jobs: args.jobs,
        progress: args.progress,
        report_file: &args.report,
        started,
    };
    runner::run(ctx, units, report, settings, control).await
}

/// The units: every (underlying, day) of the scope with option trades in FEED. An underlying
/// asked for by name (`named`) with nothing to process is reported.
async fn plan_units(
    ctx: &Ctx,
    scope: &Scope,
    underlyings: &[Symbol],
    named: bool,
    report: &mut Report,
) -> Result<Vec<Day>, UnitError> {
    let (first, last) = (scope.first(), scope.last());
    let mut units = Vec::new();
    // The underlyings with days already done, whose registry entries are made sure of below.
    let mut done = Vec::new();
    for u in underlyings {
        let have = store_call(&ctx.feed, Role::Feed, || {
            ctx.feed
                .days(Dataset::Feed, Kind::OptionTrade, u, first, last)
        })
        .await?;
        if !ctx.force && !have.is_empty() {
            let lineage = store_call(&ctx.post, Role::Post, || {
                ctx.post.days(Dataset::Post, Kind::Lineage, u, first, last)
            })
            .await?;
            if !lineage.is_empty() {
                done.push(u.clone());
            }
        }
        if have.is_empty() && named {
            report.problems.push(Problem {
                kind: "options".into(),
                symbol: u.to_string(),
                days: format!("{first}..{last}"),
                status: "no option trades".into(),
                reason: format!(
                    "FEED has no option trades of {u} in the range (fetch --kinds options first)"
                ),
            });
        }
        units.extend(have.into_iter().map(|day| Day {
            underlying: u.clone(),
            day,
        }));
    }
    // A day whose inputs did not change is skipped, and its outputs are not written again,
    // nor their registry entries: one lost (a cluster failover, see
    // `Store::ensure_registered`) is written back here.
    for kind in [
        Kind::EnrichedTrade,
        Kind::ContractDaily,
        Kind::IvSummary,
        Kind::Lineage,
    ] {
        ensure_registered(&ctx.post, Role::Post, Dataset::Post, kind, &done).await?;
    }
    Ok(units)
}

fn key(ds: Dataset, kind: Kind, symbol: &Symbol, day: TradingDay) -> ChunkKey {
    ChunkKey::new(ds, kind, symbol.clone(), day)
}

/// The lineage entry of a stored chunk (fingerprint 0 when absent).
fn lineage(key: &ChunkKey, bytes: Option<&Vec<u8>>) -> Lineage {
    Lineage {
        input: key.to_string(),
        fingerprint: bytes.map_or(0, |b| i64::from(crc32fast::hash(b))),
    }
}

fn decode<R: xlfeed_store::Columnar>(
    key: &ChunkKey,
    bytes: Option<&Vec<u8>>,
) -> Result<Vec<R>, UnitError> {
    match bytes {
        None => Ok(Vec::new()),
        Some(b) => xlfeed_store::codec::decode::<R>(b)
            .map_err(|e| UnitError::Failed(format!("{key} does not decode: {e}"))),
    }
}

/// The rate curve for `day`: of the policy's candidates, each at its latest date on or
/// before the day (within a month), the first at most `max_age` days old, else the most recent.
async fn day_curve(
    ctx: &Ctx,
    day: TradingDay,
    lineages: &mut Vec<Lineage>,
) -> Result<Option<DayCurve>, UnitError> {
    let earliest = TradingDay::from_date(day.date() - chrono::Duration::days(CURVE_LOOKBACK_DAYS))
        .unwrap_or(day);
    let mut found: Vec<(ChunkKey, Vec<u8>, TradingDay)> = Vec::new();
    for name in ctx.policy.candidates(day.yyyymmdd()) {
        let Ok(sym) = Symbol::parse(name) else {
            continue;
        };
        let days = store_call(&ctx.feed, Role::Feed, || {
            ctx.feed
                .days(Dataset::Feed, Kind::Rate, &sym, earliest, day)
        })
        .await?;
        let Some(&d) = days.last() else { continue };
        let k = key(Dataset::Feed, Kind::Rate, &sym, d);
        let got = store_call(&ctx.feed, Role::Feed, || {
            ctx.feed.get_chunks(std::slice::from_ref(&k))
        })
        .await?;
        if let Some(bytes) = got.into_iter().next().flatten() {
            found.push((k, bytes, d));
        }
    }
    let age = |d: TradingDay| (day.date() - d.date()).num_days();
    let max_age = i64::from(ctx.policy.max_age_days());
    let chosen = match found.iter().position(|(_, _, d)| age(*d) <= max_age) {
        Some(i) => Some(i),
        // None fresh: the most recent, the more preferred on a tie.
        None => (0..found.len()).min_by_key(|&i| (age(found[i].2), i)),
    };
    let Some(i) = chosen else {
        return Ok(None);
    };
    let (k, bytes, d) = &found[i];
    lineages.push(lineage(k, Some(bytes)));
    let points: Vec<RatePoint> = decode(k, Some(bytes))?;
    let curve = Curve {
        name: k.symbol.to_string(),
        date: d.yyyymmdd(),
        points,
    };
    let zeros = curve
        .zeros()
        .map_err(|e| UnitError::Failed(format!("rate curve {k}: {e}")))?;
    Ok(Some(DayCurve { zeros }))
}

/// One (underlying, day).
async fn run_unit(ctx: &Ctx, und: &Symbol, day: TradingDay) -> Result<Done, UnitError> {
    let keys = [
        key(Dataset::Feed, Kind::OptionTrade, und, day),
        key(Dataset::Feed, Kind::Chain, und, day),
        key(Dataset::Feed, Kind::Trade, und, day),
    ];
    let chunks = store_call(&ctx.feed, Role::Feed, || ctx.feed.get_chunks(&keys)).await?;
    let mut lineages: Vec<Lineage> = keys
        .iter()
        .zip(&chunks)
        .map(|(k, c)| lineage(k, c.as_ref()))
        .collect();
    let curve = day_curve(ctx, day, &mut lineages).await?;
    // Dividends: every one the underlying has, as one input.
    let div_days = store_call(&ctx.feed, Role::Feed, || {
        ctx.feed.all_days(Dataset::Feed, Kind::Dividend, und)
    })
    .await?;
    let div_keys: Vec<ChunkKey> = div_days
        .iter()
        .map(|d| key(Dataset::Feed, Kind::Dividend, und, *d))
        .collect();
    let div_chunks = store_call(&ctx.feed, Role::Feed, || ctx.feed.get_chunks(&div_keys)).await?;
    let mut hasher = crc32fast::Hasher::new();
    let mut dividends: Vec<Dividend> = Vec::new();
    for (k, c) in div_keys.iter().zip(&div_chunks) {
        if let Some(b) = c {
            hasher.update(k.to_string().as_bytes());
            hasher.update(b);
        }
        dividends.extend(decode::<Dividend>(k, c.as_ref())?);
    }
    lineages.push(Lineage {
        input: format!("feed:dividend:{und}:*"),
        fingerprint: i64::from(hasher.finalize()),
    });

    let lineage_key = key(Dataset::Post, Kind::Lineage, und, day);
    if !ctx.force
        && let Some(before) = store_call(&ctx.post, Role::Post, || {
            ctx.post.get_rows::<Lineage>(&lineage_key)
        })
        .await?
        && before == lineages
    {
        return Ok(Done::nothing(Outcome::Skipped));
    }
    // Only the dividends that matter for this day: those that may go ex in an option's life,
    // and the two before the day (the cadence projections start from).
    dividends.sort_by_key(|d| d.ex_date);
    let before = dividends.partition_point(|d| d.ex_date <= day.yyyymmdd());
    dividends.drain(..before.saturating_sub(2));
    let trades: Vec<OptionTrade> = decode(&keys[0], chunks[0].as_ref())?;
    let chain: Vec<OptionContract> = decode(&keys[1], chunks[1].as_ref())?;
    let underlying: Vec<Trade> = decode(&keys[2], chunks[2].as_ref())?;
    let pairing = ctx.pairing;
    // The maths on a blocking thread: units on other threads use the other cores.
    let (out, encoded) = tokio::task::spawn_blocking(move || {
        let out = enrich::enrich(
            &Inputs {
                day,
                trades: &trades,
                chain: &chain,
                underlying: &underlying,
                dividends: &dividends,
                curve: curve.as_ref(),
            },
            pairing,
        );
        let n = out.trades.len() as u64;
        let unresolved = out.unresolved;
        let encoded = (
            Records::EnrichedOptionTrades(out.trades).encode(),
            Records::ContractDailies(out.daily).encode(),
            Records::IvTerms(out.summary).encode(),
        );
        ((n, unresolved), encoded)
    })
    .await
    .map_err(|e| UnitError::Failed(format!("the maths failed: {e}")))?;
    let (n, unresolved) = out;
    let lineage_chunk = Records::Lineages(lineages).encode();
    // Outputs first, lineage last, in one commit: a day whose lineage matches is complete.
    let chunks = vec![
        (key(Dataset::Post, Kind::EnrichedTrade, und, day), encoded.0),
        (key(Dataset::Post, Kind::ContractDaily, und, day), encoded.1),
        (key(Dataset::Post, Kind::IvSummary, und, day), encoded.2),
        (lineage_key, lineage_chunk),
    ];
    store_call(&ctx.post, Role::Post, || {
        ctx.post.put_chunks(chunks.clone())
    })
    .await?;
    let mut done = Done::rows(n, u64::from(n > 0));
    if unresolved > 0 {
        tracing::warn!(underlying = %und, %day, unresolved, "option trades of contracts not in their day's chain");
        done.note = Some((
            "unresolved contracts".into(),
            format!(
                "{unresolved} option trades of contracts not in the day's chain (flagged, no \
                 analytics)"
            ),
        ));
    }
    Ok(done)
}
