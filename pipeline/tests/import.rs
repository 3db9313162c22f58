//! `xlpipeline import`, `show`, `stats` and `migrate` end to end: the real binary on the fixture files
//! in `fixtures/import/` (and spreadsheets written here with rust_xlsxwriter), against the
//! embedded store and a real `redis-server` started on a free port.
//!
//! Each test reads the store back through the Store API, so what is checked is what fetch,
//! postprocess and the server would see.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Run, day, sym};
use rust_xlsxwriter::{ExcelDateTime, Format as XlsxFormat, Workbook};
use xlfeed_core::records::{DailyBar, Dividend, RatePoint, Trade, rate_convention};
use xlfeed_store::testing::{self, TestStore as Backend};
use xlfeed_store::{ChunkKey, Dataset, Kind, Store, synth};

/// Runs a test function against both backends.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$name(super::Backend::embedded()).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis() {
                    super::$name(super::Backend::redis()).await;
                }
            }
        )*
    };
}

both!(
    yahoo_daily_bars_one_chunk_per_day,
    ticks_split_by_new_york_day_in_time_order,
    rate_curves_with_their_conventions,
    dividends_by_ex_date,
    importing_twice_writes_the_same_bytes,
    show_prints_every_kind,
    stats_report_coverage,
    a_bad_file_writes_nothing,
    an_old_layout_store_is_refused_until_migrated,
);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

/// Runs `xlpipeline` in the fixture folder, so that messages name files as given.
fn xlpipeline(args: &[&str]) -> Run {
    common::run(common::xlpipeline(args).current_dir(fixtures()))
}

fn key(kind: Kind, symbol: &str, d: &str) -> ChunkKey {
    common::key(Dataset::Feed, kind, symbol, d)
}

/// Every chunk of a store, by key, as stored.
async fn snapshot(store: &Store) -> BTreeMap<String, Vec<u8>> {
    testing::snapshot(store, &[Dataset::Feed, Dataset::Post]).await
}

/// `YYYY-MM-DD hh:mm:ss` New York as UTC nanoseconds.
fn ny(s: &str) -> i64 {
    let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
    xlfeed_core::calendar::new_york_to_utc_ns(local).unwrap()
}

async fn yahoo_daily_bars_one_chunk_per_day(b: Backend) {
    let url = b.url();
    let run = xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "AAPL",
        "--store",
        &url,
        "AAPL-daily.csv",
    ])
    .ok();
    assert!(
        run.stdout.contains("rows read              11"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(null values: 1)"), "{}", run.stdout);
    assert!(run.stdout.contains("10  written"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("AAPL             10 days  2024-01-02 .. 2024-01-16"),
        "{}",
        run.stdout
    );
    {
        let store = b.open().await;
        let days = store
            .all_days(Dataset::Feed, Kind::Daily, &sym("AAPL"))
            .await
            .unwrap();
        assert_eq!(days.len(), 10);
        assert!(
            !days.contains(&day("2024-01-15")),
            "the null row is not a day"
        );
        let bars = store
            .get_rows::<DailyBar>(&key(Kind::Daily, "AAPL", "2024-01-02"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            bars,
            vec![DailyBar {
                date: 20240102,
                open: 187.149994,
                high: 188.440002,
                low: 183.889999,
                close: 185.639999,
                volume: 82_488_700,
                open_interest: 0,
            }]
        );
    }
    let show = xlpipeline(&[
        "show",
        "--store",
        &url,
        "--kind",
        "daily",
        "--symbol",
        "aapl",
        "--from",
        "2024-01-03",
        "--to",
        "2024-01-04",
    ])
    .ok();
    assert_eq!(
        show.stdout,
        "day,date,open,high,low,close,volume,open_interest\n\
         2024-01-03,2024-01-03,184.220001,185.880005,183.429993,184.25,58414500,0\n\
         2024-01-04,2024-01-04,182.149994,183.089996,180.880005,181.910004,71983600,0\n"
    );
}

async fn ticks_split_by_new_york_day_in_time_order(b: Backend) {
    let url = b.url();
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "ticks",
        "--symbol",
        "SPY",
        "--store",
        &url,
        "spy-ticks.csv",
    ])
    .ok();
    {
        let store = b.open().await;
        let day1 = store
            .get_rows::<Trade>(&key(Kind::Trade, "SPY", "2024-01-02"))
            .await
            .unwrap()
            .unwrap();
        let times: Vec<i64> = day1.iter().map(|t| t.time).collect();
        assert_eq!(
            times,
            vec![
                ny("2024-01-02 09:30:00.000512"),
                ny("2024-01-02 09:30:00.000900"),
                ny("2024-01-02 09:30:00.001200"),
                ny("2024-01-02 09:30:00.001200"),
                ny("2024-01-02 16:05:12.25"),
            ]
        );
        // Same time: the file's order is kept.
        assert_eq!((day1[2].price, day1[3].price), (472.17, 472.18));
        assert_eq!(day1[3].conditions.to_string(), "3D");
        let late = &day1[4];
        assert!(
            late.bid.is_nan() && late.ask.is_nan(),
            "empty bid/ask are unknown"
        );
        assert_eq!(
            (late.basis, late.market_center, late.tick_id, late.size),
            ('E', 26, 1004, 1200)
        );
        let day2 = store
            .get_rows::<Trade>(&key(Kind::Trade, "SPY", "2024-01-03"))
            .await
            .unwrap()
            .unwrap();
        // "2024-01-03T14:30:01.5Z" is 09:30:01.5 in New York.
        assert_eq!(day2[1].time, ny("2024-01-03 09:30:01.5"));
    }

    // Another layout: a symbol column, separate date and time, UTC, no tick ids.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("utc-ticks.csv");
    std::fs::write(
        &file,
        "Ticker;Day;Clock;Px;Qty\n\
         QQQ;2024-07-01;13:30:00.250;480.5;10\n\
         QQQ;2024-07-01;13:30:00.100;480.25;20\n\
         IWM;2024-07-02;03:59:59;200;1\n",
    )
    .unwrap();
    let run = xlpipeline(&[
        "import",
        "csv",
        "--format",
        "ticks",
        "--tz",
        "UTC",
        "--delimiter",
        ";",
        "--map",
        "symbol=Ticker,date=Day,time=Clock,price=Px,size=Qty",
        "--store",
        &url,
        file.to_str().unwrap(),
    ])
    .ok();
    assert!(
        run.stderr.contains("no column for bid, ask, tick_id"),
        "{}",
        run.stderr
    );
    let store = b.open().await;
    let qqq = store
        .get_rows::<Trade>(&key(Kind::Trade, "QQQ", "2024-07-01"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        qqq.iter()
            .map(|t| (t.time, t.price, t.tick_id))
            .collect::<Vec<_>>(),
        vec![
            (ny("2024-07-01 09:30:00.100"), 480.25, 1),
            (ny("2024-07-01 09:30:00.250"), 480.5, 2),
        ]
    );
    // 03:59:59 UTC on the 2nd is still the 1st in New York.
    assert_eq!(
        store
            .days(
                Dataset::Feed,
                Kind::Trade,
                &sym("IWM"),
                day("2024-07-01"),
                day("2024-07-02")
            )
            .await
            .unwrap(),
        vec![day("2024-07-01")]
    );
}

async fn rate_curves_with_their_conventions(b: Backend) {
    let url = b.url();
    xlpipeline(&["import", "rates", "--store", &url, "curves.csv"]).ok();
    xlpipeline(&[
        "import",
        "rates",
        "--curve",
        "UST_PAR",
        "--store",
        &url,
        "ust-par.csv",
    ])
    .ok();
    let store = b.open().await;
    assert_eq!(
        store.symbols(Dataset::Feed, Kind::Rate).await.unwrap(),
        vec![sym("SOFR"), sym("USD_LIBOR"), sym("UST_PAR")]
    );
    let sofr = store
        .get_rows::<RatePoint>(&key(Kind::Rate, "SOFR", "2023-07-03"))
        .await
        .unwrap()
        .unwrap();
    let m = rate_convention::MONEY_MARKET;
    // 3M is "N/A" and 1Y empty that day: no points there.
    assert_eq!(
        sofr,
        vec![
            RatePoint {
                tenor_days: 1,
                rate: 0.0508,
                convention: m
            },
            RatePoint {
                tenor_days: 30,
                rate: 0.0513,
                convention: m
            },
            RatePoint {
                tenor_days: 180,
                rate: 0.0538,
                convention: m
            },
        ]
    );
    let libor = store
        .get_rows::<RatePoint>(&key(Kind::Rate, "USD_LIBOR", "2023-06-30"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(libor.len(), 5);
    assert_eq!(
        libor[2],
        RatePoint {
            tenor_days: 90,
            rate: 0.0554971,
            convention: m
        }
    );
    let ust = store
        .get_rows::<RatePoint>(&key(Kind::Rate, "UST_PAR", "2024-01-02"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ust.len(), 13);
    assert_eq!(
        (ust[0].tenor_days, ust[0].rate, ust[0].convention),
        (30, 0.0555, rate_convention::PAR)
    );
    assert_eq!((ust[12].tenor_days, ust[12].rate), (10_950, 0.0408));
}

/// curves.csv as an xlsx with date cells, number cells, a text "N/A" and an empty cell.
fn write_curves_xlsx(path: &Path) {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date_format = XlsxFormat::new().set_num_format("yyyy-mm-dd");
    let text = std::fs::read_to_string(fixtures().join("curves.csv")).unwrap();
    for (r, line) in text.lines().enumerate() {
        for (c, cell) in line.split(',').enumerate() {
            let (r, c) = (r as u32, c as u16);
            if r == 0 || c == 1 || cell == "N/A" {
                sheet.write_string(r, c, cell).unwrap();
            } else if c == 0 {
                let d = ExcelDateTime::parse_from_str(cell).unwrap();
                sheet
                    .write_datetime_with_format(r, c, &d, &date_format)
                    .unwrap();
            } else if !cell.is_empty() {
                sheet
                    .write_number(r, c, cell.parse::<f64>().unwrap())
                    .unwrap();
            }
        }
    }
    book.save(path).unwrap();
}

#[tokio::test]
async fn rates_from_csv_xlsx_xls_and_ods_store_the_same_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("curves.xlsx");
    write_curves_xlsx(&xlsx);
    let mut snapshots = Vec::new();
    for file in [
        "curves.csv".to_owned(),
        "curves.xls".to_owned(),
        "curves.ods".to_owned(),
        xlsx.display().to_string(),
    ] {
        let b = Backend::embedded();
        let run = xlpipeline(&["import", "rates", "--store", &b.url(), &file]).ok();
        assert!(run.stdout.contains("4  written"), "{file}: {}", run.stdout);
        snapshots.push((file, snapshot(&b.open().await).await));
    }
    let (first, want) = &snapshots[0];
    assert_eq!(want.len(), 4);
    for (file, got) in &snapshots[1..] {
        assert_eq!(got, want, "{file} differs from {first}");
    }
}

async fn dividends_by_ex_date(b: Backend) {
    let url = b.url();
    let run = xlpipeline(&["import", "dividends", "--store", &url, "dividends.csv"]).ok();
    assert!(run.stdout.contains("4  written"), "{}", run.stdout);
    // Yahoo's dividend history of one symbol: Date,Dividends, and --symbol.
    xlpipeline(&[
        "import",
        "dividends",
        "--symbol",
        "KO",
        "--store",
        &url,
        "KO-dividends.csv",
    ])
    .ok();
    {
        let store = b.open().await;
        let aapl = store
            .get_rows::<Dividend>(&key(Kind::Dividend, "AAPL", "2024-02-09"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            aapl,
            vec![Dividend {
                ex_date: 20240209,
                pay_date: 20240215,
                amount: 0.24,
                yield_pct: 0.52
            }]
        );
        assert_eq!(
            store
                .all_days(Dataset::Feed, Kind::Dividend, &sym("KO"))
                .await
                .unwrap(),
            vec![day("2023-09-14"), day("2023-11-30"), day("2024-03-14")]
        );
    }
    let show = xlpipeline(&[
        "show",
        "--store",
        &url,
        "--kind",
        "dividend",
        "--symbol",
        "KO",
        "--from",
        "2024-01-01",
    ])
    .ok();
    // The Yahoo file replaced the 2024-03-14 day: it has no pay date or yield.
    assert_eq!(
        show.stdout,
        "day,ex_date,pay_date,amount,yield_pct\n2024-03-14,2024-03-14,,0.485,0\n"
    );

    // The same dividends from an xlsx with date cells give the same chunks.
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("dividends.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date_format = XlsxFormat::new().set_num_format("mm/dd/yyyy");
    let text = std::fs::read_to_string(fixtures().join("dividends.csv")).unwrap();
    for (r, line) in text.lines().enumerate() {
        for (c, cell) in line.split(',').enumerate() {
            let (r, c) = (r as u32, c as u16);
            match (r, c) {
                (0, _) | (_, 0) => {
                    sheet.write_string(r, c, cell).unwrap();
                }
                (_, 1 | 2) => {
                    let d = ExcelDateTime::parse_from_str(cell).unwrap();
                    sheet
                        .write_datetime_with_format(r, c, &d, &date_format)
                        .unwrap();
                }
                _ => {
                    sheet
                        .write_number(r, c, cell.parse::<f64>().unwrap())
                        .unwrap();
                }
            }
        }
    }
    book.save(&xlsx).unwrap();
    let from_csv = Backend::embedded();
    let from_xlsx = Backend::embedded();
    xlpipeline(&[
        "import",
        "dividends",
        "--store",
        &from_csv.url(),
        "dividends.csv",
    ])
    .ok();
    xlpipeline(&[
        "import",
        "dividends",
        "--store",
        &from_xlsx.url(),
        xlsx.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(
        snapshot(&from_csv.open().await).await,
        snapshot(&from_xlsx.open().await).await
    );
}

/// Imports every fixture once.
fn import_everything(url: &str) {
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "AAPL",
        "--store",
        url,
        "AAPL-daily.csv",
    ])
    .ok();
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "ticks",
        "--symbol",
        "SPY",
        "--store",
        url,
        "spy-ticks.csv",
    ])
    .ok();
    xlpipeline(&["import", "rates", "--store", url, "curves.csv"]).ok();
    xlpipeline(&["import", "rates", "--store", url, "curves.ods"]).ok();
    xlpipeline(&[
        "import",
        "rates",
        "--curve",
        "ust",
        "--store",
        url,
        "ust-par.csv",
    ])
    .ok();
    xlpipeline(&["import", "dividends", "--store", url, "dividends.csv"]).ok();
}

async fn importing_twice_writes_the_same_bytes(b: Backend) {
    import_everything(&b.url());
    let first = snapshot(&b.open().await).await;
    assert_eq!(first.len(), 10 + 2 + 4 + 2 + 4);
    import_everything(&b.url());
    let second = snapshot(&b.open().await).await;
    assert_eq!(first, second);
}

async fn show_prints_every_kind(b: Backend) {
    let url = b.url();
    let d = day("2024-01-02");
    let mut wanted = Vec::new();
    {
        let store = b.open().await;
        for (i, kind) in synth::EVERY_KIND.iter().enumerate() {
            let ds = match kind {
                Kind::EnrichedTrade | Kind::ContractDaily | Kind::IvSummary | Kind::Lineage => {
                    Dataset::Post
                }
                _ => Dataset::Feed,
            };
            let rows = synth::records(*kind, 5, i as u64);
            store
                .put(&ChunkKey::new(ds, *kind, sym("SPY"), d), &rows)
                .await
                .unwrap();
            wanted.push((*kind, rows));
        }
    }
    assert_eq!(wanted.len(), 13, "every record kind");
    for (kind, rows) in &wanted {
        let run = xlpipeline(&[
            "show",
            "--store",
            &url,
            "--kind",
            &kind.to_string(),
            "--symbol",
            "SPY",
            "--times",
            "ns",
        ])
        .ok();
        let mut rdr = csv::Reader::from_reader(run.stdout.as_bytes());
        let header = rdr.headers().unwrap().clone();
        assert_eq!(&header[0], "day", "{kind}");
        let records: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), rows.len(), "{kind}: {}", run.stdout);
        for r in &records {
            assert_eq!(r.len(), header.len(), "{kind}");
            assert_eq!(&r[0], "2024-01-02", "{kind}");
        }
        // Spot checks against the stored rows.
        match rows {
            xlfeed_store::Records::Trades(t) => {
                assert_eq!(&header[1], "time");
                assert_eq!(records[0][1].parse::<i64>().unwrap(), t[0].time);
                assert_eq!(records[0][2].parse::<f64>().unwrap(), t[0].price);
            }
            xlfeed_store::Records::RatePoints(p) => {
                assert_eq!(records[4][2].parse::<f64>().unwrap(), p[4].rate);
            }
            xlfeed_store::Records::Contracts(c) => {
                assert_eq!(&records[0][1], c[0].symbol.as_str());
            }
            _ => {}
        }
    }
    // A series that is not there: the header alone, and a note.
    let run = xlpipeline(&[
        "show", "--store", &url, "--kind", "bar300", "--symbol", "SPY",
    ])
    .ok();
    assert_eq!(run.stdout, "day,time,open,high,low,close,volume,trades\n");
    assert!(
        run.stderr.contains("no bar300 days of SPY"),
        "{}",
        run.stderr
    );
    // POST kinds are read from POST unless told otherwise.
    let run = xlpipeline(&[
        "show",
        "--store",
        &url,
        "--kind",
        "iv_summary",
        "--symbol",
        "SPY",
        "--dataset",
        "feed",
    ])
    .ok();
    assert_eq!(run.stdout.lines().count(), 1);
}

async fn stats_report_coverage(b: Backend) {
    let url = b.url();
    import_everything(&url);
    let bytes = {
        let store = b.open().await;
        store.stats(Dataset::Feed).await.unwrap()
    };
    let run = xlpipeline(&["stats", "--store", &url, "--csv"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "dataset,kind,symbols,days,first,last,chunks,bytes"
    );
    let daily = format!(
        "feed,daily,1,10,2024-01-02,2024-01-16,10,{}",
        bytes.kinds[&Kind::Daily].bytes
    );
    assert!(
        lines.contains(&daily.as_str()),
        "{daily} not in\n{}",
        run.stdout
    );
    let rate = format!(
        "feed,rate,3,5,2023-06-29,2024-01-03,6,{}",
        bytes.kinds[&Kind::Rate].bytes
    );
    assert!(
        lines.contains(&rate.as_str()),
        "{rate} not in\n{}",
        run.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("feed,trade,1,2,2024-01-02,2024-01-03,2,"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("feed,dividend,3,4,2024-02-09,2024-05-10,4,"))
    );
    assert_eq!(lines.len(), 5);
    let table = xlpipeline(&["stats", "--store", &url]).ok();
    let header = table.stdout.lines().next().unwrap();
    assert!(header.starts_with("dataset  kind"), "{header}");
    assert!(header.ends_with("bytes"), "{header}");
}

async fn a_bad_file_writes_nothing(b: Backend) {
    let url = b.url();
    // A file that is not what it claims.
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "SPY",
        "--store",
        &url,
        "spy-ticks.csv",
    ])
    .fails(&[
        "spy-ticks.csv is not a yahoo daily csv file; nothing was written",
        "no Date column (looked for \"Date\"); the header is: Time, Last, Size",
    ]);
    // A value that does not parse: file, row, column and value named.
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "AAPL",
        "--store",
        &url,
        "daily-bad-value.csv",
    ])
    .fails(&[
        "daily-bad-value.csv:3: column \"Close\": \"18x.25\" is not a number",
        "1 bad row (at most 0 allowed with --max-bad-rows); nothing was written",
    ]);
    // A truncated file.
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "AAPL",
        "--store",
        &url,
        "daily-truncated.csv",
    ])
    .fails(&["daily-truncated.csv:4: has 3 fields, the header has 7"]);
    // Not a spreadsheet, and a spreadsheet that says it is CSV.
    xlpipeline(&["import", "rates", "--store", &url, "not-a-workbook.xlsx"])
        .fails(&["not-a-workbook.xlsx is not a readable .xlsx workbook"]);
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("curves.csv");
    std::fs::copy(fixtures().join("curves.xls"), &renamed).unwrap();
    xlpipeline(&[
        "import",
        "rates",
        "--store",
        &url,
        renamed.to_str().unwrap(),
    ])
    .fails(&["is a spreadsheet (zip or OLE container), not CSV"]);
    // A column that is not a tenor; a curve with no known convention.
    xlpipeline(&[
        "import",
        "rates",
        "--curve",
        "USD_LIBOR",
        "--store",
        &url,
        "rates-unknown-column.csv",
    ])
    .fails(&["column \"USD3MTD156N\" is not a date, a curve or a tenor"]);
    let odd = dir.path().join("estr.csv");
    std::fs::write(
        &odd,
        "Date,Curve,1M\n2024-01-02,SOFR,5.3\n2024-01-02,EUR ESTR,3.9\n",
    )
    .unwrap();
    xlpipeline(&["import", "rates", "--store", &url, odd.to_str().unwrap()]).fails(&[
        "estr.csv:3: column \"Curve\": curve EUR_ESTR has no built-in quoting convention",
    ]);
    // Two rows for one day of a daily series.
    let dup = dir.path().join("dup.csv");
    std::fs::write(
        &dup,
        "Date,Open,High,Low,Close,Adj Close,Volume\n\
         2024-01-02,1,2,0.5,1.5,1.5,100\n\
         2024-01-02,1,2,0.5,1.5,1.5,100\n",
    )
    .unwrap();
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "X",
        "--store",
        &url,
        dup.to_str().unwrap(),
    ])
    .fails(&["dup.csv:3: daily X 2024-01-02 is also on row 2 (one row per day)"]);
    // A non-numeric cell in a workbook: the sheet and its row number.
    let xlsx = dir.path().join("rates.xlsx");
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["Date", "Curve", "1M", "3M"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, (d, three)) in [("2024-01-02", "5.27"), ("2024-01-03", "5,27")]
        .iter()
        .enumerate()
    {
        let r = r as u32 + 1;
        sheet.write_string(r, 0, *d).unwrap();
        sheet.write_string(r, 1, "SOFR").unwrap();
        sheet.write_number(r, 2, 5.3).unwrap();
        sheet.write_string(r, 3, *three).unwrap();
    }
    book.save(&xlsx).unwrap();
    xlpipeline(&["import", "rates", "--store", &url, xlsx.to_str().unwrap()])
        .fails(&["rates.xlsx[Sheet1]:3: column \"3M\": \"5,27\" is not a number"]);
    // Ticks without a price column.
    xlpipeline(&[
        "import",
        "csv",
        "--format",
        "ticks",
        "--symbol",
        "SPY",
        "--store",
        &url,
        "ticks-no-price.csv",
    ])
    .fails(&["no price column: name it with --map price=<Header>"]);
    match &b {
        Backend::Embedded { dir } => {
            assert!(!dir.path().join("store").exists(), "the store was opened");
        }
        Backend::Redis { .. } | Backend::Cluster { .. } => {
            assert!(
                b.open()
                    .await
                    .kinds(Dataset::Feed)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }

    // With room for the bad row, the others are written and the bad one reported.
    let run = xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "AAPL",
        "--store",
        &url,
        "--max-bad-rows",
        "1",
        "daily-bad-value.csv",
    ])
    .ok();
    assert!(
        run.stderr
            .contains("skipped: daily-bad-value.csv:3: column \"Close\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("bad, skipped          1"),
        "{}",
        run.stdout
    );
    let store = b.open().await;
    assert_eq!(
        store
            .all_days(Dataset::Feed, Kind::Daily, &sym("AAPL"))
            .await
            .unwrap(),
        vec![day("2024-01-02"), day("2024-01-04")]
    );
}

#[test]
fn a_dry_run_checks_without_a_store() {
    let run = xlpipeline(&[
        "import",
        "csv",
        "--format",
        "yahoo-daily",
        "--symbol",
        "AAPL",
        "--dry-run",
        "AAPL-daily.csv",
    ])
    .ok();
    assert!(
        run.stdout.contains("dry run, nothing written"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("10  (to write)"), "{}", run.stdout);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("embedded://{}/store", dir.path().display());
    xlpipeline(&[
        "import",
        "dividends",
        "--dry-run",
        "--store",
        &url,
        "dividends.csv",
    ])
    .ok();
    assert!(!dir.path().join("store").exists());
    // Without --dry-run the store is required.
    let run = xlpipeline(&["import", "dividends", "dividends.csv"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--store"), "{}", run.stderr);
}

#[test]
fn help_texts_carry_examples() {
    for cmd in [
        &["import", "csv", "--help"][..],
        &["import", "rates", "--help"],
        &["import", "dividends", "--help"],
        &["show", "--help"],
        &["stats", "--help"],
        &["migrate", "--help"],
    ] {
        let run = xlpipeline(cmd).ok();
        assert!(run.stdout.contains("Examples:"), "{cmd:?}:\n{}", run.stdout);
        assert!(run.stdout.contains("xlpipeline "), "{cmd:?}");
    }
    let run = xlpipeline(&["import", "csv", "--help"]).ok();
    assert!(run.stdout.contains("nothing is written"), "{}", run.stdout);
}

/// Issue 14: a store written with the abbreviated kind names of key layout 1 is refused by
/// every command that opens it, naming `xlpipeline migrate`, which makes it readable.
async fn an_old_layout_store_is_refused_until_migrated(b: Backend) {
    let url = b.url();
    let trades = synth::records(Kind::OptionTrade, 20, 3).encode();
    let enriched = synth::records(Kind::EnrichedTrade, 20, 3).encode();
    b.write_layout1(&[
        (Dataset::Feed, "otrade", "SPY", 20240102, trades.clone()),
        (Dataset::Post, "etrade", "SPY", 20240102, enriched),
    ])
    .await;
    for cmd in [
        &["stats", "--store", &url][..],
        &[
            "show",
            "--store",
            &url,
            "--kind",
            "option_trade",
            "--symbol",
            "SPY",
        ],
    ] {
        let run = xlpipeline(cmd);
        assert_ne!(run.code, 0, "{cmd:?}");
        assert!(run.stderr.contains("is in key layout 1"), "{}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("run `xlpipeline migrate --store {url}`")),
            "{}",
            run.stderr
        );
    }
    let run = xlpipeline(&["migrate", "--store", &url]).ok();
    assert!(run.stdout.contains("key layout 1 -> 3"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("feed option_trade (was otrade): 1 series, 1 chunks moved"),
        "{}",
        run.stdout
    );
    let run = xlpipeline(&["stats", "--store", &url, "--csv"]).ok();
    assert!(
        run.stdout.contains("feed,option_trade,1,1,2024-01-02"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("post,enriched_trade,1,1"),
        "{}",
        run.stdout
    );
    let run = xlpipeline(&["migrate", "--store", &url]).ok();
    assert!(
        run.stdout.contains("already in key layout 3"),
        "{}",
        run.stdout
    );
    let store = b.open().await;
    let got = store
        .get_chunks(&[key(Kind::OptionTrade, "SPY", "2024-01-02")])
        .await
        .unwrap();
    assert_eq!(got, vec![Some(trades)], "the same bytes under the new key");
}
