//! A workbook being written: sheets holding an Excel Table each, in constant memory mode
//! (each row goes to a temporary file as soon as the next one starts, so a sheet of a
//! million rows costs what one row does), continued on a new sheet past Excel's 1,048,576
//! rows; an "About" sheet; document properties. Every value keeps its Excel type: dates and
//! times are date cells in New York time, numbers are numbers with the format of their
//! column ([`super::columns`]), a missing value is an empty cell.

use std::io::{Seek, Write};
use std::path::Path;

use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, Table as XlTable, TableColumn, Workbook,
    Worksheet, XlsxError,
};
use xlfeed_core::DateSystem;
use xlfeed_core::TradingDay;
use xlfeed_core::calendar::utc_ns_to_new_york;

use super::columns::{Look, column_width};
use super::names::SheetNames;
use crate::error::{ApiError, ApiResult};
use crate::table::{Cell, Table};

/// Rows of a sheet, the header included.
pub(crate) const SHEET_ROWS: u64 = 1_048_576;
/// Data rows of one sheet (its first row is the header).
pub(crate) const SHEET_DATA_ROWS: u64 = SHEET_ROWS - 1;
/// Longest text a cell holds.
const MAX_CELL_TEXT: usize = 32_767;
/// Deflate level of the workbook's parts: most of a big export's time is compression; level
/// 2 writes it about 1.9× as fast as the default 6 for files 28% larger (level 1 is no
/// faster and 80% larger; docs/BENCHMARKS.md).
const ZIP_LEVEL: u8 = 2;
/// Data rows of the largest sheet written as an Excel Table. rust_xlsxwriter keeps an entry
/// for every cell of a Table (to refuse overlapping ones), about 25 bytes a cell whatever the
/// mode, so a bigger sheet gets its header and an autofilter instead, in constant memory.
pub(crate) const TABLE_ROWS: u64 = 100_000;
/// Largest integer a cell holds exactly.
const MAX_EXACT: i64 = 1 << 53;

/// A workbook being written.
pub(crate) struct Book {
    wb: Workbook,
    names: SheetNames,
    header: Format,
    formats: Vec<(Look, Format)>,
    /// The sheets written so far: name and data rows.
    pub(crate) sheets: Vec<(String, u64)>,
    /// Data rows of one sheet ([`SHEET_DATA_ROWS`]; fewer in tests).
    sheet_rows: u64,
    /// Data rows of the largest Table ([`TABLE_ROWS`]; fewer in tests).
    table_rows: u64,
    /// Sheets too big for an Excel Table ([`TABLE_ROWS`]): an autofilter instead.
    pub(crate) plain: Vec<String>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("sheets", &self.sheets)
            .finish()
    }
}

/// Turns a writer error into an API error (a bug or a full disk: the caller sees a 500
/// without details, the log gets them).
pub(crate) fn xl(e: XlsxError) -> ApiError {
    tracing::error!(error = %e, "writing a workbook failed");
    ApiError::new(
        xlfeed_core::ErrorKind::Internal,
        "the workbook could not be written; see the server log",
    )
}

impl Book {
    /// An empty workbook whose sheets spill to temporary files in `tempdir` (the system's
    /// when `None`).
    pub(crate) fn new(tempdir: Option<&Path>) -> ApiResult<Book> {
        let mut wb = Workbook::new();
        wb.set_zip_compression_level(ZIP_LEVEL);
        if let Some(dir) = tempdir {
            wb.set_tempdir(dir).map_err(xl)?;
        }
        let looks = [
            Look::Date,
            Look::Time,
            Look::Price,
            Look::Count,
            Look::Percent,
            Look::Points,
            Look::Fine,
            Look::Id,
        ];
        let formats = looks
            .into_iter()
            .filter_map(|l| l.num_format().map(|f| (l, Format::new().set_num_format(f))))
            .collect();
        Ok(Book {
            wb,
            names: SheetNames::default(),
            header: Format::new().set_bold(),
            formats,
            sheets: Vec::new(),
            sheet_rows: SHEET_DATA_ROWS,
            plain: Vec::new(),
            table_rows: TABLE_ROWS,
        })
    }

    /// The same book with `rows` data rows a sheet (to test continuation sheets).
    #[cfg(test)]
    fn with_sheet_rows(mut self, rows: u64) -> Book {
        self.sheet_rows = rows;
        self
    }

    /// The same book with Tables of `rows` data rows at most.
    #[cfg(test)]
    fn with_table_rows(mut self, rows: u64) -> Book {
        self.table_rows = rows;
        self
    }

    /// Sets the document properties: title, subject, comments, and the as-of time (UTC
    /// nanoseconds) as the creation time.
    pub(crate) fn properties(&mut self, title: &str, comment: &str, as_of_ns: i64) {
        let mut p = DocProperties::new()
            .set_title(title)
            .set_subject("xlfeed market data")
            .set_author("xlserver")
            .set_company("xlfeed")
            .set_category("report")
            .set_keywords("xlfeed, market data")
            .set_comment(comment);
        if let Ok(t) = ExcelDateTime::from_timestamp(as_of_ns.div_euclid(1_000_000_000)) {
            p = p.set_creation_datetime(&t);
        }
        self.wb.set_properties(&p);
    }

    /// Writes `t` as a sheet (more than one past 1,048,575 rows) named after `wanted`;
    /// returns the first sheet's name.
    pub(crate) fn table(&mut self, wanted: &str, t: &Table) -> ApiResult<String> {
        let looks: Vec<Look> = (0..t.columns.len())
            .map(|i| {
                let sample = t
                    .rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .find(|c| **c != Cell::Empty);
                Look::of(&t.columns[i], sample)
            })
            .collect();
        let longest: Vec<usize> = (0..t.columns.len())
            .map(|i| {
                t.rows
                    .iter()
                    .filter_map(|r| match r.get(i) {
                        Some(Cell::Text(s)) => Some(s.chars().count().min(200)),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut w = self.sheet(wanted, &t.columns, &looks, &longest, t.rows.len() as u64)?;
        for r in &t.rows {
            w.row(self, r)?;
        }
        Ok(w.first_name)
    }

    /// Starts a sheet (continued on more as needed) for `rows` data rows of `columns`
    /// shown as `looks`, the longest text of each being `longest` characters.
    pub(crate) fn sheet(
        &mut self,
        wanted: &str,
        columns: &[String],
        looks: &[Look],
        longest: &[usize],
        rows: u64,
    ) -> ApiResult<SheetWriter> {
        let mut w = SheetWriter {
            wanted: wanted.to_owned(),
            columns: columns.to_vec(),
            widths: looks
                .iter()
                .zip(columns)
                .enumerate()
                .map(|(i, (l, c))| column_width(*l, c, longest.get(i).copied().unwrap_or(0)))
                .collect(),
            formats: looks
                .iter()
                .map(|l| {
                    self.formats
                        .iter()
                        .find(|(k, _)| k == l)
                        .map(|(_, f)| f.clone())
                })
                .collect(),
            left: rows,
            index: 0,
            row: 0,
            part: 0,
            first_name: String::new(),
        };
        w.next_sheet(self)?;
        w.first_name = self.sheets.last().map(|s| s.0.clone()).unwrap_or_default();
        Ok(w)
    }

    /// The About sheet: label/value pairs (bold labels, values as cells), then `errors`
    /// (when it has rows) under its header.
    pub(crate) fn about(&mut self, pairs: &[(String, Cell)], errors: &Table) -> ApiResult<String> {
        let name = self.names.name("About");
        let header = self.header.clone();
        let ws = self.wb.add_worksheet();
        ws.set_name(&name).map_err(xl)?;
        let longest = pairs
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(8);
        ws.set_column_width(0, (longest as f64 + 2.0).clamp(10.0, 40.0))
            .map_err(xl)?;
        ws.set_column_width(1, 50).map_err(xl)?;
        for (c, w) in [(2u16, 12.0), (3, 18.0), (4, 10.0), (5, 80.0)] {
            ws.set_column_width(c, w).map_err(xl)?;
        }
        let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
        for (i, (k, v)) in pairs.iter().enumerate() {
            let r = i as u32;
            ws.write_string_with_format(r, 0, k, &header).map_err(xl)?;
            match v {
                Cell::Text(s) if s.len() > 50 => {
                    ws.write_string_with_format(r, 1, clip(s), &wrap)
                        .map_err(xl)?;
                }
                _ => write_cell(ws, r, 1, v, None)?,
            }
        }
        if !errors.rows.is_empty() {
            let top = pairs.len() as u32 + 1;
            for (c, h) in errors.columns.iter().enumerate() {
                ws.write_string_with_format(top, c as u16, h, &header)
                    .map_err(xl)?;
            }
            for (i, row) in errors.rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    write_cell(ws, top + 1 + i as u32, c as u16, cell, None)?;
                }
            }
        }
        self.sheets.push((name.clone(), 0));
        Ok(name)
    }

    /// The sheet called `name`.
    pub(crate) fn worksheet(&mut self, name: &str) -> ApiResult<&mut Worksheet> {
        self.wb.worksheet_from_name(name).map_err(xl)
    }

    /// Makes `name` the sheet Excel opens on.
    pub(crate) fn activate(&mut self, name: &str) -> ApiResult<()> {
        self.worksheet(name)?.set_active(true);
        Ok(())
    }

    /// Writes the workbook to `out`.
    pub(crate) fn save<W: Write + Seek + Send>(mut self, out: W) -> ApiResult<()> {
        self.wb.save_to_writer(out).map_err(xl)
    }
}

/// Writes the rows of one logical sheet, starting a continuation sheet when one is full.
#[derive(Debug)]
pub(crate) struct SheetWriter {
    wanted: String,
    columns: Vec<String>,
    widths: Vec<f64>,
    formats: Vec<Option<Format>>,
    /// Data rows still to come.
    left: u64,
    /// The worksheet's index in the workbook.
    index: usize,
    /// The next row to write on it (1: the first below the header).
    row: u32,
    /// Sheets started.
    part: u32,
    /// The name of the first sheet.
    pub(crate) first_name: String,
}

impl SheetWriter {
    /// Writes one data row. Rows past those announced are an error (a bug).
    pub(crate) fn row(&mut self, book: &mut Book, cells: &[Cell]) -> ApiResult<()> {
        if u64::from(self.row) > book.sheet_rows {
            self.next_sheet(book)?;
        }
        let (index, row) = (self.index, self.row);
        let ws = book.wb.worksheet_from_index(index).map_err(xl)?;
        for (c, cell) in cells.iter().enumerate() {
            let f = self.formats.get(c).and_then(Option::as_ref);
            write_cell(ws, row, c as u16, cell, f)?;
        }
        self.row += 1;
        if let Some(s) = book.sheets.last_mut() {
            s.1 += 1;
        }
        Ok(())
    }

    /// Starts the next sheet of this table: its name, widths, header, frozen first row and
    /// an Excel Table over the rows it will hold.
    fn next_sheet(&mut self, book: &mut Book) -> ApiResult<()> {
        self.part += 1;
        let name = if self.part == 1 {
            book.names.name(&self.wanted)
        } else {
            // `ticks SPY (2)`, cut so that the number stays.
            let suffix = format!(" ({})", self.part);
            let room = super::names::MAX_SHEET_NAME - suffix.len();
            let head: String = self.wanted.chars().take(room).collect();
            book.names.name(&format!("{head}{suffix}"))
        };
        let here = self.left.min(book.sheet_rows);
        self.left -= here;
        let ws = book.wb.add_worksheet_with_constant_memory().map_err(xl)?;
        ws.set_name(&name).map_err(xl)?;
        for (i, w) in self.widths.iter().enumerate() {
            ws.set_column_width(i as u16, *w).map_err(xl)?;
        }
        if !self.columns.is_empty() && here > book.table_rows {
            // Too big for a Table: the header in bold under an autofilter.
            for (i, c) in self.columns.iter().enumerate() {
                ws.write_string_with_format(0, i as u16, c, &book.header)
                    .map_err(xl)?;
            }
            let last_col = (self.columns.len() - 1) as u16;
            ws.autofilter(0, 0, here as u32, last_col).map_err(xl)?;
            book.plain.push(name.clone());
        } else if !self.columns.is_empty() {
            let last_col = (self.columns.len() - 1) as u16;
            // A Table needs a data row: an empty answer keeps one blank row.
            let last_row = here.max(1) as u32;
            let columns: Vec<TableColumn> = self
                .columns
                .iter()
                .map(|c| {
                    TableColumn::new()
                        .set_header(c.clone())
                        .set_header_format(book.header.clone())
                })
                .collect();
            let table = XlTable::new().set_columns(&columns);
            ws.add_table(0, 0, last_row, last_col, &table).map_err(xl)?;
        }
        ws.set_freeze_panes(1, 0).map_err(xl)?;
        self.index = book.wb.worksheets_mut().len() - 1;
        self.row = 1;
        book.sheets.push((name, 0));
        Ok(())
    }
}

/// `s` cut to what a cell holds.
fn clip(s: &str) -> &str {
    if s.len() <= MAX_CELL_TEXT {
        return s;
    }
    let mut end = MAX_CELL_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The Excel serial (1900 date system) of a calendar date `yyyymmdd`.
pub(crate) fn date_serial(d: u32) -> Option<f64> {
    let day = TradingDay::from_yyyymmdd(d).ok()?;
    DateSystem::Date1900
        .serial_from_date(day.date())
        .ok()
        .map(|s| s as f64)
}

/// The Excel serial (1900 date system) of a UTC instant, in New York time.
pub(crate) fn time_serial(ns: i64) -> Option<f64> {
    DateSystem::Date1900
        .serial_from_datetime(utc_ns_to_new_york(ns))
        .ok()
}

/// Writes one cell with its column's format.
pub(crate) fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    format: Option<&Format>,
) -> ApiResult<()> {
    let number = |ws: &mut Worksheet, v: f64| -> ApiResult<()> {
        match format {
            Some(f) => ws.write_number_with_format(row, col, v, f).map_err(xl)?,
            None => ws.write_number(row, col, v).map_err(xl)?,
        };
        Ok(())
    };
    match cell {
        Cell::Empty => {}
        Cell::Num(v) if v.is_finite() => number(ws, *v)?,
        Cell::Num(_) => {}
        Cell::Int(v) if v.abs() <= MAX_EXACT => number(ws, *v as f64)?,
        Cell::Int(v) => {
            ws.write_string(row, col, v.to_string()).map_err(xl)?;
        }
        Cell::Text(s) if s.is_empty() => {}
        Cell::Text(s) => {
            ws.write_string(row, col, clip(s)).map_err(xl)?;
        }
        Cell::Date(d) => {
            if let Some(s) = date_serial(*d) {
                number(ws, s)?;
            }
        }
        Cell::Time(ns) => {
            if let Some(s) = time_serial(*ns) {
                number(ws, s)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};

    fn read(book: Book) -> Xlsx<std::io::Cursor<Vec<u8>>> {
        let mut buf = std::io::Cursor::new(Vec::new());
        book.save(&mut buf).unwrap();
        buf.set_position(0);
        Xlsx::new(buf).unwrap()
    }

    #[test]
    fn a_full_sheet_continues_on_the_next_with_a_table_each() {
        let mut book = Book::new(None).unwrap().with_sheet_rows(10);
        let columns: Vec<String> = ["time", "price", "basis", "note"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let looks = [Look::Time, Look::Price, Look::Text, Look::Text];
        let mut w = book
            .sheet("ticks SPY", &columns, &looks, &[0, 0, 1, 4], 25)
            .unwrap();
        // 2024-06-12 09:30:00.123 New York, then a second apart.
        let t0 = 1_718_199_000_123_000_000i64;
        for i in 0..25i64 {
            let cells = [
                Cell::Time(t0 + i * 1_000_000_000),
                Cell::Num(100.0 + i as f64 / 100.0),
                Cell::Text("C".into()),
                if i % 2 == 0 {
                    Cell::Empty
                } else {
                    Cell::Num(f64::NAN)
                },
            ];
            w.row(&mut book, &cells).unwrap();
        }
        let names: Vec<String> = book.sheets.iter().map(|s| s.0.clone()).collect();
        assert_eq!(names, ["ticks SPY", "ticks SPY (2)", "ticks SPY (3)"]);
        let rows: Vec<u64> = book.sheets.iter().map(|s| s.1).collect();
        assert_eq!(rows, [10, 10, 5]);
        let mut x = read(book);
        x.load_tables().unwrap();
        let mut seen = 0;
        for (i, name) in names.iter().enumerate() {
            let r = x.worksheet_range(name).unwrap();
            assert_eq!(r.get_size(), (1 + rows[i] as usize, 4), "{name}");
            assert_eq!(r.get((0, 0)), Some(&Data::String("time".into())));
            let tables = x.table_names_in_sheet(name);
            assert_eq!(tables.len(), 1, "{name}");
            let table = tables[0].clone();
            let t = x.table_by_name(&table).unwrap();
            assert_eq!(t.columns(), columns.as_slice());
            assert_eq!(t.data().get_size().0, rows[i] as usize, "{name}");
            for row in 1..=rows[i] as usize {
                let Some(Data::DateTime(dt)) = r.get((row, 0)) else {
                    panic!("{name} row {row}: {:?}", r.get((row, 0)));
                };
                let want = time_serial(t0 + seen * 1_000_000_000).unwrap();
                assert!((dt.as_f64() - want).abs() < 1e-9, "{name} row {row}");
                assert_eq!(
                    r.get((row, 1)),
                    Some(&Data::Float(100.0 + seen as f64 / 100.0))
                );
                // Missing values and NaN are empty cells, never text.
                assert_eq!(r.get((row, 3)), Some(&Data::Empty), "{name} row {row}");
                seen += 1;
            }
        }
        assert_eq!(seen, 25);
    }

    #[test]
    fn a_sheet_too_big_for_a_table_gets_an_autofilter() {
        let mut book = Book::new(None).unwrap().with_table_rows(5);
        let t = Table {
            columns: vec!["date".into(), "close".into()],
            rows: (0..6)
                .map(|i| vec![Cell::Date(20240603 + i), Cell::Num(100.0 + f64::from(i))])
                .collect(),
            next: None,
        };
        let name = book.table("big", &t).unwrap();
        let small = book
            .table(
                "small",
                &Table {
                    rows: t.rows[..5].to_vec(),
                    ..t.clone()
                },
            )
            .unwrap();
        assert_eq!(book.plain, std::slice::from_ref(&name));
        let mut buf = std::io::Cursor::new(Vec::new());
        book.save(&mut buf).unwrap();
        let bytes = buf.into_inner();
        let mut x = Xlsx::new(std::io::Cursor::new(bytes.clone())).unwrap();
        x.load_tables().unwrap();
        assert!(x.table_names_in_sheet(&name).is_empty());
        assert_eq!(x.table_names_in_sheet(&small).len(), 1);
        let r = x.worksheet_range(&name).unwrap();
        assert_eq!(r.get((0, 1)), Some(&Data::String("close".into())));
        assert_eq!(r.get((6, 1)), Some(&Data::Float(105.0)));
        // The autofilter covers the header and every row.
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut z.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut xml,
        )
        .unwrap();
        assert!(xml.contains("<autoFilter ref=\"A1:B7\"/>"), "{xml}");
    }

    #[test]
    fn milliseconds_survive_and_long_text_is_cut() {
        let mut book = Book::new(None).unwrap();
        let t = Table {
            columns: vec!["time".into(), "conditions".into()],
            rows: vec![vec![
                Cell::Time(1_718_199_000_999_000_000),
                Cell::Text("x".repeat(40_000)),
            ]],
            next: None,
        };
        let name = book.table("t", &t).unwrap();
        let mut x = read(book);
        let r = x.worksheet_range(&name).unwrap();
        let Some(Data::DateTime(dt)) = r.get((1, 0)) else {
            panic!("{:?}", r.get((1, 0)));
        };
        let ndt = DateSystem::Date1900
            .datetime_from_serial(dt.as_f64())
            .unwrap();
        assert_eq!(
            ndt.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "2024-06-12 09:30:00.999"
        );
        let Some(Data::String(s)) = r.get((1, 1)) else {
            panic!();
        };
        assert_eq!(s.len(), MAX_CELL_TEXT);
    }
}
