//! The statistics behind the query server's compare API (`=MKT.COMPARE(symbols, start, end,
//! [metric])` in Excel), pure (no I/O, no async).
//!
//! The server reads each symbol's daily closes over `[start, end]`, [`align`]s them on the
//! dates they all have, and asks for per-series statistics ([`series_stats`]), statistics of
//! each series against the first one as benchmark ([`pair_stats`]) and rolling realized
//! volatility ([`rolling_realized_vol`]).
//!
//! Conventions, shared by every function here:
//!
//! - A year is [`TRADING_DAYS_PER_YEAR`] = 252 daily observations; annualizing multiplies a
//!   daily mean by 252 and a daily standard deviation by √252.
//! - Standard deviations, variances and covariances are *sample* ones (divided by `n − 1`),
//!   computed in two passes (mean first, then the sum of squared deviations, with the
//!   rounding of the mean corrected), so that they stay accurate for prices far from zero.
//! - Closes must be finite and positive. Every `Option<f64>` is `None`, never NaN or ±∞,
//!   when the number is undefined: too few points, a variance of zero, or a result beyond the
//!   range of `f64`.
//! - A variance counts as zero for a division (a correlation, a beta, a z-score) when the
//!   sample standard deviation is at most [`ROUNDING_REL`] (10⁻¹²) times the scale of the
//!   values: the largest `|x|` for levels, the largest price relative `|1 + r|` for returns.
//!   Below that the variation is rounding in the inputs, and dividing by it would report noise.

/// Daily observations in a year: the annualization factor for means (×252) and for standard
/// deviations (×√252).
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;

/// A standard deviation at most this times the values' scale counts as zero when dividing by
/// it (see the module docs).
pub const ROUNDING_REL: f64 = 1e-12;

/// A daily close series: dates yyyymmdd ascending (u32, e.g. 20240612), closes > 0.
///
/// `dates[i]` is the date of `closes[i]`; if the two slices differ in length, only the common
/// prefix counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Series<'a> {
    /// Trading dates as yyyymmdd, ascending.
    pub dates: &'a [u32],
    /// The close on each date, finite and positive.
    pub closes: &'a [f64],
}

/// Closes of several series on the dates all of them have (inner join on date), in date order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Aligned {
    /// The dates every series has a usable close on, strictly ascending.
    pub dates: Vec<u32>,
    /// One `Vec` per input series, in input order, each as long as `dates`: `closes[s][i]` is
    /// series `s`'s close on `dates[i]`.
    pub closes: Vec<Vec<f64>>,
}

impl Aligned {
    /// The number of aligned dates.
    pub fn len(&self) -> usize {
        self.dates.len()
    }

    /// Whether no date is common to all the series.
    pub fn is_empty(&self) -> bool {
        self.dates.is_empty()
    }
}

/// Inner-joins the series on date: the result has the dates present in every series, in
/// ascending order, and each series' close on them.
///
/// Input that breaks the [`Series`] contract is dropped rather than joined: a close that is not
/// finite and positive counts as missing on its date, and a date not greater than the previous
/// kept date of the same series (a duplicate or out of order) is skipped, so the first
/// occurrence of a date wins. No series gives an empty result.
pub fn align(series: &[Series<'_>]) -> Aligned {
    let cleaned: Vec<Vec<(u32, f64)>> = series.iter().map(clean).collect();
    let mut out = Aligned {
        dates: Vec::new(),
        closes: vec![Vec::new(); cleaned.len()],
    };
    if cleaned.is_empty() {
        return out;
    }
    // k-way intersection: move every cursor up to the largest current date; when all agree,
    // that date is common.
    let mut pos = vec![0usize; cleaned.len()];
    'join: loop {
        let mut target = 0u32;
        for (s, points) in cleaned.iter().enumerate() {
            match points.get(pos[s]) {
                Some(&(date, _)) => target = target.max(date),
                None => break 'join,
            }
        }
        let mut all_match = true;
        for (s, points) in cleaned.iter().enumerate() {
            while let Some(&(date, _)) = points.get(pos[s]) {
                if date >= target {
                    break;
                }
                pos[s] += 1;
            }
            match points.get(pos[s]) {
                Some(&(date, _)) => all_match &= date == target,
                None => break 'join,
            }
        }
        if all_match {
            out.dates.push(target);
            for (s, points) in cleaned.iter().enumerate() {
                out.closes[s].push(points[pos[s]].1);
                pos[s] += 1;
            }
        }
    }
    out
}

/// The usable `(date, close)` points of a series: valid closes on strictly ascending dates.
fn clean(series: &Series<'_>) -> Vec<(u32, f64)> {
    let mut points: Vec<(u32, f64)> = Vec::with_capacity(series.dates.len());
    for (&date, &close) in series.dates.iter().zip(series.closes) {
        if !valid_close(close) || points.last().is_some_and(|&(last, _)| date <= last) {
            continue;
        }
        points.push((date, close));
    }
    points
}

/// Simple returns `r[i] = close[i+1] / close[i] − 1` (length `n − 1`, empty for fewer than 2
/// closes), computed as `(close[i+1] − close[i]) / close[i]`, which keeps small returns exact.
///
/// Closes must be finite and positive; a return next to one that is not is not finite either.
pub fn simple_returns(closes: &[f64]) -> Vec<f64> {
    closes.windows(2).map(|w| (w[1] - w[0]) / w[0]).collect()
}

/// Log returns `r[i] = ln(close[i+1] / close[i])` (length `n − 1`, empty for fewer than 2
/// closes), computed as `ln_1p((close[i+1] − close[i]) / close[i])`, which keeps small returns
/// exact.
///
/// Closes must be finite and positive; a return next to one that is not is not finite either.
pub fn log_returns(closes: &[f64]) -> Vec<f64> {
    closes
        .windows(2)
        .map(|w| ((w[1] - w[0]) / w[0]).ln_1p())
        .collect()
}

/// Per-series statistics over aligned closes `c[0..n]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesStats {
    /// The first close, `c[0]`.
    pub first: f64,
    /// The last close, `c[n−1]`.
    pub last: f64,
    /// `c[n−1] / c[0] − 1`.
    pub total_return: f64,
    /// The geometric return per year, `(c[n−1] / c[0])^(252 / (n − 1)) − 1`, counting each
    /// step between closes as one trading day (a window shorter than a year is extrapolated).
    /// `None` when it is beyond the range of `f64`.
    pub annualized_return: Option<f64>,
    /// The sample standard deviation (`n − 1` divisor) of the `n − 1` log returns times √252.
    /// `None` with fewer than 2 returns (3 closes).
    pub annualized_vol: Option<f64>,
    /// The deepest fall from a running high: `min over i of c[i] / max(c[0..=i]) − 1`, in
    /// `[-1, 0]`, e.g. `-0.23`; `0` when the series never falls.
    pub max_drawdown: f64,
    /// Index (into the aligned dates) of the high the deepest fall starts from: the last close
    /// at that high before the trough. `0` when there is no fall.
    pub drawdown_peak: usize,
    /// Index (into the aligned dates) of the low of the deepest fall, the first one if several
    /// are as deep. `0` when there is no fall.
    pub drawdown_trough: usize,
    /// The number of closes, `n`.
    pub observations: usize,
}

/// The statistics of one series of aligned closes (see [`SeriesStats`] for each formula).
///
/// `None` when there are fewer than 2 closes, any close is not finite and positive (then no
/// return, drawdown or total means anything), or the total return is beyond the range of `f64`
/// (closes some 300 orders of magnitude apart).
pub fn series_stats(closes: &[f64]) -> Option<SeriesStats> {
    let n = closes.len();
    if n < 2 || !closes.iter().all(|&c| valid_close(c)) {
        return None;
    }
    let (first, last) = (closes[0], closes[n - 1]);
    let total_return = finite((last - first) / first)?;
    let periods = (n - 1) as f64;
    let annualized_return =
        finite((TRADING_DAYS_PER_YEAR / periods * total_return.ln_1p()).exp_m1());
    let annualized_vol =
        sample_stdev(&log_returns(closes)).and_then(|sd| finite(sd * TRADING_DAYS_PER_YEAR.sqrt()));

    let (mut peak, mut peak_close) = (0usize, first);
    let (mut max_drawdown, mut drawdown_peak, mut drawdown_trough) = (0.0f64, 0usize, 0usize);
    for (i, &c) in closes.iter().enumerate() {
        if c >= peak_close {
            (peak, peak_close) = (i, c);
            continue;
        }
        let drawdown = c / peak_close - 1.0;
        if drawdown < max_drawdown {
            (max_drawdown, drawdown_peak, drawdown_trough) = (drawdown, peak, i);
        }
    }

    Some(SeriesStats {
        first,
        last,
        total_return,
        annualized_return,
        annualized_vol,
        max_drawdown,
        drawdown_peak,
        drawdown_trough,
        observations: n,
    })
}

/// Statistics of series `a` against benchmark `b` (same length, aligned).
///
/// `ra`, `rb` are the simple returns of `a` and `b` ([`simple_returns`]), `m` their number
/// (`n − 1`); means, variances and covariances are sample ones over the `m` returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairStats {
    /// Pearson correlation of the simple returns, `cov(ra, rb) / √(var(ra) · var(rb))`, in
    /// `[-1, 1]`. `None` with fewer than 2 returns or when either variance is zero.
    pub correlation: Option<f64>,
    /// `cov(ra, rb) / var(rb)`, the OLS slope of `ra` on `rb`. `None` with fewer than 2
    /// returns or when `var(rb)` is zero.
    pub beta: Option<f64>,
    /// The OLS intercept of `ra` on `rb` per year, `252 · (mean(ra) − beta · mean(rb))`
    /// (Jensen's alpha with a zero risk-free rate). `None` when `beta` is.
    pub alpha_annualized: Option<f64>,
    /// The sample standard deviation of `ra − rb` times √252. `None` with fewer than 2 returns.
    pub tracking_error: Option<f64>,
    /// `(1 + total return of a) / (1 + total return of b) − 1`, i.e.
    /// `(a[n−1] / a[0]) / (b[n−1] / b[0]) − 1`.
    pub relative_performance: f64,
    /// Moments of the spread `a[i] − b[i]`.
    pub spread: Moments,
    /// Moments of the ratio `a[i] / b[i]`.
    pub ratio: Moments,
}

/// Summary of a sequence of values `x[0..n]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// The arithmetic mean, `Σ x / n`.
    pub mean: f64,
    /// The sample standard deviation, `√(Σ (x − mean)² / (n − 1))`. `None` when `n < 2`.
    pub stdev: Option<f64>,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The last value, `x[n−1]`.
    pub last: f64,
    /// How many standard deviations the last value is from the mean, `(last − mean) / stdev`.
    /// `None` when `stdev` is `None` or zero (at most 10⁻¹² × the largest `|x|`).
    pub zscore: Option<f64>,
}

/// The [`Moments`] of `values`. `None` when there are none or any is not finite.
pub fn moments(values: &[f64]) -> Option<Moments> {
    let (&last, _) = values.split_last()?;
    if !values.iter().all(|x| x.is_finite()) {
        return None;
    }
    let mean = mean(values)?;
    let stdev = sample_stdev(values);
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let scale = values.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let zscore = stdev
        .filter(|&sd| !negligible(sd, scale))
        .and_then(|sd| finite((last - mean) / sd));
    Some(Moments {
        mean,
        stdev,
        min,
        max,
        last,
        zscore,
    })
}

/// The statistics of `a` against benchmark `b` (see [`PairStats`] for each formula).
///
/// `None` when the lengths differ, there are fewer than 2 points, any close is not finite and
/// positive, or a spread or ratio is beyond the range of `f64`.
pub fn pair_stats(a: &[f64], b: &[f64]) -> Option<PairStats> {
    let n = a.len();
    if n != b.len() || n < 2 || !a.iter().chain(b).all(|&c| valid_close(c)) {
        return None;
    }
    let ra = simple_returns(a);
    let rb = simple_returns(b);
    let var_a = covariance(&ra, &ra);
    let var_b = covariance(&rb, &rb);
    let cov = covariance(&ra, &rb);
    let scale_a = relative_scale(&ra);
    let scale_b = relative_scale(&rb);
    let usable =
        |var: Option<f64>, scale: f64| var.filter(|&v| !negligible(v.max(0.0).sqrt(), scale));

    let correlation = match (cov, usable(var_a, scale_a), usable(var_b, scale_b)) {
        (Some(c), Some(va), Some(vb)) => finite(c / (va * vb).sqrt()).map(|r| r.clamp(-1.0, 1.0)),
        _ => None,
    };
    let beta = match (cov, usable(var_b, scale_b)) {
        (Some(c), Some(vb)) => finite(c / vb),
        _ => None,
    };
    let alpha_annualized = match (beta, mean(&ra), mean(&rb)) {
        (Some(beta), Some(ma), Some(mb)) => finite(TRADING_DAYS_PER_YEAR * (ma - beta * mb)),
        _ => None,
    };
    let active: Vec<f64> = ra.iter().zip(&rb).map(|(x, y)| x - y).collect();
    let tracking_error =
        sample_stdev(&active).and_then(|sd| finite(sd * TRADING_DAYS_PER_YEAR.sqrt()));
    let relative_performance = (a[n - 1] / a[0]) / (b[n - 1] / b[0]) - 1.0;

    let spread: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let ratio: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    Some(PairStats {
        correlation,
        beta,
        alpha_annualized,
        tracking_error,
        relative_performance: finite(relative_performance)?,
        spread: moments(&spread)?,
        ratio: moments(&ratio)?,
    })
}

/// Close-to-close realized volatility, annualized (sqrt(252)), over each trailing window of
/// `window` log returns: `out[i]` is for the window ending at close `i` (`None` until enough data).
///
/// `out` is as long as `closes`; `out[i]` is the sample standard deviation (`window − 1`
/// divisor) of the log returns `ln(c[k] / c[k−1])` for `k` in `i − window + 1 ..= i`, times
/// √252 — the same estimator as [`SeriesStats::annualized_vol`], so the last entry with
/// `window = n − 1` equals it. `out[i]` is `None` for `i < window`, for every `i` when
/// `window < 2` (a sample standard deviation needs 2 returns), and when a close the window
/// reaches (`c[i − window ..= i]`) is not finite and positive. Each window is computed afresh
/// in two passes (`O(n · window)`), so no rounding accumulates along the series.
pub fn rolling_realized_vol(closes: &[f64], window: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; closes.len()];
    if window < 2 {
        return out;
    }
    // returns[k - 1] is the log return into close k, None if either close is unusable.
    let returns: Vec<Option<f64>> = closes
        .windows(2)
        .map(|w| (valid_close(w[0]) && valid_close(w[1])).then(|| ((w[1] - w[0]) / w[0]).ln_1p()))
        .collect();
    let mut buf = Vec::with_capacity(window);
    for (end, slot) in out.iter_mut().enumerate().skip(window) {
        buf.clear();
        buf.extend(returns[end - window..end].iter().map_while(|r| *r));
        if buf.len() == window {
            *slot = sample_stdev(&buf).and_then(|sd| finite(sd * TRADING_DAYS_PER_YEAR.sqrt()));
        }
    }
    out
}

/// Whether a close can be used: finite and positive.
fn valid_close(c: f64) -> bool {
    c.is_finite() && c > 0.0
}

/// `Some(x)` when `x` is finite.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Whether a standard deviation is rounding noise for values of the given scale.
fn negligible(stdev: f64, scale: f64) -> bool {
    stdev <= ROUNDING_REL * scale
}

/// The scale of returns for [`negligible`]: the largest price relative `|1 + r|`.
fn relative_scale(returns: &[f64]) -> f64 {
    returns.iter().fold(0.0f64, |m, r| m.max((1.0 + r).abs()))
}

/// The mean, with the rounding of `Σ x / n` corrected by a second pass. `None` when empty or
/// not finite.
fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let rough = xs.iter().sum::<f64>() / n;
    finite(rough + xs.iter().map(|x| x - rough).sum::<f64>() / n)
}

/// Sample covariance `Σ (x − x̄)(y − ȳ) / (m − 1)` over the common length `m`, two-pass with
/// the corrected formula `(Σ dx·dy − Σdx · Σdy / m) / (m − 1)`. `None` when `m < 2` or the
/// result is not finite. `covariance(x, x)` is the sample variance.
fn covariance(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let m = xs.len().min(ys.len());
    if m < 2 {
        return None;
    }
    let (xs, ys) = (&xs[..m], &ys[..m]);
    let (mx, my) = (mean(xs)?, mean(ys)?);
    let (mut sxy, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sx += dx;
        sy += dy;
    }
    let m = m as f64;
    finite((sxy - sx * sy / m) / (m - 1.0))
}

/// Sample standard deviation (`n − 1` divisor). `None` when `n < 2` or not finite.
fn sample_stdev(xs: &[f64]) -> Option<f64> {
    covariance(xs, xs).map(|v| v.max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// Asserts `actual` is within `tol` (relative, or absolute near zero) of `expected`.
    #[track_caller]
    fn close_to(actual: f64, expected: f64, tol: f64) {
        let err = (actual - expected).abs() / expected.abs().max(1.0);
        assert!(err <= tol, "{actual} is not {expected} (error {err:e})");
    }

    #[track_caller]
    fn some_close_to(actual: Option<f64>, expected: f64, tol: f64) {
        close_to(actual.unwrap(), expected, tol);
    }

    // Expected values below were computed once with numpy 2.4 (float64), independently of
    // this module:
    //
    //   import numpy as np
    //   c = np.array([100.0, 110.0, 99.0, 105.6, 95.04])
    //   r = c[1:]/c[:-1]-1; lr = np.log(c[1:]/c[:-1]); n = len(c)
    //   total = c[-1]/c[0]-1; ann_ret = (c[-1]/c[0])**(252/(n-1))-1
    //   ann_vol = lr.std(ddof=1)*np.sqrt(252)
    //   peak = np.maximum.accumulate(c); dd = c/peak-1  # dd.min(), dd.argmin()
    //   a = np.array([50.0, 51.0, 50.5, 52.0, 53.5, 53.0, 54.2])
    //   b = np.array([20.0, 20.3, 20.1, 20.6, 21.0, 21.1, 21.3])
    //   ra = a[1:]/a[:-1]-1; rb = b[1:]/b[:-1]-1
    //   corr = np.corrcoef(ra, rb)[0,1]
    //   cov = np.cov(ra, rb, ddof=1); beta = cov[0,1]/cov[1,1]
    //   alpha = (ra.mean()-beta*rb.mean())*252
    //   te = (ra-rb).std(ddof=1)*np.sqrt(252)
    //   relperf = (a[-1]/a[0])/(b[-1]/b[0])-1
    //   for x in (a-b, a/b): m = x.mean(); s = x.std(ddof=1)
    //       # m, s, x.min(), x.max(), x[-1], (x[-1]-m)/s
    //   la = np.log(a[1:]/a[:-1])
    //   roll = [None if i<3 else la[i-3:i].std(ddof=1)*np.sqrt(252) for i in range(len(a))]
    const C: [f64; 5] = [100.0, 110.0, 99.0, 105.6, 95.04];
    const A: [f64; 7] = [50.0, 51.0, 50.5, 52.0, 53.5, 53.0, 54.2];
    const B: [f64; 7] = [20.0, 20.3, 20.1, 20.6, 21.0, 21.1, 21.3];

    #[test]
    fn returns_match_numpy() {
        let expected = [
            0.10000000000000009,
            -0.09999999999999998,
            0.06666666666666665,
            -0.09999999999999987,
        ];
        let simple = simple_returns(&C);
        assert_eq!(simple.len(), 4);
        for (r, e) in simple.iter().zip(expected) {
            close_to(*r, e, 1e-14);
        }
        let expected = [
            0.09531017980432493,
            -0.10536051565782628,
            0.06453852113757116,
            -0.10536051565782616,
        ];
        let log = log_returns(&C);
        assert_eq!(log.len(), 4);
        for (r, e) in log.iter().zip(expected) {
            close_to(*r, e, 1e-14);
        }
        assert!(simple_returns(&[100.0]).is_empty());
        assert!(log_returns(&[]).is_empty());
    }

    #[test]
    fn series_stats_match_numpy() {
        let s = series_stats(&C).unwrap();
        assert_eq!((s.first, s.last, s.observations), (100.0, 95.04, 5));
        close_to(s.total_return, -0.04959999999999998, 1e-14);
        some_close_to(s.annualized_return, -0.9594393467291918, 1e-12);
        some_close_to(s.annualized_vol, 1.7098333383146997, 1e-13);
        // From 110 (index 1) to 95.04 (index 4).
        close_to(s.max_drawdown, -0.1359999999999999, 1e-14);
        assert_eq!((s.drawdown_peak, s.drawdown_trough), (1, 4));
    }

    #[test]
    fn pair_stats_match_numpy() {
        let p = pair_stats(&A, &B).unwrap();
        some_close_to(p.correlation, 0.8814304235426392, 1e-12);
        some_close_to(p.beta, 1.318628149073632, 1e-12);
        some_close_to(p.alpha_annualized, -0.0811123442332362, 1e-11);
        some_close_to(p.tracking_error, 0.15115245015475234, 1e-12);
        close_to(p.relative_performance, 0.017840375586854584, 1e-14);

        close_to(p.spread.mean, 31.400000000000002, 1e-14);
        some_close_to(p.spread.stdev, 1.092397973878264, 1e-12);
        assert_eq!((p.spread.min, p.spread.max), (30.0, 54.2 - 21.3));
        close_to(p.spread.last, 32.900000000000006, 1e-14);
        some_close_to(p.spread.zscore, 1.3731259448190465, 1e-11);

        close_to(p.ratio.mean, 2.5218704649085484, 1e-14);
        some_close_to(p.ratio.stdev, 0.01800216412075382, 1e-12);
        close_to(p.ratio.min, 2.5, 1e-15);
        close_to(p.ratio.max, 2.5476190476190474, 1e-15);
        close_to(p.ratio.last, 2.544600938967136, 1e-15);
        some_close_to(p.ratio.zscore, 1.262652307029174, 1e-11);
    }

    #[test]
    fn rolling_vol_matches_numpy() {
        let expected = [
            None,
            None,
            None,
            Some(0.32401350112431976),
            Some(0.3548120487775708),
            Some(0.3505733961841003),
            Some(0.32256976160866163),
        ];
        let out = rolling_realized_vol(&A, 3);
        assert_eq!(out.len(), A.len());
        for (o, e) in out.iter().zip(expected) {
            match e {
                None => assert_eq!(*o, None),
                Some(e) => some_close_to(*o, e, 1e-13),
            }
        }
    }

    #[test]
    fn rolling_vol_needs_two_returns_and_usable_closes() {
        assert!(rolling_realized_vol(&A, 0).iter().all(Option::is_none));
        assert!(rolling_realized_vol(&A, 1).iter().all(Option::is_none));
        assert!(rolling_realized_vol(&A, 7).iter().all(Option::is_none));
        assert!(rolling_realized_vol(&[], 3).is_empty());
        // A bad close at index 2 spoils the windows that reach it: those ending at 2..=4.
        let mut closes = A;
        closes[2] = f64::NAN;
        let out = rolling_realized_vol(&closes, 2);
        let defined: Vec<bool> = out.iter().map(Option::is_some).collect();
        assert_eq!(defined, [false, false, false, false, false, true, true]);
    }

    #[test]
    fn the_last_rolling_window_over_everything_is_the_series_vol() {
        let out = rolling_realized_vol(&C, C.len() - 1);
        assert_eq!(out[C.len() - 1], series_stats(&C).unwrap().annualized_vol);
    }

    #[test]
    fn a_series_against_itself() {
        let p = pair_stats(&A, &A).unwrap();
        assert_eq!(p.correlation, Some(1.0));
        assert_eq!(p.beta, Some(1.0));
        assert_eq!(p.alpha_annualized, Some(0.0));
        assert_eq!(p.tracking_error, Some(0.0));
        assert_eq!(p.relative_performance, 0.0);
        assert_eq!(
            (p.spread.mean, p.spread.stdev, p.spread.zscore),
            (0.0, Some(0.0), None)
        );
        assert_eq!(
            (p.ratio.mean, p.ratio.stdev, p.ratio.zscore),
            (1.0, Some(0.0), None)
        );
    }

    #[test]
    fn a_flat_benchmark_has_no_beta_or_correlation() {
        let flat = [20.0; 7];
        let p = pair_stats(&A, &flat).unwrap();
        assert_eq!(
            (p.correlation, p.beta, p.alpha_annualized),
            (None, None, None)
        );
        assert!(p.tracking_error.unwrap() > 0.0);
    }

    #[test]
    fn a_ratio_constant_up_to_rounding_has_no_zscore() {
        // 0.1 · x is not exactly x / 10, so the ratios differ in the last bits only.
        let b: Vec<f64> = A.iter().map(|x| x * 0.1).collect();
        let p = pair_stats(&A, &b).unwrap();
        assert_eq!(p.ratio.zscore, None);
        close_to(p.ratio.mean, 10.0, 1e-14);
    }

    #[test]
    fn too_few_points_or_bad_input_give_none() {
        assert_eq!(series_stats(&[]), None);
        assert_eq!(series_stats(&[100.0]), None);
        assert_eq!(series_stats(&[100.0, 0.0, 101.0]), None);
        assert_eq!(series_stats(&[100.0, f64::NAN]), None);
        assert_eq!(pair_stats(&[100.0], &[50.0]), None);
        assert_eq!(pair_stats(&A, &B[..6]), None);
        assert_eq!(pair_stats(&[1.0, -1.0], &[1.0, 1.0]), None);

        // Two closes: a total return but no volatility, no correlation.
        let s = series_stats(&[100.0, 101.0]).unwrap();
        assert_eq!(s.annualized_vol, None);
        let p = pair_stats(&[100.0, 101.0], &[50.0, 49.0]).unwrap();
        assert_eq!(
            (p.correlation, p.beta, p.tracking_error),
            (None, None, None)
        );
        close_to(p.relative_performance, 1.01 / 0.98 - 1.0, 1e-15);
    }

    #[test]
    fn an_annualized_return_beyond_f64_is_none() {
        let s = series_stats(&[1.0, 1e300]).unwrap();
        assert_eq!(s.annualized_return, None);
    }

    #[test]
    fn a_rising_series_has_no_drawdown() {
        let s = series_stats(&[1.0, 2.0, 2.0, 3.0, 10.0]).unwrap();
        assert_eq!(
            (s.max_drawdown, s.drawdown_peak, s.drawdown_trough),
            (0.0, 0, 0)
        );
    }

    #[test]
    fn the_drawdown_starts_at_the_last_close_at_the_high() {
        let s = series_stats(&[100.0, 120.0, 110.0, 120.0, 90.0, 95.0, 90.0]).unwrap();
        assert_eq!((s.drawdown_peak, s.drawdown_trough), (3, 4));
        close_to(s.max_drawdown, -0.25, 1e-15);
    }

    #[test]
    fn align_joins_on_common_dates() {
        let d1 = [20240102, 20240103, 20240104, 20240105, 20240108];
        let c1 = [1.0, 2.0, 3.0, 4.0, 5.0];
        let d2 = [20240103, 20240105, 20240108, 20240109];
        let c2 = [20.0, 40.0, 50.0, 60.0];
        let d3 = [20240101, 20240103, 20240104, 20240105, 20240108];
        let c3 = [100.0, 200.0, 300.0, 400.0, f64::NAN];
        let aligned = align(&[
            Series {
                dates: &d1,
                closes: &c1,
            },
            Series {
                dates: &d2,
                closes: &c2,
            },
            Series {
                dates: &d3,
                closes: &c3,
            },
        ]);
        // 20240108 is dropped: series 3 has no usable close on it.
        assert_eq!(aligned.dates, [20240103, 20240105]);
        assert_eq!(
            aligned.closes,
            [vec![2.0, 4.0], vec![20.0, 40.0], vec![200.0, 400.0]]
        );
        assert_eq!(aligned.len(), 2);
    }

    #[test]
    fn align_with_disjoint_dates_is_empty() {
        let aligned = align(&[
            Series {
                dates: &[20240102, 20240104],
                closes: &[1.0, 2.0],
            },
            Series {
                dates: &[20240103, 20240105],
                closes: &[1.0, 2.0],
            },
        ]);
        assert!(aligned.is_empty());
        assert_eq!(aligned.closes, [Vec::<f64>::new(), Vec::new()]);
        assert_eq!(align(&[]), Aligned::default());
    }

    #[test]
    fn align_keeps_the_first_of_a_repeated_date_and_the_common_prefix() {
        let aligned = align(&[Series {
            dates: &[20240102, 20240102, 20240101, 20240103, 20240104],
            closes: &[1.0, 9.0, 8.0, 3.0],
        }]);
        assert_eq!(aligned.dates, [20240102, 20240103]);
        assert_eq!(aligned.closes, [vec![1.0, 3.0]]);
    }

    /// Closes of a plausible price series, 2 to 60 of them.
    fn closes_strategy() -> impl Strategy<Value = Vec<f64>> {
        (1e-2f64..1e5, prop::collection::vec(-0.5f64..0.5, 1..60)).prop_map(|(start, moves)| {
            let mut closes = vec![start];
            for m in moves {
                let last = closes[closes.len() - 1];
                closes.push(last * (1.0 + m));
            }
            closes
        })
    }

    /// Any f64 close, including zero, negative, NaN and infinite ones.
    fn any_close() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => 1e-6f64..1e9,
            1 => Just(0.0),
            1 => -1e3f64..0.0,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => prop::num::f64::ANY,
        ]
    }

    fn option_ok(x: Option<f64>) -> bool {
        x.is_none_or(f64::is_finite)
    }

    fn moments_ok(m: &Moments) -> bool {
        [m.mean, m.min, m.max, m.last].iter().all(|x| x.is_finite())
            && option_ok(m.stdev)
            && option_ok(m.zscore)
    }

    proptest! {
        #[test]
        fn scaling_a_series_changes_no_return_statistic(
            a in closes_strategy(),
            moves in prop::collection::vec(-0.5f64..0.5, 60),
            k in 1e-3f64..1e3,
        ) {
            let b: Vec<f64> = a.iter().zip(&moves).map(|(x, m)| x * (1.0 + m)).collect();
            let ka: Vec<f64> = a.iter().map(|x| x * k).collect();
            for (r, kr) in simple_returns(&a).iter().zip(simple_returns(&ka)) {
                prop_assert!((r - kr).abs() <= 1e-12 * (1.0 + r.abs()));
            }
            for (r, kr) in log_returns(&a).iter().zip(log_returns(&ka)) {
                prop_assert!((r - kr).abs() <= 1e-12 * (1.0 + r.abs()));
            }
            let (p, kp) = (pair_stats(&a, &b).unwrap(), pair_stats(&ka, &b).unwrap());
            for (x, kx) in [(p.correlation, kp.correlation), (p.beta, kp.beta)] {
                match (x, kx) {
                    (Some(x), Some(kx)) => prop_assert!((x - kx).abs() <= 1e-8 * (1.0 + x.abs())),
                    (x, kx) => prop_assert_eq!(x, kx),
                }
            }
            let (s, ks) = (series_stats(&a).unwrap(), series_stats(&ka).unwrap());
            prop_assert!((s.max_drawdown - ks.max_drawdown).abs() <= 1e-12);
            let total_err = (s.total_return - ks.total_return).abs();
            prop_assert!(total_err <= 1e-12 * (1.0 + s.total_return.abs()));
        }

        #[test]
        fn a_power_of_two_scale_changes_nothing(a in closes_strategy(), e in -20i32..20) {
            let k = 2f64.powi(e);
            let ka: Vec<f64> = a.iter().map(|x| x * k).collect();
            prop_assert_eq!(simple_returns(&a), simple_returns(&ka));
            prop_assert_eq!(log_returns(&a), log_returns(&ka));
            let (s, ks) = (series_stats(&a).unwrap(), series_stats(&ka).unwrap());
            prop_assert_eq!(s.annualized_vol, ks.annualized_vol);
            prop_assert_eq!(s.max_drawdown, ks.max_drawdown);
        }

        #[test]
        fn a_series_against_itself_is_perfectly_tracked(a in closes_strategy()) {
            let p = pair_stats(&a, &a).unwrap();
            prop_assert_eq!(p.tracking_error.unwrap_or(0.0), 0.0);
            prop_assert_eq!(p.relative_performance, 0.0);
            if let Some(beta) = p.beta {
                prop_assert_eq!(beta, 1.0);
                prop_assert_eq!(p.correlation, Some(1.0));
            }
        }

        #[test]
        fn drawdown_is_the_fall_from_peak_to_trough(a in closes_strategy()) {
            let s = series_stats(&a).unwrap();
            prop_assert!((-1.0..=0.0).contains(&s.max_drawdown));
            prop_assert!(s.drawdown_peak <= s.drawdown_trough);
            let fall = a[s.drawdown_trough] / a[s.drawdown_peak] - 1.0;
            prop_assert_eq!(fall.min(0.0), s.max_drawdown);
            let peak = a[..=s.drawdown_trough].iter().cloned().fold(f64::MIN, f64::max);
            prop_assert_eq!(a[s.drawdown_peak], peak);
        }

        #[test]
        fn correlation_is_between_minus_one_and_one(
            a in closes_strategy(),
            b in closes_strategy(),
        ) {
            let n = a.len().min(b.len());
            let correlation = pair_stats(&a[..n], &b[..n]).and_then(|p| p.correlation);
            if let Some(r) = correlation {
                prop_assert!((-1.0..=1.0).contains(&r));
            }
        }

        #[test]
        fn nothing_is_ever_nan_or_infinite(
            a in prop::collection::vec(any_close(), 0..40),
            b in prop::collection::vec(any_close(), 0..40),
            window in 0usize..10,
        ) {
            let n = a.len().min(b.len());
            if let Some(s) = series_stats(&a) {
                prop_assert!(s.first.is_finite() && s.last.is_finite());
                prop_assert!(s.total_return.is_finite() && s.max_drawdown.is_finite());
                prop_assert!(option_ok(s.annualized_return) && option_ok(s.annualized_vol));
                prop_assert!(s.drawdown_trough < s.observations);
            }
            if let Some(p) = pair_stats(&a[..n], &b[..n]) {
                prop_assert!(option_ok(p.correlation) && option_ok(p.beta));
                prop_assert!(option_ok(p.alpha_annualized) && option_ok(p.tracking_error));
                prop_assert!(p.relative_performance.is_finite());
                prop_assert!(moments_ok(&p.spread) && moments_ok(&p.ratio));
            }
            let vol = rolling_realized_vol(&a, window);
            prop_assert_eq!(vol.len(), a.len());
            prop_assert!(vol.iter().all(|v| option_ok(*v)));
            if let Some(m) = moments(&a) {
                prop_assert!(moments_ok(&m));
            }
        }

        #[test]
        fn align_returns_common_dates_in_order(
            sets in prop::collection::vec(
                prop::collection::btree_map(20240101u32..20240160, 1e-3f64..1e3, 0..40),
                0..4,
            ),
        ) {
            let owned: Vec<(Vec<u32>, Vec<f64>)> = sets
                .iter()
                .map(|m| (m.keys().copied().collect(), m.values().copied().collect()))
                .collect();
            let series: Vec<Series<'_>> = owned
                .iter()
                .map(|(d, c)| Series { dates: d, closes: c })
                .collect();
            let aligned = align(&series);
            prop_assert_eq!(aligned.closes.len(), sets.len());
            prop_assert!(aligned.dates.windows(2).all(|w| w[0] < w[1]));
            let expected: Vec<u32> = match sets.split_first() {
                None => Vec::new(),
                Some((first, rest)) => first
                    .keys()
                    .copied()
                    .filter(|d| rest.iter().all(|m| m.contains_key(d)))
                    .collect(),
            };
            prop_assert_eq!(&aligned.dates, &expected);
            for (m, closes) in sets.iter().zip(&aligned.closes) {
                let want: Vec<f64> = aligned.dates.iter().map(|d| m[d]).collect();
                prop_assert_eq!(closes, &want);
            }
        }
    }
}
