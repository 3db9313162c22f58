//! Reading an uploaded workbook: the format from the bytes' magic, the limits checked before
//! anything is inflated into memory, and every sheet as a grid of cells.
//!
//! A zip (xlsx, xlsm, ods) is walked twice before calamine sees it: once for the sizes its
//! directory declares, once inflating every entry into a counter that stops at the limit
//! (a directory can lie). An xlsx or xlsb sheet is read cell by cell, so a sheet that holds
//! two cells a million rows apart is refused by its span, not allocated. calamine reads an
//! ods or xls workbook whole, each sheet as a dense grid, when it opens it: [`ods`] and
//! [`xls`] measure what it would hold first, and refuse the file over the cap. An OLE
//! container holding an `EncryptionInfo` stream is a password-protected xlsx; one holding a
//! workbook is xls. Anything else must be UTF-8 text to be read as CSV.

use std::io::{Cursor, Read};

use calamine::{Data, Dimensions, Range, Reader, Sheets};
use xlfeed_core::{DateSystem, quoted};

use super::{Options, ReconcileError, a1, bad};

mod ods;
mod xls;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const CFB_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
/// Entries of a zipped workbook at most (a real one has a few dozen).
const MAX_ZIP_ENTRIES: usize = 10_000;

/// One sheet, read.
pub(crate) struct Sheet {
    /// Its name.
    pub(crate) name: String,
    /// Its cells; positions are absolute (`get_value((row, col))`).
    pub(crate) cells: Range<Data>,
    /// Its merged regions.
    pub(crate) merged: Vec<Dimensions>,
    /// Formula cells without a cached value: position and formula.
    pub(crate) uncached: Vec<((u32, u32), String)>,
}

impl Sheet {
    /// The cell at absolute `(row, col)` (`Empty` outside the sheet).
    pub(crate) fn at(&self, row: u32, col: u32) -> &Data {
        self.cells.get_value((row, col)).unwrap_or(&Data::Empty)
    }
}

/// A workbook, read and checked.
pub(crate) struct Book {
    /// `xlsx`, `xls`, `ods` or `csv`.
    pub(crate) format: &'static str,
    /// Serial dates count from 1904.
    pub(crate) date1904: bool,
    /// The sheets, in workbook order.
    pub(crate) sheets: Vec<Sheet>,
}

impl Book {
    /// Reads `bytes` within `opts`' limits.
    pub(crate) fn read(bytes: &[u8], opts: &Options) -> Result<Book, ReconcileError> {
        if bytes.is_empty() {
            return Err(bad("the upload is empty: not a spreadsheet"));
        }
        if bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(b"PK\x05\x06") {
            let format = check_zip(bytes, opts.max_uncompressed_bytes)?;
            return read_sheets(bytes, format, opts);
        }
        if bytes.starts_with(CFB_MAGIC) {
            if contains_utf16(bytes, "EncryptionInfo") || contains_utf16(bytes, "EncryptedPackage")
            {
                return Err(bad(
                    "the workbook is password-protected (an encrypted OLE container): \
                     save it without a password",
                ));
            }
            return read_sheets(bytes, "xls", opts);
        }
        read_csv(bytes, opts.max_cells)
    }

    /// 1900 or 1904.
    pub(crate) fn date_system(&self) -> u16 {
        if self.date1904 { 1904 } else { 1900 }
    }

    /// The core crate's date system of this workbook.
    pub(crate) fn dates(&self) -> DateSystem {
        if self.date1904 {
            DateSystem::Date1904
        } else {
            DateSystem::Date1900
        }
    }
}

fn too_large(what: String) -> ReconcileError {
    ReconcileError::TooLarge(what)
}

/// Checks a zip's entries against the limit; answers the workbook format it holds.
fn check_zip(bytes: &[u8], limit: u64) -> Result<&'static str, ReconcileError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        bad(format!(
            "the upload is a damaged or truncated zip, not a readable workbook: {e}"
        ))
    })?;
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(too_large(format!(
            "the zip holds {} entries, more than {MAX_ZIP_ENTRIES}",
            zip.len()
        )));
    }
    let mut declared = 0u64;
    let (mut xlsx, mut ods, mut xlsb) = (false, false, false);
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| bad(format!("the zip's entry {i} cannot be read: {e}")))?;
        if f.encrypted() {
            return Err(bad(
                "the workbook is password-protected (an encrypted zip entry)",
            ));
        }
        declared = declared.saturating_add(f.size());
        match f.name().unwrap_or_default().as_ref() {
            "xl/workbook.xml" => xlsx = true,
            "xl/workbook.bin" => xlsb = true,
            "content.xml" => ods = true,
            _ => {}
        }
    }
    if declared > limit {
        return Err(too_large(format!(
            "the workbook inflates to {declared} bytes, over the {limit}-byte limit"
        )));
    }
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| bad(format!("the zip's entry {i} cannot be read: {e}")))?;
        let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| bad(format!("the zip's entry {} is damaged: {e}", quoted(&name))))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > limit {
                return Err(too_large(format!(
                    "the workbook inflates past the {limit}-byte limit (entry {} \
                     inflates beyond the size its directory declares)",
                    quoted(&name)
                )));
            }
        }
    }
    match (xlsx, xlsb, ods) {
        (true, _, _) => Ok("xlsx"),
        (_, true, _) => Ok("xlsb"),
        (_, _, true) => Ok("ods"),
        _ => Err(bad(
            "the upload is a zip archive but not a workbook (no xl/workbook.xml or content.xml)",
        )),
    }
}

fn contains_utf16(bytes: &[u8], text: &str) -> bool {
    let needle: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    bytes.windows(needle.len()).any(|w| w == needle.as_slice())
}

fn read_sheets(bytes: &[u8], format: &'static str, opts: &Options) -> Result<Book, ReconcileError> {
    let max_cells = opts.max_cells;
    // calamine reads every ods and xls sheet whole, and densely, when the file is opened.
    match format {
        "ods" => ods::check(
            &zip_entry(bytes, "content.xml", opts.max_uncompressed_bytes)?,
            max_cells,
            opts.max_uncompressed_bytes,
        )?,
        "xls" => xls::check(bytes, max_cells, opts.max_uncompressed_bytes)?,
        _ => {}
    }
    let mut book = open(bytes, format)?;
    let names = book.sheet_names();
    let mut cells_total = 0u64;
    let mut sheets = Vec::with_capacity(names.len());
    let mut date1904 = false;
    for name in names {
        let left = (
            max_cells.saturating_sub(cells_total),
            opts.max_uncompressed_bytes,
        );
        let sheet = match &mut book {
            Sheets::Xlsx(x) => {
                date1904 = x.has_1904_epoch();
                let unreadable = |e: calamine::XlsxError| sheet_error(&name, e);
                let mut reader = x.worksheet_cells_reader(&name).map_err(unreadable)?;
                let mut uncached = Vec::new();
                let cells = sparse_cells(&name, left, || {
                    let Some(cell) = reader.next_cell_with_formula().map_err(unreadable)? else {
                        return Ok(None);
                    };
                    let value = Data::from(cell.value);
                    if let (Data::Empty, Some(f)) = (&value, cell.formula.filter(|f| !f.is_empty()))
                    {
                        uncached.push((cell.pos, f));
                    }
                    Ok(Some((cell.pos, value)))
                })?;
                drop(reader);
                let merged = x
                    .merge_cells_by_sheet_name(&name)
                    .map_err(|e| bad(format!("sheet {}: {e}", quoted(&name))))?;
                Sheet {
                    name,
                    cells,
                    merged,
                    uncached,
                }
            }
            Sheets::Xlsb(x) => {
                let unreadable = |e: calamine::XlsbError| sheet_error(&name, e);
                let mut reader = x.worksheet_cells_reader(&name).map_err(unreadable)?;
                let cells = sparse_cells(&name, left, || {
                    let cell = reader.next_cell().map_err(unreadable)?;
                    Ok(cell.map(|c| (c.get_position(), Data::from(c.get_value().clone()))))
                })?;
                Sheet {
                    name,
                    cells,
                    merged: Vec::new(),
                    uncached: Vec::new(),
                }
            }
            other => {
                let cells = other
                    .worksheet_range(&name)
                    .map_err(|e| sheet_error(&name, e))?;
                let merged = match other {
                    Sheets::Xls(x) => x.merge_cells_by_sheet_name(&name).unwrap_or_default(),
                    _ => Vec::new(),
                };
                Sheet {
                    name,
                    cells,
                    merged,
                    uncached: Vec::new(),
                }
            }
        };
        let (h, w) = sheet.cells.get_size();
        cells_total = cells_total.saturating_add((h as u64).saturating_mul(w as u64));
        if cells_total > max_cells {
            return Err(too_large(format!(
                "the workbook has more than {max_cells} cells (sheet {} spans {h} rows × {w} columns)",
                quoted(&sheet.name)
            )));
        }
        sheets.push(sheet);
    }
    Ok(Book {
        format,
        date1904,
        sheets,
    })
}

/// Opens `bytes` with the reader of `format`, so its error is the one shown.
fn open<'a>(
    bytes: &'a [u8],
    format: &'static str,
) -> Result<Sheets<Cursor<&'a [u8]>>, ReconcileError> {
    let cursor = Cursor::new(bytes);
    let opened = match format {
        "xls" => calamine::Xls::new(cursor)
            .map(Sheets::Xls)
            .map_err(|e| e.to_string()),
        "ods" => calamine::Ods::new(cursor)
            .map(Sheets::Ods)
            .map_err(|e| e.to_string()),
        "xlsb" => calamine::Xlsb::new(cursor)
            .map(Sheets::Xlsb)
            .map_err(|e| e.to_string()),
        _ => calamine::Xlsx::new(cursor)
            .map(Sheets::Xlsx)
            .map_err(|e| e.to_string()),
    };
    opened.map_err(|e| {
        if e.to_ascii_lowercase().contains("password") {
            bad("the workbook is password-protected: save it without a password")
        } else {
            bad(format!(
                "the upload is not a readable {format} workbook: {e}"
            ))
        }
    })
}

fn sheet_error(name: &str, e: impl std::fmt::Display) -> ReconcileError {
    let m = e.to_string();
    if m.to_ascii_lowercase().contains("password") {
        bad("the workbook is password-protected: save it without a password")
    } else {
        bad(format!("sheet {} cannot be read: {m}", quoted(name)))
    }
}

/// One entry of a zip already checked by [`check_zip`], read whole (at most `limit` bytes).
fn zip_entry(bytes: &[u8], name: &str, limit: u64) -> Result<Vec<u8>, ReconcileError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("the upload is a damaged zip: {e}")))?;
    let entry = zip.by_name(name).map_err(|e| {
        bad(format!(
            "the workbook has no readable {}: {e}",
            quoted(name)
        ))
    })?;
    let mut out = Vec::new();
    entry
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("the zip's entry {} is damaged: {e}", quoted(name))))?;
    Ok(out)
}

/// A sheet read cell by cell (`next` answers position and value, `None` at the end): refused
/// when its span passes `max_cells` before anything the size of the span is allocated, or
/// when its text passes `max_text` bytes (every cell holds its own copy of a shared string).
fn sparse_cells(
    name: &str,
    (max_cells, max_text): (u64, u64),
    mut next: impl FnMut() -> Result<Option<((u32, u32), Data)>, ReconcileError>,
) -> Result<Range<Data>, ReconcileError> {
    let mut cells = Vec::new();
    let (mut r0, mut c0, mut r1, mut c1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    let mut text = 0u64;
    while let Some(((r, c), value)) = next()? {
        match &value {
            Data::Empty => continue,
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
                text += s.len() as u64;
                if text > max_text {
                    return Err(too_large(format!(
                        "the text of sheet {}'s cells comes to more than the {max_text} bytes \
                         allowed",
                        quoted(name)
                    )));
                }
            }
            _ => {}
        }
        (r0, c0, r1, c1) = (r0.min(r), c0.min(c), r1.max(r), c1.max(c));
        let span = u64::from(r1 - r0 + 1) * u64::from(c1 - c0 + 1);
        if span > max_cells {
            return Err(too_large(format!(
                "sheet {} spans {}:{}, more than the {max_cells} cells allowed",
                quoted(name),
                a1(r0, c0),
                a1(r1, c1)
            )));
        }
        cells.push(calamine::Cell::new((r, c), value));
    }
    Ok(Range::from_sparse(cells))
}

/// CSV: one sheet named after the format; numbers as numbers, everything else as text.
fn read_csv(bytes: &[u8], max_cells: u64) -> Result<Book, ReconcileError> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if text.contains(&0) || std::str::from_utf8(text).is_err() {
        return Err(bad(
            "the upload is not a spreadsheet: not xlsx, xlsm, xls, ods, or CSV text",
        ));
    }
    let delimiter = sniff_delimiter(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text);
    let mut rows: Vec<Vec<Data>> = Vec::new();
    let mut width = 0u64;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad(format!("the CSV cannot be read: {e}")))?;
        // The grid is as wide as the widest line: its span is what memory holds.
        width = width.max(rec.len() as u64);
        if width.saturating_mul(rows.len() as u64 + 1) > max_cells {
            return Err(too_large(format!(
                "the CSV has more than {max_cells} cells ({} lines, {width} fields wide)",
                rows.len() + 1
            )));
        }
        rows.push(
            rec.iter()
                .map(|f| {
                    let t = f.trim();
                    if t.is_empty() {
                        Data::Empty
                    } else if let Ok(x) = t.parse::<f64>() {
                        Data::Float(x)
                    } else {
                        Data::String(t.to_owned())
                    }
                })
                .collect(),
        );
    }
    let mut cells = Vec::new();
    for (r, row) in rows.into_iter().enumerate() {
        for (c, v) in row.into_iter().enumerate() {
            if !matches!(v, Data::Empty) {
                cells.push(calamine::Cell::new((r as u32, c as u32), v));
            }
        }
    }
    Ok(Book {
        format: "csv",
        date1904: false,
        sheets: vec![Sheet {
            name: "csv".to_owned(),
            cells: Range::from_sparse(cells),
            merged: Vec::new(),
            uncached: Vec::new(),
        }],
    })
}

/// `,` unless the first line has more `;` or tabs.
fn sniff_delimiter(text: &[u8]) -> u8 {
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |d: u8| line.iter().filter(|b| **b == d).count();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| (count(*d), *d == b','))
        .unwrap_or(b',')
}

/// A date cell as a date-time (in its workbook's date system).
pub(crate) fn datetime(d: &calamine::ExcelDateTime) -> Option<chrono::NaiveDateTime> {
    let (y, mo, da, h, mi, se, ms) = d.to_ymd_hms_milli();
    chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(da))?.and_hms_milli_opt(
        u32::from(h),
        u32::from(mi),
        u32::from(se),
        u32::from(ms),
    )
}
