//! Deterministic random numbers for the simulated market: SplitMix64, one stream per quantity.
//!
//! Every random quantity comes from its own stream, keyed by the market seed, the symbol, the
//! day and a tag naming the quantity (`"close"`, `"prices"`, `"sizes"`, ...). Any day of any
//! symbol can therefore be generated alone, in any order and on any thread, and always comes
//! out the same; and a new kind of draw (a new tag) never shifts the numbers of the old ones.

/// The SplitMix64 increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Stafford's "mix13"): a bijection that scrambles every bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 2^-53, turning 53 random bits into a fraction.
const UNIT: f64 = 1.0 / (1u64 << 53) as f64;

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// The stream for (`seed`, `symbol`, `day` as `yyyymmdd` or 0, `tag`): FNV-1a over the
    /// parts, each followed by a separator byte, then mixed.
    pub(crate) fn stream(seed: u64, symbol: &str, day: u32, tag: &str) -> Rng {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes.iter().chain(&[0xFF]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01B3);
            }
        };
        eat(&seed.to_le_bytes());
        eat(symbol.as_bytes());
        eat(&day.to_le_bytes());
        eat(tag.as_bytes());
        Rng { state: mix(h) }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A fraction in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * UNIT
    }

    /// A fraction in `(0, 1)`, safe to take the logarithm of.
    pub(crate) fn unit_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * UNIT
    }

    /// An integer in `0..n` (0 when `n` is 0), by Lemire's multiply-shift.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A standard normal variate (Box–Muller, cosine branch).
    pub(crate) fn normal(&mut self) -> f64 {
        let r = (-2.0 * self.unit_open().ln()).sqrt();
        r * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// An exponential variate with mean 1.
    pub(crate) fn exp1(&mut self) -> f64 {
        -self.unit_open().ln()
    }

    /// A Poisson variate with mean `lambda` (inversion below 30, a rounded normal above).
    pub(crate) fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda.is_nan() || lambda <= 0.0 {
            return 0;
        }
        if lambda >= 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let u = self.unit();
        let mut p = (-lambda).exp();
        let mut cdf = p;
        let mut k = 0u64;
        while u > cdf && k < 200 {
            k += 1;
            p *= lambda / k as f64;
            cdf += p;
        }
        k
    }
}

/// A cheap, nearly normal variate from 64 random bits: the sum of four 16-bit uniforms
/// (Irwin–Hall), centred and scaled to unit variance. Its tails stop at ±3.46, which is what
/// tick-to-tick price noise wants, at a fraction of the cost of [`Rng::normal`].
pub(crate) fn quick_normal(bits: u64) -> f64 {
    let sum = (bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) + ((bits >> 32) & 0xFFFF) + (bits >> 48);
    // Each part has mean 32767.5 and variance 65536² / 12; four of them, 65536² / 3.
    (sum as f64 - 131_070.0) * (3.0f64.sqrt() / 65_536.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::stream(7, "AAPL", 20240102, "prices");
                move |_| r.next_u64()
            })
            .collect();
        let mut again = Rng::stream(7, "AAPL", 20240102, "prices");
        assert_eq!(a, (0..4).map(|_| again.next_u64()).collect::<Vec<_>>());
        let mut other = Rng::stream(7, "AAPL", 20240102, "sizes");
        assert_ne!(a[0], other.next_u64());
        let mut other_seed = Rng::stream(8, "AAPL", 20240102, "prices");
        assert_ne!(a[0], other_seed.next_u64());
        // The separator keeps ("AB", "C") and ("A", "BC") apart.
        assert_ne!(
            Rng::stream(1, "AB", 0, "C").next_u64(),
            Rng::stream(1, "A", 0, "BC").next_u64()
        );
    }

    #[test]
    fn distributions_have_their_moments() {
        let mut r = Rng::stream(1, "X", 0, "moments");
        let n = 200_000;
        let (mut s1, mut s2, mut q1, mut q2, mut e, mut p) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let z = r.normal();
            s1 += z;
            s2 += z * z;
            let q = quick_normal(r.next_u64());
            q1 += q;
            q2 += q * q;
            e += r.exp1();
            p += r.poisson(3.5) as f64;
        }
        let n = f64::from(n);
        assert!((s1 / n).abs() < 0.01 && (s2 / n - 1.0).abs() < 0.02);
        assert!((q1 / n).abs() < 0.01 && (q2 / n - 1.0).abs() < 0.02);
        assert!((e / n - 1.0).abs() < 0.01);
        assert!((p / n - 3.5).abs() < 0.03);
        assert!((0..1000).all(|_| r.below(7) < 7));
        assert_eq!(r.below(0), 0);
        let big: f64 = (0..1000).map(|_| r.poisson(400.0) as f64).sum::<f64>() / 1000.0;
        assert!((big - 400.0).abs() < 3.0, "{big}");
    }
}
