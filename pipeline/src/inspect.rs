//! `xlpipeline show` and `xlpipeline stats`: looking into a store from the command line.
//!
//! `show` prints one series (dataset, kind, symbol, days) as CSV with a header, for every
//! kind FEED and POST hold; the first column is the day of the chunk a row came from, then
//! the record's fields in declaration order. `stats` prints, per dataset and kind, how many
//! symbols and days the store covers, the first and last day, the chunks and their bytes.
//! Both read only through the Store API (the indexes, then the chunks), like every reader.

use std::collections::BTreeSet;
use std::io::{self, Write};

use anyhow::{Context, Result};
use chrono::DateTime;
use clap::ValueEnum;
use xlfeed_core::calendar::utc_ns_to_new_york;
use xlfeed_core::records::{
    Bar, ContractDaily, DailyBar, Dividend, EnrichedOptionTrade, Fundamentals, IvTerm, Lineage,
    OptionContract, OptionTrade, Quote, RatePoint, Trade, quality,
};
use xlfeed_core::{Conditions, Symbol, TradingDay};
use xlfeed_store::url::redact;
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store, StoreError};

/// Chunks read per request.
const READ_BATCH: usize = 64;

const SHOW_EXAMPLES: &str = "\
Examples:
  # A year of daily bars
  xlpipeline show --store embedded:///data/feed --kind daily --symbol AAPL \\
      --from 2024-01-01 --to 2024-12-31

  # One day of ticks with UTC times, into a file
  xlpipeline show --store redis://127.0.0.1:6379/0 --kind trade --symbol SPY \\
      --from 2024-01-02 --to 2024-01-02 --times utc > spy.csv

  # A rate curve, and a POST series (the dataset follows from the kind)
  xlpipeline show --store embedded:///data/feed --kind rate --symbol SOFR
  xlpipeline show --store embedded:///data/post --kind iv_summary --symbol SPY --from 2024-06-03

Kinds: trade, bar<seconds> (bar60, bar300, ...), daily, quote, chain, option_trade, dividend,
fundamental, rate (FEED); enriched_trade, contract_daily, iv_summary, lineage (POST). Empty
cells are values the record does not have (an analytic with no value, an unknown bid). Dates
are YYYY-MM-DD; 0 dates (unknown) print empty. An enriched trade's flags print as the names of
its quality flags, joined by |: STALE_UNDERLYING|NO_RATE.";

const STATS_EXAMPLES: &str = "\
Examples:
  xlpipeline stats --store embedded:///data/feed
  xlpipeline stats --store redis://127.0.0.1:6379/0 --dataset post --csv

Days are distinct days over all the kind's symbols; chunks are symbol-days; bytes are the
chunks as stored (compressed). On a Redis-protocol store this reads the size of every chunk:
an administrative call, not one for a busy store's hot path.";

/// How `show` prints times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Times {
    /// ISO 8601 in New York time with its offset: 2024-01-02T09:30:00.123-05:00.
    Ny,
    /// ISO 8601 in UTC: 2024-01-02T14:30:00.123Z.
    Utc,
    /// UTC nanoseconds since the Unix epoch, as stored.
    Ns,
}

/// Options of `show`.
#[derive(Debug, clap::Args)]
#[command(after_help = SHOW_EXAMPLES)]
pub(crate) struct ShowArgs {
    /// Store to read: embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/.
    #[arg(long, value_name = "URL")]
    store: String,
    /// What to print: trade, bar60, daily, quote, chain, option_trade, dividend, fundamental,
    /// rate, enriched_trade, contract_daily, iv_summary, lineage.
    #[arg(long)]
    kind: Kind,
    /// The series: a symbol, an underlying for option kinds, a curve name for rates.
    #[arg(long)]
    symbol: String,
    /// First day (YYYY-MM-DD), inclusive; default: the first stored.
    #[arg(long)]
    from: Option<TradingDay>,
    /// Last day (YYYY-MM-DD), inclusive; default: the last stored.
    #[arg(long)]
    to: Option<TradingDay>,
    /// feed or post; default: post for enriched_trade, contract_daily, iv_summary and lineage,
    /// feed otherwise.
    #[arg(long)]
    dataset: Option<Dataset>,
    /// How to print times.
    #[arg(long, default_value = "ny")]
    times: Times,
}

/// Options of `stats`.
#[derive(Debug, clap::Args)]
#[command(after_help = STATS_EXAMPLES)]
pub(crate) struct StatsArgs {
    /// Store to read: embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/.
    #[arg(long, value_name = "URL")]
    store: String,
    /// Only this dataset (feed or post); default: both.
    #[arg(long)]
    dataset: Option<Dataset>,
    /// Print CSV instead of an aligned table.
    #[arg(long)]
    csv: bool,
}

/// The dataset a kind lives in.
fn dataset_of(kind: Kind) -> Dataset {
    match kind {
        Kind::EnrichedTrade | Kind::ContractDaily | Kind::IvSummary | Kind::Lineage => {
            Dataset::Post
        }
        _ => Dataset::Feed,
    }
}

/// Whether a write failed because the reader went away (`| head`): not an error.
fn closed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        || e.chain().any(|c| {
            c.downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe))
        })
}

/// Runs `show`.
pub(crate) async fn show(args: ShowArgs) -> Result<()> {
    let symbol = Symbol::parse(&args.symbol).map_err(|e| anyhow::anyhow!("--symbol: {e}"))?;
    let ds = args.dataset.unwrap_or_else(|| dataset_of(args.kind));
    let store = Store::open(&args.store)
        .await
        .with_context(|| format!("failed to open the store {}", redact(&args.store)))?;
    let days = match (args.from, args.to) {
        (None, None) => store.all_days(ds, args.kind, &symbol).await,
        (from, to) => {
            let from = from.unwrap_or(min_day());
            let to = to.unwrap_or(max_day());
            if from > to {
                anyhow::bail!("--from {from} is after --to {to}");
            }
            store.days(ds, args.kind, &symbol, from, to).await
        }
    }
    .with_context(|| format!("failed to read the index of {ds}:{}:{symbol}", args.kind))?;
    if days.is_empty() {
        eprintln!(
            "no {} days of {symbol} in {ds} at {} in that range",
            args.kind,
            store.url()
        );
    }
    let mut out = csv::Writer::from_writer(io::BufWriter::new(io::stdout().lock()));
    let result = print_series(&store, ds, args.kind, &symbol, &days, args.times, &mut out).await;
    let result = result.and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Err(e) if closed(&e) => Ok(()),
        other => other,
    }
}

async fn print_series<W: Write>(
    store: &Store,
    ds: Dataset,
    kind: Kind,
    symbol: &Symbol,
    days: &[TradingDay],
    times: Times,
    out: &mut csv::Writer<W>,
) -> Result<()> {
    let mut header = vec!["day"];
    header.extend_from_slice(header_of(kind));
    out.write_record(&header)?;
    let mut fields: Vec<String> = Vec::new();
    for group in days.chunks(READ_BATCH) {
        let keys: Vec<ChunkKey> = group
            .iter()
            .map(|d| ChunkKey::new(ds, kind, symbol.clone(), *d))
            .collect();
        let chunks = store
            .get_chunks(&keys)
            .await
            .with_context(|| format!("failed to read {ds}:{kind}:{symbol}"))?;
        for (key, chunk) in keys.iter().zip(chunks) {
            let Some(chunk) = chunk else { continue };
            let records = Records::decode(&chunk).map_err(|source| StoreError::Corrupt {
                key: key.chunk_key(),
                source,
            })?;
            let day = key.day.to_string();
            let mut row = |f: &dyn Fn(&mut Vec<String>)| -> Result<()> {
                fields.clear();
                fields.push(day.clone());
                f(&mut fields);
                out.write_record(&fields)?;
                Ok(())
            };
            macro_rules! each {
                ($rows:expr) => {
                    for r in $rows {
                        row(&|f| r.fields(times, f))?;
                    }
                };
            }
            match &records {
                Records::Trades(v) => each!(v),
                Records::Bars(v) => each!(v),
                Records::DailyBars(v) => each!(v),
                Records::Quotes(v) => each!(v),
                Records::Contracts(v) => each!(v),
                Records::OptionTrades(v) => each!(v),
                Records::Dividends(v) => each!(v),
                Records::Fundamentals(v) => each!(v),
                Records::RatePoints(v) => each!(v),
                Records::EnrichedOptionTrades(v) => each!(v),
                Records::ContractDailies(v) => each!(v),
                Records::IvTerms(v) => each!(v),
                Records::Lineages(v) => each!(v),
            }
        }
    }
    Ok(())
}

fn min_day() -> TradingDay {
    TradingDay::from_yyyymmdd(19000101).unwrap_or_else(|_| unreachable!("a constant date"))
}

fn max_day() -> TradingDay {
    TradingDay::from_yyyymmdd(21991231).unwrap_or_else(|_| unreachable!("a constant date"))
}

/// A record printed as CSV fields.
trait ShowRow {
    /// The field names, in declaration order.
    const HEADER: &'static [&'static str];
    /// Appends the fields.
    fn fields(&self, times: Times, out: &mut Vec<String>);
}

/// One field, printed by its class.
fn time(ns: i64, times: Times) -> String {
    match times {
        Times::Ns => ns.to_string(),
        Times::Utc => DateTime::from_timestamp_nanos(ns)
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.fZ")
            .to_string(),
        Times::Ny => {
            let local = utc_ns_to_new_york(ns);
            let utc = DateTime::from_timestamp_nanos(ns).naive_utc();
            let offset_min = (local - utc).num_minutes();
            let sign = if offset_min < 0 { '-' } else { '+' };
            let m = offset_min.abs();
            format!(
                "{}{sign}{:02}:{:02}",
                local.format("%Y-%m-%dT%H:%M:%S%.f"),
                m / 60,
                m % 60
            )
        }
    }
}

fn num(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        v.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, num)
}

fn date(yyyymmdd: u32) -> String {
    match TradingDay::from_yyyymmdd(yyyymmdd) {
        Ok(d) => d.to_string(),
        Err(_) if yyyymmdd == 0 => String::new(),
        Err(_) => yyyymmdd.to_string(),
    }
}

fn cond(c: Conditions) -> String {
    c.to_string()
}

macro_rules! show_row {
    ($ty:ident { $($f:ident : $class:ident),* $(,)? }) => {
        impl ShowRow for $ty {
            const HEADER: &'static [&'static str] = &[$(stringify!($f)),*];
            fn fields(&self, _times: Times, out: &mut Vec<String>) {
                $( out.push(show_row!(@ $class self.$f, _times)); )*
            }
        }
    };
    (@ time $v:expr, $t:ident) => { time($v, $t) };
    (@ num $v:expr, $t:ident) => { num($v) };
    (@ opt $v:expr, $t:ident) => { opt($v) };
    (@ int $v:expr, $t:ident) => { $v.to_string() };
    (@ date $v:expr, $t:ident) => { date($v) };
    (@ chr $v:expr, $t:ident) => { $v.to_string().trim().to_owned() };
    (@ right $v:expr, $t:ident) => { $v.as_char().to_string() };
    (@ text $v:expr, $t:ident) => { $v.clone() };
    (@ cond $v:expr, $t:ident) => { cond($v) };
    (@ flags $v:expr, $t:ident) => { quality::names($v).join("|") };
}

show_row!(Trade {
    time: time,
    price: num,
    size: int,
    bid: num,
    ask: num,
    tick_id: int,
    basis: chr,
    market_center: int,
    conditions: cond,
});
show_row!(Bar {
    time: time,
    open: num,
    high: num,
    low: num,
    close: num,
    volume: int,
    trades: int,
});
show_row!(DailyBar {
    date: date,
    open: num,
    high: num,
    low: num,
    close: num,
    volume: int,
    open_interest: int,
});
show_row!(Quote {
    time: time,
    last: num,
    last_size: int,
    bid: num,
    bid_size: int,
    ask: num,
    ask_size: int,
    total_volume: int,
    open: num,
    high: num,
    low: num,
    prev_close: num,
});
show_row!(OptionContract {
    symbol: text,
    occ: text,
    underlying: text,
    expiry: date,
    strike: num,
    right: right,
    multiplier: int,
});
show_row!(OptionTrade {
    contract: text,
    time: time,
    price: num,
    size: int,
    bid: num,
    ask: num,
    tick_id: int,
    basis: chr,
    market_center: int,
    conditions: cond,
});
show_row!(Dividend {
    ex_date: date,
    pay_date: date,
    amount: num,
    yield_pct: num,
});
show_row!(Fundamentals {
    time: time,
    dividend_amount: num,
    dividend_yield_pct: num,
    dividend_rate: num,
    pay_date: date,
    ex_date: date,
    shares_outstanding: int,
    high_52w: num,
    low_52w: num,
    pe: opt,
    eps: opt,
});
show_row!(RatePoint {
    tenor_days: int,
    rate: num,
    convention: chr,
});
show_row!(EnrichedOptionTrade {
    contract: text,
    time: time,
    price: num,
    size: int,
    bid: num,
    ask: num,
    expiry: date,
    strike: num,
    right: right,
    multiplier: int,
    underlying_price: opt,
    underlying_mid: opt,
    underlying_staleness_ns: int,
    rate: num,
    rate_curve: text,
    dividend_yield: num,
    time_to_expiry: num,
    iv: opt,
    delta: opt,
    gamma: opt,
    vega: opt,
    theta: opt,
    rho: opt,
    flags: flags,
});
show_row!(ContractDaily {
    contract: text,
    expiry: date,
    strike: num,
    right: right,
    open: num,
    high: num,
    low: num,
    close: num,
    volume: int,
    trades: int,
    vwap: num,
    iv: opt,
    delta: opt,
    gamma: opt,
    vega: opt,
    theta: opt,
    rho: opt,
});
show_row!(IvTerm {
    expiry: date,
    time_to_expiry: num,
    atm_iv: opt,
    rr25: opt,
    bf25: opt,
    forward: opt,
    trades: int,
});
show_row!(Lineage {
    input: text,
    fingerprint: int,
});

/// The CSV header of a kind's records.
fn header_of(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Trade => Trade::HEADER,
        Kind::Bar(_) => Bar::HEADER,
        Kind::Daily => DailyBar::HEADER,
        Kind::Quote => Quote::HEADER,
        Kind::Chain => OptionContract::HEADER,
        Kind::OptionTrade => OptionTrade::HEADER,
        Kind::Dividend => Dividend::HEADER,
        Kind::Fundamental => Fundamentals::HEADER,
        Kind::Rate => RatePoint::HEADER,
        Kind::EnrichedTrade => EnrichedOptionTrade::HEADER,
        Kind::ContractDaily => ContractDaily::HEADER,
        Kind::IvSummary => IvTerm::HEADER,
        Kind::Lineage => Lineage::HEADER,
    }
}

/// One line of `stats`.
struct Coverage {
    dataset: Dataset,
    kind: Kind,
    symbols: u64,
    days: u64,
    first: Option<TradingDay>,
    last: Option<TradingDay>,
    chunks: u64,
    bytes: u64,
}

/// Runs `stats`.
pub(crate) async fn stats(args: StatsArgs) -> Result<()> {
    let store = Store::open(&args.store)
        .await
        .with_context(|| format!("failed to open the store {}", redact(&args.store)))?;
    let datasets = match args.dataset {
        Some(d) => vec![d],
        None => vec![Dataset::Feed, Dataset::Post],
    };
    let mut lines = Vec::new();
    for ds in datasets {
        let sizes = store
            .stats(ds)
            .await
            .with_context(|| format!("failed to read the {ds} statistics"))?;
        for (kind, ks) in &sizes.kinds {
            let mut all = BTreeSet::new();
            let mut symbols = 0;
            for symbol in store.symbols(ds, *kind).await? {
                let days = store.all_days(ds, *kind, &symbol).await?;
                if !days.is_empty() {
                    symbols += 1;
                }
                all.extend(days);
            }
            if symbols == 0 {
                continue;
            }
            lines.push(Coverage {
                dataset: ds,
                kind: *kind,
                symbols,
                days: all.len() as u64,
                first: all.first().copied(),
                last: all.last().copied(),
                chunks: ks.chunks,
                bytes: ks.bytes,
            });
        }
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = write_stats(&lines, args.csv, store.url(), &mut out)
        .and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Err(e) if closed(&e) => Ok(()),
        other => other,
    }
}

fn write_stats(lines: &[Coverage], csv: bool, url: &str, out: &mut impl Write) -> Result<()> {
    const HEADER: [&str; 8] = [
        "dataset", "kind", "symbols", "days", "first", "last", "chunks", "bytes",
    ];
    let rows: Vec<[String; 8]> = lines
        .iter()
        .map(|l| {
            [
                l.dataset.to_string(),
                l.kind.to_string(),
                l.symbols.to_string(),
                l.days.to_string(),
                l.first.map(|d| d.to_string()).unwrap_or_default(),
                l.last.map(|d| d.to_string()).unwrap_or_default(),
                l.chunks.to_string(),
                l.bytes.to_string(),
            ]
        })
        .collect();
    if csv {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(HEADER)?;
        for r in &rows {
            w.write_record(r)?;
        }
        w.flush()?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "{url} holds no data")?;
        return Ok(());
    }
    let mut width = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 8], out: &mut dyn Write| -> io::Result<()> {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            // Names left-aligned, numbers and days right-aligned.
            if i < 2 {
                s.push_str(&format!("{cell:<w$}  "));
            } else {
                s.push_str(&format!("{cell:>w$}  "));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(HEADER, out)?;
    for r in &rows {
        line(r.each_ref().map(String::as_str), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_each_form() {
        let ns = 1_704_205_800_123_000_000; // 2024-01-02 09:30:00.123 New York
        assert_eq!(time(ns, Times::Ns), "1704205800123000000");
        assert_eq!(time(ns, Times::Utc), "2024-01-02T14:30:00.123Z");
        assert_eq!(time(ns, Times::Ny), "2024-01-02T09:30:00.123-05:00");
        let summer = 1_719_840_600_000_000_000; // 2024-07-01 09:30 New York
        assert_eq!(time(summer, Times::Ny), "2024-07-01T09:30:00-04:00");
    }

    #[test]
    fn every_kind_has_a_header_matching_its_fields() {
        use xlfeed_store::synth;
        for kind in synth::EVERY_KIND {
            let mut fields = Vec::new();
            let n = match synth::records(*kind, 3, 7) {
                Records::Trades(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
                Records::Bars(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
                Records::DailyBars(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
                Records::Quotes(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
                Records::Contracts(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
                Records::OptionTrades(v) => {
                    v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count()
                }
                Records::Dividends(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
                Records::Fundamentals(v) => {
                    v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count()
                }
                Records::RatePoints(v) => {
                    v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count()
                }
                Records::EnrichedOptionTrades(v) => {
                    v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count()
                }
                Records::ContractDailies(v) => {
                    v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count()
                }
                Records::IvTerms(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
                Records::Lineages(v) => v.iter().map(|r| r.fields(Times::Ny, &mut fields)).count(),
            };
            assert_eq!(n, 3, "{kind}");
            assert_eq!(fields.len(), 3 * header_of(*kind).len(), "{kind}");
        }
    }

    #[test]
    fn dates_and_missing_values() {
        assert_eq!(date(20240102), "2024-01-02");
        assert_eq!(date(0), "");
        assert_eq!(num(f64::NAN), "");
        assert_eq!(num(0.0525), "0.0525");
        assert_eq!(opt(None), "");
    }
}
