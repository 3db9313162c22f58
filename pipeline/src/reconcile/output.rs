//! The annotated workbook: the analyst's sheets again (values, dates as date cells in the
//! 1900 date system), every mismatched cell filled light red with a note holding our value,
//! then a "Differences" sheet listing them: sheet, cell, date, field, theirs, ours,
//! difference, symbol.

use std::collections::HashMap;

use calamine::Data;
use rust_xlsxwriter::{Color, Format, Note, Workbook, Worksheet, XlsxError};
use xlfeed_core::DateSystem;

use super::compare::Mark;
use super::read::Book;
use super::{ReconcileError, Summary};

/// Excel's last column (0-based).
const MAX_COL: u32 = 16_383;
/// Excel's last row (0-based).
const MAX_ROW: u32 = 1_048_575;
/// The fill of a mismatched cell.
const MISMATCH_FILL: u32 = 0xFFC7CE;

fn xl(e: XlsxError) -> ReconcileError {
    ReconcileError::Output(e.to_string())
}

/// Writes the annotated workbook.
pub(crate) fn write(
    book: &Book,
    marks: &[Mark],
    summary: &Summary,
) -> Result<Vec<u8>, ReconcileError> {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let plain = Format::new();
    let fill = |f: &Format| f.clone().set_background_color(Color::RGB(MISMATCH_FILL));
    let mut names = Vec::new();
    for (si, sheet) in book.sheets.iter().enumerate() {
        let marked: HashMap<(u32, u32), Option<f64>> = marks
            .iter()
            .filter(|m| m.0 == si)
            .map(|m| ((m.1, m.2), m.3.ours))
            .collect();
        let ws = wb.add_worksheet();
        ws.set_name(&sheet.name).map_err(xl)?;
        names.push(sheet.name.clone());
        let start = sheet.cells.start().unwrap_or((0, 0));
        for (r, c, v) in sheet.cells.used_cells() {
            let (row, col) = (start.0 + r as u32, start.1 + c as u32);
            if row > MAX_ROW || col > MAX_COL {
                continue;
            }
            let ours = marked.get(&(row, col)).copied();
            let base = match v {
                Data::DateTime(d)
                    if super::read::datetime(d)
                        .is_some_and(|t| t.time() == chrono::NaiveTime::MIN) =>
                {
                    &date
                }
                Data::DateTime(_) => &stamp,
                _ => &plain,
            };
            let format = match ours {
                Some(_) => fill(base),
                None => base.clone(),
            };
            write_cell(ws, row, col as u16, v, &format)?;
            if let Some(o) = ours {
                let note = Note::new(note_text(o)).set_author("xlfeed reconcile");
                ws.insert_note(row, col as u16, &note).map_err(xl)?;
            }
        }
        // Mismatched cells that were empty in their sheet.
        for m in marks.iter().filter(|m| m.0 == si) {
            if matches!(sheet.at(m.1, m.2), Data::Empty) && m.2 <= MAX_COL && m.1 <= MAX_ROW {
                ws.write_blank(m.1, m.2 as u16, &fill(&plain)).map_err(xl)?;
                let note = Note::new(note_text(m.3.ours)).set_author("xlfeed reconcile");
                ws.insert_note(m.1, m.2 as u16, &note).map_err(xl)?;
            }
        }
    }
    let mut name = "Differences".to_owned();
    let mut n = 2;
    while names.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
        name = format!("Differences ({n})");
        n += 1;
    }
    let ws = wb.add_worksheet();
    ws.set_name(&name).map_err(xl)?;
    let bold = Format::new().set_bold();
    for (c, h) in [
        "sheet",
        "cell",
        "date",
        "field",
        "theirs",
        "ours",
        "difference",
        "symbol",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xl)?;
    }
    for (row, (_, _, _, m)) in (1u32..).zip(marks.iter().take(MAX_ROW as usize)) {
        ws.write_string(row, 0, &m.sheet).map_err(xl)?;
        ws.write_string(row, 1, &m.cell).map_err(xl)?;
        if let Ok(d) = xlfeed_core::datetime::parse_date(&m.date)
            && let Ok(serial) = DateSystem::Date1900.serial_from_date(d.date())
        {
            ws.write_number_with_format(row, 2, serial as f64, &date)
                .map_err(xl)?;
        }
        ws.write_string(row, 3, &m.field).map_err(xl)?;
        match (m.theirs, &m.theirs_text) {
            (Some(x), _) => {
                ws.write_number(row, 4, x).map_err(xl)?;
            }
            (None, Some(t)) => {
                ws.write_string(row, 4, t).map_err(xl)?;
            }
            (None, None) => {}
        }
        if let Some(o) = m.ours {
            ws.write_number(row, 5, o).map_err(xl)?;
        }
        if let Some(d) = m.difference {
            ws.write_number(row, 6, d).map_err(xl)?;
        }
        if let Some(s) = &m.symbol {
            ws.write_string(row, 7, s).map_err(xl)?;
        }
    }
    ws.set_freeze_panes(1, 0).map_err(xl)?;
    ws.set_column_width(0, 20).map_err(xl)?;
    ws.set_column_width(2, 12).map_err(xl)?;
    wb.set_properties(
        &rust_xlsxwriter::DocProperties::new()
            .set_title("xlfeed reconcile")
            .set_comment(format!(
                "{} cells compared, {} matched, {} mismatched, {} missing days, {} extra days",
                summary.cells_compared,
                summary.matched,
                summary.mismatched,
                summary.missing_days,
                summary.extra_days
            )),
    );
    wb.save_to_buffer().map_err(xl)
}

/// A mismatched cell's note: our value, or that our answer leaves the cell empty.
fn note_text(ours: Option<f64>) -> String {
    match ours {
        Some(o) => format!("xlfeed: {o}"),
        None => "xlfeed: (empty)".to_owned(),
    }
}

fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    v: &Data,
    format: &Format,
) -> Result<(), ReconcileError> {
    match v {
        Data::Empty => {}
        Data::Float(x) => {
            ws.write_number_with_format(row, col, *x, format)
                .map_err(xl)?;
        }
        Data::Int(i) => {
            ws.write_number_with_format(row, col, *i as f64, format)
                .map_err(xl)?;
        }
        Data::Bool(b) => {
            ws.write_boolean_with_format(row, col, *b, format)
                .map_err(xl)?;
        }
        Data::DateTime(d) => {
            let serial = super::read::datetime(d)
                .and_then(|t| DateSystem::Date1900.serial_from_datetime(t).ok())
                .unwrap_or_else(|| d.as_f64());
            ws.write_number_with_format(row, col, serial, format)
                .map_err(xl)?;
        }
        other => {
            ws.write_string_with_format(row, col, other.to_string(), format)
                .map_err(xl)?;
        }
    }
    Ok(())
}
