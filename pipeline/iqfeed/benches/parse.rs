//! Criterion benchmark of the tick-line parser: a block of `HTX` reply lines, as IQConnect
//! sends them in protocol 6.2 with a request id, parsed into ticks by the one-pass scan and,
//! for comparison, line by line. The file-based figure with `cat` alongside is
//! `examples/parse_file.rs`.
//!
//! Run: `cargo bench -p xlfeed-iqfeed --bench parse`

#![allow(clippy::expect_used)] // a benchmark: a failure to set up should stop it loudly

mod support {
    pub(crate) mod tick_lines;
}
use support::tick_lines;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use xlfeed_iqfeed::wire::history::{Tick, parse_tick};
use xlfeed_iqfeed::wire::lookup::{Reply, parse_line};
use xlfeed_iqfeed::wire::num::Eastern;
use xlfeed_iqfeed::wire::scan::parse_tick_lines;
use xlfeed_iqfeed::wire::{LineSplitter, Protocol};

const LINES: usize = 100_000;

/// `LINES` realistic tick lines.
fn lines() -> Vec<u8> {
    let mut out = Vec::new();
    tick_lines::tick_lines(LINES, |block| out.extend_from_slice(block));
    out
}

/// Line by line: the splitter, the id and record type, then the tick parser.
fn parse_by_line(bytes: &[u8]) -> usize {
    let mut split = LineSplitter::new();
    split.push(bytes);
    let mut clock = Eastern::new();
    let mut n = 0;
    while let Some(line) = split.next_line() {
        let l = parse_line(line, true, Protocol::V62).expect("valid line");
        if let Reply::Data { fields, .. } = l.reply {
            let t = parse_tick(fields, &mut clock).expect("valid tick");
            n += t.trade.size as usize & 1;
        }
    }
    n
}

/// The one-pass scan of the whole buffer, as the client and the file benchmark use it.
fn parse_scan(bytes: &[u8], out: &mut Vec<Tick>) -> usize {
    out.clear();
    let mut clock = Eastern::new();
    let used = parse_tick_lines(bytes, tick_lines::PREFIX, &mut clock, out);
    // The last line (within a word of the end) goes line by line.
    out.len() + parse_by_line(&bytes[used..])
}

fn bench(c: &mut Criterion) {
    let bytes = lines();
    println!(
        "{LINES} tick lines, {} bytes, {:.1} bytes/line",
        bytes.len(),
        bytes.len() as f64 / LINES as f64
    );
    let mut g = c.benchmark_group("iqfeed");
    g.throughput(Throughput::Elements(LINES as u64));
    let mut out = Vec::with_capacity(LINES);
    g.bench_function("scan_100k_tick_lines", |b| {
        b.iter(|| parse_scan(black_box(&bytes), &mut out))
    });
    g.bench_function("parse_100k_tick_lines_by_line", |b| {
        b.iter(|| parse_by_line(black_box(&bytes)))
    });
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("scan_100k_tick_lines_bytes", |b| {
        b.iter(|| parse_scan(black_box(&bytes), &mut out))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
