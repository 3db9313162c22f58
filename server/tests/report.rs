//! Workbooks over HTTP, end to end: the shared demo app (stores filled by the real pipeline),
//! every function asked as `.xlsx` and as JSON, the workbook opened with calamine and every
//! value compared with the JSON answer; batches, named reports and the limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Cursor, Read};

use calamine::{Data, DataType, Reader, Xlsx};
use common::{App, Data as Filled, On};
use serde_json::{Value, json};

mod common;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(base: &str, token: Option<&str>) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = token {
            headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        Client {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap(),
        }
    }

    fn shared() -> Client {
        let s = common::shared();
        Client::new(&s.http, s.admin_token.as_deref())
    }

    async fn json(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// POSTs `body` as `content_type` to `path` and asserts a 413 whose message holds `names`.
    async fn post_413(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        names: &str,
    ) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(names),
            "{v}"
        );
    }

    /// GET `path`: status, content type and body.
    async fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, r.bytes().await.unwrap().to_vec())
    }

    /// A workbook: 200, the xlsx media type, a file name, and the bytes.
    async fn xlsx(&self, path: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let body = r.bytes().await.unwrap().to_vec();
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(h["content-type"], XLSX, "{path}");
        let cd = h["content-disposition"].to_str().unwrap();
        assert!(
            cd.starts_with("attachment; filename=\"") && cd.ends_with(".xlsx\""),
            "{cd}"
        );
        assert_eq!(
            h["content-length"].to_str().unwrap(),
            body.len().to_string()
        );
        body
    }
}

fn open(bytes: &[u8]) -> Xlsx<Cursor<Vec<u8>>> {
    let mut x = Xlsx::new(Cursor::new(bytes.to_vec())).unwrap();
    x.load_tables().unwrap();
    x
}

/// Excel's sheet-name rules.
fn valid_sheet_name(n: &str) -> bool {
    (1..=31).contains(&n.chars().count())
        && !n.contains(['[', ']', ':', '*', '?', '/', '\\'])
        && !n.starts_with('\'')
        && !n.ends_with('\'')
}

/// The About sheet as label → values.
fn about(x: &mut Xlsx<Cursor<Vec<u8>>>) -> Vec<(String, Data)> {
    let r = x.worksheet_range("About").unwrap();
    r.rows()
        .map(|row| {
            (
                row.first().map(|c| c.to_string()).unwrap_or_default(),
                row.get(1).cloned().unwrap_or(Data::Empty),
            )
        })
        .collect()
}

/// Checks that sheet `sheet` of `x` holds the JSON `answer` (columns, then every cell; date
/// and time columns as date cells) in an Excel Table covering its rows.
fn same_as_json(x: &mut Xlsx<Cursor<Vec<u8>>>, sheet: &str, answer: &Value, what: &str) {
    let columns: Vec<String> = answer["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let types = answer["types"].as_array().unwrap();
    let rows = answer["rows"].as_array().unwrap();
    let r = x.worksheet_range(sheet).unwrap();
    let header: Vec<String> = (0..columns.len())
        .map(|c| r.get((0, c)).map(|d| d.to_string()).unwrap_or_default())
        .collect();
    assert_eq!(header, columns, "{what}: header");
    for (i, row) in rows.iter().enumerate() {
        for (c, want) in row.as_array().unwrap().iter().enumerate() {
            let got = r.get((i + 1, c)).cloned().unwrap_or(Data::Empty);
            let at = format!("{what}: row {} column {}", i + 1, columns[c]);
            match (want, &got) {
                (Value::Null, Data::Empty) => {}
                // Empty text is an empty cell.
                (Value::String(s), Data::Empty) if s.is_empty() => {}
                (Value::String(s), Data::String(g)) => assert_eq!(s, g, "{at}"),
                (Value::Number(n), _) => {
                    let n = n.as_f64().unwrap();
                    let g = match &got {
                        Data::Float(f) => *f,
                        Data::Int(i) => *i as f64,
                        Data::DateTime(d) => d.as_f64(),
                        other => panic!("{at}: {n} but {other:?}"),
                    };
                    assert!((n - g).abs() <= 1e-9 * n.abs().max(1.0), "{at}: {n} vs {g}");
                    if types[c] == "date" || types[c] == "time" {
                        assert!(matches!(got, Data::DateTime(_)), "{at}: not a date cell");
                    }
                }
                _ => panic!("{at}: {want} but {got:?}"),
            }
        }
    }
    let tables = x.table_names_in_sheet(sheet);
    assert_eq!(tables.len(), 1, "{what}: one Table");
    let name = tables[0].clone();
    let t = x.table_by_name(&name).unwrap();
    assert_eq!(
        t.columns(),
        columns.as_slice(),
        "{what}: the Table's columns"
    );
    assert_eq!(
        t.data().get_size().0,
        rows.len().max(1),
        "{what}: the Table's rows"
    );
}

/// Every function, as a workbook, holds exactly its JSON answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_answers_the_same_as_a_workbook() {
    let c = Client::shared();
    let chain = c.json("/api/v1/chain?underlying=SPY&date=2024-06-28").await;
    let contract = chain["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[10].is_number())
        .map(|r| r[0].as_str().unwrap().to_owned())
        .unwrap();
    let calls = [
        "history?symbol=AAPL&start=2023-07-01&end=2024-06-28".to_owned(),
        "history?symbol=SPY&start=2024-06-27&end=2024-06-28&interval=5m".to_owned(),
        "ticks?symbol=SPY&start=2024-06-28&limit=100000".to_owned(),
        "quote?symbol=SPY".to_owned(),
        "chain?underlying=SPY&date=2024-06-28".to_owned(),
        format!("option?symbol={contract}&per=trade&start=2024-06-28"),
        "dividends?symbol=AAPL&start=2023-01-01&end=2024-06-28".to_owned(),
        "rate?tenor=3M&date=2024-06-28".to_owned(),
        "fundamentals?symbol=AAPL".to_owned(),
        "search?text=aa".to_owned(),
        "compare?symbols=SPY,AAPL&start=2023-07-01&end=2024-06-28".to_owned(),
        "compare?symbols=SPY,AAPL&start=2023-07-01&end=2024-06-28&metric=correlation".to_owned(),
    ];
    for call in calls {
        let (f, q) = call.split_once('?').unwrap();
        let answer = c.json(&format!("/api/v1/{call}")).await;
        let bytes = c.xlsx(&format!("/api/v1/{f}.xlsx?{q}")).await;
        let mut x = open(&bytes);
        let names = x.sheet_names();
        assert_eq!(names.len(), 2, "{call}: {names:?}");
        assert_eq!(names[1], "About");
        for n in &names {
            assert!(valid_sheet_name(n), "{n:?}");
        }
        assert!(names[0].starts_with(f), "{names:?}");
        same_as_json(&mut x, &names[0], &answer, &call);
        let a = about(&mut x);
        let get = |k: &str| {
            a.iter()
                .find(|(l, _)| l == k)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| panic!("{call}: no {k} on About: {a:?}"))
        };
        assert_eq!(get("function"), f);
        assert!(get("as of").ends_with(" UTC"), "{}", get("as of"));
        assert!(get("FEED store").starts_with("embedded://"));
        assert_eq!(
            get("rows"),
            answer["rows"].as_array().unwrap().len().to_string(),
            "{call}"
        );
        assert_eq!(get("xlfeed version"), env!("CARGO_PKG_VERSION"));
    }
}

/// `ticks` as a workbook is every trade of the range, not a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticks_workbook_is_not_paged() {
    let c = Client::shared();
    let mut all = 0;
    let mut cursor = String::new();
    loop {
        let page = c
            .json(&format!(
                "/api/v1/ticks?symbol=SPY&start=2024-06-27&end=2024-06-28&limit=1000{cursor}"
            ))
            .await;
        all += page["rows"].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => break,
        }
    }
    assert!(all > 1000, "{all}");
    let bytes = c
        .xlsx("/api/v1/ticks.xlsx?symbol=SPY&start=2024-06-27&end=2024-06-28")
        .await;
    let mut x = open(&bytes);
    let r = x.worksheet_range("ticks SPY").unwrap();
    assert_eq!(r.get_size().0, all + 1);
    let limited = c
        .xlsx("/api/v1/ticks.xlsx?symbol=SPY&start=2024-06-27&end=2024-06-28&limit=10")
        .await;
    let mut x = open(&limited);
    assert_eq!(x.worksheet_range("ticks SPY").unwrap().get_size().0, 11);
}

/// A batch is a workbook: a sheet per call that answered, errors on About with their Excel
/// codes; identical calls answer alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_a_workbook() {
    let c = Client::shared();
    let body = json!({"calls": [
        {"fn": "quote", "args": {"symbol": "SPY"}},
        {"fn": "history", "args": {"symbol": "AAPL", "start": "2024-06-03", "end": "2024-06-28"}},
        {"fn": "quote", "args": {"symbol": "NOPE"}},
        {"fn": "quote", "args": {"symbol": "SPY"}},
        {"fn": "nosuch", "args": {}},
    ]});
    let r = c
        .http
        .post(format!("{}/api/v1/batch.xlsx", c.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], XLSX);
    let bytes = r.bytes().await.unwrap();
    let mut x = open(&bytes);
    let names = x.sheet_names();
    assert_eq!(
        names,
        ["quote SPY", "history AAPL", "quote SPY (2)", "About"],
        "{names:?}"
    );
    let quote = c.json("/api/v1/quote?symbol=SPY").await;
    same_as_json(&mut x, "quote SPY", &quote, "batch quote");
    same_as_json(&mut x, "quote SPY (2)", &quote, "batch quote again");
    let r = x.worksheet_range("About").unwrap();
    let text: Vec<Vec<String>> = r
        .rows()
        .map(|row| row.iter().map(|c| c.to_string()).collect())
        .collect();
    let header = text
        .iter()
        .position(|row| row.first().map(String::as_str) == Some("call"))
        .expect("an errors table on About");
    let errors = &text[header + 1..];
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0][0], "3");
    assert_eq!(errors[0][1], "quote");
    assert_eq!(errors[0][4], "#N/A");
    assert!(errors[0][5].contains("NOPE"), "{:?}", errors[0]);
    assert_eq!(errors[1][0], "5");
    assert!(errors[1][5].contains("nosuch"), "{:?}", errors[1]);
    // A body that is not a batch is the JSON error, as for /api/v1/batch.
    let r = c
        .http
        .post(format!("{}/api/v1/batch.xlsx", c.base))
        .header("content-type", "application/json")
        .body("[1,2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("JSON"),
        "{v}"
    );
}

/// Files of the workbook whose names start with `prefix`, with their text.
fn parts(bytes: &[u8], prefix: &str) -> Vec<(String, String)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).unwrap();
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        if name.starts_with(prefix) {
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            out.push((name, s));
        }
    }
    out.sort();
    out
}

/// The history report: the OHLCV table, a line chart of the closes and a column chart of
/// the volumes, over the table's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_report_has_its_charts() {
    let c = Client::shared();
    let q = "symbol=AAPL&start=2024-01-02&end=2024-06-28";
    let bytes = c.xlsx(&format!("/api/v1/report/history.xlsx?{q}")).await;
    let answer = c
        .json(&format!(
            "/api/v1/history?{q}&fields=open,high,low,close,volume"
        ))
        .await;
    let n = answer["rows"].as_array().unwrap().len();
    let mut x = open(&bytes);
    same_as_json(&mut x, "history AAPL", &answer, "history report");
    let charts = parts(&bytes, "xl/charts/chart");
    assert_eq!(
        charts.len(),
        2,
        "{:?}",
        charts.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    assert!(
        charts[0].1.contains("<c:lineChart>"),
        "the first is a line chart"
    );
    assert!(
        charts[1].1.contains("<c:barChart>"),
        "the second is a column chart"
    );
    let last = n + 1;
    assert!(
        charts[0]
            .1
            .contains(&format!("'history AAPL'!$E$2:$E${last}")),
        "the line chart plots the closes"
    );
    // Unknown reports are a 404 naming them.
    let (status, _, body) = c.get("/api/v1/report/smile.xlsx?symbol=AAPL").await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("smile"));
}

/// Bad input on the workbook routes is the JSON error, as on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_workbook_requests_are_4xx_naming_the_value() {
    let c = Client::shared();
    for (path, status, names) in [
        ("/api/v1/nosuch.xlsx?symbol=SPY", 404, "nosuch"),
        (
            "/api/v1/history.xlsx?symbol=AAPL&start=2024-02-30",
            400,
            "2024-02-30",
        ),
        ("/api/v1/history.xlsx?symbol=AAPL", 400, "start"),
        (
            "/api/v1/ticks.xlsx?symbol=SPY&start=2024-06-28&cursor=zz",
            400,
            "zz",
        ),
        ("/api/v1/quote.xlsx?symbol=NOPE", 404, "NOPE"),
    ] {
        let (s, ct, body) = c.get(path).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(s, status, "{path}: {text}");
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        assert!(text.contains(names), "{path}: {text}");
    }
}

/// Over the row cap, a 400 naming it; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_cap_is_a_400_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start(dir.path(), On::Embedded, Filled::Demo, |c| {
        c.reports.max_rows = 100;
        c.reports.max_upload_bytes = 1000;
        c.reports.max_cells = 50;
        // Under the upload limit: the edge's own body limit (the larger) stops 5000 bytes.
        c.limits.max_body_bytes = 500;
    })
    .await;
    let c = Client::new(&app.running.http_url(), app.running.admin_token.as_deref());
    for path in [
        "/api/v1/ticks.xlsx?symbol=SPY&start=2024-06-28",
        "/api/v1/history.xlsx?symbol=AAPL&start=2023-07-01&end=2024-06-28",
        "/api/v1/report/history.xlsx?symbol=AAPL&start=2023-07-01&end=2024-06-28",
    ] {
        let (s, _, body) = c.get(path).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(s, 400, "{path}: {text}");
        assert!(text.contains("reports.max_rows 100"), "{path}: {text}");
    }
    // Under it, fine.
    c.xlsx("/api/v1/history.xlsx?symbol=AAPL&start=2024-06-03&end=2024-06-28")
        .await;
    // A workbook to reconcile over reports.max_upload_bytes: a 413 naming the limit, which
    // is not limits.max_body_bytes (a batch over that one is named as such).
    c.post_413(
        "/api/v1/reconcile",
        "text/csv",
        vec![b'x'; 5000],
        "larger than 1000 bytes (reports.max_upload_bytes)",
    )
    .await;
    // Under it, but over reports.max_cells: a 413 naming the cap.
    c.post_413(
        "/api/v1/reconcile",
        "text/csv",
        "1,2,3,4,5,6,7,8,9,10\n".repeat(6),
        "more than 50 cells",
    )
    .await;
    c.post_413(
        "/api/v1/batch",
        "application/json",
        format!(
            r#"{{"calls":[{{"fn":"quote","args":{{"symbol":"{}"}}}}]}}"#,
            "A".repeat(600)
        ),
        "larger than 500 bytes (limits.max_body_bytes)",
    )
    .await;
    app.shutdown().await;
}

/// The sheet XML of each sheet, by sheet name (from the workbook's relationships).
fn sheet_xml(bytes: &[u8], x: &mut Xlsx<Cursor<Vec<u8>>>) -> Vec<(String, String)> {
    // rust_xlsxwriter names sheet files in sheet order: sheet1.xml, sheet2.xml, ...
    let files = parts(bytes, "xl/worksheets/sheet");
    let mut files: Vec<(usize, String)> = files
        .into_iter()
        .map(|(n, s)| {
            let i: usize = n
                .trim_start_matches("xl/worksheets/sheet")
                .trim_end_matches(".xml")
                .parse()
                .unwrap();
            (i, s)
        })
        .collect();
    files.sort_by_key(|f| f.0);
    x.sheet_names()
        .into_iter()
        .zip(files)
        .map(|(n, (_, s))| (n, s))
        .collect()
}

/// The chain report: a sheet per expiry with calls and puts side by side by strike, the
/// chain's own values, in-the-money rows shaded, an IV smile chart each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_report_sets_calls_beside_puts() {
    let c = Client::shared();
    let q = "underlying=SPY&date=2024-06-28";
    let chain = c
        .json(&format!(
            "/api/v1/chain?{q}&fields=contract,expiry,strike,right,iv,delta,bid,underlying_price"
        ))
        .await;
    let rows = chain["rows"].as_array().unwrap();
    let mut expiries: Vec<i64> = rows.iter().map(|r| r[1].as_i64().unwrap()).collect();
    expiries.sort_unstable();
    expiries.dedup();
    assert!(!expiries.is_empty());
    let bytes = c.xlsx(&format!("/api/v1/report/chain.xlsx?{q}")).await;
    let mut x = open(&bytes);
    let names = x.sheet_names();
    assert_eq!(names.len(), expiries.len() + 1, "{names:?}");
    for n in &names {
        assert!(valid_sheet_name(n), "{n:?}");
    }
    let xml = sheet_xml(&bytes, &mut x);
    for (i, e) in expiries.iter().enumerate() {
        let sheet = &names[i];
        let r = x.worksheet_range(sheet).unwrap();
        let header: Vec<String> = (0..19)
            .map(|c| r.get((0, c)).unwrap().to_string())
            .collect();
        assert_eq!(header[0], "call_bid");
        assert_eq!(header[9], "strike");
        assert_eq!(header[14], "put_iv");
        let mine: Vec<&Value> = rows.iter().filter(|r| r[1].as_i64() == Some(*e)).collect();
        let mut strikes: Vec<f64> = mine.iter().map(|r| r[2].as_f64().unwrap()).collect();
        strikes.sort_by(f64::total_cmp);
        strikes.dedup();
        assert_eq!(r.get_size().0, strikes.len() + 1, "{sheet}");
        for row in &mine {
            let k = row[2].as_f64().unwrap();
            let line = 1 + strikes.iter().position(|s| *s == k).unwrap();
            let iv_col = if row[3] == "C" { 4 } else { 14 };
            let bid_col = if row[3] == "C" { 0 } else { 10 };
            assert_eq!(r.get((line, 9)).unwrap().as_f64(), Some(k));
            for (col, want) in [(iv_col, &row[4]), (bid_col, &row[6])] {
                let got = r.get((line, col)).unwrap();
                match want.as_f64() {
                    Some(v) => assert!((got.as_f64().unwrap() - v).abs() < 1e-12, "{sheet} {k}"),
                    None => assert_eq!(got, &Data::Empty, "{sheet} {k}"),
                }
            }
        }
        let spot = rows.iter().find_map(|r| r[7].as_f64()).unwrap();
        let sx = &xml[i].1;
        assert!(
            sx.contains("<conditionalFormatting sqref=\"A2:I"),
            "{sheet}: calls shaded"
        );
        assert!(
            sx.contains(&format!("$J2&lt;{spot}")),
            "{sheet}: against the spot"
        );
        assert!(
            sx.contains(&format!("$J2&gt;{spot}")),
            "{sheet}: puts shaded"
        );
    }
    let charts = parts(&bytes, "xl/charts/chart");
    assert_eq!(charts.len(), expiries.len());
    assert!(charts.iter().all(|c| c.1.contains("<c:scatterChart>")));
}

/// The compare report: the statistics as the JSON API gives them, performance from 100, the
/// correlation matrix under a colour scale, a line per symbol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compare_report_normalises_and_colours() {
    let c = Client::shared();
    let q = "symbols=SPY,AAPL&start=2023-07-01&end=2024-06-28";
    let bytes = c.xlsx(&format!("/api/v1/report/compare.xlsx?{q}")).await;
    let mut x = open(&bytes);
    let names = x.sheet_names();
    assert_eq!(
        names,
        ["compare statistics", "performance", "correlation", "About"]
    );
    let stats = c.json(&format!("/api/v1/compare?{q}")).await;
    same_as_json(
        &mut x,
        "compare statistics",
        &stats,
        "compare report statistics",
    );
    let corr = c
        .json(&format!("/api/v1/compare?{q}&metric=correlation"))
        .await;
    same_as_json(&mut x, "correlation", &corr, "compare report correlation");
    let perf = x.worksheet_range("performance").unwrap();
    assert_eq!(perf.get((1, 1)), Some(&Data::Float(100.0)));
    assert_eq!(perf.get((1, 2)), Some(&Data::Float(100.0)));
    assert!(perf.get_size().0 > 200, "a year of common days");
    let xml = sheet_xml(&bytes, &mut x);
    assert!(
        xml[2].1.contains("<colorScale>"),
        "the matrix has a colour scale"
    );
    let charts = parts(&bytes, "xl/charts/chart");
    assert_eq!(charts.len(), 1);
    assert_eq!(
        charts[0].1.matches("<c:ser>").count(),
        2,
        "a line per symbol"
    );
}

/// The IV surface report: a row per expiry with sane volatilities, two charts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ivsurface_report_has_a_row_per_expiry() {
    let c = Client::shared();
    let q = "underlying=SPY&date=2024-06-28";
    let chain = c.json(&format!("/api/v1/chain?{q}&fields=expiry")).await;
    let mut expiries: Vec<i64> = chain["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    expiries.sort_unstable();
    expiries.dedup();
    let bytes = c.xlsx(&format!("/api/v1/report/ivsurface.xlsx?{q}")).await;
    let mut x = open(&bytes);
    let r = x.worksheet_range("ivsurface SPY").unwrap();
    assert_eq!(r.get_size().0, expiries.len() + 1);
    let mut atm_seen = 0;
    for (i, e) in expiries.iter().enumerate() {
        let Some(Data::DateTime(d)) = r.get((i + 1, 0)) else {
            panic!("expiry not a date cell");
        };
        assert_eq!(d.as_f64() as i64, *e);
        if let Some(Data::Float(atm)) = r.get((i + 1, 2)) {
            assert!(*atm > 0.01 && *atm < 3.0, "atm iv {atm}");
            atm_seen += 1;
        }
    }
    assert!(atm_seen > 0, "some expiry has an ATM IV");
    assert_eq!(parts(&bytes, "xl/charts/chart").len(), 2);
}

/// `xlserver report`: one report from the command line, then a spec's reports to a folder;
/// a report that fails is named and makes the exit status 1, the others are still written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlserver_report_writes_files_for_a_nightly_job() {
    let dir = tempfile::tempdir().unwrap();
    {
        let feed = xlfeed_store::Store::open(&format!("embedded://{}/feed", dir.path().display()))
            .await
            .unwrap();
        let post = xlfeed_store::Store::open(&format!("embedded://{}/post", dir.path().display()))
            .await
            .unwrap();
        xlfeed_server::demo::prepare(&common::demo_args(dir.path()), &feed, &post)
            .await
            .unwrap();
    }
    let out = dir.path().join("out");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_xlserver"))
            .arg("report")
            .arg("--data")
            .arg(dir.path())
            .arg("--out")
            .arg(&out)
            .args(args)
            .env_remove("XLFEED_CONFIG")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&[
        "history",
        "symbol=AAPL",
        "start=2024-06-03",
        "end=2024-06-28",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let file = out.join("report-history-AAPL.xlsx");
    assert!(stdout.contains(&file.display().to_string()), "{stdout}");
    let mut x = open(&std::fs::read(&file).unwrap());
    assert_eq!(
        x.worksheet_range("history AAPL").unwrap().get_size().0,
        19 + 1,
        "19 trading days (Juneteenth is a holiday)"
    );
    let spec = dir.path().join("reports.toml");
    std::fs::write(
        &spec,
        r#"
[[report]]
function = "ticks"
args = { symbol = "SPY", start = "2024-06-28", limit = 50 }
file = "spy-ticks.xlsx"

[[report]]
report = "history"
args = { symbol = "NOPE", start = "2024-06-03" }

[[report]]
report = "compare"
args = { symbols = "SPY,AAPL", start = "2024-01-02", end = "2024-06-28" }
"#,
    )
    .unwrap();
    let (code, stdout, stderr) = run(&["--spec", spec.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("NOPE"), "{stderr}");
    let mut x = open(&std::fs::read(out.join("spy-ticks.xlsx")).unwrap());
    assert_eq!(x.worksheet_range("ticks SPY").unwrap().get_size().0, 51);
    assert!(
        out.join("report-compare-SPY_AAPL.xlsx").is_file(),
        "{stdout}"
    );
    // Nothing half-written is left behind.
    for e in std::fs::read_dir(&out).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(n.ends_with(".xlsx") && !n.starts_with('.'), "{n}");
    }
    // A spec that names a file outside the folder is refused before anything is written.
    std::fs::write(
        &spec,
        "[[report]]\nreport = \"history\"\nargs = { symbol = \"AAPL\", start = \"2024-06-03\" }\nfile = \"../escape.xlsx\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&["--spec", spec.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("../escape.xlsx"), "{stderr}");
    assert!(!dir.path().join("escape.xlsx").exists());
}

/// `POST /api/v1/reconcile`: a history report the server wrote matches itself; one cell
/// changed is exactly one mismatch at its address; hostile uploads are 4xx naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_reconciles_with_the_store() {
    let c = Client::shared();
    let q = "symbol=AAPL&start=2024-06-03&end=2024-06-28";
    let report = c.xlsx(&format!("/api/v1/report/history.xlsx?{q}")).await;
    let post = |body: Vec<u8>, query: &str| {
        c.http
            .post(format!("{}/api/v1/reconcile{query}", c.base))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let r = post(report.clone(), "").await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["mismatched"], 0, "{v}");
    assert_eq!(v["cells_compared"].as_u64().unwrap(), 19 * 5, "{v}");
    // Change one close (E6) with calamine's view of the sheet rewritten by rust_xlsxwriter.
    let mut x = open(&report);
    let r0 = x.worksheet_range("history AAPL").unwrap();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("history AAPL").unwrap();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (i, row) in r0.rows().enumerate() {
        for (j, cell) in row.iter().enumerate() {
            let (i, j) = (i as u32, j as u16);
            match cell {
                Data::String(s) => {
                    ws.write_string(i, j, s).unwrap();
                }
                Data::DateTime(d) => {
                    ws.write_number_with_format(i, j, d.as_f64(), &date)
                        .unwrap();
                }
                Data::Float(f) if (i, j) == (5, 4) => {
                    ws.write_number(i, j, f + 1.0).unwrap();
                }
                Data::Float(f) => {
                    ws.write_number(i, j, *f).unwrap();
                }
                _ => {}
            }
        }
    }
    let changed = wb.save_to_buffer().unwrap();
    let v: Value = post(changed, "?symbol=AAPL")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["mismatched"], 1, "{v}");
    assert_eq!(v["mismatches"][0]["cell"], "E6", "{v}");
    for (body, query, status, names) in [
        (b"hello, not a workbook".to_vec(), "", 400, ""),
        (report.clone(), "?abs_tol=-1", 400, "-1"),
    ] {
        let r = post(body, query).await.unwrap();
        assert_eq!(r.status(), status, "{query}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(names),
            "{v}"
        );
    }
}

/// Issue 15: the server's own quote and chain workbooks (`/api/v1/quote.xlsx`,
/// `/api/v1/chain.xlsx`, the chain report), posted back to `POST /api/v1/reconcile`, match
/// the stores cell for cell: the About sheet says which time and day they were asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_and_chain_workbooks_reconcile_with_the_store() {
    let c = Client::shared();
    for (path, shape) in [
        ("/api/v1/quote.xlsx?symbol=SPY", "quote"),
        (
            "/api/v1/quote.xlsx?symbol=SPY&at=2024-06-28T12:00:00",
            "quote",
        ),
        ("/api/v1/chain.xlsx?underlying=SPY&date=2024-06-28", "chain"),
        (
            "/api/v1/chain.xlsx?underlying=SPY&date=2024-06-28&at=2024-06-28T12:00:00&fields=occ,expiry,strike,right,trades,volume,underlying_price,rho",
            "chain",
        ),
        (
            "/api/v1/report/chain.xlsx?underlying=SPY&date=2024-06-28",
            "chain",
        ),
    ] {
        let book = c.xlsx(path).await;
        let r = c
            .http
            .post(format!("{}/api/v1/reconcile", c.base))
            .header("content-type", "application/octet-stream")
            .body(book)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {v}");
        assert_eq!(v["mismatched"], 0, "{path}: {v}");
        assert_eq!(v["extra_days"], 0, "{path}: {v}");
        assert!(v["cells_compared"].as_u64().unwrap() > 5, "{path}: {v}");
        let tables = v["tables"].as_array().unwrap();
        assert!(!tables.is_empty(), "{path}: {v}");
        assert!(tables.iter().all(|t| t["shape"] == shape), "{path}: {v}");
    }
}
