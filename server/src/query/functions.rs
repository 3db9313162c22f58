//! The query functions and their parameters, declared once: each parameter's name, what it
//! takes, whether it is required, and its documentation. From this table come the checks every
//! call passes before it runs ([`Function::check`]: an unknown, repeated, missing or malformed
//! argument is a 400 naming it, whatever the function would have read), the OpenAPI document
//! (types, ranges, enums, required flags), `GET /api/v1`, and the gRPC mapping's test.

use serde_json::{Value, json};

use super::args::Args;
use super::args::DayEnd;
use super::data::Data;
use crate::error::{ApiError, ApiResult};
use crate::table::Table;

/// What a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamType {
    /// A ticker (`AAPL`, `BRK.B`, `^SPX`).
    Symbol,
    /// Tickers: text separated by commas, or a range of cells.
    Symbols,
    /// An option symbol, IQFeed (`AAPL2417A190`) or OCC (`AAPL  240119C00190000`).
    OptionSymbol,
    /// A date: `2024-06-28`, `20240628`, an Excel serial (`45471`) or `today` (the date in
    /// New York, the exchange's, whatever the zone of the server or the caller).
    Date,
    /// A point in time: an ISO date-time (New York unless it has an offset), an Excel serial
    /// with a fraction, or a date (`today` included).
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
    /// The add-in's Excel functions that call it (`=MKT.<id>(...)`), as its `functions.json`
    /// declares them; a test holds the two in agreement.
    pub excel: &'static [Excel],
    /// Runs it on arguments that passed [`Function::check`].
    pub run: Run,
}

/// An Excel custom function of the add-in, with the parameters it takes in its order.
#[derive(Debug, Clone, Copy)]
pub struct Excel {
    /// Its id in `functions.json` (`HISTORY` for `=MKT.HISTORY`).
    pub id: &'static str,
    /// Its parameters, in the worksheet's order.
    pub params: &'static [ExcelParam],
}

/// A parameter of an Excel function.
#[derive(Debug, Clone, Copy)]
pub struct ExcelParam {
    /// Its name in `functions.json`.
    pub name: &'static str,
    /// Whether a formula may leave it out.
    pub optional: bool,
    /// The parameters of the server function it is sent as (none: it only shapes the
    /// worksheet's answer, as `options` does).
    pub sends: &'static [&'static str],
}

/// A required Excel parameter sent as `sends`.
pub(super) const fn xreq(name: &'static str, sends: &'static [&'static str]) -> ExcelParam {
    ExcelParam {
        name,
        optional: false,
        sends,
    }
}

/// An optional Excel parameter sent as `sends`.
pub(super) const fn xopt(name: &'static str, sends: &'static [&'static str]) -> ExcelParam {
    ExcelParam {
        name,
        optional: true,
        sends,
    }
}

/// How a function runs: over the stores, on checked arguments, to a table.
pub type Run = for<'a> fn(&'a Data, &'a Args) -> BoxFuture<'a, ApiResult<Table>>;

/// A boxed future a function's run returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `dates`, which every function takes: how dates and times are written.
pub const DATES: Param = Param {
    name: "dates",
    ty: ParamType::OneOf(&["serial", "serial1904", "iso"]),
    required: false,
    doc: "How dates and times are written: Excel serials in the 1900 date system (serial, the default), in the 1904 system (serial1904), or ISO 8601 text (iso).",
};

/// A parameter (for the functions' declarations).
pub(super) const fn p(
    name: &'static str,
    ty: ParamType,
    required: bool,
    doc: &'static str,
) -> Param {
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
                super::args::Interval::parse(&args.text(name)?)?;
            }
            Tenor => {
                super::args::parse_tenor(&args.text(name)?)?;
            }
            Cursor => {
                super::args::parse_cursor(&args.text(name)?)?;
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
    use crate::query::{FUNCTIONS, function};

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

    /// The add-in's `functions.json` (its committed snapshot, which the add-in's
    /// `npm run check` holds equal to the one generated from `functions.js`) agrees with the
    /// table: the same Excel functions, each with the parameters declared here in their order
    /// and optionality, each sent as parameters the server function has, and every required
    /// parameter of the server function given by a required Excel one.
    #[test]
    fn the_add_ins_functions_json_agrees_with_the_table() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../excel-addin/metadata.snapshot.json"
        );
        let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let declared: Vec<(&str, Vec<(String, bool)>)> = json["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let params = f["parameters"].as_array().unwrap().iter();
                let params = params
                    .map(|p| {
                        let name = p["name"].as_str().unwrap().to_owned();
                        (name, p["optional"].as_bool().unwrap_or(false))
                    })
                    .collect();
                (f["id"].as_str().unwrap(), params)
            })
            .collect();
        let mut ours: Vec<(&Function, &Excel)> = Vec::new();
        for f in FUNCTIONS {
            ours.extend(f.excel.iter().map(|x| (f, x)));
        }
        let mut ids: Vec<&str> = declared.iter().map(|(id, _)| *id).collect();
        let mut our_ids: Vec<&str> = ours.iter().map(|(_, x)| x.id).collect();
        ids.sort_unstable();
        our_ids.sort_unstable();
        assert_eq!(
            ids, our_ids,
            "Excel functions in functions.json vs the table"
        );
        for (f, x) in ours {
            let (_, theirs) = declared.iter().find(|(id, _)| *id == x.id).unwrap();
            let ours: Vec<(String, bool)> = x
                .params
                .iter()
                .map(|p| (p.name.to_owned(), p.optional))
                .collect();
            assert_eq!(
                theirs, &ours,
                "{}: parameters (name, optional) in functions.json vs the table",
                x.id
            );
            for xp in x.params {
                for sent in xp.sends {
                    assert!(
                        f.params.iter().any(|p| p.name == *sent),
                        "{}.{} is sent as {sent}, which {} does not take",
                        x.id,
                        xp.name,
                        f.name
                    );
                }
            }
            for p in f.params.iter().filter(|p| p.required) {
                assert!(
                    x.params
                        .iter()
                        .any(|xp| !xp.optional && xp.sends.contains(&p.name)),
                    "{} requires {}, which no required parameter of {} gives",
                    f.name,
                    p.name,
                    x.id
                );
            }
        }
    }
}
