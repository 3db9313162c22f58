//! The shape of every tabular answer: named columns and rows of cells, rendered for Excel as
//! `{"columns": [...], "rows": [[...], ...]}`.
//!
//! Cells keep their type until rendering, so one answer serves JSON for Excel (dates as
//! serial numbers, or ISO strings with `dates=iso`), gRPC and the xlsx reports alike.
//! Times render in the exchange's time zone (America/New_York): an Excel cell has no zone, and
//! an analyst reading 09:30 expects the open.

use serde_json::{Value, json};
use xlfeed_core::calendar::{new_york_offset_secs, utc_ns_to_new_york};
use xlfeed_core::{DateSystem, TradingDay};

/// One cell of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (JSON `null`, an empty cell).
    Empty,
    /// A number; NaN and infinities render as empty.
    Num(f64),
    /// An integer; beyond 2^53 it renders as a string (Excel keeps 15 digits).
    Int(i64),
    /// Text.
    Text(String),
    /// A calendar date, `yyyymmdd`.
    Date(u32),
    /// A point in time, UTC nanoseconds.
    Time(i64),
}

impl Cell {
    /// A number or empty.
    pub fn opt(v: Option<f64>) -> Cell {
        v.map_or(Cell::Empty, Cell::Num)
    }

    /// The cell's number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Num(v) => Some(*v),
            Cell::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
}

/// How dates and times are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DateStyle {
    /// Excel serial numbers in the 1900 date system (the default).
    #[default]
    Serial,
    /// Excel serial numbers in the 1904 date system.
    Serial1904,
    /// ISO 8601 strings (`2024-06-12`, `2024-06-12T09:30:00.000-04:00`).
    Iso,
}

impl DateStyle {
    /// The style's name, as the `dates` parameter takes it.
    pub fn name(self) -> &'static str {
        match self {
            DateStyle::Serial => "serial",
            DateStyle::Serial1904 => "serial1904",
            DateStyle::Iso => "iso",
        }
    }

    /// Parses the `dates` parameter: `serial`, `serial1904` or `iso`.
    pub fn parse(s: &str) -> Result<DateStyle, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "serial" | "excel" => Ok(DateStyle::Serial),
            "serial1904" | "1904" => Ok(DateStyle::Serial1904),
            "iso" => Ok(DateStyle::Iso),
            _ => Err(format!(
                "dates {} is not one of serial, serial1904, iso",
                xlfeed_core::quoted(s.trim())
            )),
        }
    }
}

/// A tabular answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
    /// Where the next page starts, when the answer was cut to a page.
    pub next: Option<String>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Table {
        Table {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
            next: None,
        }
    }

    /// Appends a row, charged to the current call's budgets (see [`crate::meter`]): a call
    /// whose answer outgrows them, or whose request is gone, stops here.
    pub fn push(&mut self, row: Vec<Cell>) -> crate::error::ApiResult<()> {
        let bytes = 16
            + row
                .iter()
                .map(|c| match c {
                    Cell::Text(s) => 32 + s.len(),
                    Cell::Time(_) => 32,
                    _ => 24,
                })
                .sum::<usize>();
        crate::meter::charge(bytes)?;
        self.rows.push(row);
        Ok(())
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Each column's type, from its first non-empty cell: `date`, `time`, `number`, `text`,
    /// or `empty` when every cell is. The add-in formats `date` and `time` columns as dates.
    pub fn column_types(&self) -> Vec<&'static str> {
        (0..self.columns.len())
            .map(|i| {
                let first = self
                    .rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .find(|c| **c != Cell::Empty);
                match first {
                    None | Some(Cell::Empty) => "empty",
                    Some(Cell::Num(_) | Cell::Int(_)) => "number",
                    Some(Cell::Text(_)) => "text",
                    Some(Cell::Date(_)) => "date",
                    Some(Cell::Time(_)) => "time",
                }
            })
            .collect()
    }

    /// The table as JSON for Excel: `columns`, their `types` (see [`Table::column_types`]),
    /// `rows`, and `next` when there is a following page.
    pub fn to_json(&self, style: DateStyle) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| Value::Array(r.iter().map(|c| cell_json(c, style)).collect()))
            .collect();
        let mut v = json!({"columns": self.columns, "types": self.column_types(), "rows": rows});
        if let Some(n) = &self.next {
            v["next"] = json!(n);
        }
        v
    }

    /// [`Table::to_json`] written straight to text, row by row, without the whole answer as
    /// a JSON value in between.
    pub fn to_json_string(&self, style: DateStyle) -> String {
        let cells = self.rows.len() * self.columns.len();
        let mut out = Vec::with_capacity(cells * 12 + 128);
        out.extend_from_slice(b"{\"columns\":");
        let _ = serde_json::to_writer(&mut out, &self.columns);
        out.extend_from_slice(b",\"types\":");
        let _ = serde_json::to_writer(&mut out, &self.column_types());
        out.extend_from_slice(b",\"rows\":[");
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            for (j, c) in row.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut out, &cell_json(c, style));
            }
            out.push(b']');
        }
        out.push(b']');
        if let Some(n) = &self.next {
            out.extend_from_slice(b",\"next\":");
            let _ = serde_json::to_writer(&mut out, n);
        }
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Largest integer an f64 (and so Excel) holds exactly.
const MAX_EXACT: i64 = 1 << 53;

/// One cell as JSON.
pub fn cell_json(c: &Cell, style: DateStyle) -> Value {
    match c {
        Cell::Empty => Value::Null,
        Cell::Num(v) if v.is_finite() => json!(v),
        Cell::Num(_) => Value::Null,
        Cell::Int(v) if v.abs() <= MAX_EXACT => json!(v),
        Cell::Int(v) => json!(v.to_string()),
        Cell::Text(s) => json!(s),
        Cell::Date(d) => date_json(*d, style),
        Cell::Time(ns) => time_json(*ns, style),
    }
}

fn system(style: DateStyle) -> DateSystem {
    if style == DateStyle::Serial1904 {
        DateSystem::Date1904
    } else {
        DateSystem::Date1900
    }
}

fn date_json(d: u32, style: DateStyle) -> Value {
    let Ok(day) = TradingDay::from_yyyymmdd(d) else {
        return Value::Null;
    };
    if style == DateStyle::Iso {
        return json!(day.to_string());
    }
    system(style)
        .serial_from_date(day.date())
        .map_or(Value::Null, |s| json!(s))
}

fn time_json(ns: i64, style: DateStyle) -> Value {
    let local = utc_ns_to_new_york(ns);
    if style == DateStyle::Iso {
        // The offset of the instant itself: the repeated autumn hour is −04:00 then −05:00.
        let offset = chrono::FixedOffset::east_opt(new_york_offset_secs(ns));
        let zoned = offset.map(|o| {
            chrono::DateTime::from_timestamp_nanos(ns)
                .with_timezone(&o)
                .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string()
        });
        return zoned.map_or(Value::Null, |s| json!(s));
    }
    system(style)
        .serial_from_datetime(local)
        .map_or(Value::Null, |s| json!(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repeated_autumn_hour_has_its_own_offsets() {
        // 2024-11-03 05:30 and 06:30 UTC are both 01:30 in New York: first daylight time,
        // then standard time. Both used to be labelled −04:00 (the second an hour wrong).
        let t = Table {
            columns: vec!["time".into()],
            rows: vec![
                vec![Cell::Time(1_730_611_800_000_000_000)],
                vec![Cell::Time(1_730_615_400_000_000_000)],
            ],
            next: None,
        };
        let v = t.to_json(DateStyle::Iso);
        assert_eq!(v["rows"][0][0], "2024-11-03T01:30:00.000-04:00");
        assert_eq!(v["rows"][1][0], "2024-11-03T01:30:00.000-05:00");
    }

    #[test]
    fn cells_render_for_excel() {
        let t = Table {
            columns: vec!["date".into(), "time".into(), "px".into(), "id".into()],
            rows: vec![vec![
                Cell::Date(20240612),
                Cell::Time(1_718_199_000_000_000_000), // 2024-06-12 13:30 UTC = 09:30 New York
                Cell::Num(f64::NAN),
                Cell::Int(i64::MAX),
            ]],
            next: None,
        };
        let v = t.to_json(DateStyle::Serial);
        assert_eq!(v["rows"][0][0], json!(45455));
        let serial = v["rows"][0][1].as_f64().unwrap();
        assert!((serial - (45455.0 + 9.5 / 24.0)).abs() < 1e-9, "{serial}");
        assert_eq!(v["rows"][0][2], Value::Null);
        assert_eq!(v["rows"][0][3], json!(i64::MAX.to_string()));
        let text: Value = serde_json::from_str(&t.to_json_string(DateStyle::Serial)).unwrap();
        assert_eq!(text, v);
        let iso = t.to_json(DateStyle::Iso);
        assert_eq!(iso["rows"][0][0], json!("2024-06-12"));
        assert_eq!(iso["rows"][0][1], json!("2024-06-12T09:30:00.000-04:00"));
        assert_eq!(DateStyle::parse("ISO"), Ok(DateStyle::Iso));
        assert!(DateStyle::parse("julian").unwrap_err().contains("julian"));
    }
}
