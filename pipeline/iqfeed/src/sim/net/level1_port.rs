//! The Level 1 port (5009): watches, fundamentals (`F`), summaries (`P`) and updates (`Q`)
//! replayed from `today`'s session, timestamps (`T`) and system messages (`S`).
//!
//! The simulated clock starts at `today`'s open when the simulator starts and runs at
//! `l1_speed` times real time. After `S,SET PROTOCOL` the port sends
//! `S,CURRENT UPDATE FIELDNAMES` with the default field set. `w<SYM>` answers `F` then `P`
//! (the state at the simulated time), then a `Q` for each trade of the session as the clock
//! reaches it; with `w` a quote change before a trade is its own `Q` (contents `b`/`a`),
//! `t<SYM>` sends trades only (and an `F` too: the reference is unsure, IQConnect's
//! behaviour for `w` is the safe guess). Unknown symbols get `n,<SYM>`; `r`, `f`,
//! `S,UNWATCH ALL`, `S,REQUEST WATCHES`, `S,SELECT UPDATE FIELDS`, the field-name requests,
//! `S,REQUEST STATS`, `S,TIMESTAMPSON/OFF`, `S,CONNECT`/`S,DISCONNECT` (updates pause while
//! disconnected) and `T` are answered as shared/reference/iqfeed-protocol.md §4 describes.
//!
//! `T` lines come once a second of the simulated clock (on by default); when the clock runs
//! faster than the connection is served, skipped seconds are not sent. Fields of the update
//! set that the simulator does not model are sent empty, as IQConnect sends fields it has no
//! value for. Option contracts can be watched too (their trades of the day).

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use chrono::NaiveTime;
use tokio::time::{Duration, Instant};
use xlfeed_core::calendar::new_york_to_utc_ns;
use xlfeed_core::{OptionSymbol, Right, TradingDay};

use super::admin_port::{MAX_SYMBOLS, stats_line};
use super::conn::{Conn, Handshake};
use super::shared::generate;
use crate::sim::market::Market;
use crate::wire::history::Tick;
use crate::wire::level1::{Fundamental, Update, UpdateFields, f_index, us_date};
use crate::wire::num::write_decimal;

/// Every update field name of protocol 6.1/6.2, in DTN's order (reference §4.3).
pub(crate) const ALL_UPDATE_FIELDS: [&str; 70] = [
    "Symbol",
    "Exchange ID",
    "Last",
    "Change",
    "Percent Change",
    "Total Volume",
    "High",
    "Low",
    "Bid",
    "Ask",
    "Bid Size",
    "Ask Size",
    "Tick",
    "Range",
    "Open Interest",
    "Open",
    "Close",
    "Spread",
    "Settle",
    "Delay",
    "Restricted Code",
    "Net Asset Value",
    "Average Maturity",
    "7 Day Yield",
    "Extended Trading Change",
    "Extended Trading Difference",
    "Price-Earnings Ratio",
    "Percent Off Average Volume",
    "Bid Change",
    "Ask Change",
    "Change From Open",
    "Market Open",
    "Volatility",
    "Market Capitalization",
    "Fraction Display Code",
    "Decimal Precision",
    "Days to Expiration",
    "Previous Day Volume",
    "Open Range 1",
    "Close Range 1",
    "Open Range 2",
    "Close Range 2",
    "Number of Trades Today",
    "VWAP",
    "TickID",
    "Financial Status Indicator",
    "Settlement Date",
    "Bid Market Center",
    "Ask Market Center",
    "Available Regions",
    "Last Size",
    "Last Time",
    "Last Market Center",
    "Most Recent Trade",
    "Most Recent Trade Size",
    "Most Recent Trade Time",
    "Most Recent Trade Conditions",
    "Most Recent Trade Market Center",
    "Extended Trade",
    "Extended Trade Size",
    "Extended Trade Time",
    "Extended Trade Market Center",
    "Message Contents",
    "Ask Time",
    "Bid Time",
    "Last Date",
    "Extended Trade Date",
    "Most Recent Trade Date",
    "Most Recent Trade Aggressor",
    "Most Recent Trade Day Code",
];

/// The names of the `F` message's fields 1–57 in 6.1/6.2 (reference §4.4).
pub(crate) const FUNDAMENTAL_FIELDS: [&str; 57] = [
    "Symbol",
    "Exchange ID",
    "PE",
    "Average Volume",
    "52 Week High",
    "52 Week Low",
    "Calendar Year High",
    "Calendar Year Low",
    "Dividend Yield",
    "Dividend Amount",
    "Dividend Rate",
    "Pay Date",
    "Ex-dividend Date",
    "Current Year EPS",
    "Next Year EPS",
    "Five-year Growth Percentage",
    "Fiscal Year End",
    "Company Name",
    "Root Option Symbol",
    "Percent Held By Institutions",
    "Beta",
    "Leaps",
    "Current Assets",
    "Current Liabilities",
    "Balance Sheet Date",
    "Long-term Debt",
    "Common Shares Outstanding",
    "Split Factor 1",
    "Split Factor 2",
    "Format Code",
    "Precision",
    "SIC",
    "Historical Volatility",
    "Security Type",
    "Listed Market",
    "52 Week High Date",
    "52 Week Low Date",
    "Calendar Year High Date",
    "Calendar Year Low Date",
    "Year End Close",
    "Maturity Date",
    "Coupon Rate",
    "Expiration Date",
    "Strike Price",
    "NAICS",
    "Exchange Root",
    "Option Premium Multiplier",
    "Option Multiple Deliverable",
    "Session Open Time",
    "Session Close Time",
    "Base Currency",
    "Contract Size",
    "Contract Months",
    "Minimum Tick Size",
    "First Delivery Date",
    "FIGI",
    "Security SubType",
];

/// Longest the connection sleeps with nothing to send.
const IDLE: Duration = Duration::from_secs(3_600);

/// Serves one Level 1 connection until the client hangs up.
pub(crate) async fn serve(conn: Conn) -> io::Result<()> {
    let midnight = new_york_to_utc_ns(conn.shared.config.today.date().and_time(NaiveTime::MIN));
    Level1 {
        conn,
        fields: UpdateFields::default(),
        timestamps: true,
        connected: true,
        watches: BTreeMap::new(),
        last_second: None,
        midnight_ns: midnight.unwrap_or(0),
        buf: Vec::new(),
    }
    .run()
    .await
}

/// One Level 1 connection's state.
struct Level1 {
    conn: Conn,
    fields: UpdateFields,
    timestamps: bool,
    connected: bool,
    watches: BTreeMap<String, Watch>,
    last_second: Option<i64>,
    midnight_ns: i64,
    buf: Vec<u8>,
}

/// One watched symbol: its session's trades and how far the replay got.
struct Watch {
    trades_only: bool,
    ticks: Arc<[Tick]>,
    next: usize,
    last: Option<usize>,
    open: Option<f64>,
    high: Option<f64>,
    low: Option<f64>,
    volume: i64,
    notional: f64,
    close: Option<f64>,
    fundamental: Fundamental,
}

impl Level1 {
    async fn run(mut self) -> io::Result<()> {
        loop {
            let now = self.conn.shared.clock.now_ns();
            self.catch_up(now);
            if !self.buf.is_empty() {
                self.conn.out.send(&self.buf).await?;
                self.buf.clear();
            }
            let wake = self.next_wake(now);
            let line = tokio::select! {
                line = self.conn.next_line() => Some(line?),
                _ = tokio::time::sleep_until(wake) => None,
            };
            match line {
                Some(None) => return Ok(()),
                Some(Some(line)) => self.command(line.trim()).await?,
                None => {}
            }
        }
    }

    /// When something is next due: a trade of a watched symbol or a new simulated second.
    fn next_wake(&self, now: i64) -> Instant {
        let clock = &self.conn.shared.clock;
        let mut next: Option<i64> = None;
        if self.connected {
            for w in self.watches.values() {
                if let Some(t) = w.ticks.get(w.next) {
                    next = Some(next.map_or(t.trade.time, |n| n.min(t.trade.time)));
                }
            }
        }
        if self.timestamps {
            let second = (now.div_euclid(1_000_000_000) + 1) * 1_000_000_000;
            next = Some(next.map_or(second, |n| n.min(second)));
        }
        let idle = Instant::now() + IDLE;
        next.map_or(idle, |ns| clock.instant_of(ns).min(idle))
    }

    /// Writes the `T` and `Q` lines due by simulated time `now`.
    fn catch_up(&mut self, now: i64) {
        let second = now.div_euclid(1_000_000_000);
        if self.timestamps && self.last_second != Some(second) {
            self.last_second = Some(second);
            self.timestamp(now);
        }
        if !self.connected {
            return;
        }
        let Level1 {
            watches,
            buf,
            fields,
            midnight_ns,
            conn,
            ..
        } = self;
        let today = conn.shared.config.today.yyyymmdd();
        for (symbol, w) in watches.iter_mut() {
            while let Some(t) = w.ticks.get(w.next)
                && t.trade.time <= now
            {
                let t = t.clone();
                if !w.trades_only
                    && let Some(prev) = w.last.map(|i| &w.ticks[i])
                {
                    let mut contents = String::new();
                    if prev.trade.bid != t.trade.bid {
                        contents.push('b');
                    }
                    if prev.trade.ask != t.trade.ask {
                        contents.push('a');
                    }
                    if !contents.is_empty() {
                        let u = w.update(symbol, Some(&t), contents, today, *midnight_ns);
                        write_update(buf, fields, b"Q,", &u);
                    }
                }
                let contents = w.apply(w.next);
                let u = w.update(symbol, None, contents, today, *midnight_ns);
                write_update(buf, fields, b"Q,", &u);
                w.next += 1;
            }
        }
    }

    fn timestamp(&mut self, now: i64) {
        let t = xlfeed_core::calendar::utc_ns_to_new_york(now);
        self.buf
            .extend_from_slice(t.format("T,%Y%m%d %H:%M:%S\r\n").to_string().as_bytes());
    }

    fn line(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn current_fieldnames(&mut self) {
        let names = self.fields.names().join(",");
        self.line(&format!("S,CURRENT UPDATE FIELDNAMES,{names}"));
    }

    async fn command(&mut self, line: &str) -> io::Result<()> {
        if line.is_empty() {
            return Ok(());
        }
        if let Some(h) = self.conn.handshake(line).await? {
            if h == Handshake::Protocol {
                self.current_fieldnames();
            }
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("S,") {
            self.system(rest);
            return Ok(());
        }
        if line == "T" {
            let now = self.conn.shared.clock.now_ns();
            self.timestamp(now);
            return Ok(());
        }
        let (Some(cmd), Some(symbol)) = (line.get(..1), line.get(1..)) else {
            self.line("E,!SYNTAX_ERROR!,");
            return Ok(());
        };
        let symbol = symbol.trim().to_ascii_uppercase();
        match cmd {
            "w" => self.watch(&symbol, false),
            "t" => self.watch(&symbol, true),
            "r" => {
                if self.watches.remove(&symbol).is_some() {
                    self.count_symbols();
                }
            }
            "f" => {
                if let Some(w) = self.watches.get(&symbol) {
                    let today = self.conn.shared.config.today.yyyymmdd();
                    let u = w.update(&symbol, None, String::new(), today, self.midnight_ns);
                    w.fundamental.write(&mut self.buf);
                    self.buf.extend_from_slice(b"\r\n");
                    write_update(&mut self.buf, &self.fields, b"P,", &u);
                }
            }
            _ => self.line("E,!SYNTAX_ERROR!,"),
        }
        Ok(())
    }

    fn system(&mut self, rest: &str) {
        let (command, args) = rest.split_once(',').unwrap_or((rest, ""));
        match command.trim() {
            "CONNECT" => {
                self.connected = true;
                self.line("S,SERVER CONNECTED");
            }
            "DISCONNECT" => {
                self.connected = false;
                self.line("S,SERVER DISCONNECTED");
            }
            "UNWATCH ALL" => {
                self.watches.clear();
                self.count_symbols();
            }
            "REQUEST WATCHES" => {
                let mut text = String::from("S,WATCHES");
                for s in self.watches.keys() {
                    text.push(',');
                    text.push_str(s);
                }
                self.line(&text);
            }
            "SELECT UPDATE FIELDS" => {
                let names = std::iter::once("Symbol").chain(
                    args.split(',')
                        .map(str::trim)
                        .filter(|n| *n != "Symbol" && ALL_UPDATE_FIELDS.contains(n)),
                );
                self.fields = UpdateFields::from_names(names);
                self.current_fieldnames();
            }
            "REQUEST CURRENT UPDATE FIELDNAMES" => self.current_fieldnames(),
            "REQUEST ALL UPDATE FIELDNAMES" => {
                self.line(&format!(
                    "S,UPDATE FIELDNAMES,{}",
                    ALL_UPDATE_FIELDS.join(",")
                ));
            }
            "REQUEST FUNDAMENTAL FIELDNAMES" => {
                self.line(&format!(
                    "S,FUNDAMENTAL FIELDNAMES,{}",
                    FUNDAMENTAL_FIELDS.join(",")
                ));
            }
            "REQUEST STATS" => {
                let stats = stats_line(&self.conn.shared);
                self.buf.extend_from_slice(&stats);
            }
            "TIMESTAMPSON" => {
                self.timestamps = true;
                self.last_second = None;
            }
            "TIMESTAMPSOFF" => self.timestamps = false,
            "SET LOG LEVELS" => self.line(&format!("S,CURRENT LOG LEVELS,{args}")),
            // Regional and news switches: nothing to send in this market.
            _ => {}
        }
    }

    fn watch(&mut self, symbol: &str, trades_only: bool) {
        if let Some(w) = self.watches.get_mut(symbol) {
            w.trades_only = trades_only;
            return;
        }
        if self.watches.len() >= MAX_SYMBOLS {
            self.line(&format!("S,SYMBOL LIMIT REACHED,{symbol}"));
            return;
        }
        let shared = self.conn.shared.clone();
        let today = shared.config.today;
        let watch = generate(shared.config.offload_generation, || {
            Watch::new(&shared.market, today, symbol, trades_only, |f| {
                shared.today_ticks(symbol, f)
            })
        });
        let Some(mut w) = watch else {
            self.line(&format!("n,{symbol}"));
            return;
        };
        // Catch the replay up to the simulated time without sending the past.
        let now = shared.clock.now_ns();
        while w.ticks.get(w.next).is_some_and(|t| t.trade.time <= now) {
            w.apply(w.next);
            w.next += 1;
        }
        let u = w.update(
            symbol,
            None,
            String::new(),
            today.yyyymmdd(),
            self.midnight_ns,
        );
        w.fundamental.write(&mut self.buf);
        self.buf.extend_from_slice(b"\r\n");
        write_update(&mut self.buf, &self.fields, b"P,", &u);
        self.watches.insert(symbol.to_owned(), w);
        self.count_symbols();
    }

    fn count_symbols(&self) {
        let n = self.watches.len();
        self.conn
            .shared
            .update_client(self.conn.id, |c| c.symbols = n);
    }
}

fn write_update(buf: &mut Vec<u8>, fields: &UpdateFields, kind: &[u8], u: &Update) {
    buf.extend_from_slice(kind);
    fields.write(buf, u);
    buf.extend_from_slice(b"\r\n");
}

/// A deterministic quote size (100 to 900 shares) from a tick id.
fn quote_size(tick_id: i64, salt: u64) -> i64 {
    let h = (tick_id as u64 ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    100 * (1 + (h >> 60) as i64 % 9)
}

impl Watch {
    /// The watch of `symbol` (a market instrument or an option contract); `None` if unknown.
    fn new(
        m: &Market,
        today: TradingDay,
        symbol: &str,
        trades_only: bool,
        cached: impl FnOnce(Box<dyn FnOnce() -> Vec<Tick> + '_>) -> Arc<[Tick]>,
    ) -> Option<Watch> {
        let (ticks, fundamental, close) = if m.instrument(symbol).is_ok() {
            let snapshot = m.fundamentals(symbol, today).ok()?;
            let ticks = cached(Box::new(|| m.ticks(symbol, today).unwrap_or_default()));
            (ticks, fundamental(&snapshot), Some(snapshot.previous_close))
        } else {
            let option = OptionSymbol::parse(symbol).ok()?;
            if !m.instrument(option.root()).ok()?.has_options() {
                return None;
            }
            let ticks = cached(Box::new(|| {
                m.option_trades(symbol, today).unwrap_or_default()
            }));
            (ticks, option_fundamental(symbol, &option), None)
        };
        Some(Watch {
            trades_only,
            ticks,
            next: 0,
            last: None,
            open: None,
            high: None,
            low: None,
            volume: 0,
            notional: 0.0,
            close,
            fundamental,
        })
    }

    /// Takes trade `i` into the session state; the `Q` message contents it makes.
    fn apply(&mut self, i: usize) -> String {
        let Some(t) = self.ticks.get(i) else {
            return String::new();
        };
        let p = t.trade.price;
        let mut contents = String::from(match t.trade.basis {
            'O' => 'O',
            'E' => 'E',
            _ => 'C',
        });
        if self.open.is_none() {
            self.open = Some(p);
            contents.push('o');
        }
        if self.high.is_none_or(|h| p > h) {
            self.high = Some(p);
            contents.push('h');
        }
        if self.low.is_none_or(|l| p < l) {
            self.low = Some(p);
            contents.push('l');
        }
        self.volume += t.trade.size;
        self.notional += p * t.trade.size as f64;
        self.last = Some(i);
        contents
    }

    /// The summary or update now; `quote` overrides the bid and ask (a quote change ahead of
    /// a trade).
    fn update(
        &self,
        symbol: &str,
        quote: Option<&Tick>,
        contents: String,
        today: u32,
        midnight_ns: i64,
    ) -> Update {
        let last = self.last.and_then(|i| self.ticks.get(i));
        let q = quote.or(last).filter(|q| q.trade.bid > 0.0);
        Update {
            symbol: symbol.to_owned(),
            last: last.map(|t| t.trade.price),
            last_size: last.map(|t| t.trade.size).filter(|s| *s > 0),
            last_time_us: last.map(|t| (t.trade.time - midnight_ns).div_euclid(1_000)),
            last_date: last.map(|_| today),
            last_market_center: last.map(|t| i64::from(t.trade.market_center)),
            total_volume: Some(self.volume),
            bid: q.map(|q| q.trade.bid),
            bid_size: q.map(|q| quote_size(q.trade.tick_id, 1)),
            ask: q.map(|q| q.trade.ask),
            ask_size: q.map(|q| quote_size(q.trade.tick_id, 2)),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            message_contents: contents,
            conditions: last.map(|t| t.trade.conditions),
            tick_id: last.map(|t| t.trade.tick_id),
            vwap: (self.volume > 0).then(|| self.notional / self.volume as f64),
        }
    }
}

fn decimal(v: f64, places: usize) -> String {
    let mut out = Vec::new();
    write_decimal(&mut out, v, places);
    String::from_utf8_lossy(&out).into_owned()
}

fn date(yyyymmdd: u32) -> String {
    if yyyymmdd == 0 {
        String::new()
    } else {
        us_date(yyyymmdd)
    }
}

/// Field indexes of the `F` message beyond those [`f_index`] names.
mod more {
    pub(super) const CALENDAR_YEAR_HIGH: usize = 7;
    pub(super) const CALENDAR_YEAR_LOW: usize = 8;
    pub(super) const NEXT_YEAR_EPS: usize = 15;
    pub(super) const FISCAL_YEAR_END: usize = 17;
    pub(super) const ROOT_OPTION_SYMBOL: usize = 19;
    pub(super) const PRECISION: usize = 31;
    pub(super) const SIC: usize = 32;
    pub(super) const HISTORICAL_VOLATILITY: usize = 33;
    pub(super) const CALENDAR_YEAR_HIGH_DATE: usize = 38;
    pub(super) const CALENDAR_YEAR_LOW_DATE: usize = 39;
    pub(super) const YEAR_END_CLOSE: usize = 40;
    pub(super) const EXCHANGE_ROOT: usize = 46;
    pub(super) const OPTION_PREMIUM_MULTIPLIER: usize = 47;
    pub(super) const BASE_CURRENCY: usize = 51;
}

/// The `F` message of an instrument, in the 6.1/6.2 layout.
fn fundamental(s: &crate::sim::FundamentalsSnapshot) -> Fundamental {
    let mut f = Fundamental::new(&s.symbol);
    f.set(f_index::EXCHANGE_ID, format!("{:X}", s.exchange_id));
    f.set(f_index::PE, s.pe.map(|v| decimal(v, 1)).unwrap_or_default());
    f.set(f_index::AVERAGE_VOLUME, s.average_volume.to_string());
    f.set(f_index::HIGH_52W, decimal(s.high_52w, 2));
    f.set(f_index::LOW_52W, decimal(s.low_52w, 2));
    f.set(more::CALENDAR_YEAR_HIGH, decimal(s.calendar_year_high, 2));
    f.set(more::CALENDAR_YEAR_LOW, decimal(s.calendar_year_low, 2));
    f.set(f_index::DIVIDEND_YIELD, decimal(s.dividend_yield_pct, 2));
    f.set(f_index::DIVIDEND_AMOUNT, decimal(s.dividend_amount, 4));
    f.set(f_index::DIVIDEND_RATE, decimal(s.dividend_rate, 4));
    f.set(f_index::PAY_DATE, date(s.pay_date));
    f.set(f_index::EX_DATE, date(s.ex_date));
    f.set(
        f_index::EPS,
        s.current_year_eps
            .map(|v| decimal(v, 2))
            .unwrap_or_default(),
    );
    f.set(
        more::NEXT_YEAR_EPS,
        s.next_year_eps.map(|v| decimal(v, 2)).unwrap_or_default(),
    );
    f.set(more::FISCAL_YEAR_END, format!("{:02}", s.fiscal_year_end));
    f.set(f_index::COMPANY_NAME, s.company_name.replace(',', " "));
    f.set(more::ROOT_OPTION_SYMBOL, s.root_option_symbols.clone());
    f.set(
        f_index::SHARES_OUTSTANDING,
        (s.shares_outstanding / 1_000).to_string(),
    );
    f.set(more::PRECISION, "4");
    if s.sic > 0 {
        f.set(more::SIC, s.sic.to_string());
    }
    f.set(
        more::HISTORICAL_VOLATILITY,
        decimal(s.historical_volatility_pct, 2),
    );
    f.set(f_index::SECURITY_TYPE, s.security_type.to_string());
    f.set(f_index::LISTED_MARKET, s.listed_market.to_string());
    f.set(f_index::HIGH_52W_DATE, date(s.high_52w_date));
    f.set(f_index::LOW_52W_DATE, date(s.low_52w_date));
    f.set(
        more::CALENDAR_YEAR_HIGH_DATE,
        date(s.calendar_year_high_date),
    );
    f.set(more::CALENDAR_YEAR_LOW_DATE, date(s.calendar_year_low_date));
    f.set(more::YEAR_END_CLOSE, decimal(s.year_end_close, 2));
    f.set(more::BASE_CURRENCY, "USD");
    f
}

/// The `F` message of an option contract: what identifies it.
fn option_fundamental(symbol: &str, o: &OptionSymbol) -> Fundamental {
    let mut f = Fundamental::new(symbol);
    let side = match o.right() {
        Right::Call => "C",
        Right::Put => "P",
    };
    let expiry = o.expiry();
    f.set(
        f_index::COMPANY_NAME,
        format!(
            "{} {} {} {side}",
            o.root(),
            expiry.format("%b %Y").to_string().to_ascii_uppercase(),
            decimal(o.strike(), 2)
        ),
    );
    f.set(
        f_index::SECURITY_TYPE,
        crate::sim::market::universe::security_type::IEOPTION.to_string(),
    );
    f.set(f_index::LISTED_MARKET, "14");
    let ymd = expiry.format("%Y%m%d").to_string().parse().unwrap_or(0);
    f.set(f_index::EXPIRATION_DATE, date(ymd));
    f.set(f_index::STRIKE, decimal(o.strike(), 2));
    f.set(more::EXCHANGE_ROOT, o.root());
    f.set(more::OPTION_PREMIUM_MULTIPLIER, "100");
    f.set(more::PRECISION, "2");
    f.set(more::BASE_CURRENCY, "USD");
    f
}
