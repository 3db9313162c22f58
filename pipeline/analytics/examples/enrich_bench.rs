//! The postprocess benchmark's data and our side of it (issue 5, item 9).
//!
//! Generates a deterministic synthetic day: `--underlying` trades of one underlying over the
//! 09:30–16:00 New York session of 2024-06-06 and `--options` option trades on it (expiries
//! from the same day to two years, strikes around the spot, calls and puts, priced with
//! Black–Scholes–Merton on a volatility smile at the paired underlying price and rounded to the
//! cent, the rate from a SOFR curve and the dividend yield from a quarterly schedule), writes
//! them as raw little-endian columns under `--out` (default `target/peer-data`, read by
//! `benches/peers/postprocess_peer.py` with `numpy.fromfile`), then times the stage's maths over
//! every option trade: the backward as-of join with the underlying (`asof::asof`), the implied
//! volatility and all Greeks (`iv::enrich_batch`, blocks of 512 trades), on one thread and on
//! two (the option trades split in halves), the median of `--runs` runs each. Our results go
//! to `ours_*.f64` (NaN where no volatility) and `ours_pair.i64` (the paired underlying row,
//! -1 for none), the timings to `ours.json`, for the peer's report.
//!
//! ```sh
//! cargo run --release -p xlfeed-analytics --example enrich_bench -- [--options 1000000]
//!     [--underlying 5000000] [--runs 5] [--out target/peer-data]
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use xlfeed_analytics::asof::{Direction, asof};
use xlfeed_analytics::bsm::{self, Contract, Right};
use xlfeed_analytics::dividends::{self, day_number};
use xlfeed_analytics::iv;
use xlfeed_analytics::rates::Curve;
use xlfeed_core::records::{Dividend, RatePoint};

/// 2024-06-06 13:30:00 UTC (09:30 New York), nanoseconds.
const OPEN_NS: i64 = 1_717_680_600_000_000_000;
/// The session's length, 6.5 hours, in nanoseconds.
const SESSION_NS: i64 = 23_400_000_000_000;
/// The trade date.
const TRADE_DAY: u32 = 20240606;
/// Expiries, in calendar days after the trade date (0: same day).
const EXPIRY_DAYS: [i64; 14] = [0, 1, 2, 3, 7, 14, 21, 30, 45, 63, 91, 182, 364, 728];
/// How often each expiry trades, in the same order (short-dated options trade most).
const EXPIRY_WEIGHTS: [u32; 14] = [30, 10, 8, 6, 8, 6, 5, 6, 4, 4, 4, 4, 3, 2];

fn main() -> Result<()> {
    let args = Args::parse()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;

    let started = Instant::now();
    let day = Day::generate(args.options, args.underlying)?;
    println!(
        "generated {} option trades and {} underlying trades in {:.1} s",
        day.options.len(),
        day.und_time.len(),
        started.elapsed().as_secs_f64()
    );
    day.write(&args.out)?;

    let mut one = Vec::new();
    let mut two = Vec::new();
    let mut join = Vec::new();
    let mut out = Outputs::new(day.options.len());
    for run in 0..args.runs {
        let secs = time(|| enrich(&day, &mut out, 1));
        one.push(secs);
        let secs2 = time(|| enrich(&day, &mut out, 2));
        two.push(secs2);
        join.push(time(|| {
            std::hint::black_box(asof(
                &day.options.time,
                &day.und_time,
                Direction::Backward,
                None,
            ));
        }));
        println!(
            "run {}: one thread {:.3} s ({:.2} M options/s), two threads {:.3} s ({:.2} M options/s)",
            run + 1,
            secs,
            day.options.len() as f64 / secs / 1e6,
            secs2,
            day.options.len() as f64 / secs2 / 1e6
        );
    }
    let solved = out.iv.iter().filter(|v| v.is_finite()).count();
    let unpaired = out.unpaired;
    let (m1, m2, mj) = (median(&mut one), median(&mut two), median(&mut join));
    let n = day.options.len() as f64;
    println!(
        "median: one thread {:.2} M options/s, two threads {:.2} M options/s; {solved} volatilities, \
         {unpaired} option trades with no underlying trade before them; the join alone {:.1} ms",
        n / m1 / 1e6,
        n / m2 / 1e6,
        mj * 1e3
    );
    out.write(&args.out)?;
    let json = format!(
        "{{\"options\": {}, \"underlying\": {}, \"runs\": {}, \"one_thread_secs\": {:?}, \
         \"two_thread_secs\": {:?}, \"one_thread_median_secs\": {m1}, \"two_thread_median_secs\": {m2}, \
         \"one_thread_options_per_s\": {}, \"two_thread_options_per_s\": {}, \"solved\": {solved}, \
         \"unpaired\": {unpaired}, \"join_median_secs\": {mj}}}\n",
        day.options.len(),
        day.und_time.len(),
        args.runs,
        one,
        two,
        n / m1,
        n / m2
    );
    let path = args.out.join("ours.json");
    std::fs::write(&path, json).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

/// Command-line options.
struct Args {
    options: usize,
    underlying: usize,
    runs: usize,
    out: PathBuf,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut args = Args {
            options: 1_000_000,
            underlying: 5_000_000,
            runs: 5,
            out: PathBuf::from("target/peer-data"),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            let count = || -> Result<usize> {
                let n: usize = value
                    .parse()
                    .with_context(|| format!("{flag} {value:?} is not a count"))?;
                if n == 0 {
                    bail!("{flag} must be at least 1");
                }
                Ok(n)
            };
            match flag.as_str() {
                "--options" => args.options = count()?,
                "--underlying" => args.underlying = count()?,
                "--runs" => args.runs = count()?,
                "--out" => args.out = PathBuf::from(&value),
                other => bail!("unknown option {other:?} (--options, --underlying, --runs, --out)"),
            }
        }
        Ok(args)
    }
}

/// The option trades' columns.
#[derive(Default)]
struct Options {
    time: Vec<i64>,
    price: Vec<f64>,
    strike: Vec<f64>,
    t: Vec<f64>,
    r: Vec<f64>,
    q: Vec<f64>,
    /// `b'c'` or `b'p'`.
    right: Vec<u8>,
    /// The volatility the price was made with.
    vol: Vec<f64>,
}

impl Options {
    fn len(&self) -> usize {
        self.time.len()
    }
}

/// One synthetic day.
struct Day {
    und_time: Vec<i64>,
    und_price: Vec<f64>,
    options: Options,
}

impl Day {
    fn generate(n_options: usize, n_underlying: usize) -> Result<Day> {
        let mut rng = SplitMix(0x5eed_0005);
        // Underlying: exponential gaps, microsecond stamps (so some trades share one), a walk
        // of about 15% a year in log price, on the cent grid.
        let gap = SESSION_NS as f64 / n_underlying as f64;
        let tick_sd = 0.15 / (252.0 * n_underlying as f64).sqrt();
        let (mut clock, mut mid) = (5_000_000.0, 530.0f64);
        let mut und_time = Vec::with_capacity(n_underlying);
        let mut und_price = Vec::with_capacity(n_underlying);
        for _ in 0..n_underlying {
            clock += -gap * (1.0 - rng.uniform()).ln();
            let t = OPEN_NS + (clock.min((SESSION_NS - 1) as f64) as i64) / 1000 * 1000;
            mid *= (tick_sd * rng.normal()).exp();
            und_time.push(t);
            und_price.push((mid * 100.0).round() / 100.0);
        }

        // Option times: uniform over the session, sorted; the first three come before any
        // underlying trade.
        let mut time: Vec<i64> = (0..n_options)
            .map(|i| {
                if i < 3 {
                    OPEN_NS + i as i64 * 1000
                } else {
                    OPEN_NS + (rng.uniform() * SESSION_NS as f64) as i64 / 1000 * 1000
                }
            })
            .collect();
        time.sort_unstable();

        // Rates and dividends per expiry, as the stage would look them up.
        let sofr = Curve {
            name: "SOFR".to_string(),
            date: TRADE_DAY,
            points: [
                (1, 0.0533),
                (30, 0.0533),
                (91, 0.0535),
                (182, 0.0530),
                (365, 0.0515),
            ]
            .iter()
            .map(|&(tenor_days, rate)| RatePoint {
                tenor_days,
                rate,
                convention: 'M',
            })
            .collect(),
        };
        let zeros = sofr.zeros()?;
        let divs = [(20231215, 1.906), (20240315, 1.595)].map(|(ex_date, amount)| Dividend {
            ex_date,
            pay_date: 0,
            amount,
            yield_pct: 0.0,
        });
        let start_day = day_number(TRADE_DAY);
        let expiries: Vec<(i64, f64, f64)> = EXPIRY_DAYS
            .iter()
            .map(|&days| -> Result<(i64, f64, f64)> {
                let r = zeros.rate(days as f64)?;
                let expiry = yyyymmdd(start_day + days);
                let (q, _) = dividends::continuous_yield(530.0, &divs, TRADE_DAY, expiry, r);
                Ok((days, r, q))
            })
            .collect::<Result<_>>()?;
        let total_weight: u32 = EXPIRY_WEIGHTS.iter().sum();

        let mut o = Options::default();
        for &ts in &time {
            let paired = und_time.partition_point(|&u| u <= ts);
            let spot = if paired == 0 {
                und_price[0]
            } else {
                und_price[paired - 1]
            };
            let mut pick = (rng.uniform() * total_weight as f64) as u32;
            let mut e = 0;
            while pick >= EXPIRY_WEIGHTS[e] {
                pick -= EXPIRY_WEIGHTS[e];
                e += 1;
            }
            let (days, r, q) = expiries[e];
            // Time to 16:00 New York on the expiry day, act/365.
            let to_close = (OPEN_NS + SESSION_NS - ts) as f64 / 86_400e9;
            let t = (days as f64 + to_close) / 365.0;
            let forward = spot * ((r - q) * t).exp();
            let spread = 0.2 * t.sqrt().max(0.02);
            let grid = if days < 60 { 1.0 } else { 5.0 };
            let strike =
                ((forward * (1.2 * spread * rng.normal()).exp() / grid).round() * grid).max(grid);
            let m = (strike / forward).ln() / spread;
            let vol = (0.15 - 0.03 * m + 0.01 * m * m).clamp(0.05, 1.5);
            let right = if rng.uniform() < 0.5 {
                Right::Call
            } else {
                Right::Put
            };
            let c = Contract {
                right,
                spot,
                strike,
                t,
                r,
                q,
            };
            let price = ((bsm::price(&c, vol) * 100.0).round() / 100.0).max(0.01);
            o.time.push(ts);
            o.price.push(price);
            o.strike.push(strike);
            o.t.push(t);
            o.r.push(r);
            o.q.push(q);
            o.right.push(if right == Right::Call { b'c' } else { b'p' });
            o.vol.push(vol);
        }
        Ok(Day {
            und_time,
            und_price,
            options: o,
        })
    }

    fn write(&self, dir: &Path) -> Result<()> {
        write_i64(dir, "und_time.i64", &self.und_time)?;
        write_f64(dir, "und_price.f64", &self.und_price)?;
        let o = &self.options;
        write_i64(dir, "opt_time.i64", &o.time)?;
        write_f64(dir, "opt_price.f64", &o.price)?;
        write_f64(dir, "opt_strike.f64", &o.strike)?;
        write_f64(dir, "opt_t.f64", &o.t)?;
        write_f64(dir, "opt_r.f64", &o.r)?;
        write_f64(dir, "opt_q.f64", &o.q)?;
        write_f64(dir, "opt_vol.f64", &o.vol)?;
        write_bytes(dir, "opt_right.u8", &o.right)
    }
}

/// The enriched columns (NaN where there is no volatility).
struct Outputs {
    iv: Vec<f64>,
    delta: Vec<f64>,
    gamma: Vec<f64>,
    vega: Vec<f64>,
    theta: Vec<f64>,
    rho: Vec<f64>,
    /// The paired underlying row, -1 for none.
    pair: Vec<i64>,
    unpaired: usize,
}

impl Outputs {
    fn new(n: usize) -> Outputs {
        Outputs {
            iv: vec![0.0; n],
            delta: vec![0.0; n],
            gamma: vec![0.0; n],
            vega: vec![0.0; n],
            theta: vec![0.0; n],
            rho: vec![0.0; n],
            pair: vec![0; n],
            unpaired: 0,
        }
    }

    fn write(&self, dir: &Path) -> Result<()> {
        write_f64(dir, "ours_iv.f64", &self.iv)?;
        write_f64(dir, "ours_delta.f64", &self.delta)?;
        write_f64(dir, "ours_gamma.f64", &self.gamma)?;
        write_f64(dir, "ours_vega.f64", &self.vega)?;
        write_f64(dir, "ours_theta.f64", &self.theta)?;
        write_f64(dir, "ours_rho.f64", &self.rho)?;
        write_i64(dir, "ours_pair.i64", &self.pair)
    }
}

/// One thread's share of the outputs.
struct Slices<'a> {
    iv: &'a mut [f64],
    delta: &'a mut [f64],
    gamma: &'a mut [f64],
    vega: &'a mut [f64],
    theta: &'a mut [f64],
    rho: &'a mut [f64],
    pair: &'a mut [i64],
}

impl<'a> Slices<'a> {
    fn split(self, at: usize) -> (Slices<'a>, Slices<'a>) {
        let (iv, iv2) = self.iv.split_at_mut(at);
        let (delta, delta2) = self.delta.split_at_mut(at);
        let (gamma, gamma2) = self.gamma.split_at_mut(at);
        let (vega, vega2) = self.vega.split_at_mut(at);
        let (theta, theta2) = self.theta.split_at_mut(at);
        let (rho, rho2) = self.rho.split_at_mut(at);
        let (pair, pair2) = self.pair.split_at_mut(at);
        (
            Slices {
                iv,
                delta,
                gamma,
                vega,
                theta,
                rho,
                pair,
            },
            Slices {
                iv: iv2,
                delta: delta2,
                gamma: gamma2,
                vega: vega2,
                theta: theta2,
                rho: rho2,
                pair: pair2,
            },
        )
    }
}

/// Join, solve and take Greeks for every option trade, on `threads` (1 or 2) threads.
fn enrich(day: &Day, out: &mut Outputs, threads: usize) {
    let n = day.options.len();
    let all = Slices {
        iv: &mut out.iv,
        delta: &mut out.delta,
        gamma: &mut out.gamma,
        vega: &mut out.vega,
        theta: &mut out.theta,
        rho: &mut out.rho,
        pair: &mut out.pair,
    };
    out.unpaired = if threads <= 1 {
        enrich_range(day, 0, all)
    } else {
        let half = n / 2;
        let (a, b) = all.split(half);
        std::thread::scope(|s| {
            let first = s.spawn(|| enrich_range(day, 0, a));
            let second = enrich_range(day, half, b);
            first
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                + second
        })
    };
}

/// The stage's maths for the option trades `start..start + out.iv.len()`; returns how many had
/// no underlying trade at or before them.
fn enrich_range(day: &Day, start: usize, out: Slices<'_>) -> usize {
    /// Option trades handed to the solver at a time (its batches stay in cache).
    const BLOCK: usize = 512;
    let o = &day.options;
    let end = start + out.iv.len();
    let pairs = asof(
        &o.time[start..end],
        &day.und_time,
        Direction::Backward,
        None,
    );
    let mut unpaired = 0;
    let mut items: Vec<(Contract, f64)> = Vec::with_capacity(BLOCK);
    let mut rows: Vec<usize> = Vec::with_capacity(BLOCK);
    let mut results = Vec::with_capacity(BLOCK);
    for (block_start, block) in (0..pairs.len())
        .step_by(BLOCK)
        .map(|b| (b, &pairs[b..(b + BLOCK).min(pairs.len())]))
    {
        items.clear();
        rows.clear();
        results.clear();
        for (offset, pair) in block.iter().enumerate() {
            let k = block_start + offset;
            let i = start + k;
            out.pair[k] = pair.map_or(-1, |j| j as i64);
            let Some(j) = *pair else {
                unpaired += 1;
                out.iv[k] = f64::NAN;
                out.delta[k] = f64::NAN;
                out.gamma[k] = f64::NAN;
                out.vega[k] = f64::NAN;
                out.theta[k] = f64::NAN;
                out.rho[k] = f64::NAN;
                continue;
            };
            let c = Contract {
                right: if o.right[i] == b'c' {
                    Right::Call
                } else {
                    Right::Put
                },
                spot: day.und_price[j],
                strike: o.strike[i],
                t: o.t[i],
                r: o.r[i],
                q: o.q[i],
            };
            items.push((c, o.price[i]));
            rows.push(k);
        }
        iv::enrich_batch(&items, &mut results);
        for (&k, result) in rows.iter().zip(&results) {
            match result {
                Ok((vol, g)) => {
                    out.iv[k] = *vol;
                    out.delta[k] = g.delta;
                    out.gamma[k] = g.gamma;
                    out.vega[k] = g.vega;
                    out.theta[k] = g.theta;
                    out.rho[k] = g.rho;
                }
                Err(_) => {
                    out.iv[k] = f64::NAN;
                    out.delta[k] = f64::NAN;
                    out.gamma[k] = f64::NAN;
                    out.vega[k] = f64::NAN;
                    out.theta[k] = f64::NAN;
                    out.rho[k] = f64::NAN;
                }
            }
        }
    }
    unpaired
}

fn time(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `yyyymmdd` date of a day number (days since 1970-01-01), Hinnant's civil_from_days.
fn yyyymmdd(days: i64) -> u32 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y * 10_000 + m * 100 + d) as u32
}

fn write_f64(dir: &Path, name: &str, v: &[f64]) -> Result<()> {
    write_bytes(
        dir,
        name,
        &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
    )
}

fn write_i64(dir: &Path, name: &str, v: &[i64]) -> Result<()> {
    write_bytes(
        dir,
        name,
        &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
    )
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("failed to write {}", path.display()))
}

/// SplitMix64: a small deterministic generator, so every run makes the same day.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one of the pair).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}
