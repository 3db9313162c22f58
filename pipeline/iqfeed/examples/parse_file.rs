//! The tick-parse benchmark of docs/BENCHMARKS.md on a file: writes `--lines` `HTX` reply
//! lines (protocol 6.2, request id `H42`) to a file, then, `--rounds` times, reads it with
//! `cat file > /dev/null` (the read ceiling) and with the parser (read in 1 MiB blocks, every
//! line parsed into a tick), and prints the median of each side by side.
//!
//! Run: `cargo run --release -p xlfeed-iqfeed --example parse_file -- --lines 5000000`
//! (`--file` to choose where the file goes; `--callgrind` parses once, for instruction counts).

#![allow(clippy::expect_used)] // a benchmark: a failure to set up should stop it loudly

#[path = "../benches/support/tick_lines.rs"]
mod tick_lines;

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use xlfeed_iqfeed::wire::Protocol;
use xlfeed_iqfeed::wire::history::{Tick, parse_tick};
use xlfeed_iqfeed::wire::lookup::{Reply, parse_line};
use xlfeed_iqfeed::wire::num::Eastern;
use xlfeed_iqfeed::wire::scan::parse_tick_lines;

/// Writes the benchmark's tick lines to `path`; returns the bytes written.
fn write_file(path: &PathBuf, lines: usize) -> u64 {
    let mut w = BufWriter::new(std::fs::File::create(path).expect("create the file"));
    let mut bytes = 0u64;
    tick_lines::tick_lines(lines, |block| {
        bytes += block.len() as u64;
        w.write_all(block).expect("write");
    });
    w.flush().expect("flush");
    bytes
}

/// Reads and parses the file: (lines, checksum of the sizes so nothing is optimized away).
/// Blocks of 1 MiB are read straight into the buffer the scan walks; the few bytes of a line
/// cut by a block's end move to the front before the next read.
fn parse_file(path: &PathBuf) -> (u64, i64) {
    let mut f = std::fs::File::open(path).expect("open the file");
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut end) = (0usize, 0usize);
    let mut ticks: Vec<Tick> = Vec::with_capacity(16_384);
    let mut clock = Eastern::new();
    let (mut lines, mut sum) = (0u64, 0i64);
    loop {
        buf.copy_within(start..end, 0);
        (start, end) = (0, end - start);
        let n = f.read(&mut buf[end..]).expect("read");
        if n == 0 {
            break;
        }
        end += n;
        loop {
            ticks.clear();
            start += parse_tick_lines(&buf[start..end], tick_lines::PREFIX, &mut clock, &mut ticks);
            lines += ticks.len() as u64;
            sum += ticks.iter().map(|t| t.trade.size).sum::<i64>();
            // The line the scan stopped at (near the block's end, or unusual): line by line.
            let Some(nl) = memchr::memchr(b'\n', &buf[start..end]) else {
                break;
            };
            let line = buf[start..start + nl]
                .strip_suffix(b"\r")
                .unwrap_or(&buf[start..start + nl]);
            let l = parse_line(line, true, Protocol::V62).expect("a valid line");
            if let Reply::Data { fields, .. } = l.reply {
                sum += parse_tick(fields, &mut clock)
                    .expect("a valid tick")
                    .trade
                    .size;
                lines += 1;
            }
            start += nl + 1;
        }
    }
    (lines, sum)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let lines: usize = opt("--lines").map_or(5_000_000, |v| v.parse().expect("--lines N"));
    let rounds: usize = opt("--rounds").map_or(5, |v| v.parse().expect("--rounds N"));
    let path = PathBuf::from(opt("--file").unwrap_or_else(|| "target/htx-5m.txt".into()));
    let bytes = write_file(&path, lines);
    if args.iter().any(|a| a == "--callgrind") {
        println!("{:?}", parse_file(&path));
        return;
    }
    println!(
        "{lines} HTX lines, {bytes} bytes ({:.1} bytes/line) in {}",
        bytes as f64 / lines as f64,
        path.display()
    );
    let (mut cat, mut parse) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let t = Instant::now();
        let status = std::process::Command::new("cat")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run cat");
        assert!(status.success(), "cat failed");
        cat.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (n, sum) = parse_file(&path);
        parse.push(t.elapsed().as_secs_f64());
        assert_eq!(n, lines as u64, "every line parsed");
        println!(
            "round {round}: cat {:.3} s, parse {:.3} s (checksum {sum})",
            cat[round], parse[round]
        );
    }
    let (c, p) = (median(cat), median(parse));
    let mb = bytes as f64 / 1e6;
    println!("| | seconds | lines/s | MB/s |");
    println!("|---|---|---|---|");
    println!(
        "| cat file > /dev/null | {c:.3} | {:.1} M | {:.0} |",
        lines as f64 / c / 1e6,
        mb / c
    );
    println!(
        "| parse into ticks | {p:.3} | {:.1} M | {:.0} |",
        lines as f64 / p / 1e6,
        mb / p
    );
    println!("parse / cat speed: {:.2}", c / p);
}
