//! The xlsx writing benchmark (issue 15): one million tick rows of eight columns written as an
//! xlsx workbook by our writer (`xlfeed_server::report::RowWriter`, constant memory), on data
//! that `benches/peers/xlsx_peer.py` (Python XlsxWriter, constant_memory) writes too.
//!
//! ```sh
//! cargo run --release -p xlfeed-server --example xlsx_bench -- --rows 1000000 --runs 5 --data target/peer-data/xlsx
//! ```
//!
//! Writes `DATA/ticks.csv` (the rows: time as an Excel serial, price, size, bid, ask,
//! tick_id, basis, market_center) for the peer, then times our writer `--runs` times, writing
//! `DATA/ours.xlsx`, and prints one JSON line with the median rows per second.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use xlfeed_server::report::RowWriter;
use xlfeed_server::table::Cell;

const COLUMNS: [&str; 8] = [
    "time",
    "price",
    "size",
    "bid",
    "ask",
    "tick_id",
    "basis",
    "market_center",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows = 1_000_000usize;
    let mut runs = 5usize;
    let mut data = PathBuf::from("target/peer-data/xlsx");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--rows" => rows = v.parse()?,
            "--runs" => runs = v.parse()?,
            "--data" => data = PathBuf::from(v),
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    std::fs::create_dir_all(&data)?;
    // 2024-06-12, trades a few milliseconds apart from the open.
    let trades = xlfeed_store::synth::trades(rows, 540.0, 15);
    let cells: Vec<[Cell; 8]> = trades
        .iter()
        .map(|t| {
            [
                Cell::Time(t.time),
                Cell::Num(t.price),
                Cell::Int(t.size),
                Cell::Num(t.bid),
                Cell::Num(t.ask),
                Cell::Int(t.tick_id),
                Cell::Text(t.basis.to_string()),
                Cell::Int(i64::from(t.market_center)),
            ]
        })
        .collect();
    let mut csv = std::io::BufWriter::new(std::fs::File::create(data.join("ticks.csv"))?);
    writeln!(csv, "{}", COLUMNS.join(","))?;
    for c in &cells {
        let Cell::Time(t) = c[0] else { continue };
        let serial = xlfeed_server::report::book_time_serial(t).unwrap_or(0.0);
        let n = |c: &Cell| c.as_f64().unwrap_or(0.0);
        let text = match &c[6] {
            Cell::Text(s) => s.as_str(),
            _ => "",
        };
        writeln!(
            csv,
            "{serial:.12},{},{},{},{},{},{text},{}",
            n(&c[1]),
            n(&c[2]),
            n(&c[3]),
            n(&c[4]),
            n(&c[5]),
            n(&c[7])
        )?;
    }
    csv.flush()?;
    let mut secs = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut w = RowWriter::new("ticks", &COLUMNS, &cells[0], rows as u64, None)
            .map_err(|e| e.message)?;
        for c in &cells {
            w.row(c).map_err(|e| e.message)?;
        }
        let f = std::fs::File::create(data.join("ours.xlsx"))?;
        w.save(std::io::BufWriter::new(f)).map_err(|e| e.message)?;
        secs.push(started.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    let size = std::fs::metadata(data.join("ours.xlsx"))?.len();
    println!(
        "{{\"side\":\"ours\",\"rows\":{rows},\"runs\":{runs},\"median_s\":{median:.3},\"rows_per_s\":{:.0},\"all_s\":{secs:?},\"bytes\":{size}}}",
        rows as f64 / median
    );
    Ok(())
}
