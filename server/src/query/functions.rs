//! The query functions and their parameters, declared once: each parameter's name, what it
//! takes, whether it is required, and its documentation. From this table come the checks every
//! call passes before it runs ([`Function::check`]: an unknown, repeated, missing or malformed
//! argument is a 400 naming it, whatever the function would have read), the OpenAPI document
//! (types, ranges, enums, required flags), `GET /api/v1`, and the gRPC mapping's test.

use serde_json::{Value, json};

use super::Args;
use super::args::DayEnd;
use crate::error::{ApiError, ApiResult};

/// What a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamType {
    /// A ticker (`AAPL`, `BRK.B`, `^SPX`).
    Symbol,
    /// Tickers: text separated by commas, or a range of cells.
    Symbols,
    /// An option symbol, IQFeed (`AAPL2417A190`) or OCC (`AAPL  240119C00190000`).
    OptionSymbol,
    /// A date: `2024-06-28`, `20240628` or an Excel serial (`45471`).
    Date,
    /// A point in time: an ISO date-time (New York unless it has an offset), an Excel serial
    /// with a fraction, or a date.
    Time,
    /// A whole number between the two bounds.
    Int(i64, i64),
    /// One of these words (any case).
    OneOf(&'static [&'static str]),
    /// Some of the words of these lists, separated by commas (any case).
    SomeOf(&'static [&'static [&'static str]]),
    /// A bar interval: `1m`, `5m`, `15m`, `30m`, `1h` (any whole number of seconds, minutes
    /// or hours that divides a day), `daily`, `weekly`, `monthly`.
    Interval,
    /// A tenor: days (`30`), or `ON`, `1W`, `3M`, `1Y`.
    Tenor,
    /// A ticks page's cursor, as `next` gave it.
    Cursor,
    /// Text.
    Text,
}

/// One parameter of a function.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name (matched without regard to case).
    pub name: &'static str,
    /// What it takes.
    pub ty: ParamType,
    /// Whether a call must give it.
    pub required: bool,
    /// What it means.
    pub doc: &'static str,
}

/// One query function.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    /// Its name: `GET /api/v1/<name>`, a batch call's `fn`, the gRPC method.
    pub name: &'static str,
    /// Its parameters, in the add-in's order.
    pub params: &'static [Param],
    /// What it answers.
    pub doc: &'static str,
    /// Whether one call may take much CPU (many chunks, many rows, statistics): such calls
    /// are answered on the query pool; light ones (a few rows from a chunk or two) where the
    /// request arrived, which spares two thread hand-offs per request.
    pub heavy: bool,
}

/// `dates`, which every function takes: how dates and times are written.
pub const DATES: Param = Param {
    name: "dates",
    ty: ParamType::OneOf(&["serial", "serial1904", "iso"]),
    required: false,
    doc: "How dates and times are written: Excel serials in the 1900 date system (serial, the default), in the 1904 system (serial1904), or ISO 8601 text (iso).",
};

const fn p(name: &'static str, ty: ParamType, required: bool, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        required,
        doc,
    }
}

use ParamType::{
    Cursor, Date, Int, Interval, OneOf, OptionSymbol, SomeOf, Symbol, Symbols, Tenor, Text, Time,
};

/// Every query function.
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "history",
        params: &[
            p("symbol", Symbol, true, "The symbol."),
            p(
                "start",
                Date,
                true,
                "The first day (a date-time for intraday bars starts there).",
            ),
            p(
                "end",
                Date,
                false,
                "The last day (default: start for intraday bars, today otherwise).",
            ),
            p("interval", Interval, false, "Bar interval (default daily)."),
            p(
                "fields",
                SomeOf(&[super::market::BAR_FIELDS]),
                false,
                "Columns after the date (default open, high, low, close, volume).",
            ),
        ],
        doc: "Bars of a symbol over a date range: interval 1m, 5m, 15m, 30m, 1h, daily (default), weekly, monthly; fields open, high, low, close, volume, vwap, trades.",
        heavy: true,
    },
    Function {
        name: "ticks",
        params: &[
            p("symbol", Symbol, true, "The symbol."),
            p("start", Time, true, "From this time (a date: its start)."),
            p(
                "end",
                Time,
                false,
                "To this time (a date: its end; default the end of start's day).",
            ),
            p(
                "limit",
                Int(1, super::market::MAX_TICKS),
                false,
                "Trades in one page (default 10,000).",
            ),
            p(
                "cursor",
                Cursor,
                false,
                "Where the page starts: the previous page's next.",
            ),
        ],
        doc: "Trades of a symbol between two times, oldest first, at most limit (default 10,000; 100,000 at most) a page; next names the cursor of the following page.",
        heavy: true,
    },
    Function {
        name: "quote",
        params: &[
            p("symbol", Symbol, true, "The symbol."),
            p(
                "field",
                OneOf(super::market::QUOTE_FIELDS),
                false,
                "One field (default: all).",
            ),
            p("at", Time, false, "As of this time (default: now)."),
        ],
        doc: "Latest values of a symbol (last, bid, ask, size, volume, change, change_pct, open, high, low, prev_close, time), now or as of a time; one field gives one value.",
        heavy: false,
    },
    Function {
        name: "chain",
        params: &[
            p("underlying", Symbol, true, "The underlying symbol."),
            p(
                "date",
                Date,
                false,
                "The day (default: the latest processed).",
            ),
            p("at", Time, false, "As of this time of the day."),
            p("expiry", Date, false, "Only this expiry."),
            p(
                "fields",
                SomeOf(&[super::options::CHAIN_FIELDS]),
                false,
                "Columns (default: contract, expiry, strike, right, bid, ask, last, volume, iv and the Greeks).",
            ),
            p(
                "right",
                OneOf(&["C", "P", "call", "put"]),
                false,
                "Only calls or puts.",
            ),
        ],
        doc: "An underlying's option chain on a date (default: the latest processed): per contract bid/ask/last, volume, IV, delta, gamma, vega, theta, rho; as of a time with at.",
        heavy: true,
    },
    Function {
        name: "option",
        params: &[
            p(
                "symbol",
                OptionSymbol,
                true,
                "The contract, IQFeed or OCC symbol.",
            ),
            p("start", Date, false, "The first day."),
            p("end", Date, false, "The last day."),
            p(
                "per",
                OneOf(&["day", "daily", "trade", "trades"]),
                false,
                "Rows per day (default) or per trade.",
            ),
            p(
                "fields",
                SomeOf(&[super::options::DAY_FIELDS, super::options::TRADE_FIELDS]),
                false,
                "Columns (default: all of the per chosen).",
            ),
        ],
        doc: "One option contract (IQFeed or OCC symbol) over a date range: IV and Greeks per trade (per=trade) or per day (per=day, the default).",
        heavy: true,
    },
    Function {
        name: "dividends",
        params: &[
            p("symbol", Symbol, true, "The symbol."),
            p("start", Date, false, "Ex-dates from this day."),
            p("end", Date, false, "Ex-dates to this day."),
        ],
        doc: "Dividends of a symbol with ex-dates in a range (default: all known).",
        heavy: false,
    },
    Function {
        name: "rate",
        params: &[
            p("tenor", Tenor, true, "The tenor."),
            p("date", Date, false, "The curve's day (default: today)."),
            p(
                "curve",
                Text,
                false,
                "The curve (default: USD LIBOR to 2023-06-30, SOFR after, Treasury as fallback).",
            ),
        ],
        doc: "The continuously compounded zero rate for a tenor (days, or 1W, 3M, 1Y) on a date from the curve in FEED (default: the market's curve for the date, USD LIBOR to 2023-06-30, SOFR after, Treasury as fallback).",
        heavy: false,
    },
    Function {
        name: "fundamentals",
        params: &[
            p("symbol", Symbol, true, "The symbol."),
            p("field", Text, false, "One field (default: all)."),
        ],
        doc: "The latest fundamentals of a symbol (or one field of them).",
        heavy: false,
    },
    Function {
        name: "search",
        params: &[
            p(
                "text",
                Text,
                true,
                "What the symbols start with or contain.",
            ),
            p(
                "limit",
                Int(1, 1000),
                false,
                "Symbols at most (default 50).",
            ),
        ],
        doc: "Symbols in the stores that start with or contain text, with what is stored for them.",
        heavy: true,
    },
    Function {
        name: "compare",
        params: &[
            p(
                "symbols",
                Symbols,
                true,
                "Two or more symbols (one for ivrv, consistency and drawdown); the first is the benchmark.",
            ),
            p("start", Date, true, "The first day."),
            p("end", Date, false, "The last day (default: today)."),
            p(
                "metric",
                OneOf(super::compare::METRICS),
                false,
                "What to compare (default summary).",
            ),
            p(
                "window",
                Int(2, 252),
                false,
                "Days of realized volatility (ivrv; default 20).",
            ),
            p(
                "date",
                Date,
                false,
                "Unused; accepted for the add-in's layout.",
            ),
        ],
        doc: "Server-side comparison of two or more symbols over a date range (metric summary, returns, correlation, drawdown, ivrv for implied vs realized volatility, consistency for FEED vs POST).",
        heavy: true,
    },
];

/// The function called `name`.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The function called `name` once `args` passed its declaration; else the error naming the
/// unknown function or the bad argument.
pub fn checked(name: &str, args: &Args) -> ApiResult<&'static Function> {
    let Some(f) = function(name) else {
        let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        return Err(ApiError::not_found(format!(
            "no function {} (there are {})",
            xlfeed_core::quoted(name),
            names.join(", ")
        )));
    };
    f.check(args)?;
    Ok(f)
}

impl Function {
    /// Every parameter the function takes, `dates` last.
    pub fn all_params(&self) -> impl Iterator<Item = &'static Param> {
        self.params.iter().chain(std::iter::once(&DATES))
    }

    /// Checks `args` against the declaration: no unknown names, the required ones given, each
    /// value of its type. The error names the parameter and the value.
    pub fn check(&self, args: &Args) -> ApiResult<()> {
        let names: Vec<&str> = self.params.iter().map(|p| p.name).collect();
        args.only(self.name, &names)?;
        for p in self.all_params() {
            p.check(args)?;
        }
        Ok(())
    }

    /// The function as `GET /api/v1` lists it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.doc,
            "parameters": self.all_params().map(Param::to_json).collect::<Vec<_>>(),
        })
    }
}

impl Param {
    /// Checks this parameter's value in `args`.
    fn check(&self, args: &Args) -> ApiResult<()> {
        let name = self.name;
        let given = match self.ty {
            Symbols | SomeOf(_) => !args.list(name)?.is_empty(),
            _ => args.opt_text(name)?.is_some(),
        };
        if !given {
            return if self.required {
                Err(ApiError::bad(format!("{name} is required")))
            } else {
                Ok(())
            };
        }
        match self.ty {
            Symbol => {
                args.symbol(name)?;
            }
            Symbols => {
                for s in args.list(name)? {
                    xlfeed_core::Symbol::parse(&s)
                        .map_err(|e| ApiError::bad(format!("{name}: {e}")))?;
                }
            }
            OptionSymbol => {
                let t = args.text(name)?;
                xlfeed_core::OptionSymbol::parse(&t)
                    .map_err(|e| ApiError::bad(format!("{name} is not an option symbol: {e}")))?;
            }
            Date => {
                args.day(name)?;
            }
            Time => {
                args.time(name, DayEnd::Start)?;
            }
            Int(lo, hi) => {
                if let Some(v) = args.int(name)?
                    && !(lo..=hi).contains(&v)
                {
                    return Err(ApiError::bad(format!(
                        "{name} {v} is not between {lo} and {hi}"
                    )));
                }
            }
            OneOf(words) => {
                let v = args.text(name)?;
                if !words.iter().any(|w| w.eq_ignore_ascii_case(&v)) {
                    return Err(ApiError::bad(format!(
                        "{name} {} is not one of {}",
                        xlfeed_core::quoted(&v),
                        words.join(", ")
                    )));
                }
            }
            SomeOf(lists) => {
                let words = words_of(lists);
                let given = args.list(name)?;
                for (i, v) in given.iter().enumerate() {
                    if given[..i].iter().any(|w| w.eq_ignore_ascii_case(v)) {
                        return Err(ApiError::bad(format!(
                            "{name}: {} is given more than once",
                            xlfeed_core::quoted(v)
                        )));
                    }
                }
                for v in given {
                    if !words.iter().any(|w| w.eq_ignore_ascii_case(&v)) {
                        return Err(ApiError::bad(format!(
                            "{name}: {} is not one of {}",
                            xlfeed_core::quoted(&v),
                            words.join(", ")
                        )));
                    }
                }
            }
            Interval => {
                super::market::Interval::parse(&args.text(name)?)?;
            }
            Tenor => {
                super::reference::parse_tenor(&args.text(name)?)?;
            }
            Cursor => {
                super::market::parse_cursor(&args.text(name)?)?;
            }
            Text => {
                let t = args.text(name)?;
                if t.chars().count() > 200 {
                    return Err(ApiError::bad(format!(
                        "{name} {} is longer than 200 characters",
                        xlfeed_core::quoted(&t)
                    )));
                }
            }
        }
        Ok(())
    }

    /// The parameter as `GET /api/v1` lists it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "required": self.required,
            "type": self.type_name(),
            "description": self.doc,
        })
    }

    /// A short name of its type.
    pub fn type_name(&self) -> String {
        match self.ty {
            Symbol => "symbol".into(),
            Symbols => "symbols".into(),
            OptionSymbol => "option symbol".into(),
            Date => "date".into(),
            Time => "time".into(),
            Int(lo, hi) => format!("integer {lo}..{hi}"),
            OneOf(w) => format!("one of {}", w.join(", ")),
            SomeOf(lists) => format!("some of {}", words_of(lists).join(", ")),
            Interval => "interval".into(),
            Tenor => "tenor".into(),
            Cursor => "cursor".into(),
            Text => "text".into(),
        }
    }
}

/// The words of `lists`, each once, in order.
pub fn words_of(lists: &[&[&'static str]]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for w in lists.iter().flat_map(|l| l.iter()) {
        if !out.contains(w) {
            out.push(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: &str, pairs: &[(&str, &str)]) -> ApiResult<()> {
        function(f)
            .unwrap()
            .check(&Args::from_pairs(pairs.iter().copied()).unwrap())
    }

    #[test]
    fn every_argument_is_checked_whatever_the_function_reads() {
        assert!(
            check(
                "compare",
                &[("symbols", "AAPL,MSFT"), ("start", "2024-06-03")]
            )
            .is_ok()
        );
        // window is read by ivrv only, but checked for every metric.
        for bad in ["0", "-1", "1e12", "253", "x"] {
            let e = check(
                "compare",
                &[
                    ("symbols", "AAPL,MSFT"),
                    ("start", "2024-06-03"),
                    ("window", bad),
                ],
            )
            .unwrap_err();
            assert!(e.message.contains("window"), "{bad}: {}", e.message);
            assert!(e.message.contains(bad), "{bad}: {}", e.message);
        }
        let e = check("history", &[("start", "2024-06-03")]).unwrap_err();
        assert_eq!(e.message, "symbol is required");
        let e = check("quote", &[("symbol", "AAPL"), ("field", "lst")]).unwrap_err();
        assert!(e.message.contains("\"lst\""), "{}", e.message);
        let e = check(
            "history",
            &[
                ("symbol", "AAPL"),
                ("start", "2024-06-03"),
                ("fields", "open,nope"),
            ],
        )
        .unwrap_err();
        assert!(e.message.contains("\"nope\""), "{}", e.message);
        let e = check(
            "ticks",
            &[("symbol", "AAPL"), ("start", "2024-06-03"), ("cursor", "x")],
        )
        .unwrap_err();
        assert!(e.message.contains("cursor"), "{}", e.message);
        let e = check(
            "history",
            &[
                ("symbol", "AAPL"),
                ("start", "2024-06-03"),
                ("fields", "open,close,OPEN"),
            ],
        )
        .unwrap_err();
        assert!(
            e.message.contains("\"OPEN\" is given more than once"),
            "{}",
            e.message
        );
        let e = check(
            "ticks",
            &[
                ("symbol", "AAPL"),
                ("start", "2024-06-03"),
                ("cursor", "-1:-1"),
            ],
        )
        .unwrap_err();
        assert!(e.message.contains("\"-1:-1\""), "{}", e.message);
        let e = check("search", &[("text", "A"), ("dates", "julian")]).unwrap_err();
        assert!(e.message.contains("\"julian\""), "{}", e.message);
    }
}
