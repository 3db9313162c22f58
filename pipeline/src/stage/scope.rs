//! The scope of a run, shared by every stage: the trading days of `--from..--to`, the shard
//! of the universe this run owns (`--shard i/n`, or a Kubernetes Indexed Job's
//! `JOB_COMPLETION_INDEX` and `XLFEED_SHARDS`), and the universe itself (`--symbols`,
//! `--symbols-file`).

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use xlfeed_core::{Nyse, Symbol, TradingDay};

/// What a run covers: its days and its shard of the universe.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// `--from` as given (it may be a weekend or a holiday).
    pub(crate) from: TradingDay,
    /// The trading days of the range, in order; never empty.
    pub(crate) days: Vec<TradingDay>,
    /// This run's shard.
    pub(crate) shard: Shard,
}

impl Scope {
    /// The scope of `--from`, `--to` (default: `--from`) and `--shard` (default: from the
    /// environment, else the whole universe).
    pub(crate) fn parse(from: &str, to: Option<&str>, shard: Option<&str>) -> Result<Scope> {
        let today = chrono::Utc::now()
            .timestamp_nanos_opt()
            .and_then(xlfeed_core::calendar::new_york_day);
        Scope::parse_on(from, to, shard, today)
    }

    /// [`Scope::parse`] with `today` (New York's date) for `today` and `-5D`.
    fn parse_on(
        from: &str,
        to: Option<&str>,
        shard: Option<&str>,
        today: Option<TradingDay>,
    ) -> Result<Scope> {
        let from_day = run_day(from, today).with_context(|| format!("bad --from {from:?}"))?;
        let to = match to {
            Some(t) => run_day(t, today).with_context(|| format!("bad --to {t:?}"))?,
            None => from_day,
        };
        let days = trading_days(from_day, to)?;
        let shard = match shard {
            Some(s) => Shard::parse(s)?,
            None => Shard::from_env()?.unwrap_or(Shard::ALL),
        };
        Ok(Scope {
            from: from_day,
            days,
            shard,
        })
    }

    /// The first trading day.
    pub(crate) fn first(&self) -> TradingDay {
        self.days[0]
    }

    /// The last trading day.
    pub(crate) fn last(&self) -> TradingDay {
        self.days[self.days.len() - 1]
    }

    /// The symbols of `universe` this run's shard owns.
    pub(crate) fn owned(&self, universe: Vec<Symbol>) -> Vec<Symbol> {
        universe
            .into_iter()
            .filter(|s| self.shard.owns(s))
            .collect()
    }
}

/// One shard of `count` (`--shard index/count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    /// This shard, from 0.
    pub(crate) index: u32,
    /// How many shards share the universe.
    pub(crate) count: u32,
}

impl Shard {
    /// The whole universe.
    pub(crate) const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/n`.
    pub(crate) fn parse(s: &str) -> Result<Shard> {
        let bad = || anyhow::anyhow!("bad shard {s:?}: expected i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(index, count).ok_or_else(bad)
    }

    /// A shard, if `index < count`.
    pub(crate) fn new(index: u32, count: u32) -> Option<Shard> {
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    /// The shard of a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` and the shard count in
    /// `XLFEED_SHARDS` (`None` when the job index is not set).
    pub(crate) fn from_env() -> Result<Option<Shard>> {
        let Ok(index) = std::env::var("JOB_COMPLETION_INDEX") else {
            return Ok(None);
        };
        let count = std::env::var("XLFEED_SHARDS").with_context(|| {
            format!(
                "JOB_COMPLETION_INDEX={index} is set but XLFEED_SHARDS (the number of shards, \
                 the Job's completions) is not"
            )
        })?;
        Shard::parse(&format!("{index}/{count}"))
            .with_context(|| "from JOB_COMPLETION_INDEX and XLFEED_SHARDS")
            .map(Some)
    }

    /// The gateway of this shard from `list`, a comma-separated list of `host:port` (one
    /// per IQFeed login): entry `index mod` its length, so that shards spread evenly over
    /// the gateways. Every entry is checked, so a typo fails every shard alike.
    pub(crate) fn gateway(&self, flag: &str, list: &str) -> Result<String> {
        let entries: Vec<&str> = list.split(',').map(str::trim).collect();
        if entries.len() > MAX_GATEWAYS {
            bail!(
                "{flag} lists {} gateways; at most {MAX_GATEWAYS}",
                entries.len()
            );
        }
        for e in &entries {
            host_port(flag, e)?;
        }
        Ok(entries[self.index as usize % entries.len()].to_owned())
    }

    /// Whether `symbol` belongs to this shard: a CRC-32 of its name, so every shard (and a
    /// run without shards) agrees whatever the order or the rest of the universe.
    pub(crate) fn owns(&self, symbol: &Symbol) -> bool {
        crc32fast::hash(symbol.as_str().as_bytes()) % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Reads a universe file: one symbol per line, `#` starts a comment, blank lines skipped.
pub(crate) fn read_universe(path: &Path) -> Result<Vec<Symbol>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the symbols file {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let s = line.split('#').next().unwrap_or("").trim();
        if s.is_empty() {
            continue;
        }
        out.push(
            Symbol::parse(s)
                .with_context(|| format!("{}, line {}: bad symbol {s:?}", path.display(), n + 1))?,
        );
    }
    Ok(out)
}

/// The universe from `--symbols` and `--symbols-file`, deduplicated and sorted.
pub(crate) fn universe(symbols: &[String], file: Option<&Path>) -> Result<Vec<Symbol>> {
    let mut out = Vec::new();
    for s in symbols.iter().flat_map(|s| s.split(',')) {
        let s = s.trim();
        if !s.is_empty() {
            out.push(Symbol::parse(s).with_context(|| format!("bad symbol {s:?} in --symbols"))?);
        }
    }
    if let Some(f) = file {
        out.extend(read_universe(f)?);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        bail!("no symbols: give --symbols AAPL,MSFT or --symbols-file FILE");
    }
    Ok(out)
}

/// The trading days of `from..=to` (the calendar's; weekends and holidays are skipped).
/// The most days `-ND` goes back.
const MAX_DAYS_BACK: u32 = 36_600;

/// A day of `--from`/`--to`: a date (`2024-06-03`, `20240603`, ...), `today` (New York's
/// date), or `-ND` (N calendar days before today), so that a nightly job's window follows
/// the calendar.
fn run_day(s: &str, today: Option<TradingDay>) -> Result<TradingDay> {
    let t = s.trim();
    let relative = t.eq_ignore_ascii_case("today")
        || (t.starts_with('-') && t.len() > 2 && t.ends_with(['d', 'D']));
    if !relative {
        return Ok(TradingDay::parse(t)?);
    }
    let Some(today) = today else {
        bail!("today's date in New York is outside the supported years");
    };
    if t.eq_ignore_ascii_case("today") {
        return Ok(today);
    }
    let n: u32 = t[1..t.len() - 1]
        .parse()
        .ok()
        .filter(|n| *n <= MAX_DAYS_BACK)
        .with_context(|| {
            format!("\"{t}\" is not -ND with N a number of days from 0 to {MAX_DAYS_BACK}")
        })?;
    let date = today
        .date()
        .checked_sub_days(chrono::Days::new(u64::from(n)))
        .context("before the supported years")?;
    Ok(TradingDay::from_date(date)?)
}

/// `addr` as `host:port` (a name or an address, and a port number), or the error naming
/// `flag` and the value.
/// The most gateways `--iqfeed` or `--level1` may list.
pub(crate) const MAX_GATEWAYS: usize = 256;

pub(crate) fn host_port(flag: &str, addr: &str) -> Result<()> {
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !ok {
        bail!(
            "{flag} {} is not host:port (e.g. iqfeed-gateway:9100)",
            xlfeed_core::quoted(addr)
        );
    }
    Ok(())
}

pub(crate) fn trading_days(from: TradingDay, to: TradingDay) -> Result<Vec<TradingDay>> {
    if from > to {
        bail!("--from {from} is after --to {to}");
    }
    let days: Vec<TradingDay> = Nyse.trading_days(from, to).collect();
    if days.is_empty() {
        bail!("no trading days from {from} to {to} (weekends and NYSE holidays only)");
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_names_its_bad_values() {
        let s = Scope::parse("2024-06-07", Some("2024-06-11"), Some("0/1")).unwrap();
        assert_eq!(s.from.to_string(), "2024-06-07");
        assert_eq!(
            (s.first().to_string(), s.last().to_string()),
            ("2024-06-07".into(), "2024-06-11".into())
        );
        assert_eq!(s.days.len(), 3, "the weekend is skipped");
        let e = format!("{:#}", Scope::parse("2024-02-30", None, None).unwrap_err());
        assert!(e.contains("2024-02-30"), "{e}");
        let e = format!(
            "{:#}",
            Scope::parse("2024-06-12", Some("2024-06-10"), None).unwrap_err()
        );
        assert!(e.contains("after"), "{e}");
        let e = format!(
            "{:#}",
            Scope::parse("2024-06-08", Some("2024-06-09"), None).unwrap_err()
        );
        assert!(e.contains("no trading days"), "{e}");
        let e = format!(
            "{:#}",
            Scope::parse("2024-06-10", None, Some("2/2")).unwrap_err()
        );
        assert!(e.contains("\"2/2\""), "{e}");
    }

    #[test]
    fn a_nightly_window_follows_new_yorks_calendar() {
        let today = TradingDay::from_ymd(2024, 7, 8).ok(); // a Monday
        let s = Scope::parse_on("-4D", Some("today"), None, today).unwrap();
        assert_eq!(s.from.to_string(), "2024-07-04"); // Independence Day: not a session
        let days: Vec<String> = s.days.iter().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2024-07-05", "2024-07-08"]);
        assert_eq!(
            Scope::parse_on("TODAY", None, None, today)
                .unwrap()
                .last()
                .to_string(),
            "2024-07-08"
        );
        for bad in ["-D", "-xD", "-99999D", "-1.5D", "tomorrow"] {
            let e = format!("{:#}", Scope::parse_on(bad, None, None, today).unwrap_err());
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn each_shard_takes_the_gateway_at_its_index_mod_their_number() {
        let list = "gw-0:9100, gw-1:9100,gw-2:9100";
        let of = |i, n| Shard::new(i, n).unwrap().gateway("--iqfeed", list).unwrap();
        assert_eq!(of(0, 6), "gw-0:9100");
        assert_eq!(of(1, 6), "gw-1:9100");
        assert_eq!(of(5, 6), "gw-2:9100");
        assert_eq!(of(3, 6), "gw-0:9100");
        assert_eq!(
            Shard::ALL.gateway("--iqfeed", "one:9100").unwrap(),
            "one:9100"
        );
        // A bad entry fails every shard, naming it.
        for bad in [
            "gw-0:9100,,gw-2:9100",
            "gw-0:9100,gw-1",
            "gw-0:9100,:9100",
            ",",
        ] {
            let e = Shard::ALL.gateway("--iqfeed", bad).unwrap_err().to_string();
            assert!(e.starts_with("--iqfeed \""), "{bad}: {e}");
        }
        let many = vec!["h:1"; MAX_GATEWAYS + 1].join(",");
        let e = Shard::ALL
            .gateway("--iqfeed", &many)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 256"), "{e}");
    }

    #[test]
    fn shards_partition_the_universe() {
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("1/0").is_err());
        assert!(Shard::parse("x").unwrap_err().to_string().contains("\"x\""));
        let syms: Vec<Symbol> = ["AAPL", "MSFT", "SPY", "QQQ", "IWM", "XOM", "T", "KO"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect();
        for n in 1..5 {
            for s in &syms {
                let owners = (0..n)
                    .filter(|&i| Shard::new(i, n).unwrap().owns(s))
                    .count();
                assert_eq!(owners, 1, "{s} in exactly one of {n} shards");
            }
        }
    }

    #[test]
    fn universe_files_skip_comments_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.txt");
        std::fs::write(&p, "# my universe\nAAPL\n\n msft # tech\nSPY\nAAPL\n").unwrap();
        let u = universe(&[], Some(&p)).unwrap();
        let names: Vec<&str> = u.iter().map(Symbol::as_str).collect();
        assert_eq!(names, ["AAPL", "MSFT", "SPY"]);
        std::fs::write(&p, "AAPL\nBAD SYMBOL\n").unwrap();
        let e = format!("{:#}", universe(&[], Some(&p)).unwrap_err());
        assert!(e.contains("line 2") && e.contains("BAD SYMBOL"), "{e}");
    }
}
