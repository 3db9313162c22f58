//! History reply records (port 9100, `HTX`/`HTD`/`HTT`, `HIX`/`HID`/`HIT`, `HDX`/`HDT`/`HWX`/
//! `HMX`): the fields after the request id and the `LH` record type.
//!
//! Field orders (shared/reference/iqfeed-protocol.md §2.2):
//!
//! ```text
//! tick   Timestamp(YYYY-MM-DD HH:MM:SS.ffffff),Last,LastSize,TotalVolume,Bid,Ask,TickID,
//!        BasisForLast,TradeMarketCenter,TradeConditions,TradeAggressor,DayCode,
//! bar    Timestamp(YYYY-MM-DD HH:MM:SS),High,Low,Open,Close,TotalVolume,PeriodVolume,NumberOfTrades,
//! daily  Date(YYYY-MM-DD),High,Low,Open,Close,PeriodVolume,OpenInterest,
//! ```
//!
//! Bars and daily data are **high, low, open, close**, not OHLC. Times are US Eastern.

use xlfeed_core::Conditions;
use xlfeed_core::records::Trade;

use super::num::{
    Eastern, parse_date, parse_datetime, parse_decimal, parse_i64, parse_u64, write_date,
    write_datetime, write_decimal, write_i64, write_u64,
};
use super::{Fields, WireError};

/// Decimal places IQFeed prints prices with.
pub const PRICE_DECIMALS: usize = 4;

/// One history tick: the trade, plus what IQFeed sends beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The trade (time in UTC nanoseconds).
    pub trade: Trade,
    /// Cumulative session volume after this trade.
    pub total_volume: i64,
    /// 0 unknown, 1 buy, 2 sell, 3 neither (6.1+).
    pub aggressor: u8,
    /// Day of month of the session the trade belongs to (6.1+).
    pub day_code: u8,
}

/// One interval bar, stamped as IQFeed stamps it (at its end unless asked otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalBar {
    /// Bar time, UTC nanoseconds.
    pub time: i64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Open.
    pub open: f64,
    /// Close.
    pub close: f64,
    /// Cumulative session volume at the end of the bar.
    pub total_volume: i64,
    /// Volume in the bar.
    pub period_volume: i64,
    /// Trades in the bar (IQFeed fills it only for tick intervals).
    pub trades: i64,
}

impl IntervalBar {
    /// A bar holding one trade, stamped at `time`.
    pub fn opened_by(tick: &Tick, time: i64) -> IntervalBar {
        let p = tick.trade.price;
        IntervalBar {
            time,
            high: p,
            low: p,
            open: p,
            close: p,
            total_volume: tick.total_volume,
            period_volume: tick.trade.size,
            trades: 1,
        }
    }

    /// Adds a later trade of the same bar.
    pub fn add(&mut self, tick: &Tick) {
        let p = tick.trade.price;
        self.high = self.high.max(p);
        self.low = self.low.min(p);
        self.close = p;
        self.total_volume = tick.total_volume;
        self.period_volume += tick.trade.size;
        self.trades += 1;
    }
}

/// One daily, weekly or monthly bar.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyLine {
    /// Date, `yyyymmdd`.
    pub date: u32,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Open.
    pub open: f64,
    /// Close.
    pub close: f64,
    /// Volume of the period.
    pub volume: i64,
    /// Open interest.
    pub open_interest: i64,
}

/// Takes the next field or fails naming it.
fn next<'a>(f: &mut Fields<'a>, line: &[u8], name: &str) -> Result<&'a [u8], WireError> {
    f.next()
        .ok_or_else(|| WireError::new(line, format!("no {name} field")))
}

fn price(f: &mut Fields<'_>, line: &[u8], name: &str) -> Result<f64, WireError> {
    let v = next(f, line, name)?;
    if v.is_empty() {
        return Ok(0.0);
    }
    parse_decimal(v).ok_or_else(|| WireError::new(line, format!("{name} is not a number")))
}

fn int(f: &mut Fields<'_>, line: &[u8], name: &str) -> Result<i64, WireError> {
    let v = next(f, line, name)?;
    if v.is_empty() {
        return Ok(0);
    }
    parse_i64(v).ok_or_else(|| WireError::new(line, format!("{name} is not an integer")))
}

/// IQFeed's trade conditions (two-digit hex codes run together) without going through text.
#[inline]
fn parse_conditions(f: &[u8]) -> Option<Conditions> {
    if f.is_empty() {
        return Some(Conditions::NONE);
    }
    if !f.len().is_multiple_of(2) || f.len() > 14 {
        return None;
    }
    let mut v: u64 = 1;
    for &b in f {
        let d = (b as char).to_digit(16)?;
        v = (v << 4) | u64::from(d);
    }
    Conditions::from_bits(v)
}

/// Parses the fields of a tick line (after `<ReqID>,LH,`). Aggressor and day code are
/// optional (protocol 6.0 lines end before them).
pub fn parse_tick(fields: &[u8], clock: &mut Eastern) -> Result<Tick, WireError> {
    if let Some(t) = crate::wire::scan::parse_tick_fields(fields, clock) {
        return Ok(t);
    }
    parse_tick_checked(fields, clock)
}

/// The field-by-field tick parser: slower, and it names what is wrong with a bad line.
fn parse_tick_checked(fields: &[u8], clock: &mut Eastern) -> Result<Tick, WireError> {
    let line = fields;
    let mut f = Fields::new(fields);
    let ts = next(&mut f, line, "timestamp")?;
    let (date, micros) = clock
        .parse_datetime(ts)
        .ok_or_else(|| WireError::new(line, "bad timestamp"))?;
    let time = clock
        .to_utc_ns(date, micros)
        .ok_or_else(|| WireError::new(line, "timestamp does not exist in New York time"))?;
    let price_ = price(&mut f, line, "last")?;
    let size = int(&mut f, line, "last size")?;
    let total_volume = int(&mut f, line, "total volume")?;
    let bid = price(&mut f, line, "bid")?;
    let ask = price(&mut f, line, "ask")?;
    let tick = next(&mut f, line, "tick id")?;
    let tick_id = parse_u64(tick)
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| WireError::new(line, "tick id is not an integer"))?;
    let basis = match next(&mut f, line, "basis for last")? {
        [b] if b.is_ascii_alphabetic() => char::from(*b),
        [] => ' ',
        _ => return Err(WireError::new(line, "basis for last is not one letter")),
    };
    let mc = int(&mut f, line, "market center")?;
    let market_center =
        i32::try_from(mc).map_err(|_| WireError::new(line, "market center out of range"))?;
    let cond = next(&mut f, line, "trade conditions")?;
    let conditions = parse_conditions(cond)
        .ok_or_else(|| WireError::new(line, "trade conditions are not hex codes"))?;
    let small = |f: &mut Fields<'_>, name: &str| -> Result<u8, WireError> {
        match f.next() {
            None | Some(b"") => Ok(0),
            Some(v) => parse_u64(v)
                .and_then(|v| u8::try_from(v).ok())
                .ok_or_else(|| WireError::new(line, format!("{name} is not a small integer"))),
        }
    };
    let aggressor = small(&mut f, "trade aggressor")?;
    let day_code = small(&mut f, "day code")?;
    Ok(Tick {
        trade: Trade {
            time,
            price: price_,
            size,
            bid,
            ask,
            tick_id,
            basis,
            market_center,
            conditions,
        },
        total_volume,
        aggressor,
        day_code,
    })
}

/// Appends the fields of a tick line (what follows `<ReqID>,LH,`), with its trailing comma.
/// `date`/`micros` are the Eastern wall-clock time of the trade; `extended` adds the 6.1+
/// aggressor and day code.
pub fn write_tick(out: &mut Vec<u8>, tick: &Tick, date: u32, micros: i64, extended: bool) {
    let t = &tick.trade;
    write_datetime(out, date, micros, true);
    out.push(b',');
    write_decimal(out, t.price, PRICE_DECIMALS);
    out.push(b',');
    write_i64(out, t.size);
    out.push(b',');
    write_i64(out, tick.total_volume);
    out.push(b',');
    write_decimal(out, t.bid, PRICE_DECIMALS);
    out.push(b',');
    write_decimal(out, t.ask, PRICE_DECIMALS);
    out.push(b',');
    write_i64(out, t.tick_id);
    out.push(b',');
    let mut basis = [0u8; 4];
    out.extend_from_slice(t.basis.encode_utf8(&mut basis).as_bytes());
    out.push(b',');
    write_i64(out, i64::from(t.market_center));
    out.push(b',');
    write_conditions(out, t.conditions);
    out.push(b',');
    if extended {
        write_u64(out, u64::from(tick.aggressor));
        out.push(b',');
        if tick.day_code < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(tick.day_code));
        out.push(b',');
    }
}

/// Appends trade conditions as IQFeed writes them (`3D`, `0117`, nothing for none), without
/// allocating: the same text as `Conditions`' `Display`.
pub fn write_conditions(out: &mut Vec<u8>, conditions: Conditions) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for c in conditions.codes() {
        out.push(HEX[usize::from(c >> 4)]);
        out.push(HEX[usize::from(c & 0xF)]);
    }
}

/// Parses the fields of an interval bar line.
pub fn parse_bar(fields: &[u8], clock: &mut Eastern) -> Result<IntervalBar, WireError> {
    let line = fields;
    let mut f = Fields::new(fields);
    let ts = next(&mut f, line, "timestamp")?;
    let (date, micros) = parse_datetime(ts).ok_or_else(|| WireError::new(line, "bad timestamp"))?;
    let time = clock
        .to_utc_ns(date, micros)
        .ok_or_else(|| WireError::new(line, "timestamp does not exist in New York time"))?;
    Ok(IntervalBar {
        time,
        high: price(&mut f, line, "high")?,
        low: price(&mut f, line, "low")?,
        open: price(&mut f, line, "open")?,
        close: price(&mut f, line, "close")?,
        total_volume: int(&mut f, line, "total volume")?,
        period_volume: int(&mut f, line, "period volume")?,
        trades: int(&mut f, line, "number of trades")?,
    })
}

/// Appends the fields of an interval bar line, stamped at `date`/`micros` Eastern.
pub fn write_bar(out: &mut Vec<u8>, bar: &IntervalBar, date: u32, micros: i64) {
    write_datetime(out, date, micros, false);
    for p in [bar.high, bar.low, bar.open, bar.close] {
        out.push(b',');
        write_decimal(out, p, PRICE_DECIMALS);
    }
    for v in [bar.total_volume, bar.period_volume, bar.trades] {
        out.push(b',');
        write_i64(out, v);
    }
    out.push(b',');
}

/// Parses the fields of a daily/weekly/monthly line.
pub fn parse_daily(fields: &[u8]) -> Result<DailyLine, WireError> {
    let line = fields;
    let mut f = Fields::new(fields);
    let d = next(&mut f, line, "date")?;
    // Very old protocols stamped daily bars `YYYY-MM-DD 00:00:00`: accept and drop the time.
    let date = parse_date(d.get(..10).unwrap_or(d))
        .filter(|_| d.len() == 10 || d.get(10..) == Some(b" 00:00:00"))
        .ok_or_else(|| WireError::new(line, "bad date"))?;
    Ok(DailyLine {
        date,
        high: price(&mut f, line, "high")?,
        low: price(&mut f, line, "low")?,
        open: price(&mut f, line, "open")?,
        close: price(&mut f, line, "close")?,
        volume: int(&mut f, line, "period volume")?,
        open_interest: int(&mut f, line, "open interest")?,
    })
}

/// Appends the fields of a daily/weekly/monthly line.
pub fn write_daily(out: &mut Vec<u8>, d: &DailyLine) {
    write_date(out, d.date);
    for p in [d.high, d.low, d.open, d.close] {
        out.push(b',');
        write_decimal(out, p, PRICE_DECIMALS);
    }
    for v in [d.volume, d.open_interest] {
        out.push(b',');
        write_i64(out, v);
    }
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_reference_tick_shape() {
        let mut clock = Eastern::new();
        let t = parse_tick(
            b"2024-01-02 09:30:00.123456,190.1200,100,15234,190.11,190.13,4012345678,C,19,01,1,2,",
            &mut clock,
        )
        .unwrap();
        assert_eq!(t.trade.time, 1_704_205_800_123_456_000);
        assert_eq!(t.trade.price, 190.12);
        assert_eq!(t.trade.size, 100);
        assert_eq!(t.total_volume, 15234);
        assert_eq!((t.trade.bid, t.trade.ask), (190.11, 190.13));
        assert_eq!(t.trade.tick_id, 4_012_345_678);
        assert_eq!(t.trade.basis, 'C');
        assert_eq!(t.trade.market_center, 19);
        assert_eq!(t.trade.conditions.to_string(), "01");
        assert_eq!((t.aggressor, t.day_code), (1, 2));
    }

    #[test]
    fn parses_bars_in_hloc_order() {
        let mut clock = Eastern::new();
        let b = parse_bar(
            b"2023-06-28 10:00:00,4411.50,4411.25,4411.25,4411.50,42885,55,0,",
            &mut clock,
        )
        .unwrap();
        assert_eq!(
            (b.high, b.low, b.open, b.close),
            (4411.5, 4411.25, 4411.25, 4411.5)
        );
        assert_eq!((b.total_volume, b.period_volume, b.trades), (42885, 55, 0));
        let d = parse_daily(b"2018-04-27,164.3300,160.6300,164.0000,162.3200,35655839,0,").unwrap();
        assert_eq!(d.date, 20180427);
        assert_eq!(
            (d.high, d.low, d.open, d.close),
            (164.33, 160.63, 164.0, 162.32)
        );
        assert_eq!(d.volume, 35_655_839);
    }

    #[test]
    fn malformed_lines_name_the_problem_and_quote_the_line() {
        let mut clock = Eastern::new();
        let e = parse_tick(b"2024-01-02 09:30:00,abc,100,", &mut clock).unwrap_err();
        assert!(e.to_string().contains("last is not a number"), "{e}");
        assert!(e.to_string().contains("abc"), "{e}");
        let e = parse_tick(b"2024-13-02 09:30:00,1,1,1,1,1,1,C,1,,", &mut clock).unwrap_err();
        assert!(e.to_string().contains("bad timestamp"), "{e}");
        assert!(parse_daily(b"2018-04-27,1,2").is_err());
    }

    fn arb_tick() -> impl Strategy<Value = (Tick, u32, i64)> {
        (
            0i64..23_400_000_000,
            1i64..10_000_000,
            0i64..1_000_000,
            0i64..i64::MAX / 2,
            prop::sample::select(vec!['C', 'E', 'O', 'S']),
            0i32..100,
            prop::sample::select(vec!["", "3D", "0117", "143A"]),
            0u8..4,
        )
            .prop_map(|(us, cents, size, id, basis, mc, cond, aggr)| {
                let micros = 34_200_000_000 + us;
                let mut clock = Eastern::new();
                let time = clock.to_utc_ns(20240102, micros).unwrap_or(0);
                let p = cents as f64 / 100.0;
                let tick = Tick {
                    trade: Trade {
                        time,
                        price: p,
                        size,
                        bid: p - 0.01,
                        ask: p + 0.01,
                        tick_id: id,
                        basis,
                        market_center: mc,
                        conditions: Conditions::parse(cond).unwrap_or_default(),
                    },
                    total_volume: size * 7,
                    aggressor: aggr,
                    day_code: 2,
                };
                (tick, 20240102, micros)
            })
    }

    proptest! {
        #[test]
        fn tick_format_parse_round_trip((tick, date, micros) in arb_tick()) {
            let mut line = Vec::new();
            write_tick(&mut line, &tick, date, micros, true);
            let back = parse_tick(&line, &mut Eastern::new()).unwrap();
            prop_assert_eq!(back.trade.time, tick.trade.time);
            prop_assert_eq!(back.trade.price, tick.trade.price);
            prop_assert_eq!(back.trade.bid.to_bits(), ((tick.trade.bid * 10_000.0).round() / 10_000.0).to_bits());
            prop_assert_eq!(back.trade.tick_id, tick.trade.tick_id);
            prop_assert_eq!(back.trade.conditions, tick.trade.conditions);
            prop_assert_eq!((back.aggressor, back.day_code), (tick.aggressor, tick.day_code));
        }

        #[test]
        fn fast_and_checked_tick_parsers_agree((tick, date, micros) in arb_tick(), cut in 0usize..120) {
            let mut line = Vec::new();
            write_tick(&mut line, &tick, date, micros, true);
            let fast = crate::wire::scan::parse_tick_fields(&line, &mut Eastern::new());
            let checked = parse_tick_checked(&line, &mut Eastern::new()).ok();
            prop_assert!(fast.is_some());
            prop_assert_eq!(fast, checked);
            // Cut lines: the fast path may give up, but never disagrees with an accepted parse.
            let cut = &line[..cut.min(line.len())];
            if let Some(f) = crate::wire::scan::parse_tick_fields(cut, &mut Eastern::new()) {
                prop_assert_eq!(Some(f), parse_tick_checked(cut, &mut Eastern::new()).ok());
            }
        }

        #[test]
        fn bulk_scan_agrees_with_the_line_parser(
            ticks in proptest::collection::vec(arb_tick(), 1..12),
            flip in any::<(usize, u8)>(),
            cut in any::<usize>(),
        ) {
            let mut buf = Vec::new();
            for (tick, date, micros) in &ticks {
                buf.extend_from_slice(b"H7,LH,");
                write_tick(&mut buf, tick, *date, *micros, true);
                buf.extend_from_slice(b"\r\n");
            }
            // One byte changed anywhere and the buffer cut anywhere: whatever the scan takes
            // is exactly what the line-by-line parser makes of those lines.
            let i = flip.0 % buf.len();
            buf[i] = flip.1;
            buf.truncate(cut % (buf.len() + 1));
            let mut pos = 0;
            while pos < buf.len() {
                let mut got = Vec::new();
                let used = crate::wire::scan::parse_tick_lines(&buf[pos..], b"H7,LH,", &mut Eastern::new(), &mut got);
                let mut expected = Vec::new();
                for line in buf[pos..pos + used].split_inclusive(|&b| b == b'\n') {
                    let body = line.strip_prefix(b"H7,LH,").unwrap();
                    let body = body.strip_suffix(b"\n").unwrap();
                    let body = body.strip_suffix(b"\r").unwrap_or(body);
                    expected.push(parse_tick_checked(body, &mut Eastern::new()).unwrap());
                }
                prop_assert_eq!(got, expected);
                pos += used;
                match memchr::memchr(b'\n', &buf[pos..]) {
                    Some(nl) => pos += nl + 1,
                    None => break,
                }
            }
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut clock = Eastern::new();
            let _ = parse_tick(&bytes, &mut clock);
            let _ = parse_bar(&bytes, &mut clock);
            let _ = parse_daily(&bytes);
        }
    }
}
