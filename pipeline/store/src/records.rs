//! How each record type of `xlfeed_core::records` maps onto chunk columns.
//!
//! One `columnar!` line per record type: its schema code, its name, the field that gives a
//! row's time, and each field with its column class (`int`, `float` or `text`). The macro
//! writes the encoder and a block-at-a-time decoder, so adding a record type is one line here
//! and one arm in [`Records`].

use xlfeed_core::records::{
    Bar, ContractDaily, DailyBar, Dividend, EnrichedOptionTrade, Fundamentals, IvTerm, Lineage,
    OptionContract, OptionTrade, Quote, RatePoint, Trade,
};

use crate::codec::bitpack::BLOCK;
use crate::codec::column::{
    FloatDecoder, FloatEncoder, FloatField, IntDecoder, IntEncoder, IntField, TextDecoder,
    TextEncoder,
};
use crate::codec::{self, BodyReader, BodyWriter, CodecError, Columnar, Schema};

fn bad_value(field: &str, v: i64) -> CodecError {
    CodecError::Malformed(format!("value {v} is not valid for field {field}"))
}

macro_rules! columnar {
    ($ty:ident = $code:literal $name:literal, time: $time:tt, { $($f:ident : $class:ident),* $(,)? }) => {
        impl Columnar for $ty {
            const SCHEMA: Schema = Schema { code: $code, name: $name };

            fn write_columns(rows: &[Self], body: &mut BodyWriter) {
                $( let mut $f = columnar!(@encoder $class); )*
                for block in rows.chunks(BLOCK) {
                    $( columnar!(@push $class, $f, block); )*
                }
                $( body.column(|out| $f.finish(out)); )*
            }

            fn read_columns(
                body: &mut BodyReader<'_>,
                n: usize,
                out: &mut Vec<Self>,
            ) -> Result<(), CodecError> {
                $( let mut $f = columnar!(@dec $class, body.column()?, n); )*
                let mut left = n;
                while left > 0 {
                    let m = left.min(BLOCK);
                    $( $f.next_block(m)?; )*
                    for i in 0..m {
                        out.push($ty { $( $f: columnar!(@get $class, $f, i), )* });
                    }
                    left -= m;
                }
                Ok(())
            }

            fn time_of(&self) -> i64 {
                columnar!(@time self, $time)
            }
        }
    };
    (@time $s:ident, none) => { 0 };
    (@time $s:ident, $field:ident) => { IntField::to_int(&$s.$field) };
    (@encoder int) => { IntEncoder::default() };
    (@encoder float) => { FloatEncoder::default() };
    (@encoder text) => { TextEncoder::default() };
    (@push int, $f:ident, $block:ident) => {{
        let mut buf = [0i64; BLOCK];
        for (b, r) in buf.iter_mut().zip($block) {
            *b = IntField::to_int(&r.$f);
        }
        $f.push(&buf[..$block.len()]);
    }};
    (@push float, $f:ident, $block:ident) => {{
        let mut buf = [0f64; BLOCK];
        for (b, r) in buf.iter_mut().zip($block) {
            *b = FloatField::to_float(&r.$f);
        }
        $f.push(&buf[..$block.len()]);
    }};
    (@push text, $f:ident, $block:ident) => {
        $f.push($block.iter().map(|r| r.$f.as_str()))
    };
    (@dec int, $col:expr, $n:ident) => { IntDecoder::new($col, $n)? };
    (@dec float, $col:expr, $n:ident) => { FloatDecoder::new($col, $n)? };
    (@dec text, $col:expr, $n:ident) => { TextDecoder::new($col, $n)? };
    (@get int, $d:ident, $i:ident) => {
        IntField::from_int($d.buf[$i]).ok_or_else(|| bad_value(stringify!($d), $d.buf[$i]))?
    };
    (@get float, $d:ident, $i:ident) => { FloatField::from_float($d.buf[$i]) };
    (@get text, $d:ident, $i:ident) => { $d.get($i)? };
}

columnar!(Trade = 1 "trade", time: time, {
    time: int, price: float, size: int, bid: float, ask: float, tick_id: int, basis: int,
    market_center: int, conditions: int,
});
columnar!(Bar = 2 "bar", time: time, {
    time: int, open: float, high: float, low: float, close: float, volume: int, trades: int,
});
columnar!(DailyBar = 3 "daily bar", time: none, {
    date: int, open: float, high: float, low: float, close: float, volume: int,
    open_interest: int,
});
columnar!(Quote = 4 "quote", time: time, {
    time: int, last: float, last_size: int, bid: float, bid_size: int, ask: float,
    ask_size: int, total_volume: int, open: float, high: float, low: float, prev_close: float,
});
columnar!(OptionContract = 5 "option contract", time: none, {
    symbol: text, occ: text, underlying: text, expiry: int, strike: float, right: int,
    multiplier: int,
});
columnar!(OptionTrade = 6 "option trade", time: time, {
    contract: text, time: int, price: float, size: int, bid: float, ask: float, tick_id: int,
    basis: int, market_center: int, conditions: int,
});
columnar!(Dividend = 7 "dividend", time: none, {
    ex_date: int, pay_date: int, amount: float, yield_pct: float,
});
columnar!(Fundamentals = 8 "fundamentals", time: time, {
    time: int, dividend_amount: float, dividend_yield_pct: float, dividend_rate: float,
    pay_date: int, ex_date: int, shares_outstanding: int, high_52w: float, low_52w: float,
    pe: float, eps: float,
});
columnar!(RatePoint = 9 "rate point", time: none, {
    tenor_days: int, rate: float, convention: int,
});
columnar!(EnrichedOptionTrade = 10 "enriched option trade", time: time, {
    contract: text, time: int, price: float, size: int, bid: float, ask: float, expiry: int,
    strike: float, right: int, multiplier: int, underlying_price: float, underlying_mid: float,
    underlying_staleness_ns: int, rate: float, rate_curve: text, dividend_yield: float,
    time_to_expiry: float, iv: float, delta: float, gamma: float, vega: float, theta: float,
    rho: float, flags: int,
});
columnar!(ContractDaily = 11 "contract daily aggregate", time: none, {
    contract: text, expiry: int, strike: float, right: int, open: float, high: float,
    low: float, close: float, volume: int, trades: int, vwap: float, iv: float, delta: float,
    gamma: float, vega: float, theta: float, rho: float,
});
columnar!(IvTerm = 12 "iv summary", time: none, {
    expiry: int, time_to_expiry: float, atm_iv: float, rr25: float, bf25: float,
    forward: float, trades: int,
});
columnar!(Lineage = 13 "lineage", time: none, {
    input: text, fingerprint: int,
});

macro_rules! records {
    ($($variant:ident($ty:ident)),* $(,)?) => {
        /// A day of rows of any record type: what one chunk holds.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Records {
            $(
                #[doc = concat!("Rows of [`", stringify!($ty), "`].")]
                $variant(Vec<$ty>),
            )*
        }

        impl Records {
            /// The schema of the rows.
            pub fn schema(&self) -> Schema {
                match self {
                    $(Records::$variant(_) => $ty::SCHEMA,)*
                }
            }

            /// Number of rows.
            pub fn len(&self) -> usize {
                match self {
                    $(Records::$variant(v) => v.len(),)*
                }
            }

            /// Whether there are no rows.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Encodes the rows as a chunk.
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $(Records::$variant(v) => codec::encode(v),)*
                }
            }

            /// Decodes a chunk of any schema.
            pub fn decode(chunk: &[u8]) -> Result<Records, CodecError> {
                let h = codec::verify(chunk)?;
                $(
                    if h.schema == $ty::SCHEMA.code {
                        return codec::decode::<$ty>(chunk).map(Records::$variant);
                    }
                )*
                Err(CodecError::Malformed(format!("unknown schema code {}", h.schema)))
            }
        }

        /// Every schema this build knows.
        pub const SCHEMAS: &[Schema] = &[$($ty::SCHEMA),*];
    };
}

records! {
    Trades(Trade),
    Bars(Bar),
    DailyBars(DailyBar),
    Quotes(Quote),
    Contracts(OptionContract),
    OptionTrades(OptionTrade),
    Dividends(Dividend),
    Fundamentals(Fundamentals),
    RatePoints(RatePoint),
    EnrichedOptionTrades(EnrichedOptionTrade),
    ContractDailies(ContractDaily),
    IvTerms(IvTerm),
    Lineages(Lineage),
}

/// The name of a schema code, for error messages.
pub(crate) fn schema_name(code: u8) -> String {
    SCHEMAS
        .iter()
        .find(|s| s.code == code)
        .map_or_else(|| format!("unknown schema {code}"), |s| s.name.to_owned())
}
