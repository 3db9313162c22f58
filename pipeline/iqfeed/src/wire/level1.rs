//! Level 1 (port 5009) and admin (port 9300) messages: `F`, `P`, `Q`, `T`, `S`, `n`, `E`.
//!
//! `P` (summary) and `Q` (update) lines carry the connection's *dynamic field set*, in the
//! order of the last `S,CURRENT UPDATE FIELDNAMES` line; [`UpdateFields`] holds that order
//! and maps each name onto [`Update`]. `F` lines have the fixed 6.1/6.2 layout of
//! shared/reference/iqfeed-protocol.md §4.4; dates there are `MM/DD/YYYY`.

use xlfeed_core::Conditions;

use super::num::{parse_decimal, parse_i64, parse_u64, write_decimal, write_i64};
use super::{Fields, WireError};

/// The default dynamic field set of protocol 6.x, in order.
pub const DEFAULT_UPDATE_FIELDS: [&str; 16] = [
    "Symbol",
    "Most Recent Trade",
    "Most Recent Trade Size",
    "Most Recent Trade Time",
    "Most Recent Trade Market Center",
    "Total Volume",
    "Bid",
    "Bid Size",
    "Ask",
    "Ask Size",
    "Open",
    "High",
    "Low",
    "Close",
    "Message Contents",
    "Most Recent Trade Conditions",
];

/// The names [`Update`] understands, beyond the defaults.
pub const EXTRA_UPDATE_FIELDS: [&str; 4] = ["Last", "TickID", "Most Recent Trade Date", "VWAP"];

/// One Level 1 summary (`P`) or update (`Q`), as far as the field set carried it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// The symbol.
    pub symbol: String,
    /// Most recent trade price.
    pub last: Option<f64>,
    /// Most recent trade size.
    pub last_size: Option<i64>,
    /// Most recent trade time, microseconds after midnight New York.
    pub last_time_us: Option<i64>,
    /// Most recent trade date, `yyyymmdd`.
    pub last_date: Option<u32>,
    /// Market center of the most recent trade.
    pub last_market_center: Option<i64>,
    /// Session volume.
    pub total_volume: Option<i64>,
    /// Best bid.
    pub bid: Option<f64>,
    /// Bid size.
    pub bid_size: Option<i64>,
    /// Best ask.
    pub ask: Option<f64>,
    /// Ask size.
    pub ask_size: Option<i64>,
    /// Session open.
    pub open: Option<f64>,
    /// Session high.
    pub high: Option<f64>,
    /// Session low.
    pub low: Option<f64>,
    /// Previous close.
    pub close: Option<f64>,
    /// What changed: `C` trade, `b` bid, `a` ask, `o` open, ... (letters run together).
    pub message_contents: String,
    /// Conditions of the most recent trade.
    pub conditions: Option<Conditions>,
    /// Tick id of the most recent trade.
    pub tick_id: Option<i64>,
    /// Session VWAP.
    pub vwap: Option<f64>,
}

/// The connection's dynamic field set, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFields(Vec<String>);

impl Default for UpdateFields {
    fn default() -> Self {
        UpdateFields(
            DEFAULT_UPDATE_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }
}

fn time_us(f: &[u8]) -> Option<i64> {
    // HH:MM:SS or HH:MM:SS.ffffff
    if f.len() < 8 || f[2] != b':' || f[5] != b':' {
        return None;
    }
    let n = |a: usize| parse_u64(&f[a..a + 2]);
    let (h, m, s) = (n(0)?, n(3)?, n(6)?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let mut us = ((h * 60 + m) * 60 + s) as i64 * 1_000_000;
    match &f[8..] {
        [] => {}
        [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 6 => {
            us += parse_u64(frac)? as i64 * [0, 100_000, 10_000, 1_000, 100, 10, 1][frac.len()];
        }
        _ => return None,
    }
    Some(us)
}

/// `MM/DD/YYYY` as `yyyymmdd`.
pub fn parse_us_date(f: &[u8]) -> Option<u32> {
    if f.len() != 10 || f[2] != b'/' || f[5] != b'/' {
        return None;
    }
    let (m, d, y) = (
        parse_u64(&f[0..2])? as u32,
        parse_u64(&f[3..5])? as u32,
        parse_u64(&f[6..10])? as u32,
    );
    chrono::NaiveDate::from_ymd_opt(y as i32, m, d)?;
    Some(y * 10_000 + m * 100 + d)
}

/// `yyyymmdd` as `MM/DD/YYYY`.
pub fn us_date(yyyymmdd: u32) -> String {
    format!(
        "{:02}/{:02}/{:04}",
        (yyyymmdd / 100) % 100,
        yyyymmdd % 100,
        yyyymmdd / 10_000
    )
}

fn time_text(us: i64) -> String {
    let s = us.div_euclid(1_000_000);
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        us.rem_euclid(1_000_000)
    )
}

impl UpdateFields {
    /// A field set from the names of an `S,CURRENT UPDATE FIELDNAMES,…` line.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> UpdateFields {
        UpdateFields(
            names
                .into_iter()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The names, in wire order.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// Parses the fields of a `P` or `Q` line (after the `P,`/`Q,`).
    pub fn parse(&self, fields: &[u8]) -> Result<Update, WireError> {
        let mut u = Update::default();
        let mut f = Fields::new(fields);
        for name in &self.0 {
            let Some(v) = f.next() else { break };
            if v.is_empty() {
                continue;
            }
            let bad = || WireError::new(fields, format!("field {name:?} does not parse"));
            let dec = || parse_decimal(v).ok_or_else(bad);
            let int = || parse_i64(v).ok_or_else(bad);
            match name.as_str() {
                "Symbol" => u.symbol = String::from_utf8_lossy(v).into_owned(),
                "Most Recent Trade" => u.last = Some(dec()?),
                "Last" => u.last = u.last.or(Some(dec()?)),
                "Most Recent Trade Size" => u.last_size = Some(int()?),
                "Most Recent Trade Time" => u.last_time_us = Some(time_us(v).ok_or_else(bad)?),
                "Most Recent Trade Date" => u.last_date = Some(parse_us_date(v).ok_or_else(bad)?),
                "Most Recent Trade Market Center" => u.last_market_center = Some(int()?),
                "Total Volume" => u.total_volume = Some(int()?),
                "Bid" => u.bid = Some(dec()?),
                "Bid Size" => u.bid_size = Some(int()?),
                "Ask" => u.ask = Some(dec()?),
                "Ask Size" => u.ask_size = Some(int()?),
                "Open" => u.open = Some(dec()?),
                "High" => u.high = Some(dec()?),
                "Low" => u.low = Some(dec()?),
                "Close" => u.close = Some(dec()?),
                "VWAP" => u.vwap = Some(dec()?),
                "TickID" => u.tick_id = Some(int()?),
                "Message Contents" => u.message_contents = String::from_utf8_lossy(v).into_owned(),
                "Most Recent Trade Conditions" => {
                    u.conditions = Some(
                        std::str::from_utf8(v)
                            .ok()
                            .and_then(|c| Conditions::parse(c).ok())
                            .ok_or_else(bad)?,
                    )
                }
                _ => {}
            }
        }
        if u.symbol.is_empty() {
            return Err(WireError::new(fields, "no symbol"));
        }
        Ok(u)
    }

    /// Appends the fields of a `P`/`Q` line for `u` in this field set's order, with the
    /// trailing comma; names [`Update`] does not carry are left empty.
    pub fn write(&self, out: &mut Vec<u8>, u: &Update) {
        let dec = |out: &mut Vec<u8>, v: Option<f64>| {
            if let Some(v) = v {
                write_decimal(out, v, 4);
            }
        };
        let int = |out: &mut Vec<u8>, v: Option<i64>| {
            if let Some(v) = v {
                write_i64(out, v);
            }
        };
        for name in &self.0 {
            match name.as_str() {
                "Symbol" => out.extend_from_slice(u.symbol.as_bytes()),
                "Most Recent Trade" | "Last" => dec(out, u.last),
                "Most Recent Trade Size" => int(out, u.last_size),
                "Most Recent Trade Time" => {
                    if let Some(t) = u.last_time_us {
                        out.extend_from_slice(time_text(t).as_bytes());
                    }
                }
                "Most Recent Trade Date" => {
                    if let Some(d) = u.last_date {
                        out.extend_from_slice(us_date(d).as_bytes());
                    }
                }
                "Most Recent Trade Market Center" => int(out, u.last_market_center),
                "Total Volume" => int(out, u.total_volume),
                "Bid" => dec(out, u.bid),
                "Bid Size" => int(out, u.bid_size),
                "Ask" => dec(out, u.ask),
                "Ask Size" => int(out, u.ask_size),
                "Open" => dec(out, u.open),
                "High" => dec(out, u.high),
                "Low" => dec(out, u.low),
                "Close" => dec(out, u.close),
                "VWAP" => dec(out, u.vwap),
                "TickID" => int(out, u.tick_id),
                "Message Contents" => out.extend_from_slice(u.message_contents.as_bytes()),
                "Most Recent Trade Conditions" => {
                    if let Some(c) = u.conditions {
                        out.extend_from_slice(c.to_string().as_bytes());
                    }
                }
                _ => {}
            }
            out.push(b',');
        }
    }
}

/// Field indexes of the `F` message (6.1/6.2), after the leading `F`.
pub mod f_index {
    /// Symbol.
    pub const SYMBOL: usize = 1;
    /// Exchange ID (hex).
    pub const EXCHANGE_ID: usize = 2;
    /// Price/earnings ratio.
    pub const PE: usize = 3;
    /// Average volume.
    pub const AVERAGE_VOLUME: usize = 4;
    /// 52-week high.
    pub const HIGH_52W: usize = 5;
    /// 52-week low.
    pub const LOW_52W: usize = 6;
    /// Dividend yield, percent.
    pub const DIVIDEND_YIELD: usize = 9;
    /// Latest dividend amount.
    pub const DIVIDEND_AMOUNT: usize = 10;
    /// Annualised dividend.
    pub const DIVIDEND_RATE: usize = 11;
    /// Pay date, MM/DD/YYYY.
    pub const PAY_DATE: usize = 12;
    /// Ex-dividend date, MM/DD/YYYY.
    pub const EX_DATE: usize = 13;
    /// Current-year EPS.
    pub const EPS: usize = 14;
    /// Company name.
    pub const COMPANY_NAME: usize = 18;
    /// Common shares outstanding, thousands.
    pub const SHARES_OUTSTANDING: usize = 27;
    /// Security type id.
    pub const SECURITY_TYPE: usize = 34;
    /// Listed market id.
    pub const LISTED_MARKET: usize = 35;
    /// 52-week high date.
    pub const HIGH_52W_DATE: usize = 36;
    /// 52-week low date.
    pub const LOW_52W_DATE: usize = 37;
    /// Expiration date (options).
    pub const EXPIRATION_DATE: usize = 43;
    /// Strike price (options).
    pub const STRIKE: usize = 44;
    /// Number of fields after `F` in 6.1/6.2 (the 58th is the trailing empty one).
    pub const COUNT: usize = 57;
}

/// A fundamentals (`F`) message: the fields xlfeed uses, typed, and every field as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fundamental {
    /// Every field, by its index (index 0 is the `F` itself).
    pub raw: Vec<String>,
}

impl Fundamental {
    /// An empty message for `symbol`, ready to be filled with [`Fundamental::set`].
    pub fn new(symbol: &str) -> Fundamental {
        let mut raw = vec![String::new(); f_index::COUNT + 1];
        raw[0] = "F".into();
        raw[f_index::SYMBOL] = symbol.to_owned();
        Fundamental { raw }
    }

    /// Sets field `i` (see [`f_index`]).
    pub fn set(&mut self, i: usize, v: impl Into<String>) {
        if i < self.raw.len() && i > 0 {
            self.raw[i] = v.into();
        }
    }

    /// Field `i` as sent ("" when absent).
    pub fn get(&self, i: usize) -> &str {
        self.raw.get(i).map_or("", String::as_str)
    }

    /// Field `i` as a number, when it is one.
    pub fn number(&self, i: usize) -> Option<f64> {
        parse_decimal(self.get(i).as_bytes())
    }

    /// Field `i` as a `MM/DD/YYYY` date, in `yyyymmdd`.
    pub fn date(&self, i: usize) -> Option<u32> {
        parse_us_date(self.get(i).as_bytes())
    }

    /// The symbol.
    pub fn symbol(&self) -> &str {
        self.get(f_index::SYMBOL)
    }

    /// Parses an `F` line (with its leading `F,`).
    pub fn parse(line: &[u8]) -> Result<Fundamental, WireError> {
        let raw: Vec<String> = Fields::new(line)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        if raw.first().map(String::as_str) != Some("F") || raw.len() < 3 || raw[1].is_empty() {
            return Err(WireError::new(line, "not a fundamental message"));
        }
        Ok(Fundamental { raw })
    }

    /// Appends the `F` line, trailing comma included.
    pub fn write(&self, out: &mut Vec<u8>) {
        for f in &self.raw {
            out.extend_from_slice(f.as_bytes());
            out.push(b',');
        }
    }
}

/// One message of the Level 1 or admin port.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `F`: fundamentals.
    Fundamental(Fundamental),
    /// `P`: a summary (snapshot) after a watch or refresh.
    Summary(Update),
    /// `Q`: an update.
    Update(Update),
    /// `T`: the feed's clock, `yyyymmdd` and seconds after midnight New York.
    Time {
        /// Date.
        date: u32,
        /// Seconds after midnight.
        seconds: u32,
    },
    /// `S`: a system message: its kind (`CURRENT PROTOCOL`, `STATS`, `SERVER CONNECTED`, ...)
    /// and the fields after it.
    System {
        /// The kind, the field after `S`.
        kind: String,
        /// The remaining fields (trailing empty field removed).
        fields: Vec<String>,
    },
    /// `n`: the symbol is not known.
    NotFound(String),
    /// `E`: an error.
    Error(String),
    /// Anything else (`R`, `N`, `C`, ...), kept as the raw line.
    Other(String),
}

/// Parses one Level 1 or admin line with the connection's field set.
pub fn parse_message(line: &[u8], fields: &UpdateFields) -> Result<Message, WireError> {
    let (head, rest) = match memchr::memchr(b',', line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(match head {
        b"F" => Message::Fundamental(Fundamental::parse(line)?),
        b"P" => Message::Summary(fields.parse(rest)?),
        b"Q" => Message::Update(fields.parse(rest)?),
        b"T" => {
            let t = rest.strip_suffix(b",").unwrap_or(rest);
            let bad = || WireError::new(line, "bad timestamp message");
            if t.len() != 17 || t[8] != b' ' {
                return Err(bad());
            }
            let date = parse_u64(&t[..8]).ok_or_else(bad)? as u32;
            let us = time_us(&t[9..]).ok_or_else(bad)?;
            Message::Time {
                date,
                seconds: (us / 1_000_000) as u32,
            }
        }
        b"S" => {
            let mut parts: Vec<String> = Fields::new(rest).map(text).collect();
            if parts.last().is_some_and(String::is_empty) {
                parts.pop();
            }
            if parts.is_empty() {
                return Err(WireError::new(line, "empty system message"));
            }
            let kind = parts.remove(0);
            Message::System {
                kind,
                fields: parts,
            }
        }
        b"n" => Message::NotFound(text(Fields::new(rest).next().unwrap_or(b""))),
        b"E" => Message::Error(text(rest.strip_suffix(b",").unwrap_or(rest))),
        _ => Message::Other(text(line)),
    })
}

/// The `S,STATS` message of the admin and Level 1 ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every field after `STATS`, by position: ServerIP, ServerPort, MaxSymbols, NumSymbols,
    /// ClientsConnected, SecondsSinceLastUpdate, Reconnections, AttemptedReconnections,
    /// StartTime, MarketTime, Status, IQFeedVersion, LoginID, TotalKBsRecv, KBsPerSecRecv,
    /// AvgKBsPerSecRecv, TotalKBsSent, KBsPerSecSent, AvgKBsPerSecSent.
    pub fields: Vec<String>,
}

impl Stats {
    /// Field position of ClientsConnected.
    pub const CLIENTS_CONNECTED: usize = 4;
    /// Field position of Status (`Connected` / `Not Connected`).
    pub const STATUS: usize = 10;
    /// Field position of IQFeedVersion.
    pub const VERSION: usize = 11;

    /// A field by position ("" when absent).
    pub fn get(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", String::as_str)
    }

    /// Appends the `S,STATS,…` line with its trailing comma.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"S,STATS,");
        for f in &self.fields {
            out.extend_from_slice(f.as_bytes());
            out.push(b',');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_update_round_trip() {
        let fields = UpdateFields::default();
        let u = Update {
            symbol: "AAPL".into(),
            last: Some(190.12),
            last_size: Some(100),
            last_time_us: Some(34_200_123_456),
            last_market_center: Some(19),
            total_volume: Some(15_234),
            bid: Some(190.11),
            bid_size: Some(300),
            ask: Some(190.13),
            ask_size: Some(200),
            open: Some(189.5),
            high: Some(190.5),
            low: Some(189.0),
            close: Some(188.9),
            message_contents: "Cba".into(),
            conditions: Conditions::parse("3D").ok(),
            ..Update::default()
        };
        let mut line = b"Q,".to_vec();
        fields.write(&mut line, &u);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "Q,AAPL,190.1200,100,09:30:00.123456,19,15234,190.1100,300,190.1300,200,189.5000,190.5000,189.0000,188.9000,Cba,3D,"
        );
        match parse_message(&line, &fields).unwrap() {
            Message::Update(back) => assert_eq!(back, u),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selected_fields_are_honoured() {
        let fields = UpdateFields::from_names(["Symbol", "Bid", "TickID"]);
        let m = parse_message(b"P,MSFT,370.5,4000123,", &fields).unwrap();
        let Message::Summary(u) = m else {
            panic!("{m:?}")
        };
        assert_eq!(
            (u.symbol.as_str(), u.bid, u.tick_id),
            ("MSFT", Some(370.5), Some(4000123))
        );
        assert_eq!(u.last, None);
    }

    #[test]
    fn system_time_and_errors() {
        let f = UpdateFields::default();
        assert_eq!(
            parse_message(b"S,CURRENT PROTOCOL,6.2", &f).unwrap(),
            Message::System {
                kind: "CURRENT PROTOCOL".into(),
                fields: vec!["6.2".into()]
            }
        );
        assert_eq!(
            parse_message(b"T,20240102 09:30:01", &f).unwrap(),
            Message::Time {
                date: 20240102,
                seconds: 34_201
            }
        );
        assert_eq!(
            parse_message(b"n,ZZZZ", &f).unwrap(),
            Message::NotFound("ZZZZ".into())
        );
        assert_eq!(
            parse_message(b"E,Disconnected from server", &f).unwrap(),
            Message::Error("Disconnected from server".into())
        );
        assert!(parse_message(b"T,2024", &f).is_err());
        assert!(parse_message(b"Q,,1,", &f).is_err());
    }

    #[test]
    fn fundamental_fields_by_index() {
        let mut f = Fundamental::new("AAPL");
        f.set(f_index::DIVIDEND_AMOUNT, "0.24");
        f.set(f_index::EX_DATE, us_date(20240209));
        f.set(f_index::COMPANY_NAME, "APPLE INC");
        let mut line = Vec::new();
        f.write(&mut line);
        let back = Fundamental::parse(&line).unwrap();
        assert_eq!(back.symbol(), "AAPL");
        assert_eq!(back.number(f_index::DIVIDEND_AMOUNT), Some(0.24));
        assert_eq!(back.date(f_index::EX_DATE), Some(20240209));
        assert_eq!(back.get(f_index::COMPANY_NAME), "APPLE INC");
        assert_eq!(
            line.iter().filter(|&&b| b == b',').count(),
            f_index::COUNT + 1
        );
    }

    proptest! {
        #[test]
        fn parse_message_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_message(&bytes, &UpdateFields::default());
        }
    }
}
