//! Issue 15: reconcile. Workbooks written with rust_xlsxwriter (and CSV) from the daily bars
//! of a real embedded FEED store, reconciled against that store: round trips, one changed
//! cell, the 1904 date system, missing and extra days, tolerances, mappings, and every kind
//! of hostile upload; then the `xlpipeline reconcile` binary end to end. Then the quote and
//! chain shapes: quotes and trades in FEED, a chain in FEED with its IV and Greeks in POST,
//! written as the server's quote and chain workbooks lay them out.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Cursor, Read, Write};

use calamine::{Data, Reader};
use rust_xlsxwriter::{Format, Table, Workbook};
use xlfeed_core::records::DailyBar;
use xlfeed_core::{DateSystem, Nyse, Symbol, TradingDay};
use xlfeed_pipeline::reconcile::{Options, ReconcileError, Stores, Summary, reconcile};
use xlfeed_store::testing::TestStore;
use xlfeed_store::{ChunkKey, Dataset, Kind, Records, Store};

fn day(s: &str) -> TradingDay {
    TradingDay::parse(s).unwrap()
}

/// The bars the store holds: AAPL over June 2024, prices with many decimals.
fn bars() -> Vec<DailyBar> {
    Nyse.trading_days(day("2024-06-03"), day("2024-06-28"))
        .enumerate()
        .map(|(i, d)| {
            let base = 190.0 + (i as f64) * 1.37 + 1.0 / 3.0;
            DailyBar {
                date: d.yyyymmdd(),
                open: base,
                high: base + 2.0625 + 1.0 / 7.0,
                low: base - 1.25 - 1.0 / 9.0,
                close: base + 0.5772156649,
                volume: 40_000_000 + i as i64 * 12_345,
                open_interest: 0,
            }
        })
        .collect()
}

async fn filled_store() -> (TestStore, Store) {
    let t = TestStore::embedded();
    let s = t.open().await;
    let sym = Symbol::parse("AAPL").unwrap();
    let items: Vec<(ChunkKey, Vec<u8>)> = bars()
        .into_iter()
        .map(|b| {
            let key = ChunkKey::new(
                Dataset::Feed,
                Kind::Daily,
                sym.clone(),
                TradingDay::from_yyyymmdd(b.date).unwrap(),
            );
            (key, Records::DailyBars(vec![b]).encode())
        })
        .collect();
    s.put_chunks(items).await.unwrap();
    (t, s)
}

/// How a test workbook differs from the store.
#[derive(Default)]
struct Book {
    date1904: bool,
    sheet: Option<&'static str>,
    /// (row index among data rows, column 1..=5, new value)
    change: Option<(usize, u16, f64)>,
    drop_row: Option<usize>,
    extra_day: Option<&'static str>,
    merge: bool,
    formula_without_value: bool,
}

const HEADER: [&str; 6] = ["date", "open", "high", "low", "close", "volume"];

/// A workbook laid out like xlserver's history report: a sheet `history AAPL` holding an
/// Excel Table (date cells, yyyy-mm-dd), then an About sheet.
fn history_xlsx(b: &Book) -> Vec<u8> {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let ws = wb.add_worksheet();
    ws.set_name(b.sheet.unwrap_or("history AAPL")).unwrap();
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let offset = if b.date1904 { 1462.0 } else { 0.0 };
    let serial =
        |d: TradingDay| DateSystem::Date1900.serial_from_date(d.date()).unwrap() as f64 - offset;
    let mut row = 1u32;
    for (i, bar) in bars().iter().enumerate() {
        if b.drop_row == Some(i) {
            continue;
        }
        let d = TradingDay::from_yyyymmdd(bar.date).unwrap();
        ws.write_number_with_format(row, 0, serial(d), &date)
            .unwrap();
        let values = [bar.open, bar.high, bar.low, bar.close, bar.volume as f64];
        for (c, v) in values.iter().enumerate() {
            let v = match b.change {
                Some((r, col, x)) if r == i && col as usize == c + 1 => x,
                _ => *v,
            };
            ws.write_number(row, c as u16 + 1, v).unwrap();
        }
        row += 1;
    }
    if let Some(extra) = b.extra_day {
        ws.write_number_with_format(row, 0, serial(day(extra)), &date)
            .unwrap();
        for c in 1..=5 {
            ws.write_number(row, c, 1.0).unwrap();
        }
        row += 1;
    }
    if b.formula_without_value {
        ws.write_formula(3, 4, "=B4+1").unwrap();
    }
    if b.merge {
        ws.merge_range(5, 1, 5, 2, "merged", &Format::new())
            .unwrap();
    }
    if !b.merge {
        let columns: Vec<rust_xlsxwriter::TableColumn> = HEADER
            .iter()
            .map(|h| rust_xlsxwriter::TableColumn::new().set_header(*h))
            .collect();
        ws.add_table(0, 0, row - 1, 5, &Table::new().set_columns(&columns))
            .unwrap();
    }
    let about = wb.add_worksheet();
    about.set_name("About").unwrap();
    about.write_string(0, 0, "report").unwrap();
    about.write_string(0, 1, "history").unwrap();
    let mut bytes = wb.save_to_buffer().unwrap();
    if b.date1904 {
        bytes = patch_zip(&bytes, "xl/workbook.xml", |x| {
            x.replacen("<workbookPr", "<workbookPr date1904=\"1\"", 1)
        });
    }
    if b.formula_without_value {
        bytes = patch_zip(&bytes, "xl/worksheets/sheet1.xml", |x| {
            let i = x.find("<f>B4+1</f>").expect("the formula");
            let (head, tail) = x.split_at(i);
            let v_end = tail.find("</v>").expect("its cached value") + 4;
            let v_start = tail.find("<v>").expect("its cached value");
            format!("{head}{}{}", &tail[..v_start], &tail[v_end..])
        });
    }
    bytes
}

/// `bytes` (a zip) with entry `name` rewritten by `f`.
fn patch_zip(bytes: &[u8], name: &str, f: impl Fn(&str) -> String) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let mut e = src.by_index(i).unwrap();
        let entry = e.name().unwrap().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if entry == name {
            let text = String::from_utf8(data).unwrap();
            let patched = f(&text);
            assert_ne!(patched, text, "{name} was not patched");
            data = patched.into_bytes();
        }
        out.start_file(entry, opts).unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

async fn run(bytes: &[u8], opts: &Options) -> Summary {
    let (_t, store) = filled_store().await;
    reconcile(bytes, opts, &store).await.unwrap().summary
}

async fn fails(bytes: &[u8], opts: &Options) -> ReconcileError {
    let (_t, store) = filled_store().await;
    reconcile(bytes, opts, &store).await.unwrap_err()
}

#[tokio::test]
async fn a_history_report_reconciles_with_zero_mismatches() {
    let s = run(&history_xlsx(&Book::default()), &Options::default()).await;
    let days = bars().len() as u64;
    assert_eq!(s.cells_compared, days * 5, "{s:#?}");
    assert_eq!((s.matched, s.mismatched), (days * 5, 0));
    assert_eq!((s.missing_days, s.extra_days), (0, 0));
    assert!(s.all_matched());
    assert_eq!(s.tables.len(), 1, "the About sheet holds no table");
    let t = &s.tables[0];
    assert_eq!(t.sheet, "history AAPL");
    assert_eq!(t.symbol.as_deref(), Some("AAPL"));
    assert_eq!(t.symbol_from, "sheet name");
    assert_eq!(t.range, format!("A1:F{}", days + 1));
    assert_eq!((s.format.as_str(), s.date_system), ("xlsx", 1900));
}

#[tokio::test]
async fn one_changed_cell_is_exactly_one_mismatch_at_its_address() {
    let close = bars()[4].close;
    let b = Book {
        change: Some((4, 4, close + 0.01)),
        ..Book::default()
    };
    let opts = Options {
        want_xlsx: true,
        ..Options::default()
    };
    let (_t, store) = filled_store().await;
    let out = reconcile(&history_xlsx(&b), &opts, &store).await.unwrap();
    let s = &out.summary;
    assert_eq!(s.mismatched, 1, "{s:#?}");
    let m = &s.mismatches[0];
    assert_eq!((m.sheet.as_str(), m.cell.as_str()), ("history AAPL", "E6"));
    assert_eq!((m.field.as_str(), m.date.as_str()), ("close", "2024-06-07"));
    assert_eq!(m.ours, Some(close));
    assert!((m.difference.unwrap() - 0.01).abs() < 1e-9);

    // The annotated workbook: the sheet again with the cell noted, and the Differences.
    let xlsx = out.xlsx.unwrap();
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(xlsx.clone())).unwrap();
    assert_eq!(
        book.sheet_names(),
        vec!["history AAPL", "About", "Differences"]
    );
    let copy = book.worksheet_range("history AAPL").unwrap();
    assert!(matches!(copy.get_value((1, 0)), Some(Data::DateTime(_))));
    assert_eq!(copy.get_value((5, 4)), Some(&Data::Float(close + 0.01)));
    let diff = book.worksheet_range("Differences").unwrap();
    let row: Vec<String> = (0..7)
        .map(|c| diff.get_value((1, c)).unwrap().to_string())
        .collect();
    assert_eq!(row[..2], ["history AAPL".to_owned(), "E6".to_owned()]);
    assert_eq!(row[3], "close");
    assert_eq!(diff.get_value((1, 5)), Some(&Data::Float(close)));
    let mut zip = zip::ZipArchive::new(Cursor::new(xlsx.clone())).unwrap();
    let mut comments = String::new();
    zip.by_name("xl/comments1.xml")
        .unwrap()
        .read_to_string(&mut comments)
        .unwrap();
    assert!(comments.contains(&format!("xlfeed: {close}")), "{comments}");
    assert!(comments.contains("E6"), "{comments}");

    // Our own output reconciled again finds exactly that cell (Differences is no table).
    let again = reconcile(&xlsx, &Options::default(), &store).await.unwrap();
    assert_eq!(again.summary.mismatched, 1, "{:#?}", again.summary);
    assert_eq!(again.summary.mismatches[0].cell, "E6");
    assert_eq!(again.summary.tables.len(), 1);
}

#[tokio::test]
async fn a_1904_date_system_copy_still_matches() {
    let b = Book {
        date1904: true,
        ..Book::default()
    };
    let s = run(&history_xlsx(&b), &Options::default()).await;
    assert_eq!(s.date_system, 1904);
    assert_eq!(s.mismatched, 0, "{s:#?}");
    assert_eq!((s.missing_days, s.extra_days), (0, 0), "{s:#?}");
    assert_eq!(s.cells_compared, bars().len() as u64 * 5);
}

#[tokio::test]
async fn missing_and_extra_days_are_counted_and_named() {
    let b = Book {
        drop_row: Some(3),
        extra_day: Some("2024-07-01"),
        ..Book::default()
    };
    let s = run(&history_xlsx(&b), &Options::default()).await;
    assert_eq!(
        (s.missing_days, s.extra_days, s.mismatched),
        (1, 1, 0),
        "{s:#?}"
    );
    assert_eq!(s.missing[0].date, "2024-06-06");
    assert_eq!(s.extra[0].date, "2024-07-01");
    assert_eq!(
        s.extra[0].cell.as_deref(),
        Some(&*format!("A{}", bars().len() + 1))
    );
    assert!(!s.all_matched());
}

#[tokio::test]
async fn tolerances_absolute_and_relative() {
    let close = bars()[2].close;
    let b = Book {
        change: Some((2, 4, close + 0.004)),
        ..Book::default()
    };
    let x = history_xlsx(&b);
    assert_eq!(run(&x, &Options::default()).await.mismatched, 1);
    let abs = Options::from_pairs([("abs_tol", "0.005")]).unwrap();
    assert_eq!(run(&x, &abs).await.mismatched, 0);
    let tight = Options::from_pairs([("abs_tol", "0.003")]).unwrap();
    assert_eq!(run(&x, &tight).await.mismatched, 1);
    let rel = Options::from_pairs([("rel_tol", "0.0001")]).unwrap();
    assert_eq!(run(&x, &rel).await.mismatched, 0);
}

#[tokio::test]
async fn csv_with_a_mapping_and_a_symbol_parameter() {
    let mut csv = String::from("Trade Date;Px Close;Px Open\n");
    for b in bars() {
        let d = TradingDay::from_yyyymmdd(b.date).unwrap();
        csv.push_str(&format!("{d};{};{}\n", b.close, b.open));
    }
    let opts = Options::from_pairs([
        ("symbol", "AAPL"),
        ("map", "Trade Date:date,Px Close:close"),
    ])
    .unwrap();
    let s = run(csv.as_bytes(), &opts).await;
    assert_eq!(s.format, "csv");
    assert_eq!(s.tables[0].fields, vec!["close"]);
    assert_eq!(s.tables[0].symbol_from, "parameter");
    assert_eq!((s.cells_compared, s.mismatched), (bars().len() as u64, 0));
    // Without the mapping nothing in it is a table.
    let e = fails(csv.as_bytes(), &Options::default()).await;
    assert!(e.to_string().contains("no recognisable table"), "{e}");
}

#[tokio::test]
async fn a_symbol_column_gives_each_rows_symbol() {
    let mut csv = String::from("symbol,date,close\n");
    for b in bars() {
        let d = TradingDay::from_yyyymmdd(b.date).unwrap();
        csv.push_str(&format!("aapl,{d},{}\n", b.close));
    }
    let s = run(csv.as_bytes(), &Options::default()).await;
    assert_eq!(s.tables[0].symbol_from, "column A1");
    assert_eq!(s.mismatched, 0, "{s:#?}");
}

#[track_caller]
fn bad_input(e: &ReconcileError, words: &str) {
    assert!(matches!(e, ReconcileError::BadInput(_)), "{e:?}");
    assert!(e.to_string().contains(words), "{words:?} not in {e}");
}

#[tokio::test]
async fn hostile_uploads_are_refused_naming_the_problem() {
    let opts = Options::default();
    // Not a spreadsheet.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    bad_input(&fails(png, &opts).await, "not a spreadsheet");
    bad_input(&fails(b"", &opts).await, "empty");
    // A truncated xlsx.
    let x = history_xlsx(&Book::default());
    bad_input(&fails(&x[..x.len() / 2], &opts).await, "truncated");
    // Password-protected: an OLE container holding EncryptionInfo.
    let mut cfb = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    cfb.resize(1024, 0);
    cfb.extend("EncryptionInfo".encode_utf16().flat_map(u16::to_le_bytes));
    cfb.resize(4096, 0);
    bad_input(&fails(&cfb, &opts).await, "password-protected");
    // An OLE container that is not a workbook.
    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(2048, 0);
    bad_input(&fails(&ole, &opts).await, "not a readable xls workbook");
    // A formula without a cached value in the table.
    let f = Book {
        formula_without_value: true,
        ..Book::default()
    };
    let e = fails(&history_xlsx(&f), &opts).await;
    bad_input(&e, "E4");
    bad_input(&e, "without a cached value");
    // Merged cells in the table.
    let m = Book {
        merge: true,
        ..Book::default()
    };
    let e = fails(&history_xlsx(&m), &opts).await;
    bad_input(&e, "merged cells B6:C6");
    // No table.
    let mut wb = Workbook::new();
    wb.add_worksheet().write_string(0, 0, "hello").unwrap();
    let e = fails(&wb.save_to_buffer().unwrap(), &opts).await;
    bad_input(&e, "no recognisable table");
    // A zip that is not a workbook.
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    z.start_file("a.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"hi").unwrap();
    let z = z.finish().unwrap().into_inner();
    bad_input(&fails(&z, &opts).await, "not a workbook");
    // No symbol anywhere.
    let s = Book {
        sheet: Some("prices"),
        ..Book::default()
    };
    bad_input(
        &fails(&history_xlsx(&s), &opts).await,
        "does not say which symbol",
    );
}

#[tokio::test]
async fn a_zip_bomb_is_refused_by_its_uncompressed_size() {
    // 64 MB of zeros in a zip of well under a megabyte.
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file("xl/workbook.xml", o).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        z.write_all(&zeros).unwrap();
    }
    let bomb = z.finish().unwrap().into_inner();
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let opts = Options {
        max_uncompressed_bytes: 16 << 20,
        ..Options::default()
    };
    let e = fails(&bomb, &opts).await;
    assert!(matches!(e, ReconcileError::TooLarge(_)), "{e:?}");
    assert!(e.to_string().contains("16777216-byte limit"), "{e}");
    // The same bomb whose headers claim 1,000 bytes: refused all the same, never inflated
    // past the limit.
    let mut liar = bomb.clone();
    let local = liar.windows(4).position(|w| w == b"PK\x03\x04").unwrap();
    liar[local + 22..local + 26].copy_from_slice(&1000u32.to_le_bytes());
    let central = liar.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    liar[central + 24..central + 28].copy_from_slice(&1000u32.to_le_bytes());
    let e = fails(&liar, &opts).await;
    assert!(
        matches!(&e, ReconcileError::TooLarge(_))
            || matches!(&e, ReconcileError::BadInput(m) if m.contains("damaged")),
        "{e:?}"
    );
    // Too many cells.
    let opts = Options {
        max_cells: 50,
        ..Options::default()
    };
    let e = fails(&history_xlsx(&Book::default()), &opts).await;
    assert!(matches!(e, ReconcileError::TooLarge(_)), "{e:?}");
    // A CSV whose grid (lines × widest line) passes the limit, however few its fields.
    let mut csv = vec![b','; 40];
    csv.extend(b"\n".repeat(20));
    csv.extend(b"x\n");
    let e = fails(&csv, &opts).await;
    assert!(matches!(e, ReconcileError::TooLarge(_)), "{e:?}");
    assert!(e.to_string().contains("41 fields wide"), "{e}");
}

/// An ods file (mimetype stored first, content.xml, the manifest) whose spreadsheet body is
/// `tables`.
fn ods(tables: &str) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file("mimetype", stored).unwrap();
    z.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    z.start_file("content.xml", deflated).unwrap();
    write!(
        z,
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
    )
    .unwrap();
    z.start_file("META-INF/manifest.xml", deflated).unwrap();
    z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#).unwrap();
    z.finish().unwrap().into_inner()
}

/// An ods table: a number at A1, `gap` empty rows, then a number in column XFD.
fn far_apart(name: &str, gap: u32) -> String {
    format!(
        r#"<table:table table:name="{name}"><table:table-row><table:table-cell office:value-type="float" office:value="1"/></table:table-row><table:table-row table:number-rows-repeated="{gap}"><table:table-cell/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="16383"/><table:table-cell office:value-type="float" office:value="2"/></table:table-row></table:table>"#
    )
}

/// A BIFF record.
fn biff(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut r = typ.to_le_bytes().to_vec();
    r.extend((data.len() as u16).to_le_bytes());
    r.extend(data);
    r
}

/// A BIFF8 NUMBER record.
fn number(row: u16, col: u16, v: f64) -> Vec<u8> {
    let mut d = [row.to_le_bytes(), col.to_le_bytes(), [0, 0]].concat();
    d.extend(v.to_le_bytes());
    biff(0x0203, &d)
}

/// A BIFF8 DIMENSIONS record: rows `rf..rl`, columns `cf..cl`.
fn dimensions(rf: u32, rl: u32, cf: u16, cl: u16) -> Vec<u8> {
    let d = [
        &rf.to_le_bytes()[..],
        &rl.to_le_bytes(),
        &cf.to_le_bytes(),
        &cl.to_le_bytes(),
        &[0, 0],
    ]
    .concat();
    biff(0x0200, &d)
}

/// An xls file: one sheet "S" holding `records` (between its BOF and EOF), in a
/// Workbook stream of 512-byte sectors; `fat` rewrites the allocation table.
fn xls(records: &[u8], fat: impl Fn(&mut Vec<u32>)) -> Vec<u8> {
    xls_with(&[], records, fat)
}

/// [`xls`] with `globals` (records) in the workbook globals.
fn xls_with(globals: &[u8], records: &[u8], fat: impl Fn(&mut Vec<u32>)) -> Vec<u8> {
    let bof = |dt: u16| biff(0x0809, &[&[0, 6][..], &dt.to_le_bytes(), &[0; 12]].concat());
    let globals_len = 20 + globals.len() + (4 + 9) + 4;
    let mut sheet = [0u8; 9];
    sheet[..4].copy_from_slice(&(globals_len as u32).to_le_bytes());
    sheet[6..9].copy_from_slice(&[1, 0, b'S']);
    let mut stream = [
        bof(0x0005),
        globals.to_vec(),
        biff(0x0085, &sheet),
        biff(0x000A, &[]),
    ]
    .concat();
    assert_eq!(stream.len(), globals_len);
    stream.extend([bof(0x0010), records.to_vec(), biff(0x000A, &[])].concat());
    // At least 4096 bytes: out of the mini stream.
    let stream_len = stream.len().max(4096);
    stream.resize(stream_len.div_ceil(512) * 512, 0);
    let n = stream.len() / 512;
    let le = |v: u32| v.to_le_bytes();
    let mut header = vec![0u8; 512];
    header[..8].copy_from_slice(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    header[24..34].copy_from_slice(&[0x3E, 0, 3, 0, 0xFE, 0xFF, 9, 0, 6, 0]);
    header[44..48].copy_from_slice(&le(1)); // one FAT sector: sector 0
    header[48..52].copy_from_slice(&le(1)); // the directory: sector 1
    header[56..60].copy_from_slice(&le(4096));
    header[60..64].copy_from_slice(&le(0xFFFF_FFFE));
    header[68..72].copy_from_slice(&le(0xFFFF_FFFE));
    for i in 0..109 {
        let id = if i == 0 { 0 } else { 0xFFFF_FFFF };
        header[76 + 4 * i..80 + 4 * i].copy_from_slice(&le(id));
    }
    let mut chain = vec![0xFFFF_FFFD, 0xFFFF_FFFE];
    chain.extend((0..n as u32).map(|i| {
        if i + 1 == n as u32 {
            0xFFFF_FFFE
        } else {
            3 + i
        }
    }));
    chain.resize(128, 0xFFFF_FFFF);
    fat(&mut chain);
    let fat: Vec<u8> = chain.iter().flat_map(|v| v.to_le_bytes()).collect();
    let entry = |name: &str, typ: u8, child: u32, start: u32, len: u32| {
        let mut e = vec![0u8; 128];
        let units: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        e[..units.len()].copy_from_slice(&units);
        e[64..66].copy_from_slice(&(units.len() as u16 + 2).to_le_bytes());
        e[66] = typ;
        e[67] = 1;
        e[68..80].copy_from_slice(&[le(0xFFFF_FFFF), le(0xFFFF_FFFF), le(child)].concat());
        e[116..120].copy_from_slice(&le(start));
        e[120..124].copy_from_slice(&le(len));
        e
    };
    let mut dir = [
        entry("Root Entry", 5, 1, 0xFFFF_FFFE, 0),
        entry("Workbook", 2, 0xFFFF_FFFF, 2, stream_len as u32),
    ]
    .concat();
    dir.resize(512, 0);
    [header, fat, dir, stream].concat()
}

#[track_caller]
fn too_large(e: &ReconcileError, words: &str) {
    assert!(matches!(e, ReconcileError::TooLarge(_)), "{e:?}");
    assert!(e.to_string().contains(words), "{words:?} not in {e}");
}

/// Refused, and quickly: never allocated, never looped on.
#[track_caller]
fn refused(bytes: &[u8], opts: &Options) -> ReconcileError {
    let t = std::time::Instant::now();
    let e = xlfeed_pipeline::reconcile::read_workbook(bytes, opts).unwrap_err();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    e
}

#[test]
fn issue15_hostile_ods_files_are_refused_by_what_calamine_would_hold() {
    let opts = Options::default();
    // A well-formed ods is read.
    let small = ods(&far_apart("S", 1));
    let (format, _, sheets) = xlfeed_pipeline::reconcile::read_workbook(&small, &opts).unwrap();
    assert_eq!((format.as_str(), sheets), ("ods", vec!["S".to_owned()]));
    let real = include_bytes!("fixtures/import/curves.ods");
    xlfeed_pipeline::reconcile::read_workbook(real, &opts).unwrap();
    // A1 and XFD1048576: 17 billion cells in under a kilobyte.
    let full = ods(&far_apart("S", 1_048_574));
    assert!(full.len() < 1024, "{}", full.len());
    let e = refused(&full, &opts);
    too_large(
        &e,
        r#"sheet "S" spans A1:XFD1048576 (1048576 rows × 16384 columns)"#,
    );
    // Each table under the cap, together over it (calamine holds them all at once).
    let two = ods(&[far_apart("S0", 700), far_apart("S1", 700)].concat());
    too_large(&refused(&two, &opts), r#"sheet "S1" spans A1:XFD702"#);
    // A repeated string is a copy in every cell it covers: 16,384 × 1,024 × 20 kB.
    let text = "x".repeat(20_000);
    let wide = format!(
        r#"<table:table table:name="T"><table:table-row table:number-rows-repeated="1024"><table:table-cell table:number-columns-repeated="16384" office:value-type="string"><text:p>{text}</text:p></table:table-cell></table:table-row></table:table>"#
    );
    too_large(
        &refused(&ods(&wide), &opts),
        r#"the text of sheet "T"'s cells"#,
    );
    // Four billion spaces in one cell.
    let spaces = r#"<table:table table:name="T"><table:table-row><table:table-cell office:value-type="string"><text:p><text:s text:c="4000000000"/></text:p></table:table-cell></table:table-row></table:table>"#;
    too_large(&refused(&ods(spaces), &opts), "bytes allowed");
    // A content.xml that ends inside a table or a note: calamine would wait for its end
    // for ever.
    let open =
        r#"<table:table table:name="T"><table:table-row><table:table-cell/></table:table-row>"#;
    bad_input(&refused(&ods(open), &opts), "truncated");
    let note = r#"<table:table table:name="T"><table:table-row><table:table-cell office:value-type="string"><office:annotation><text:p>n</text:p>"#;
    bad_input(&refused(&ods(note), &opts), "ends inside a note");
}

#[test]
fn issue15_hostile_xls_files_are_refused_before_calamine_allocates() {
    let opts = Options::default();
    // A well-formed xls is read.
    let ok = xls(
        &[dimensions(0, 3, 0, 2), number(0, 0, 1.0), number(2, 1, 2.0)].concat(),
        |_| {},
    );
    let (format, _, sheets) = xlfeed_pipeline::reconcile::read_workbook(&ok, &opts).unwrap();
    assert_eq!((format.as_str(), sheets), ("xls", vec!["S".to_owned()]));
    let real = include_bytes!("fixtures/import/curves.xls");
    xlfeed_pipeline::reconcile::read_workbook(real, &opts).unwrap();
    // A1 and the last row of column 65,536: a grid of 4 billion cells (137 GB).
    let far = xls(
        &[number(0, 0, 1.0), number(65535, 65535, 2.0)].concat(),
        |_| {},
    );
    assert!(far.len() < 8192, "{}", far.len());
    too_large(&refused(&far, &opts), r#"sheet "S" spans A1:CRXP65536"#);
    // A used range of 4 billion rows declared: calamine reserves it before any cell.
    let declared = xls(&dimensions(0, u32::MAX, 0, 0xFFFF), |_| {});
    too_large(&refused(&declared, &opts), "DIMENSIONS");
    // A used range that ends before it starts: calamine's arithmetic wraps.
    let inverted = xls(&dimensions(5, 1, 0, 1), |_| {});
    bad_input(&refused(&inverted, &opts), "ends before it starts");
    // A directory chain that loops: calamine would follow it for ever.
    let looping = xls(&number(0, 0, 1.0), |fat| fat[1] = 1);
    bad_input(&refused(&looping, &opts), "loops");
    // One 8,000-character shared string in 100 cells of 10 bytes each: every cell holds a
    // copy.
    let mut sst = [1u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
    sst.extend([&8000u16.to_le_bytes()[..], &[0], &[b'z'; 8000]].concat());
    let label = |r: u16, c: u16| {
        biff(
            0x00FD,
            &[
                &r.to_le_bytes()[..],
                &c.to_le_bytes(),
                &[0, 0],
                &0u32.to_le_bytes(),
            ]
            .concat(),
        )
    };
    let cells: Vec<u8> = (0..100).flat_map(|i| label(i / 10, i % 10)).collect();
    let shared = xls_with(&biff(0x00FC, &sst), &cells, |_| {});
    let small = Options {
        max_uncompressed_bytes: 1 << 20,
        ..Options::default()
    };
    too_large(
        &refused(&shared, &small),
        r#"the text of sheet "S"'s cells"#,
    );
    let (_, _, sheets) = xlfeed_pipeline::reconcile::read_workbook(&shared, &opts).unwrap();
    assert_eq!(sheets, ["S"]);
    // A stream chain that points past the end of the file.
    let outside = xls(&number(0, 0, 1.0), |fat| fat[2] = 1000);
    bad_input(&refused(&outside, &opts), "not a readable xls workbook");
}

#[test]
fn issue15_a_shared_string_repeated_in_many_cells_counts_once_per_cell() {
    let text = "y".repeat(10_000);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for r in 0..200 {
        ws.write_string(r, 0, &text).unwrap();
    }
    let bytes = wb.save_to_buffer().unwrap();
    let opts = Options {
        max_uncompressed_bytes: 1 << 20,
        ..Options::default()
    };
    too_large(&refused(&bytes, &opts), "the text of sheet");
}

#[test]
fn the_reconcile_binary_prints_the_summary_and_exits_by_the_outcome() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (t, store) = rt.block_on(filled_store());
    drop(store);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.xlsx");
    std::fs::write(&good, history_xlsx(&Book::default())).unwrap();
    let changed = dir.path().join("changed.xlsx");
    let b = Book {
        change: Some((0, 1, 1.0)),
        ..Book::default()
    };
    std::fs::write(&changed, history_xlsx(&b)).unwrap();
    let junk = dir.path().join("junk.xlsx");
    std::fs::write(&junk, b"\0\x01\x02 not a workbook").unwrap();
    let url = t.url();
    let run = |args: &[&str]| {
        let out = common::xlpipeline(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["reconcile", "--store", &url, good.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["mismatched"], 0);
    assert_eq!(v["cells_compared"], bars().len() as u64 * 5);

    let report = dir.path().join("report.xlsx");
    let (code, stdout, stderr) = run(&[
        "reconcile",
        "--store",
        &url,
        changed.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["mismatches"][0]["cell"], "B2");
    assert!(std::fs::metadata(&report).unwrap().len() > 0);

    let (code, _, stderr) = run(&["reconcile", "--store", &url, junk.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a spreadsheet"), "{stderr}");

    let (code, _, stderr) = run(&[
        "reconcile",
        "--store",
        &url,
        good.to_str().unwrap(),
        "--abs-tol=-1",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("\"-1\""), "{stderr}");
}

/// The benchmark's workload: 100,000 rows (20 symbols × 5,000 days, a symbol column) written
/// as xlsx, reconciled against a store holding the same bars. Prints the time taken; run
/// with `cargo test --release -p xlfeed-pipeline --test reconcile -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a timing, not a check: run by hand"]
async fn reconcile_of_100k_rows_timing() {
    let t = TestStore::embedded();
    let store = t.open().await;
    let days: Vec<TradingDay> = Nyse
        .trading_days(day("1995-01-03"), day("2024-12-31"))
        .take(5_000)
        .collect();
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let ws = wb.add_worksheet();
    for (c, h) in ["symbol", "date", "open", "high", "low", "close", "volume"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    let mut row = 1u32;
    for s in 0..20 {
        let sym = Symbol::parse(&format!("SYM{s}")).unwrap();
        let mut items = Vec::new();
        for (i, d) in days.iter().enumerate() {
            let base = 10.0 + s as f64 + i as f64 / 7.0;
            let b = DailyBar {
                date: d.yyyymmdd(),
                open: base,
                high: base + 0.5,
                low: base - 0.5,
                close: base + 0.125,
                volume: 1_000 + i as i64,
                open_interest: 0,
            };
            ws.write_string(row, 0, sym.as_str()).unwrap();
            let serial = DateSystem::Date1900.serial_from_date(d.date()).unwrap() as f64;
            ws.write_number_with_format(row, 1, serial, &date).unwrap();
            for (c, v) in [b.open, b.high, b.low, b.close, b.volume as f64]
                .iter()
                .enumerate()
            {
                ws.write_number(row, c as u16 + 2, *v).unwrap();
            }
            row += 1;
            items.push((
                ChunkKey::new(Dataset::Feed, Kind::Daily, sym.clone(), *d),
                Records::DailyBars(vec![b]).encode(),
            ));
        }
        store.put_chunks(items).await.unwrap();
    }
    let bytes = wb.save_to_buffer().unwrap();
    if let Ok(path) = std::env::var("XLFEED_BENCH_XLSX") {
        // The same workbook for the peer (pandas) to read.
        std::fs::write(path, &bytes).unwrap();
    }
    let started = std::time::Instant::now();
    xlfeed_pipeline::reconcile::read_workbook(&bytes, &Options::default()).unwrap();
    println!("reading alone: {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let s = reconcile(&bytes, &Options::default(), &store)
        .await
        .unwrap()
        .summary;
    let took = started.elapsed();
    assert_eq!((s.cells_compared, s.mismatched), (500_000, 0));
    println!(
        "reconcile of {} rows ({} bytes of xlsx): {took:?}",
        row - 1,
        bytes.len()
    );
}

// Quotes and chains ----------------------------------------------------------------------

/// UTC nanoseconds of a New York wall-clock time.
fn ny(local: &str) -> i64 {
    let t = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S%.f").unwrap();
    xlfeed_core::calendar::new_york_to_utc_ns(t).unwrap()
}

/// The Excel serial (1900 date system) of a UTC time in New York, as the server writes times.
fn ny_serial(ns: i64) -> f64 {
    DateSystem::Date1900
        .serial_from_datetime(xlfeed_core::calendar::utc_ns_to_new_york(ns))
        .unwrap()
}

fn quote(time: i64, last: f64) -> xlfeed_core::records::Quote {
    xlfeed_core::records::Quote {
        time,
        last,
        last_size: 100 + (last * 3.0) as i64 % 50,
        bid: last - 0.0125,
        bid_size: 300,
        ask: last + 0.0175,
        ask_size: 200,
        total_volume: 1_000_000 + (last * 1000.0) as i64,
        open: 543.21,
        high: last + 1.5,
        low: 540.125,
        prev_close: 544.0 + 1.0 / 3.0,
    }
}

fn trade(time: i64, price: f64, size: i64) -> xlfeed_core::records::Trade {
    xlfeed_core::records::Trade {
        time,
        price,
        size,
        bid: price - 0.01,
        ask: price + 0.02,
        tick_id: time,
        basis: 'C',
        market_center: 11,
        conditions: xlfeed_core::Conditions::NONE,
    }
}

/// The chain's contracts: SPY calls and puts at 540, 545, 550 for two expiries; the 550 put
/// of the second expiry is not listed.
fn contracts() -> Vec<xlfeed_core::records::OptionContract> {
    let mut out = Vec::new();
    for expiry in [20240705u32, 20240719] {
        for strike in [540.0, 545.0, 550.0] {
            for right in [xlfeed_core::Right::Call, xlfeed_core::Right::Put] {
                if expiry == 20240719 && strike == 550.0 && right == xlfeed_core::Right::Put {
                    continue;
                }
                let r = right.as_char();
                out.push(xlfeed_core::records::OptionContract {
                    symbol: format!("SPY{}{r}{strike}", expiry % 1_000_000),
                    occ: format!(
                        "SPY   {}{r}{:08}",
                        expiry % 1_000_000,
                        (strike * 1000.0) as i64
                    ),
                    underlying: "SPY".into(),
                    expiry,
                    strike,
                    right,
                    multiplier: 100,
                });
            }
        }
    }
    out
}

/// Two trades a contract, except the 545 call of the first expiry, which did not trade.
fn enriched() -> Vec<xlfeed_core::records::EnrichedOptionTrade> {
    let mut out = Vec::new();
    for (i, c) in contracts().iter().enumerate() {
        if c.expiry == 20240705 && c.strike == 545.0 && c.right == xlfeed_core::Right::Call {
            continue;
        }
        for (k, time) in [ny("2024-06-28 10:15:00"), ny("2024-06-28 15:45:00.5")]
            .into_iter()
            .enumerate()
        {
            let x = i as f64 + k as f64 / 3.0;
            out.push(xlfeed_core::records::EnrichedOptionTrade {
                contract: c.symbol.clone(),
                time: time + i as i64,
                price: 2.0 + x / 7.0,
                size: 1 + (i + k) as i64,
                bid: 1.9 + x / 7.0,
                ask: if k == 1 && i == 2 { 0.0 } else { 2.1 + x / 7.0 },
                expiry: c.expiry,
                strike: c.strike,
                right: c.right,
                multiplier: 100,
                underlying_price: Some(545.0 + x / 11.0),
                underlying_mid: None,
                underlying_staleness_ns: 0,
                rate: 0.05,
                rate_curve: "SOFR".into(),
                dividend_yield: 0.013,
                time_to_expiry: 0.02,
                iv: Some(0.11 + x / 100.0),
                delta: Some(0.5 - x / 50.0),
                gamma: Some(0.01 + x / 1000.0),
                vega: Some(0.3 + x / 70.0),
                theta: Some(-0.2 - x / 90.0),
                rho: if i == 4 { None } else { Some(0.04 + x / 300.0) },
                flags: 0,
            });
        }
    }
    out.sort_by_key(|t| t.time);
    out
}

/// POST's daily aggregates of the day: what a whole day's chain answers.
fn dailies() -> Vec<xlfeed_core::records::ContractDaily> {
    let trades = enriched();
    contracts()
        .iter()
        .filter_map(|c| {
            let mine: Vec<_> = trades.iter().filter(|t| t.contract == c.symbol).collect();
            let last = mine.last()?;
            Some(xlfeed_core::records::ContractDaily {
                contract: c.symbol.clone(),
                expiry: c.expiry,
                strike: c.strike,
                right: c.right,
                open: mine[0].price,
                high: last.price,
                low: mine[0].price,
                close: last.price + 0.005,
                volume: mine.iter().map(|t| t.size).sum(),
                trades: mine.len() as i64,
                vwap: last.price,
                iv: last.iv.map(|v| v + 0.001),
                delta: last.delta,
                gamma: last.gamma,
                vega: last.vega,
                theta: last.theta,
                rho: last.rho,
            })
        })
        .collect()
}

/// FEED with SPY's quotes (27 and 28 June), QQQ's trades (no quotes) and SPY's chain of 28
/// June; POST with that chain's trades and daily aggregates.
async fn option_stores() -> (TestStore, TestStore, Stores) {
    let (f, p) = (TestStore::embedded(), TestStore::embedded());
    let (feed, post) = (f.open().await, p.open().await);
    let spy = Symbol::parse("SPY").unwrap();
    let qqq = Symbol::parse("QQQ").unwrap();
    let key = |ds, kind, s: &Symbol, d: &str| ChunkKey::new(ds, kind, s.clone(), day(d));
    feed.put_chunks(vec![
        (
            key(Dataset::Feed, Kind::Quote, &spy, "2024-06-27"),
            Records::Quotes(vec![quote(ny("2024-06-27 15:59:00"), 544.25)]).encode(),
        ),
        (
            key(Dataset::Feed, Kind::Quote, &spy, "2024-06-28"),
            Records::Quotes(vec![
                quote(ny("2024-06-28 10:00:00"), 545.125),
                quote(ny("2024-06-28 12:00:00.000250001"), 546.0 + 1.0 / 7.0),
                quote(ny("2024-06-28 15:59:59.123456789"), 547.75),
            ])
            .encode(),
        ),
        (
            key(Dataset::Feed, Kind::Trade, &qqq, "2024-06-27"),
            Records::Trades(vec![
                trade(ny("2024-06-27 10:00:00"), 480.5, 10),
                trade(ny("2024-06-27 15:59:00"), 481.0 + 1.0 / 3.0, 20),
            ])
            .encode(),
        ),
        (
            key(Dataset::Feed, Kind::Trade, &qqq, "2024-06-28"),
            Records::Trades(vec![
                trade(ny("2024-06-28 09:31:00"), 482.0, 5),
                trade(ny("2024-06-28 11:00:00"), 484.0 + 1.0 / 9.0, 7),
                trade(ny("2024-06-28 15:00:00"), 479.5, 9),
            ])
            .encode(),
        ),
        (
            key(Dataset::Feed, Kind::Chain, &spy, "2024-06-28"),
            Records::Contracts(contracts()).encode(),
        ),
    ])
    .await
    .unwrap();
    post.put_chunks(vec![
        (
            key(Dataset::Post, Kind::EnrichedTrade, &spy, "2024-06-28"),
            Records::EnrichedOptionTrades(enriched()).encode(),
        ),
        (
            key(Dataset::Post, Kind::ContractDaily, &spy, "2024-06-28"),
            Records::ContractDailies(dailies()).encode(),
        ),
    ])
    .await
    .unwrap();
    (
        f,
        p,
        Stores {
            feed,
            post: Some(post),
        },
    )
}

/// A value as the server writes a cell: empty when there is none.
fn put(ws: &mut rust_xlsxwriter::Worksheet, r: u32, c: u16, v: Option<f64>) {
    if let Some(v) = v {
        ws.write_number(r, c, v).unwrap();
    }
}

/// An About sheet as the server writes one: the function and its arguments.
fn about_sheet(wb: &mut Workbook, function: &str, args: &[(&str, &str)]) {
    let about = wb.add_worksheet();
    about.set_name("About").unwrap();
    about.write_string(0, 0, "report").unwrap();
    about
        .write_string(0, 1, format!("xlfeed {function}"))
        .unwrap();
    about.write_string(1, 0, "function").unwrap();
    about.write_string(1, 1, function).unwrap();
    for (i, (k, v)) in args.iter().enumerate() {
        about
            .write_string(2 + i as u32, 0, format!("  {k}"))
            .unwrap();
        about.write_string(2 + i as u32, 1, *v).unwrap();
    }
}

/// A quote workbook as the server writes `/api/v1/quote.xlsx` (a `quote SPY` sheet: the
/// answer's columns, `time` a date-time in New York), then an analyst's sheet `desk` of
/// several symbols, then About with `at` when given. `change` rewrites one cell of the
/// `quote SPY` row: (column, value).
fn quote_xlsx(
    values: &[(&str, xlfeed_analytics::quote::QuoteValues)],
    at: Option<&str>,
    change: Option<(u16, Data)>,
) -> Vec<u8> {
    let fields = xlfeed_analytics::quote::FIELDS;
    let mut wb = Workbook::new();
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss.000");
    let ws = wb.add_worksheet();
    ws.set_name(format!("quote {}", values[0].0)).unwrap();
    for (c, f) in fields.iter().enumerate() {
        ws.write_string(0, c as u16, *f).unwrap();
    }
    let (sym, v) = &values[0];
    for (c, f) in fields.iter().enumerate() {
        let c = c as u16;
        match (&change, *f) {
            (Some((at, Data::Float(x))), _) if *at == c => {
                ws.write_number(1, c, *x).unwrap();
            }
            (Some((at, Data::String(t))), _) if *at == c => {
                ws.write_string(1, c, t).unwrap();
            }
            (Some((at, _)), _) if *at == c => {}
            (_, "symbol") => {
                ws.write_string(1, c, *sym).unwrap();
            }
            (_, "time") => {
                ws.write_number_with_format(1, c, ny_serial(v.time), &stamp)
                    .unwrap();
            }
            (_, f) => put(ws, 1, c, v.number(f)),
        }
    }
    let desk = wb.add_worksheet();
    desk.set_name("desk").unwrap();
    desk.write_string(0, 0, "Quotes as of the close").unwrap();
    for (c, h) in [
        "Ticker",
        "Last",
        "Bid",
        "Ask",
        "Volume",
        "Prev Close",
        "Change Pct",
    ]
    .iter()
    .enumerate()
    {
        desk.write_string(2, c as u16, *h).unwrap();
    }
    for (r, (sym, v)) in values.iter().enumerate() {
        let r = 3 + r as u32;
        desk.write_string(r, 0, sym.to_lowercase()).unwrap();
        for (c, f) in ["last", "bid", "ask", "volume", "prev_close", "change_pct"]
            .iter()
            .enumerate()
        {
            put(desk, r, 1 + c as u16, v.number(f));
        }
    }
    let mut args = vec![("symbol", values[0].0)];
    args.extend(at.map(|a| ("at", a)));
    about_sheet(&mut wb, "quote", &args);
    wb.save_to_buffer().unwrap()
}

/// Our quote of a symbol as of a time, from the rules the server answers with.
fn our_quote(symbol: &str, at: Option<i64>) -> xlfeed_analytics::quote::QuoteValues {
    use xlfeed_analytics::quote as rules;
    let spy = [
        quote(ny("2024-06-28 10:00:00"), 545.125),
        quote(ny("2024-06-28 12:00:00.000250001"), 546.0 + 1.0 / 7.0),
        quote(ny("2024-06-28 15:59:59.123456789"), 547.75),
    ];
    if symbol == "SPY" {
        return rules::from_quotes(&spy, at).unwrap();
    }
    let qqq = [
        trade(ny("2024-06-28 09:31:00"), 482.0, 5),
        trade(ny("2024-06-28 11:00:00"), 484.0 + 1.0 / 9.0, 7),
        trade(ny("2024-06-28 15:00:00"), 479.5, 9),
    ];
    let upto = rules::trades_upto(&qqq, at);
    rules::from_trades(
        upto,
        &rules::summarize(upto).unwrap(),
        Some(481.0 + 1.0 / 3.0),
    )
    .unwrap()
}

#[tokio::test]
async fn a_quote_workbook_reconciles_as_of_its_time() {
    let (_f, _p, stores) = option_stores().await;
    let at = ny("2024-06-28 15:30:00");
    let values = [
        ("SPY", our_quote("SPY", Some(at))),
        ("QQQ", our_quote("QQQ", Some(at))),
    ];
    assert!(
        values[0].1.last < 547.0,
        "SPY as of 15:30, not its last quote"
    );
    // The About sheet's at.
    let x = quote_xlsx(&values, Some("2024-06-28T15:30:00"), None);
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 0, "{s:#?}");
    assert_eq!(s.tables.len(), 2, "{s:#?}");
    let (q, desk) = (&s.tables[0], &s.tables[1]);
    assert_eq!((q.shape.as_str(), q.sheet.as_str()), ("quote", "quote SPY"));
    assert_eq!(q.symbol_from, "column A1");
    assert_eq!(
        q.fields.len(),
        12,
        "every field but the symbol: {:?}",
        q.fields
    );
    assert_eq!(
        q.as_of.as_deref(),
        Some("at 2024-06-28 15:30:00.000 New York (About sheet)")
    );
    assert_eq!(
        (desk.shape.as_str(), desk.range.as_str()),
        ("quote", "A3:G5")
    );
    assert_eq!(desk.symbol_from, "column A3");
    assert_eq!(s.cells_compared, 12 + 2 * 6);
    assert!(s.all_matched());
    // The same time as a parameter, over an About sheet that says otherwise.
    let x = quote_xlsx(&values, Some("2024-06-28T10:30:00"), None);
    let opts = Options::from_pairs([("at", "2024-06-28 15:30")]).unwrap();
    let s = reconcile(&x, &opts, &stores).await.unwrap().summary;
    assert_eq!(s.mismatched, 0, "{s:#?}");
    // Without an at anywhere: the latest quote, which this workbook is not.
    let x = quote_xlsx(&values, None, None);
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.tables[0].as_of.as_deref(), Some("latest"));
    assert!(s.mismatched > 0, "{s:#?}");
    let latest = [
        ("SPY", our_quote("SPY", None)),
        ("QQQ", our_quote("QQQ", None)),
    ];
    let x = quote_xlsx(&latest, None, None);
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 0, "{s:#?}");
}

#[tokio::test]
async fn one_changed_quote_cell_is_exactly_one_mismatch_at_its_address() {
    let (_f, _p, stores) = option_stores().await;
    let at = ny("2024-06-28 15:30:00");
    let values = [
        ("SPY", our_quote("SPY", Some(at))),
        ("QQQ", our_quote("QQQ", Some(at))),
    ];
    // bid is column E.
    let bid = values[0].1.bid;
    let x = quote_xlsx(
        &values,
        Some("2024-06-28T15:30"),
        Some((4, Data::Float(bid + 0.01))),
    );
    let opts = Options {
        want_xlsx: true,
        ..Options::default()
    };
    let out = reconcile(&x, &opts, &stores).await.unwrap();
    let s = &out.summary;
    assert_eq!(s.mismatched, 1, "{s:#?}");
    let m = &s.mismatches[0];
    assert_eq!((m.sheet.as_str(), m.cell.as_str()), ("quote SPY", "E2"));
    assert_eq!((m.field.as_str(), m.date.as_str()), ("bid", "2024-06-28"));
    assert_eq!(m.symbol.as_deref(), Some("SPY"));
    assert_eq!(m.ours, Some(bid));
    assert!((m.difference.unwrap() - 0.01).abs() < 1e-9);
    assert!(out.xlsx.is_some());
    // An emptied cell where we have a value: a mismatch with nothing of theirs.
    let x = quote_xlsx(&values, Some("2024-06-28T15:30"), Some((12, Data::Empty)));
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 1, "{s:#?}");
    assert_eq!(
        (s.mismatches[0].cell.as_str(), s.mismatches[0].theirs),
        ("M2", None)
    );
    // A time a millisecond off.
    let t = ny_serial(values[0].1.time) + 1.0 / 86_400_000.0;
    let x = quote_xlsx(&values, Some("2024-06-28T15:30"), Some((1, Data::Float(t))));
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 1, "{s:#?}");
    assert_eq!(
        (
            s.mismatches[0].cell.as_str(),
            s.mismatches[0].field.as_str()
        ),
        ("B2", "time")
    );
    // An unknown symbol in the desk sheet is an extra row, not a mismatch.
    let values = [values[0], ("IWM", values[1].1)];
    let x = quote_xlsx(&values, Some("2024-06-28T15:30"), None);
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!((s.mismatched, s.extra_days), (0, 1), "{s:#?}");
    assert_eq!(s.extra[0].cell.as_deref(), Some("A5"));
    assert_eq!(s.extra[0].symbol, "IWM");
}

/// The chain's cell of `field` for contract `c`, as the server answers a whole day.
fn our_chain(c: &xlfeed_core::records::OptionContract, field: &str) -> Option<f64> {
    let trades = enriched();
    let days = dailies();
    let a = xlfeed_analytics::chain::activity(Some(trades.as_slice()), Some(days.as_slice()), None);
    a.get(&c.symbol).cloned().unwrap_or_default().number(field)
}

const FLAT: &[&str] = &[
    "contract", "expiry", "strike", "right", "bid", "ask", "last", "volume", "iv", "delta",
    "gamma", "vega", "theta", "rho",
];
const SIDE: &[&str] = &[
    "bid", "ask", "last", "volume", "iv", "delta", "gamma", "vega", "theta",
];

/// A chain workbook as the server writes them: `/api/v1/chain.xlsx` (a `chain SPY` sheet, a
/// row per contract, MKT.CHAIN's default columns), then the chain report's sheets (one per
/// expiry, calls beside puts by strike), then About with the date. `edit` changes the
/// workbook's cells: (sheet index, row, column, cell).
fn chain_xlsx(
    about_date: Option<&str>,
    edit: &[(usize, u32, u16, Data)],
    flat: &[&str],
) -> Vec<u8> {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let serial = |d: u32| {
        DateSystem::Date1900
            .serial_from_date(TradingDay::from_yyyymmdd(d).unwrap().date())
            .unwrap() as f64
    };
    let mut cs = contracts();
    cs.sort_by(|a, b| {
        (a.expiry, a.strike, a.right)
            .partial_cmp(&(b.expiry, b.strike, b.right))
            .unwrap()
    });
    let edits = |wb: &mut Workbook, sheet: usize| {
        let ws = wb.worksheet_from_index(sheet).unwrap();
        for (_, r, c, v) in edit.iter().filter(|e| e.0 == sheet) {
            match v {
                Data::Float(x) => ws.write_number(*r, *c, *x).unwrap(),
                Data::String(t) => ws.write_string(*r, *c, t).unwrap(),
                _ => ws.write_blank(*r, *c, &Format::new()).unwrap(),
            };
        }
    };
    let ws = wb.add_worksheet();
    ws.set_name("chain SPY").unwrap();
    for (c, f) in flat.iter().enumerate() {
        ws.write_string(0, c as u16, *f).unwrap();
    }
    for (r, k) in cs.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, f) in flat.iter().enumerate() {
            let c = c as u16;
            match *f {
                "contract" => ws.write_string(r, c, &k.symbol).map(|_| ()).unwrap(),
                "expiry" => ws
                    .write_number_with_format(r, c, serial(k.expiry), &date)
                    .map(|_| ())
                    .unwrap(),
                "strike" => ws.write_number(r, c, k.strike).map(|_| ()).unwrap(),
                "right" => ws
                    .write_string(r, c, k.right.as_char().to_string())
                    .map(|_| ())
                    .unwrap(),
                f => put(ws, r, c, our_chain(k, f)),
            }
        }
    }
    edits(&mut wb, 0);
    for (i, expiry) in [20240705u32, 20240719].into_iter().enumerate() {
        let ws = wb.add_worksheet();
        let d = TradingDay::from_yyyymmdd(expiry).unwrap();
        ws.set_name(format!("chain SPY {d}")).unwrap();
        let mut col = 0u16;
        for side in ["call", "put"] {
            if side == "put" {
                ws.write_string(0, col, "strike").unwrap();
                col += 1;
            }
            for f in SIDE {
                ws.write_string(0, col, format!("{side}_{f}")).unwrap();
                col += 1;
            }
        }
        for (r, strike) in [540.0, 545.0, 550.0].into_iter().enumerate() {
            let r = r as u32 + 1;
            ws.write_number(r, SIDE.len() as u16, strike).unwrap();
            for (s, right) in [xlfeed_core::Right::Call, xlfeed_core::Right::Put]
                .into_iter()
                .enumerate()
            {
                let Some(k) = cs
                    .iter()
                    .find(|k| k.expiry == expiry && k.strike == strike && k.right == right)
                else {
                    continue;
                };
                for (j, f) in SIDE.iter().enumerate() {
                    put(ws, r, (s * (SIDE.len() + 1) + j) as u16, our_chain(k, f));
                }
            }
        }
        edits(&mut wb, i + 1);
    }
    let mut args = vec![("underlying", "SPY")];
    args.extend(about_date.map(|d| ("date", d)));
    about_sheet(&mut wb, "chain", &args);
    wb.save_to_buffer().unwrap()
}

#[tokio::test]
async fn a_chain_workbook_and_the_chain_report_reconcile_with_zero_mismatches() {
    let (_f, _p, stores) = option_stores().await;
    let x = chain_xlsx(Some("2024-06-28"), &[], FLAT);
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 0, "{s:#?}");
    assert_eq!((s.missing_days, s.extra_days), (0, 0), "{s:#?}");
    assert_eq!(s.tables.len(), 3, "{s:#?}");
    let flat = &s.tables[0];
    assert_eq!((flat.shape.as_str(), flat.rows), ("chain", 11));
    assert_eq!(flat.symbol.as_deref(), Some("SPY"));
    assert_eq!(
        flat.as_of.as_deref(),
        Some("chain of 2024-06-28 (About sheet), whole day")
    );
    assert_eq!(
        flat.fields.len(),
        11,
        "ten values and the strike: {:?}",
        flat.fields
    );
    let report = &s.tables[2];
    assert_eq!(
        (report.sheet.as_str(), report.range.as_str()),
        ("chain SPY 2024-07-19", "A1:S4")
    );
    assert_eq!(report.fields[0], "call_bid");
    // 11 contracts × 11 cells, then 2 sheets × 3 strikes × 2 sides × 9 cells.
    assert_eq!(s.cells_compared, 11 * 11 + 2 * 3 * 2 * 9);
    // Without the About sheet's date: the latest chain, the same one here.
    let x = chain_xlsx(None, &[], FLAT);
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 0, "{s:#?}");
    assert_eq!(
        s.tables[0].as_of.as_deref(),
        Some("chain of 2024-06-28 (latest), whole day")
    );
    // By expiry, strike and right when there is no contract column.
    let x = chain_xlsx(None, &[], &FLAT[1..]);
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 0, "{s:#?}");
    assert_eq!(s.cells_compared, 11 * 10 + 2 * 3 * 2 * 9);
}

#[tokio::test]
async fn one_changed_chain_cell_is_exactly_one_mismatch_at_its_address() {
    let (_f, _p, stores) = option_stores().await;
    // The report's second sheet (2024-07-05): the 545 put's iv, column O, row 3.
    let put = contracts()
        .into_iter()
        .find(|c| c.expiry == 20240705 && c.strike == 545.0 && c.right == xlfeed_core::Right::Put)
        .unwrap();
    let iv = our_chain(&put, "iv").unwrap();
    let x = chain_xlsx(None, &[(1, 2, 14, Data::Float(iv + 0.02))], FLAT);
    let opts = Options {
        want_xlsx: true,
        ..Options::default()
    };
    let out = reconcile(&x, &opts, &stores).await.unwrap();
    let s = &out.summary;
    assert_eq!(s.mismatched, 1, "{s:#?}");
    let m = &s.mismatches[0];
    assert_eq!(
        (m.sheet.as_str(), m.cell.as_str()),
        ("chain SPY 2024-07-05", "O3")
    );
    assert_eq!(
        (m.field.as_str(), m.date.as_str()),
        ("put_iv", "2024-06-28")
    );
    assert_eq!(m.symbol.as_deref(), Some(put.symbol.as_str()));
    assert_eq!(m.ours, Some(iv));
    // The annotated workbook lists it, with the contract.
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(out.xlsx.unwrap())).unwrap();
    let diff = book.worksheet_range("Differences").unwrap();
    assert_eq!(diff.get_value((1, 1)), Some(&Data::String("O3".into())));
    assert_eq!(
        diff.get_value((1, 7)),
        Some(&Data::String(put.symbol.clone()))
    );
    // A value where the contract did not trade (the 545 call of 2024-07-05: its bid is
    // empty in our answer), and a changed strike in the flat sheet.
    let x = chain_xlsx(
        None,
        &[(1, 2, 0, Data::Float(1.25)), (0, 1, 2, Data::Float(541.0))],
        FLAT,
    );
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!(s.mismatched, 2, "{s:#?}");
    let cells: Vec<(&str, &str, Option<f64>)> = s
        .mismatches
        .iter()
        .map(|m| (m.cell.as_str(), m.field.as_str(), m.ours))
        .collect();
    assert!(cells.contains(&("C2", "strike", Some(540.0))), "{cells:?}");
    assert!(cells.contains(&("A3", "call_bid", None)), "{cells:?}");
    // A contract the chain does not list is an extra row.
    let x = chain_xlsx(
        None,
        &[(0, 1, 0, Data::String("SPY240705C999".into()))],
        FLAT,
    );
    let s = reconcile(&x, &Options::default(), &stores)
        .await
        .unwrap()
        .summary;
    assert_eq!((s.mismatched, s.extra_days), (0, 1), "{s:#?}");
    assert_eq!(s.extra[0].cell.as_deref(), Some("A2"));
}

#[tokio::test]
async fn hostile_quote_and_chain_tables_are_bad_input_naming_the_value() {
    let (_f, _p, stores) = option_stores().await;
    let at = ny("2024-06-28 15:30:00");
    let values = [
        ("SPY", our_quote("SPY", Some(at))),
        ("QQQ", our_quote("QQQ", Some(at))),
    ];
    let opts = Options::default();
    // Text in a quote's number cell.
    let x = quote_xlsx(
        &values,
        Some("2024-06-28T15:30"),
        Some((5, Data::String("n/a".into()))),
    );
    let e = reconcile(&x, &opts, &stores).await.unwrap_err();
    bad_input(&e, "cell \"quote SPY\"!F2 (ask) is not a number: \"n/a\"");
    // Text in a chain's number cell, and in its strike.
    let x = chain_xlsx(None, &[(0, 2, 8, Data::String("high".into()))], FLAT);
    let e = reconcile(&x, &opts, &stores).await.unwrap_err();
    bad_input(&e, "I3 (iv) is not a number: \"high\"");
    let x = chain_xlsx(None, &[(2, 3, 9, Data::String("ATM".into()))], FLAT);
    let e = reconcile(&x, &opts, &stores).await.unwrap_err();
    bad_input(
        &e,
        "cell \"chain SPY 2024-07-19\"!J4 is not a strike: \"ATM\"",
    );
    // A right that is neither C nor P.
    let x = chain_xlsx(None, &[(0, 2, 2, Data::String("X".into()))], &FLAT[1..]);
    let e = reconcile(&x, &opts, &stores).await.unwrap_err();
    bad_input(&e, "is not a right (C or P): \"X\"");
    // Missing columns: a chain without its contract, expiry or right.
    let x = chain_xlsx(None, &[], &["strike", "bid", "ask", "iv"]);
    let e = reconcile(&x, &opts, &stores).await.unwrap_err();
    bad_input(
        &e,
        "has no contract (or occ) column, nor expiry and right columns",
    );
    // A chain without the POST store.
    let x = chain_xlsx(None, &[], FLAT);
    let e = reconcile(&x, &opts, &stores.feed).await.unwrap_err();
    bad_input(&e, "needs the POST store");
    // An About sheet's at that is not a time, and a bad at parameter.
    let x = quote_xlsx(&values, Some("teatime"), None);
    let e = reconcile(&x, &opts, &stores).await.unwrap_err();
    bad_input(&e, "\"teatime\"");
    let e = Options::from_pairs([("at", "2024-06-31 10:00")]).unwrap_err();
    bad_input(&e, "\"2024-06-31 10:00\"");
    let e = Options::from_pairs([("date", "soon")]).unwrap_err();
    bad_input(&e, "\"soon\"");
}

#[test]
fn the_reconcile_help_names_the_quote_and_chain_parameters() {
    let out = common::xlpipeline(&["reconcile", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for flag in [
        "--post <URL>",
        "--at <TIME>",
        "--date <YYYY-MM-DD>",
        "MKT.CHAIN",
    ] {
        assert!(help.contains(flag), "{flag} not in {help}");
    }
}
