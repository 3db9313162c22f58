//! Criterion benchmark of the simulated market: how fast it makes the data the simulator
//! serves. Each figure is per element, so criterion reports elements per second:
//!
//! - `sim/ticks_spy_day`: one SPY session trade by trade (about 45,000 ticks at scale 1);
//! - `sim/ticks_spy_day_x10`: the same session at tick scale 10;
//! - `sim/daily_aapl_year`: a year of AAPL daily bars from a cold market (every session's
//!   prices and sizes walked; elements are the ticks walked);
//! - `sim/option_trades_aapl_chain`: every contract of one day's AAPL chain (elements are the
//!   option trades printed; the underlying session is generated once per market).
//!
//! Run: `cargo bench -p xlfeed-iqfeed --bench sim`

#![allow(clippy::expect_used)] // a benchmark: a failure to set up should stop it loudly

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use xlfeed_core::{Nyse, TradingDay};
use xlfeed_iqfeed::sim::{Market, Universe};

const SEED: u64 = 42;

fn day(s: &str) -> TradingDay {
    TradingDay::parse(s).expect("valid day")
}

fn bench(c: &mut Criterion) {
    let d = day("2024-06-12");
    let mut g = c.benchmark_group("sim");

    for (name, scale) in [("ticks_spy_day", 1.0), ("ticks_spy_day_x10", 10.0)] {
        let market = Market::new(SEED, Universe::standard()).with_tick_scale(scale);
        let n = market.tick_count("SPY", d).expect("known symbol");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter(|| market.ticks(black_box("SPY"), black_box(d)).expect("ticks"))
        });
    }

    let (from, to) = (day("2024-01-01"), day("2024-12-31"));
    let cold = || Market::new(SEED, Universe::standard());
    let counter = cold();
    let walked: usize = Nyse
        .trading_days(from, to)
        .map(|d| counter.tick_count("AAPL", d).expect("known symbol"))
        .sum();
    g.throughput(Throughput::Elements(walked as u64));
    g.sample_size(10);
    g.bench_function("daily_aapl_year", |b| {
        b.iter_batched(
            cold,
            |m| m.daily("AAPL", from, to).expect("daily"),
            BatchSize::LargeInput,
        )
    });

    let chain = cold().chain("AAPL", d).expect("chain");
    let trades: usize = {
        let m = cold();
        chain
            .iter()
            .map(|c| m.option_trades(&c.symbol, d).expect("trades").len())
            .sum()
    };
    g.throughput(Throughput::Elements(trades as u64));
    g.bench_function("option_trades_aapl_chain", |b| {
        b.iter_batched(
            cold,
            |m| {
                chain
                    .iter()
                    .map(|c| m.option_trades(&c.symbol, d).expect("trades").len())
                    .sum::<usize>()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
