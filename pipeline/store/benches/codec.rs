//! Criterion benchmarks of the chunk codec: encode and decode of one symbol-day of realistic
//! ticks (100,000 trades), reported in ticks per second, and the bytes each tick takes.
//!
//! Run: `cargo bench -p xlfeed-store --bench codec`

#![allow(clippy::expect_used)] // a benchmark: a failure to set up should stop it loudly

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use xlfeed_core::records::Trade;
use xlfeed_store::codec;
use xlfeed_store::synth;

const TICKS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let rows = synth::trades(TICKS, 185.0, 42);
    let chunk = codec::encode(&rows);
    println!(
        "chunk of {TICKS} ticks: {} bytes, {:.2} bytes/tick",
        chunk.len(),
        chunk.len() as f64 / TICKS as f64
    );
    let header = codec::verify(&chunk).expect("a fresh chunk verifies");
    println!(
        "body {} bytes raw, stored {}",
        header.raw_len,
        if header.compressed {
            "lz4-compressed"
        } else {
            "uncompressed"
        }
    );
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Elements(TICKS as u64));
    g.bench_function("encode_100k_ticks", |b| {
        b.iter(|| codec::encode(black_box(&rows)))
    });
    g.bench_function("decode_100k_ticks", |b| {
        b.iter(|| codec::decode::<Trade>(black_box(&chunk)))
    });
    let mut reused: Vec<Trade> = Vec::new();
    g.bench_function("decode_100k_ticks_into_reused_vec", |b| {
        b.iter(|| codec::decode_into::<Trade>(black_box(&chunk), &mut reused))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
