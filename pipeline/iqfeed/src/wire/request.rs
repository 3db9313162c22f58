//! Lookup-port (9100) requests: formatted by the client, parsed by the simulator, one type
//! for both so the two can never disagree.
//!
//! Field orders (shared/reference/iqfeed-protocol.md §2.1, §3.1, §5): optional fields may be
//! empty and trailing optional fields may be dropped. Dates are `CCYYMMDD`, date-times
//! `CCYYMMDD HHMMSS`, filter times `HHMMSS`, all US Eastern.

use std::fmt::Write as _;

/// `0` newest first (IQFeed's default), `1` oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Newest to oldest.
    #[default]
    NewestFirst,
    /// Oldest to newest.
    OldestFirst,
}

/// What a bar interval counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntervalType {
    /// Seconds (`s`).
    #[default]
    Seconds,
    /// Shares of volume (`v`).
    Volume,
    /// Trades (`t`).
    Ticks,
}

/// A local (Eastern) date-time bound: `yyyymmdd` and `hhmmss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Date, `yyyymmdd`.
    pub date: u32,
    /// Time of day, `hhmmss`.
    pub time: u32,
}

/// Bar request parameters shared by `HIX`, `HID` and `HIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarSpec {
    /// Bar length in `interval_type` units.
    pub interval: u32,
    /// Seconds, volume or ticks.
    pub interval_type: IntervalType,
    /// Stamp bars at their start instead of their end.
    pub label_at_beginning: bool,
}

/// Filters shared by ranged history requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Most points to return (0 or `None`: all).
    pub max_points: Option<u32>,
    /// Daily time-of-day filter start, `hhmmss`.
    pub begin_filter: Option<u32>,
    /// Daily time-of-day filter end, `hhmmss`.
    pub end_filter: Option<u32>,
    /// Order of the reply.
    pub direction: Direction,
}

/// Which side of an option chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sides {
    /// Puts only (`p`).
    Puts,
    /// Calls only (`c`).
    Calls,
    /// Both (`pc`).
    Both,
}

/// A chain filter (`CEO` FilterType 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChainFilter {
    /// Every strike.
    None,
    /// Strikes from the first to the second, inclusive.
    StrikeRange(f64, f64),
    /// This many contracts in the money and this many out of the money.
    Moneyness(u32, u32),
}

/// One lookup request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `HTX`: the last `max_points` ticks.
    TicksLast {
        /// Symbol.
        symbol: String,
        /// How many ticks.
        max_points: u32,
        /// Order.
        direction: Direction,
    },
    /// `HTD`: ticks of the last `days` days.
    TicksDays {
        /// Symbol.
        symbol: String,
        /// Days back, 1 = today.
        days: u32,
        /// Filters.
        window: Window,
    },
    /// `HTT`: ticks between two date-times.
    TicksRange {
        /// Symbol.
        symbol: String,
        /// Start (inclusive).
        begin: Option<DateTime>,
        /// End (inclusive).
        end: Option<DateTime>,
        /// Filters.
        window: Window,
    },
    /// `HIX`: the last `max_points` bars.
    BarsLast {
        /// Symbol.
        symbol: String,
        /// Interval.
        spec: BarSpec,
        /// How many bars.
        max_points: u32,
        /// Order.
        direction: Direction,
    },
    /// `HID`: bars of the last `days` days.
    BarsDays {
        /// Symbol.
        symbol: String,
        /// Interval.
        spec: BarSpec,
        /// Days back.
        days: u32,
        /// Filters.
        window: Window,
    },
    /// `HIT`: bars between two date-times.
    BarsRange {
        /// Symbol.
        symbol: String,
        /// Interval.
        spec: BarSpec,
        /// Start.
        begin: Option<DateTime>,
        /// End.
        end: Option<DateTime>,
        /// Filters.
        window: Window,
    },
    /// `HDX`: the last `max_points` daily bars.
    DailyLast {
        /// Symbol.
        symbol: String,
        /// How many days.
        max_points: u32,
        /// Order.
        direction: Direction,
    },
    /// `HDT`: daily bars between two dates.
    DailyRange {
        /// Symbol.
        symbol: String,
        /// First date, `yyyymmdd`.
        begin: Option<u32>,
        /// Last date, `yyyymmdd`.
        end: Option<u32>,
        /// Most bars.
        max_points: Option<u32>,
        /// Order.
        direction: Direction,
    },
    /// `HWX`: the last `max_points` weekly bars.
    WeeklyLast {
        /// Symbol.
        symbol: String,
        /// How many weeks.
        max_points: u32,
        /// Order.
        direction: Direction,
    },
    /// `HMX`: the last `max_points` monthly bars.
    MonthlyLast {
        /// Symbol.
        symbol: String,
        /// How many months.
        max_points: u32,
        /// Order.
        direction: Direction,
    },
    /// `CEO` (6.1+): an equity or index option chain.
    EquityChain {
        /// Underlying.
        symbol: String,
        /// Puts, calls or both.
        sides: Sides,
        /// Month letters (A–L calls, M–X puts), or empty with `near_months`.
        month_codes: String,
        /// Number of near months, instead of month codes.
        near_months: Option<u32>,
        /// Strike filter.
        filter: ChainFilter,
        /// Include non-standard (adjusted) roots.
        include_nonstandard: bool,
    },
    /// `CFO`: a futures option chain.
    FutureOptionChain {
        /// Future root.
        symbol: String,
        /// Puts, calls or both.
        sides: Sides,
        /// Month letters.
        month_codes: String,
        /// Year digits run together.
        years: String,
        /// Near months instead of months and years.
        near_months: Option<u32>,
    },
    /// `SBF`: symbol search by symbol (`s`) or description (`d`).
    SymbolSearch {
        /// `true` to search descriptions, `false` symbols.
        in_descriptions: bool,
        /// What to look for.
        text: String,
        /// Filter kind: `e` listed markets, `t` security types, or none.
        filter: Option<(char, String)>,
    },
}

/// Why a request line could not be understood; the simulator answers with `text()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not a known command, or a field that does not parse.
    #[error("syntax error in request {0:?}")]
    Syntax(String),
    /// The command has too few or too many fields.
    #[error("wrong number of fields in request {0:?}")]
    Parameters(String),
}

impl RequestError {
    /// The IQFeed error text for this error.
    pub fn text(&self) -> &'static str {
        match self {
            RequestError::Syntax(_) => super::lookup::SYNTAX_ERROR,
            RequestError::Parameters(_) => super::lookup::BAD_PARAMETERS,
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn dir(d: Direction) -> &'static str {
    match d {
        Direction::NewestFirst => "0",
        Direction::OldestFirst => "1",
    }
}

fn dt(v: Option<DateTime>) -> String {
    v.map(|d| format!("{:08} {:06}", d.date, d.time))
        .unwrap_or_default()
}

fn itype(t: IntervalType) -> &'static str {
    match t {
        IntervalType::Seconds => "s",
        IntervalType::Volume => "v",
        IntervalType::Ticks => "t",
    }
}

fn sides(s: Sides) -> &'static str {
    match s {
        Sides::Puts => "p",
        Sides::Calls => "c",
        Sides::Both => "pc",
    }
}

/// Data points per send the client asks for (a batching hint to IQConnect).
pub const POINTS_PER_SEND: u32 = 500;

impl Request {
    /// The request line with request id `id`, without its terminator.
    pub fn format(&self, id: &str) -> String {
        let mut s = String::new();
        let pps = POINTS_PER_SEND;
        // Writing to a String cannot fail.
        let _ = match self {
            Request::TicksLast {
                symbol,
                max_points,
                direction,
            } => write!(
                s,
                "HTX,{symbol},{max_points},{},{id},{pps}",
                dir(*direction)
            ),
            Request::TicksDays {
                symbol,
                days,
                window: w,
            } => write!(
                s,
                "HTD,{symbol},{days},{},{},{},{},{id},{pps}",
                opt(w.max_points),
                opt(w.begin_filter.map(|t| format!("{t:06}"))),
                opt(w.end_filter.map(|t| format!("{t:06}"))),
                dir(w.direction)
            ),
            Request::TicksRange {
                symbol,
                begin,
                end,
                window: w,
            } => write!(
                s,
                "HTT,{symbol},{},{},{},{},{},{},{id},{pps}",
                dt(*begin),
                dt(*end),
                opt(w.max_points),
                opt(w.begin_filter.map(|t| format!("{t:06}"))),
                opt(w.end_filter.map(|t| format!("{t:06}"))),
                dir(w.direction)
            ),
            Request::BarsLast {
                symbol,
                spec,
                max_points,
                direction,
            } => write!(
                s,
                "HIX,{symbol},{},{max_points},{},{id},{pps},{},{}",
                spec.interval,
                dir(*direction),
                itype(spec.interval_type),
                u8::from(spec.label_at_beginning)
            ),
            Request::BarsDays {
                symbol,
                spec,
                days,
                window: w,
            } => write!(
                s,
                "HID,{symbol},{},{days},{},{},{},{},{id},{pps},{},{}",
                spec.interval,
                opt(w.max_points),
                opt(w.begin_filter.map(|t| format!("{t:06}"))),
                opt(w.end_filter.map(|t| format!("{t:06}"))),
                dir(w.direction),
                itype(spec.interval_type),
                u8::from(spec.label_at_beginning)
            ),
            Request::BarsRange {
                symbol,
                spec,
                begin,
                end,
                window: w,
            } => write!(
                s,
                "HIT,{symbol},{},{},{},{},{},{},{},{id},{pps},{},{}",
                spec.interval,
                dt(*begin),
                dt(*end),
                opt(w.max_points),
                opt(w.begin_filter.map(|t| format!("{t:06}"))),
                opt(w.end_filter.map(|t| format!("{t:06}"))),
                dir(w.direction),
                itype(spec.interval_type),
                u8::from(spec.label_at_beginning)
            ),
            Request::DailyLast {
                symbol,
                max_points,
                direction,
            } => write!(
                s,
                "HDX,{symbol},{max_points},{},{id},{pps}",
                dir(*direction)
            ),
            Request::DailyRange {
                symbol,
                begin,
                end,
                max_points,
                direction,
            } => write!(
                s,
                "HDT,{symbol},{},{},{},{},{id},{pps}",
                opt(begin.map(|d| format!("{d:08}"))),
                opt(end.map(|d| format!("{d:08}"))),
                opt(*max_points),
                dir(*direction)
            ),
            Request::WeeklyLast {
                symbol,
                max_points,
                direction,
            } => write!(
                s,
                "HWX,{symbol},{max_points},{},{id},{pps}",
                dir(*direction)
            ),
            Request::MonthlyLast {
                symbol,
                max_points,
                direction,
            } => write!(
                s,
                "HMX,{symbol},{max_points},{},{id},{pps}",
                dir(*direction)
            ),
            Request::EquityChain {
                symbol,
                sides: sd,
                month_codes,
                near_months,
                filter,
                include_nonstandard,
            } => {
                let (ft, v1, v2) = match filter {
                    ChainFilter::None => ("0".to_string(), String::new(), String::new()),
                    ChainFilter::StrikeRange(a, b) => ("1".into(), a.to_string(), b.to_string()),
                    ChainFilter::Moneyness(a, b) => ("2".into(), a.to_string(), b.to_string()),
                };
                write!(
                    s,
                    "CEO,{symbol},{},{month_codes},{},{ft},{v1},{v2},{id},{}",
                    sides(*sd),
                    opt(*near_months),
                    u8::from(*include_nonstandard)
                )
            }
            Request::FutureOptionChain {
                symbol,
                sides: sd,
                month_codes,
                years,
                near_months,
            } => write!(
                s,
                "CFO,{symbol},{},{month_codes},{years},{},{id}",
                sides(*sd),
                opt(*near_months)
            ),
            Request::SymbolSearch {
                in_descriptions,
                text,
                filter,
            } => {
                let (ft, fv) = filter
                    .as_ref()
                    .map(|(t, v)| (t.to_string(), v.clone()))
                    .unwrap_or_default();
                write!(
                    s,
                    "SBF,{},{text},{ft},{fv},{id}",
                    if *in_descriptions { "d" } else { "s" }
                )
            }
        };
        s
    }

    /// The symbol the request is about (the search text for `SBF`).
    pub fn symbol(&self) -> &str {
        match self {
            Request::TicksLast { symbol, .. }
            | Request::TicksDays { symbol, .. }
            | Request::TicksRange { symbol, .. }
            | Request::BarsLast { symbol, .. }
            | Request::BarsDays { symbol, .. }
            | Request::BarsRange { symbol, .. }
            | Request::DailyLast { symbol, .. }
            | Request::DailyRange { symbol, .. }
            | Request::WeeklyLast { symbol, .. }
            | Request::MonthlyLast { symbol, .. }
            | Request::EquityChain { symbol, .. }
            | Request::FutureOptionChain { symbol, .. } => symbol,
            Request::SymbolSearch { text, .. } => text,
        }
    }

    /// Whether the request counts against the history rate limit.
    pub fn is_history(&self) -> bool {
        !matches!(
            self,
            Request::EquityChain { .. }
                | Request::FutureOptionChain { .. }
                | Request::SymbolSearch { .. }
        )
    }
}

/// A parsed request line: the request and its id (empty ids are `None`).
pub type Parsed = (Request, Option<String>);

struct Args<'a> {
    line: &'a str,
    fields: Vec<&'a str>,
}

impl<'a> Args<'a> {
    fn get(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or("").trim()
    }

    fn syntax(&self) -> RequestError {
        RequestError::Syntax(self.line.to_owned())
    }

    fn u32_opt(&self, i: usize) -> Result<Option<u32>, RequestError> {
        let v = self.get(i);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse().map(Some).map_err(|_| self.syntax())
    }

    fn u32_req(&self, i: usize) -> Result<u32, RequestError> {
        self.u32_opt(i)?.ok_or_else(|| self.syntax())
    }

    fn direction(&self, i: usize) -> Result<Direction, RequestError> {
        match self.get(i) {
            "" | "0" => Ok(Direction::NewestFirst),
            "1" => Ok(Direction::OldestFirst),
            _ => Err(self.syntax()),
        }
    }

    fn time(&self, i: usize) -> Result<Option<u32>, RequestError> {
        let v = self.get(i);
        if v.is_empty() {
            return Ok(None);
        }
        let t: u32 = v.parse().map_err(|_| self.syntax())?;
        if v.len() != 6 || t / 10_000 > 23 || (t / 100) % 100 > 59 || t % 100 > 59 {
            return Err(self.syntax());
        }
        Ok(Some(t))
    }

    fn date(&self, i: usize) -> Result<Option<u32>, RequestError> {
        let v = self.get(i);
        if v.is_empty() {
            return Ok(None);
        }
        let d: u32 = v.parse().map_err(|_| self.syntax())?;
        let ok = v.len() == 8
            && chrono::NaiveDate::from_ymd_opt((d / 10_000) as i32, (d / 100) % 100, d % 100)
                .is_some();
        if !ok {
            return Err(self.syntax());
        }
        Ok(Some(d))
    }

    fn datetime(&self, i: usize) -> Result<Option<DateTime>, RequestError> {
        let v = self.get(i);
        if v.is_empty() {
            return Ok(None);
        }
        let (d, t) = v.split_once(' ').ok_or_else(|| self.syntax())?;
        let sub = Args {
            line: self.line,
            fields: vec![d, t],
        };
        match (sub.date(0)?, sub.time(1)?) {
            (Some(date), Some(time)) => Ok(Some(DateTime { date, time })),
            _ => Err(self.syntax()),
        }
    }

    fn window(
        &self,
        max: usize,
        begin: usize,
        end: usize,
        d: usize,
    ) -> Result<Window, RequestError> {
        Ok(Window {
            max_points: self.u32_opt(max)?,
            begin_filter: self.time(begin)?,
            end_filter: self.time(end)?,
            direction: self.direction(d)?,
        })
    }

    fn spec(&self, interval: usize, itype: usize, label: usize) -> Result<BarSpec, RequestError> {
        let interval = self.u32_req(interval)?;
        if interval == 0 {
            return Err(self.syntax());
        }
        let interval_type = match self.get(itype) {
            "" | "s" => IntervalType::Seconds,
            "v" => IntervalType::Volume,
            "t" => IntervalType::Ticks,
            _ => return Err(self.syntax()),
        };
        let label_at_beginning = match self.get(label) {
            "" | "0" => false,
            "1" => true,
            _ => return Err(self.syntax()),
        };
        Ok(BarSpec {
            interval,
            interval_type,
            label_at_beginning,
        })
    }

    fn sides(&self, i: usize) -> Result<Sides, RequestError> {
        match self.get(i) {
            "p" => Ok(Sides::Puts),
            "c" => Ok(Sides::Calls),
            "pc" | "cp" => Ok(Sides::Both),
            _ => Err(self.syntax()),
        }
    }
}

/// (fewest fields, most fields, index of the request id) of each command.
fn layout(cmd: &str) -> Option<(usize, usize, usize)> {
    Some(match cmd {
        "HTX" => (3, 6, 4),
        "HTD" => (3, 9, 7),
        "HTT" => (3, 10, 8),
        "HIX" => (4, 9, 5),
        "HID" => (4, 12, 8),
        "HIT" => (4, 13, 9),
        "HDX" | "HWX" | "HMX" => (3, 7, 4),
        "HDT" => (2, 9, 6),
        "CEO" => (3, 10, 8),
        "CFO" => (3, 7, 6),
        "SBF" => (3, 6, 5),
        _ => return None,
    })
}

/// The request id of a request line, found at the position [`parse`] reads it from, even
/// when the rest of the line does not parse (so an error reply can echo it); `None` for an
/// unknown command, a line too short to hold an id, or an empty id.
pub fn id_of(line: &str) -> Option<&str> {
    let cmd = line.split(',').next()?.trim();
    let (_, _, id_at) = layout(cmd)?;
    line.split(',')
        .nth(id_at)
        .map(str::trim)
        .filter(|id| !id.is_empty())
}

/// Parses a request line (without its terminator), as the simulator receives it.
pub fn parse(line: &str) -> Result<Parsed, RequestError> {
    let fields: Vec<&str> = line.split(',').collect();
    let a = Args { line, fields };
    let n = a.fields.len();
    let cmd = a.get(0);
    let Some((lo, hi, id_at)) = layout(cmd) else {
        return Err(a.syntax());
    };
    if n < lo || n > hi {
        return Err(RequestError::Parameters(line.to_owned()));
    }
    let symbol = a.get(1).to_ascii_uppercase();
    if symbol.is_empty() && cmd != "SBF" {
        return Err(a.syntax());
    }
    let id = Some(a.get(id_at).to_owned()).filter(|s| !s.is_empty());
    let req = match cmd {
        "HTX" => Request::TicksLast {
            symbol,
            max_points: a.u32_req(2)?,
            direction: a.direction(3)?,
        },
        "HTD" => Request::TicksDays {
            symbol,
            days: a.u32_req(2)?,
            window: a.window(3, 4, 5, 6)?,
        },
        "HTT" => Request::TicksRange {
            symbol,
            begin: a.datetime(2)?,
            end: a.datetime(3)?,
            window: a.window(4, 5, 6, 7)?,
        },
        "HIX" => Request::BarsLast {
            symbol,
            spec: a.spec(2, 7, 8)?,
            max_points: a.u32_req(3)?,
            direction: a.direction(4)?,
        },
        "HID" => Request::BarsDays {
            symbol,
            spec: a.spec(2, 10, 11)?,
            days: a.u32_req(3)?,
            window: a.window(4, 5, 6, 7)?,
        },
        "HIT" => Request::BarsRange {
            symbol,
            spec: a.spec(2, 11, 12)?,
            begin: a.datetime(3)?,
            end: a.datetime(4)?,
            window: a.window(5, 6, 7, 8)?,
        },
        "HDX" => Request::DailyLast {
            symbol,
            max_points: a.u32_req(2)?,
            direction: a.direction(3)?,
        },
        "HWX" => Request::WeeklyLast {
            symbol,
            max_points: a.u32_req(2)?,
            direction: a.direction(3)?,
        },
        "HMX" => Request::MonthlyLast {
            symbol,
            max_points: a.u32_req(2)?,
            direction: a.direction(3)?,
        },
        "HDT" => Request::DailyRange {
            symbol,
            begin: a.date(2)?,
            end: a.date(3)?,
            max_points: a.u32_opt(4)?,
            direction: a.direction(5)?,
        },
        "CEO" => {
            let filter = match a.get(5) {
                "" | "0" => ChainFilter::None,
                "1" => {
                    let p = |i| a.get(i).parse::<f64>().map_err(|_| a.syntax());
                    ChainFilter::StrikeRange(p(6)?, p(7)?)
                }
                "2" => ChainFilter::Moneyness(a.u32_req(6)?, a.u32_req(7)?),
                _ => return Err(a.syntax()),
            };
            let month_codes = a.get(3).to_owned();
            if !month_codes.chars().all(|c| ('A'..='X').contains(&c)) {
                return Err(a.syntax());
            }
            Request::EquityChain {
                symbol,
                sides: a.sides(2)?,
                month_codes,
                near_months: a.u32_opt(4)?,
                filter,
                include_nonstandard: a.get(9) == "1",
            }
        }
        "CFO" => Request::FutureOptionChain {
            symbol,
            sides: a.sides(2)?,
            month_codes: a.get(3).to_owned(),
            years: a.get(4).to_owned(),
            near_months: a.u32_opt(5)?,
        },
        _ => {
            let in_descriptions = match a.get(1) {
                "s" => false,
                "d" => true,
                _ => return Err(a.syntax()),
            };
            let text = a.get(2).to_owned();
            if text.is_empty() {
                return Err(a.syntax());
            }
            let filter = match a.get(3) {
                "" => None,
                t @ ("e" | "t") => Some((t.chars().next().unwrap_or('e'), a.get(4).to_owned())),
                _ => return Err(a.syntax()),
            };
            Request::SymbolSearch {
                in_descriptions,
                text,
                filter,
            }
        }
    };
    Ok((req, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_the_reference() {
        let r = Request::TicksRange {
            symbol: "AAPL".into(),
            begin: Some(DateTime {
                date: 20240102,
                time: 93000,
            }),
            end: Some(DateTime {
                date: 20240102,
                time: 160000,
            }),
            window: Window {
                direction: Direction::OldestFirst,
                ..Window::default()
            },
        };
        assert_eq!(
            r.format("H1"),
            "HTT,AAPL,20240102 093000,20240102 160000,,,,1,H1,500"
        );
        let r = Request::EquityChain {
            symbol: "AAPL".into(),
            sides: Sides::Both,
            month_codes: String::new(),
            near_months: Some(2),
            filter: ChainFilter::StrikeRange(150.0, 200.0),
            include_nonstandard: false,
        };
        assert_eq!(r.format("C1"), "CEO,AAPL,pc,,2,1,150,200,C1,0");
    }

    #[test]
    fn parses_what_other_clients_send() {
        // pyiqfeed-style HTX with trailing fields dropped.
        let (r, id) = parse("HTX,aapl,100,1").unwrap();
        assert_eq!(id, None);
        assert_eq!(
            r,
            Request::TicksLast {
                symbol: "AAPL".into(),
                max_points: 100,
                direction: Direction::OldestFirst
            }
        );
        let (_, id) = parse("HDT,SPY,20240101,20240131,,1,D7,100").unwrap();
        assert_eq!(id.as_deref(), Some("D7"));
        assert!(matches!(parse("HTX"), Err(RequestError::Parameters(_))));
        assert!(matches!(parse("XYZ,1,2"), Err(RequestError::Syntax(_))));
        assert!(matches!(
            parse("HTT,AAPL,20240230 093000,,,,,1,H1"),
            Err(RequestError::Syntax(_))
        ));
        assert!(matches!(
            parse("HIX,AAPL,0,10"),
            Err(RequestError::Syntax(_))
        ));
    }

    #[test]
    fn finds_the_id_of_a_bad_request() {
        assert_eq!(id_of("HTX,AAPL,abc,1,R9,100"), Some("R9"));
        assert_eq!(id_of("HTX,AAPL,1,1,R9,100,7,8"), Some("R9"));
        assert_eq!(id_of("HTX,AAPL,1"), None);
        assert_eq!(id_of("HTX,AAPL,1,1,,100"), None);
        assert_eq!(id_of("XYZ,1,2,3,4,5"), None);
        for line in ["HDT,SPY,20240101,20240131,,1,D7,100", "SBF,s,AA,,,S1"] {
            let (_, id) = parse(line).unwrap();
            assert_eq!(id.as_deref(), id_of(line));
        }
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        let sym = "[A-Z]{1,5}";
        let dir = prop_oneof![Just(Direction::NewestFirst), Just(Direction::OldestFirst)];
        let date =
            (2000u32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| y * 10_000 + m * 100 + d);
        let time = (0u32..24, 0u32..60, 0u32..60).prop_map(|(h, m, s)| h * 10_000 + m * 100 + s);
        let dtm = (date.clone(), time.clone()).prop_map(|(date, time)| DateTime { date, time });
        let window = (
            proptest::option::of(1u32..100_000),
            proptest::option::of(time.clone()),
            proptest::option::of(time),
            dir.clone(),
        )
            .prop_map(|(max_points, begin_filter, end_filter, direction)| Window {
                max_points,
                begin_filter,
                end_filter,
                direction,
            });
        let spec = (
            1u32..3600,
            prop_oneof![
                Just(IntervalType::Seconds),
                Just(IntervalType::Volume),
                Just(IntervalType::Ticks)
            ],
            any::<bool>(),
        )
            .prop_map(|(interval, interval_type, label_at_beginning)| BarSpec {
                interval,
                interval_type,
                label_at_beginning,
            });
        prop_oneof![
            (sym, 1u32..1_000_000, dir.clone()).prop_map(|(s, m, d)| Request::TicksLast {
                symbol: s,
                max_points: m,
                direction: d
            }),
            (sym, 1u32..30, window.clone()).prop_map(|(s, days, window)| Request::TicksDays {
                symbol: s,
                days,
                window
            }),
            (
                sym,
                proptest::option::of(dtm.clone()),
                proptest::option::of(dtm.clone()),
                window.clone()
            )
                .prop_map(|(s, begin, end, window)| Request::TicksRange {
                    symbol: s,
                    begin,
                    end,
                    window
                }),
            (
                sym,
                spec.clone(),
                proptest::option::of(dtm.clone()),
                proptest::option::of(dtm),
                window.clone()
            )
                .prop_map(|(s, spec, begin, end, window)| Request::BarsRange {
                    symbol: s,
                    spec,
                    begin,
                    end,
                    window
                }),
            (sym, spec.clone(), 1u32..30, window).prop_map(|(s, spec, days, window)| {
                Request::BarsDays {
                    symbol: s,
                    spec,
                    days,
                    window,
                }
            }),
            (sym, spec, 1u32..5000, dir.clone()).prop_map(|(s, spec, m, d)| Request::BarsLast {
                symbol: s,
                spec,
                max_points: m,
                direction: d
            }),
            (
                sym,
                proptest::option::of(date.clone()),
                proptest::option::of(date),
                proptest::option::of(1u32..5000),
                dir.clone()
            )
                .prop_map(|(s, begin, end, max_points, direction)| {
                    Request::DailyRange {
                        symbol: s,
                        begin,
                        end,
                        max_points,
                        direction,
                    }
                }),
            (sym, 1u32..5000, dir).prop_map(|(s, m, d)| Request::WeeklyLast {
                symbol: s,
                max_points: m,
                direction: d
            }),
            (sym, proptest::option::of(1u32..5), 0u32..5, 0u32..5).prop_map(|(s, near, a, b)| {
                Request::EquityChain {
                    symbol: s,
                    sides: Sides::Both,
                    month_codes: String::new(),
                    near_months: near,
                    filter: ChainFilter::Moneyness(a, b),
                    include_nonstandard: false,
                }
            }),
            ("[A-Z]{1,8}", any::<bool>()).prop_map(|(t, d)| Request::SymbolSearch {
                in_descriptions: d,
                text: t,
                filter: None
            }),
        ]
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(r in arb_request(), id in "[A-Z][0-9]{1,6}") {
            let (back, back_id) = parse(&r.format(&id)).unwrap();
            prop_assert_eq!(back, r);
            prop_assert_eq!(back_id, Some(id));
        }

        #[test]
        fn arbitrary_lines_never_panic(s in "[A-Z,0-9 .a-z]{0,60}") {
            let _ = parse(&s);
        }
    }
}
