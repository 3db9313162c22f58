//! An ods workbook measured from its `content.xml` before calamine reads it.
//!
//! calamine's `Ods` builds every table as a dense grid as soon as the file is opened: a value
//! at A1 and one at XFD1048576 (two cells and a repeated row, a few hundred bytes zipped) is a
//! grid of 17 billion cells, and a repeated cell's text is cloned into every cell it covers.
//! This walks `content.xml` once, step for step as calamine's reader does (the same events of
//! the same XML reader, `number-rows-repeated` and `number-columns-repeated` capped the same
//! way), and adds up what calamine would hold: each table's span from its first to its last
//! cell with a value or a formula, the cells it stores row by row, and the text of its cells
//! as often as they repeat. Where calamine would loop for ever (a file that ends inside a
//! table or a note), this refuses the file.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::escape::unescape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use xlfeed_core::quoted;

use super::super::{ReconcileError, a1, bad};

/// calamine's caps on an ods table.
const MAX_ROWS: u64 = 1_048_576;
const MAX_COLUMNS: u64 = 16_384;

/// Refuses `content` (an ods `content.xml`) if calamine would hold more than `max_cells`
/// cells, or more than `max_text` bytes of text, for all its tables together.
pub(super) fn check(content: &[u8], max_cells: u64, max_text: u64) -> Result<(), ReconcileError> {
    let mut xml = Reader::from_reader(content);
    let config = xml.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    let (mut cells, mut stored, mut text) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(damaged)? {
            Event::Start(e) if e.name() == QName("table:table") => {
                let Some(name) = attr(&e, "table:name")? else {
                    continue;
                };
                let t = table(&mut xml, &name)?;
                cells = cells.saturating_add(t.span());
                stored = stored.saturating_add(t.stored);
                text = text.saturating_add(t.text);
                if cells > max_cells {
                    let (r1, c1) = (t.row_end.saturating_sub(1), t.col_max);
                    return Err(ReconcileError::TooLarge(format!(
                        "sheet {} spans {}:{} ({} rows × {} columns), more than the {max_cells} \
                         cells allowed",
                        quoted(&name),
                        a1(t.row_start as u32, t.col_min as u32),
                        a1(r1 as u32, c1 as u32),
                        t.row_end - t.row_start,
                        (t.col_max + 1).saturating_sub(t.col_min),
                    )));
                }
                if stored > max_cells {
                    return Err(ReconcileError::TooLarge(format!(
                        "sheet {}'s rows hold more than the {max_cells} cells allowed, \
                         repeated as the file says",
                        quoted(&name)
                    )));
                }
                if text > max_text {
                    return Err(ReconcileError::TooLarge(format!(
                        "the text of sheet {}'s cells, repeated as the file says, comes to more \
                         than the {max_text} bytes allowed",
                        quoted(&name)
                    )));
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// What calamine holds for one table.
#[derive(Default)]
struct Table {
    /// Rows from the start of the table, repeats counted (capped as calamine caps them).
    rows: u64,
    /// Rows as calamine's grid counts them: a row past the cap, repeated 0 times, still
    /// takes a row of the grid it reserves.
    at: u64,
    /// The rows with a value or a formula: first, and one past the last (in `at`).
    row_start: u64,
    row_end: u64,
    /// The columns with a value or a formula: first and last (`col_min > col_max`: none).
    col_min: u64,
    col_max: u64,
    /// Cells stored row by row before the grid is built.
    stored: u64,
    /// Bytes of text, each cell's times its repeats.
    text: u64,
}

impl Table {
    fn span(&self) -> u64 {
        if self.col_min > self.col_max {
            return 0;
        }
        (self.row_end - self.row_start).saturating_mul(self.col_max - self.col_min + 1)
    }
}

fn table<R: BufRead>(xml: &mut Reader<R>, name: &str) -> Result<Table, ReconcileError> {
    let mut t = Table {
        col_min: u64::MAX,
        ..Table::default()
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(damaged)? {
            Event::Start(e) if e.name() == QName("table:table-row") => {
                let repeats = count(&e, "table:number-rows-repeated", name)?;
                let repeats = repeats.min(MAX_ROWS - t.rows);
                let (first, last, len, text) = row(xml, name)?;
                if first <= last {
                    if t.col_min > t.col_max {
                        t.row_start = t.at;
                    }
                    t.row_end = t.at + repeats.max(1);
                    (t.col_min, t.col_max) = (t.col_min.min(first), t.col_max.max(last));
                }
                t.rows += repeats;
                t.at = t.at.saturating_add(repeats.max(1));
                t.stored = t.stored.saturating_add(len);
                t.text = t.text.saturating_add(text.saturating_mul(repeats.max(1)));
            }
            Event::End(e) if e.name() == QName("table:table") => return Ok(t),
            Event::Eof => {
                return Err(bad(format!(
                    "the ods file ends inside sheet {}: content.xml is truncated",
                    quoted(name)
                )));
            }
            _ => {}
        }
    }
}

/// One row: its first and last column with a value or a formula, the cells calamine stores
/// for it, and its text.
fn row<R: BufRead>(
    xml: &mut Reader<R>,
    sheet: &str,
) -> Result<(u64, u64, u64, u64), ReconcileError> {
    let (mut first, mut last, mut len, mut text) = (u64::MAX, 0, 0u64, 0u64);
    let mut empty = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(damaged)? {
            Event::Start(e)
                if e.name() == QName("table:table-cell")
                    || e.name() == QName("table:covered-table-cell") =>
            {
                let e = e.into_owned();
                let repeats = count(&e, "table:number-columns-repeated", sheet)?;
                let (filled, bytes) = cell(xml, &e, sheet)?;
                len += empty.min(MAX_COLUMNS - len);
                let n = repeats.min(MAX_COLUMNS - len);
                if filled {
                    if n > 0 {
                        first = first.min(len);
                        last = last.max(len + n - 1);
                    }
                    len += n;
                    text = text.saturating_add(bytes.saturating_mul(n));
                    empty = 0;
                } else {
                    empty = n;
                }
            }
            Event::End(e) if e.name() == QName("table:table-row") => {
                return Ok((first, last, len, text));
            }
            // calamine refuses anything else in a row.
            Event::Eof => return Err(damaged("the file ends inside a row")),
            _ => {}
        }
    }
}

/// One cell, read to its end as calamine reads it: whether it holds a value or a formula,
/// and the bytes of its text.
fn cell<R: BufRead>(
    xml: &mut Reader<R>,
    e: &BytesStart<'_>,
    sheet: &str,
) -> Result<(bool, u64), ReconcileError> {
    // The attributes as calamine's `get_datatype` takes them: the first value wins.
    let (mut valued, mut string, mut error, mut blank) = (false, false, false, false);
    let (mut formula, mut bytes) = (false, 0u64);
    for (key, value) in raw_attrs(e)? {
        match key {
            "office:value" | "office:boolean-value" if !valued => valued = true,
            "office:string-value" | "office:date-value" | "office:time-value" if !valued => {
                valued = true;
                blank = key == "office:string-value" && value.is_empty();
                bytes += value.len() as u64;
            }
            "office:value-type" if !valued => string = value == "string",
            "calcext:value-type" => error = value == "error",
            "table:formula" => {
                formula = true;
                bytes += value.len() as u64;
            }
            _ => {}
        }
    }
    let mut buf = Vec::new();
    if !((!valued && string) || (error && blank)) {
        xml.read_to_end_into(e.name(), &mut buf).map_err(damaged)?;
        return Ok((valued || formula, bytes));
    }
    // The text of the cell is its value: calamine reads up to the first cell end.
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(damaged)? {
            Event::Text(t) => bytes += t.len() as u64,
            Event::GeneralRef(_) => bytes += 4,
            Event::End(e)
                if e.name() == QName("table:table-cell")
                    || e.name() == QName("table:covered-table-cell") =>
            {
                return Ok((true, bytes));
            }
            Event::Start(e) if e.name() == QName("office:annotation") => loop {
                buf.clear();
                match xml.read_event_into(&mut buf).map_err(damaged)? {
                    Event::End(e) if e.name() == QName("office:annotation") => break,
                    Event::Eof => return Err(damaged("the file ends inside a note")),
                    _ => {}
                }
            },
            Event::Start(e) if e.name() == QName("text:s") => {
                bytes = bytes.saturating_add(count(&e, "text:c", sheet)?);
            }
            Event::Start(_) => bytes += 1,
            Event::Eof => return Err(damaged("the file ends inside a cell")),
            _ => {}
        }
    }
}

/// A repeat count (1 when absent).
fn count(e: &BytesStart<'_>, key: &str, sheet: &str) -> Result<u64, ReconcileError> {
    match attr(e, key)? {
        None => Ok(1),
        Some(v) => v.trim().parse().map_err(|_| {
            bad(format!(
                "sheet {}: {key} {} is not a count",
                quoted(sheet),
                quoted(&v)
            ))
        }),
    }
}

/// The first attribute named `key`, unescaped.
fn attr(e: &BytesStart<'_>, key: &str) -> Result<Option<String>, ReconcileError> {
    match raw_attrs(e)?.into_iter().find(|(k, _)| *k == key) {
        None => Ok(None),
        Some((_, v)) => Ok(Some(unescape(v).map_err(damaged)?.into_owned())),
    }
}

/// An element's attributes split as calamine splits them (`key="value"` or `key='value'`,
/// the value up to the next quote), so both read the same attributes.
fn raw_attrs<'a>(e: &'a BytesStart<'_>) -> Result<Vec<(&'a str, &'a str)>, ReconcileError> {
    let mut rest = e.attributes_raw();
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return Ok(attrs);
        }
        let Some((key, after)) = rest.split_once('=') else {
            return Err(damaged("an attribute without a value"));
        };
        let after = after.trim_ascii_start();
        let Some(quote) = after.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            return Err(damaged("an attribute value without quotes"));
        };
        let after = &after[1..];
        let (value, next) = after.split_once(quote).unwrap_or((after, ""));
        attrs.push((key.trim_ascii_end(), value));
        rest = next;
    }
}

fn damaged(e: impl std::fmt::Display) -> ReconcileError {
    bad(format!("the ods content.xml cannot be read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn content(tables: &str) -> Vec<u8> {
        format!(
            r#"<office:document-content><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
        )
        .into_bytes()
    }

    #[test]
    fn rows_past_the_row_cap_still_take_a_row_of_the_grid() {
        // A full sheet of empty rows, then a value at A and XFD, then 2,000 rows with a
        // value at A: calamine repeats those 0 times but reserves a grid row for each.
        let a = r#"<table:table-row><table:table-cell office:value="1"/></table:table-row>"#;
        let t = format!(
            r#"<table:table table:name="T"><table:table-row table:number-rows-repeated="1048576"><table:table-cell/></table:table-row><table:table-row><table:table-cell office:value="1"/><table:table-cell table:number-columns-repeated="16382"/><table:table-cell office:value="1"/></table:table-row>{}</table:table>"#,
            a.repeat(2000)
        );
        let e = check(&content(&t), 20_000_000, 1 << 28).unwrap_err();
        assert!(e.to_string().contains("2001 rows × 16384 columns"), "{e}");
    }

    proptest! {
        /// Whatever content.xml holds, the check answers without panicking.
        #[test]
        fn any_content_is_answered(
            cut in 0usize..600,
            at in 0usize..600,
            byte in any::<u8>(),
        ) {
            let t = r#"<table:table table:name="T"><table:table-row table:number-rows-repeated="3"><table:table-cell office:value-type="string"><text:p>a<text:s text:c="2"/>b</text:p></table:table-cell><table:table-cell table:number-columns-repeated="4" office:value="2" table:formula="of:=1"/></table:table-row></table:table>"#;
            let mut c = content(t);
            if at < c.len() {
                c[at] = byte;
            }
            c.truncate(cut.max(1));
            let _ = check(&c, 100, 1000);
        }
    }
}
