//! `xlserver demo`: the whole product on one machine with one command. It starts the IQFeed
//! simulator in process, fetches a default universe into embedded FEED and POST stores under
//! `./data` (a year of daily bars, dividends and fundamentals; the last 20 trading days of
//! ticks, one-minute bars and options; the simulator's SOFR curve for each day), runs
//! postprocess, then serves HTTP and gRPC on loopback and prints where to go.
//!
//! Fetch and postprocess are incremental: a second run finds everything in place and starts
//! serving within seconds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xlfeed_core::{Nyse, Symbol, TradingDay};
use xlfeed_iqfeed::sim::{Market, Universe};
use xlfeed_pipeline::runs::{RunControl, Stage, run_stage};
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store};

use crate::config::Config;
use crate::tls::TlsConfig;

/// The default universe: ten underlyings with options.
pub const DEMO_SYMBOLS: &str = "AAPL,MSFT,AMZN,NVDA,TSLA,JPM,XOM,KO,SPY,QQQ";
/// The simulator's seed for the demo.
const SEED: u64 = 42;

/// Options of `xlserver demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the embedded stores live (FEED in <DIR>/feed, POST in <DIR>/post).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// Underlyings, comma-separated (all from the simulator's universe).
    #[arg(long, default_value = DEMO_SYMBOLS, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// The last day of data (YYYY-MM-DD): the simulator's "today".
    #[arg(long, default_value = "2024-06-28")]
    pub today: String,
    /// Trading days of ticks, bars and options, ending at --today.
    #[arg(long, default_value_t = 20)]
    pub days: usize,
    /// Simulated trades per real trade (1 = realistic counts; the default keeps the first
    /// run to a minute or two on a laptop).
    #[arg(long, default_value_t = 0.1)]
    pub tick_scale: f64,
    /// Prepare the data and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Serve HTTPS with a development certificate for localhost (made once in
    /// <DATA>/dev-cert/; trust it to sideload the Excel add-in, see docs/excel-addin.md).
    #[arg(long)]
    pub https: bool,
}

/// The first of the `n` trading days ending at `last`.
fn days_back(last: TradingDay, n: usize) -> TradingDay {
    let mut d = last;
    for _ in 1..n {
        match Nyse.prev_trading_day(d) {
            Some(p) => d = p,
            None => break,
        }
    }
    d
}

/// Runs a stage, failing on a non-zero exit code.
async fn stage(stage: Stage, args: Vec<String>, stores: &[Store]) -> Result<()> {
    let control = RunControl::embedded(stores.to_vec(), false);
    let code = run_stage(stage, &args, &control).await?;
    if code != 0 {
        bail!(
            "{} ended with exit code {code} (see its report)",
            stage.name()
        );
    }
    Ok(())
}

/// Fills `feed` and `post` for the demo (skipping what is already there).
pub async fn prepare(args: &DemoArgs, feed: &Store, post: &Store) -> Result<()> {
    let today =
        TradingDay::parse(&args.today).with_context(|| format!("bad --today {:?}", args.today))?;
    let today = if Nyse.is_trading_day(today) {
        today
    } else {
        Nyse.prev_trading_day(today)
            .context("no trading day before --today")?
    };
    if args.days == 0 {
        bail!("--days 0: the demo needs at least one day");
    }
    if !(args.tick_scale > 0.0 && args.tick_scale.is_finite()) {
        bail!("--tick-scale {} is not a positive number", args.tick_scale);
    }
    let universe = Universe::standard();
    for s in &args.symbols {
        if universe.get(s).is_none() {
            bail!("--symbols: {s} is not in the simulator's universe");
        }
    }
    let symbols = args.symbols.join(",");
    let first = days_back(today, args.days);
    let year_ago = days_back(today, 252);
    let (feed_url, post_url) = (feed.url().to_owned(), post.url().to_owned());
    let stores = [feed.clone(), post.clone()];
    let report = |name: &str| {
        args.data
            .join(format!("{name}-report.json"))
            .display()
            .to_string()
    };
    let common = |kinds: &str, from: TradingDay, name: &str| -> Vec<String> {
        [
            "--sim",
            "--sim-seed",
            &SEED.to_string(),
            "--sim-tick-scale",
            &args.tick_scale.to_string(),
            "--symbols",
            &symbols,
            "--kinds",
            kinds,
            "--from",
            &from.to_string(),
            "--to",
            &today.to_string(),
            "--feed",
            &feed_url,
            "--report",
            &report(name),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    eprintln!("demo: a year of daily bars, dividends and fundamentals for {symbols}");
    stage(
        Stage::Fetch,
        common("daily,dividends,fundamentals", year_ago, "fetch-daily"),
        &stores,
    )
    .await?;
    eprintln!(
        "demo: ticks, one-minute bars and options from {first} to {today} (simulator, tick scale {})",
        args.tick_scale
    );
    stage(
        Stage::Fetch,
        common("ticks,bars:60,options", first, "fetch-intraday"),
        &stores,
    )
    .await?;
    eprintln!("demo: dividend history and the SOFR curve from the simulator's market");
    reference_data(feed, &args.symbols, year_ago, today).await?;
    eprintln!("demo: postprocess (pairing, rates, IV and Greeks)");
    stage(
        Stage::Postprocess,
        [
            "--feed",
            &feed_url,
            "--post",
            &post_url,
            "--from",
            &first.to_string(),
            "--to",
            &today.to_string(),
            "--report",
            &report("postprocess"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        &stores,
    )
    .await?;
    Ok(())
}

/// The dividend history (as `import dividends` would bring it) and a SOFR curve per day (as
/// `import rates` would), from the simulator's market: the same market the options were
/// priced in.
async fn reference_data(
    feed: &Store,
    symbols: &[String],
    first: TradingDay,
    last: TradingDay,
) -> Result<()> {
    let market = Market::new(SEED, Universe::standard());
    let mut batch = Vec::new();
    for s in symbols {
        let sym = Symbol::parse(s)?;
        for d in market.dividends(s, last).unwrap_or_default() {
            if let Ok(ex) = TradingDay::from_yyyymmdd(d.ex_date) {
                let k = ChunkKey::new(Dataset::Feed, Kind::Dividend, sym.clone(), ex);
                batch.push((k, Records::Dividends(vec![d]).encode()));
            }
        }
    }
    let sofr = Symbol::parse("SOFR")?;
    for d in Nyse.trading_days(first, last) {
        let points = market.rate_curve(d);
        let k = ChunkKey::new(Dataset::Feed, Kind::Rate, sofr.clone(), d);
        batch.push((k, Records::RatePoints(points).encode()));
    }
    for chunk in batch.chunks(500) {
        feed.put_chunks(chunk.to_vec()).await?;
    }
    Ok(())
}

/// The demo's configuration: stores under `data`, loopback listeners.
pub fn config(args: &DemoArgs, base: Config) -> Result<Config> {
    let mut c = base;
    let dir = args.data.display().to_string();
    c.stores.feed = format!("embedded://{dir}/feed");
    c.stores.post = format!("embedded://{dir}/post");
    c.runs.dir = args.data.join("runs");
    if args.https && c.tls.is_none() {
        c.tls = Some(dev_cert(&args.data.join("dev-cert"))?);
    }
    Ok(c)
}

/// The development certificate in `certs`, made there the first time.
fn dev_cert(certs: &Path) -> Result<TlsConfig> {
    let existing = TlsConfig {
        cert: certs.join("cert.pem"),
        key: certs.join("key.pem"),
    };
    if existing.cert.is_file() && existing.key.is_file() {
        return Ok(existing);
    }
    #[cfg(feature = "demo-tls")]
    return crate::tls::write_dev_cert(certs);
    #[cfg(not(feature = "demo-tls"))]
    bail!(
        "--https needs a development certificate in {} and this xlserver was built without \
         the demo-tls feature that makes one: build with default features, or put cert.pem \
         and key.pem there",
        certs.display()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        demo: DemoArgs,
    }

    #[cfg(feature = "demo-tls")]
    #[test]
    fn https_makes_a_dev_certificate_once_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let args = Cli::parse_from(["demo", "--data", &data, "--https"]).demo;
        let c = config(&args, Config::default()).unwrap();
        assert_eq!(c.stores.feed, format!("embedded://{data}/feed"));
        let tls = c.tls.clone().unwrap();
        assert_eq!(tls.cert, dir.path().join("dev-cert/cert.pem"));
        let first = std::fs::read(&tls.cert).unwrap();
        let again = config(&args, Config::default()).unwrap();
        assert_eq!(std::fs::read(again.tls.unwrap().cert).unwrap(), first);
        let plain = Cli::parse_from(["demo", "--data", &data]).demo;
        assert!(config(&plain, Config::default()).unwrap().tls.is_none());
    }
}
