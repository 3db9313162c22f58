//! Criterion benchmark of the tick-line parser: a block of `HTX` reply lines, as IQConnect
//! sends them in protocol 6.2 with a request id, cut into lines and parsed into ticks.
//!
//! Run: `cargo bench -p xlfeed-iqfeed --bench parse`

#![allow(clippy::expect_used)] // a benchmark: a failure to set up should stop it loudly

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use xlfeed_core::Conditions;
use xlfeed_core::records::Trade;
use xlfeed_iqfeed::wire::history::{Tick, parse_tick, write_tick};
use xlfeed_iqfeed::wire::lookup::{Reply, parse_line, write_data_prefix};
use xlfeed_iqfeed::wire::num::Eastern;
use xlfeed_iqfeed::wire::{LineSplitter, Protocol};

const LINES: usize = 100_000;

/// `LINES` realistic tick lines: a session of a liquid stock, milliseconds apart.
fn lines() -> Vec<u8> {
    let mut out = Vec::new();
    let mut micros = 34_200_000_000i64;
    let mut cents = 19_012i64;
    for i in 0..LINES as i64 {
        micros += 1_000 * (1 + (i * 7919) % 400);
        cents += (i * 31) % 5 - 2;
        let p = cents as f64 / 100.0;
        let tick = Tick {
            trade: Trade {
                time: 0,
                price: p,
                size: 100 * (1 + i % 3),
                bid: p - 0.01,
                ask: p + 0.01,
                tick_id: 4_012_345_678 + i,
                basis: 'C',
                market_center: [5, 11, 19, 26][(i % 4) as usize],
                conditions: if i % 10 == 0 {
                    Conditions::parse("3D").expect("valid")
                } else {
                    Conditions::NONE
                },
            },
            total_volume: 1_000_000 + i * 150,
            aggressor: (i % 3) as u8,
            day_code: 2,
        };
        write_data_prefix(&mut out, Some(b"H42"), b"LH", Protocol::V62);
        write_tick(&mut out, &tick, 20240102, micros, true);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn parse_all(bytes: &[u8]) -> usize {
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

fn bench(c: &mut Criterion) {
    let bytes = lines();
    println!(
        "{LINES} tick lines, {} bytes, {:.1} bytes/line",
        bytes.len(),
        bytes.len() as f64 / LINES as f64
    );
    let mut g = c.benchmark_group("iqfeed");
    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("parse_100k_tick_lines", |b| {
        b.iter(|| parse_all(black_box(&bytes)))
    });
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_100k_tick_lines_bytes", |b| {
        b.iter(|| parse_all(black_box(&bytes)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
