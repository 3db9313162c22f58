//! The tick importer's date-time parsing, before and after `xlfeed_core::datetime`: the old
//! hand parser (kept in `support/old_datetime.rs` as it was) against the new one, on the
//! same lines.
//!
//! ```sh
//! cargo bench -p xlfeed-core --bench datetime
//! ```

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xlfeed_core::datetime::parse_datetime;

#[path = "support/old_datetime.rs"]
mod support;

use support::{lines, old};

fn bench(c: &mut Criterion) {
    let lines = lines();
    // The same answers first: the comparison is of equals.
    for l in &lines {
        let (local, offset) = old::parse_datetime(l).expect("old parses");
        let new = parse_datetime(l).expect("new parses");
        assert_eq!((new.local, new.offset), (local, offset), "{l}");
    }
    let mut g = c.benchmark_group("tick_time");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("old_hand_parser", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(old::parse_datetime(black_box(l)).ok());
            }
        })
    });
    g.bench_function("core_datetime", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(parse_datetime(black_box(l)).ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
