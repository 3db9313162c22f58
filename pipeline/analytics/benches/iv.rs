//! Criterion benchmarks of the IV and Greeks step of the postprocess stage: implied volatility
//! alone, Greeks alone, and both (`enrich` one option at a time, `enrich_batch` over the whole
//! slice) over one million options of a realistic mix (strike/spot 0.7–1.3, 1 day to 2 years,
//! volatility 10–80 %, rates 0–5 %, yields 0–3 %, calls and puts), reported in options per
//! second on one core. The first solve builds the solver's guess tables (tens of
//! milliseconds, once per process); the set-up below does it before anything is timed.
//!
//! Run: `cargo bench -p xlfeed-analytics --bench iv`

#![allow(clippy::expect_used)] // a benchmark: a failure to set up should stop it loudly

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use xlfeed_analytics::bsm::{Contract, Right, greeks, price};
use xlfeed_analytics::iv::{enrich, enrich_batch, implied_vol};

const OPTIONS: usize = 1_000_000;

/// SplitMix64: a fixed, dependency-free stream of uniforms so every run sees the same mix.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + (hi - lo) * ((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// One million (contract, volatility, price) triples.
fn mix() -> Vec<(Contract, f64, f64)> {
    let mut u = Uniform(20_260_101);
    (0..OPTIONS)
        .map(|i| {
            let spot = u.next(20.0, 500.0);
            let c = Contract {
                right: if i % 2 == 0 { Right::Call } else { Right::Put },
                spot,
                strike: spot * u.next(0.7, 1.3),
                t: u.next(1.0, 730.0).round() / 365.0,
                r: u.next(0.0, 0.05),
                q: u.next(0.0, 0.03),
            };
            let vol = u.next(0.1, 0.8);
            (c, vol, price(&c, vol))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let options = mix();
    // Accuracy on the same mix: the largest error where the price pins the volatility to
    // 1e-12 (its half-ulp is worth less than that much volatility), and how many prices do not.
    let (mut solved, mut pinned, mut worst) = (0, 0, 0.0f64);
    for (c, vol, p) in &options {
        if let Ok(iv) = implied_vol(c, *p) {
            solved += 1;
            let vega = greeks(c, *vol).vega * 100.0;
            if 0.5 * f64::EPSILON * p / vega <= 1e-12 {
                pinned += 1;
                worst = worst.max((iv - vol).abs());
            }
        }
    }
    println!(
        "{OPTIONS} options: {solved} solved ({} flagged: no time value left in f64); {pinned} priced precisely enough to pin the vol to 1e-12, max |iv − vol| there {worst:.1e}",
        OPTIONS - solved
    );
    let mut g = c.benchmark_group("iv");
    g.throughput(Throughput::Elements(OPTIONS as u64));
    g.sample_size(10);
    g.bench_function("implied_vol_1m", |b| {
        b.iter(|| {
            options
                .iter()
                .map(|(c, _, p)| implied_vol(black_box(c), black_box(*p)).unwrap_or(0.0))
                .sum::<f64>()
        })
    });
    g.bench_function("greeks_1m", |b| {
        b.iter(|| {
            options
                .iter()
                .map(|(c, v, _)| greeks(black_box(c), black_box(*v)).delta)
                .sum::<f64>()
        })
    });
    g.bench_function("enrich_1m", |b| {
        b.iter(|| {
            options
                .iter()
                .map(|(c, _, p)| match enrich(black_box(c), black_box(*p)) {
                    Ok((iv, gk)) => iv + gk.delta,
                    Err(_) => 0.0,
                })
                .sum::<f64>()
        })
    });
    let items: Vec<(Contract, f64)> = options.iter().map(|(c, _, p)| (*c, *p)).collect();
    let mut out = Vec::with_capacity(OPTIONS);
    g.bench_function("enrich_batch_1m", |b| {
        b.iter(|| {
            out.clear();
            enrich_batch(black_box(&items), &mut out);
            out.len()
        })
    });
    g.bench_function("price_1m", |b| {
        b.iter(|| {
            options
                .iter()
                .map(|(c, v, _)| price(black_box(c), black_box(*v)))
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
