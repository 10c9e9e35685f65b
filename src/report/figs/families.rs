//! Helpers shared by the figure builders: families of runs (one line per D, per N), log-spaced
//! samples for drawing laws, colours by model size, and axis labels with units.

use crate::fit::input::data::RunPoint;
use crate::fit::input::source::{FlopsConvention, ParamsConvention};
use crate::fit::stats::t975;

use super::figure::tick_label;

/// At most this many families are drawn as separate lines; more are binned in log space.
pub const MAX_FAMILIES: usize = 8;

/// Runs sharing a value of a key (D for "one line per D"), or a log-space bin of it.
#[derive(Debug, Clone)]
pub struct Family<'a> {
    /// The shared value, or the geometric mean of the bin.
    pub value: f64,
    /// Whether this is a bin of several nearby values.
    pub binned: bool,
    /// The runs.
    pub runs: Vec<&'a RunPoint>,
}

/// Groups `points` by `key` (equal to 1 part in 10⁶), ascending; with more than
/// [`MAX_FAMILIES`] distinct values, into [`MAX_FAMILIES`] equal-width bins of log key
/// (empty bins dropped).
pub fn families<'a>(points: &'a [RunPoint], key: impl Fn(&RunPoint) -> f64) -> Vec<Family<'a>> {
    let mut vals: Vec<f64> = points.iter().map(&key).filter(|v| *v > 0.0 && v.is_finite()).collect();
    vals.sort_by(f64::total_cmp);
    vals.dedup_by(|a, b| (*a / *b - 1.0).abs() < 1e-6);
    if vals.len() <= MAX_FAMILIES {
        return vals
            .iter()
            .map(|&v| Family {
                value: v,
                binned: false,
                runs: points.iter().filter(|p| (key(p) / v - 1.0).abs() < 1e-6).collect(),
            })
            .collect();
    }
    let (lo, hi) = (vals[0].ln(), vals[vals.len() - 1].ln());
    let width = (hi - lo) / MAX_FAMILIES as f64;
    let mut bins: Vec<Vec<&RunPoint>> = vec![Vec::new(); MAX_FAMILIES];
    for p in points {
        let k = key(p);
        if !(k > 0.0 && k.is_finite()) {
            continue;
        }
        let i = (((k.ln() - lo) / width).floor() as usize).min(MAX_FAMILIES - 1);
        bins[i].push(p);
    }
    bins.into_iter()
        .filter(|b| !b.is_empty())
        .map(|runs| {
            let g = (runs.iter().map(|p| key(p).ln()).sum::<f64>() / runs.len() as f64).exp();
            Family { value: g, binned: true, runs }
        })
        .collect()
}

/// Mean loss per distinct `x` (seed replicates averaged), sorted by `x`.
pub fn mean_by(runs: &[&RunPoint], x: impl Fn(&RunPoint) -> f64) -> Vec<(f64, f64)> {
    let mut acc: Vec<(f64, f64, usize)> = Vec::new();
    for p in runs {
        let v = x(p);
        match acc.iter_mut().find(|(a, _, _)| (*a / v - 1.0).abs() < 1e-6) {
            Some(e) => {
                e.1 += p.loss;
                e.2 += 1;
            }
            None => acc.push((v, p.loss, 1)),
        }
    }
    let mut out: Vec<(f64, f64)> = acc.into_iter().map(|(v, s, n)| (v, s / n as f64)).collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// `k` values log-spaced from `lo` to `hi` inclusive (empty when the range is not positive).
pub fn log_space(lo: f64, hi: f64, k: usize) -> Vec<f64> {
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) || k < 2 {
        return Vec::new();
    }
    (0..k).map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (k - 1) as f64).exp()).collect()
}

/// (min, max) of positive finite values, `None` when there are none.
pub fn extent(v: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let mut out: Option<(f64, f64)> = None;
    for x in v.into_iter().filter(|x| *x > 0.0 && x.is_finite()) {
        out = Some(out.map_or((x, x), |(a, b)| (a.min(x), b.max(x))));
    }
    out
}

/// Index of the family containing value `v` (nearest in log space).
pub fn family_index(fams: &[Family<'_>], v: f64) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, f) in fams.iter().enumerate() {
        let d = (f.value.ln() - v.ln()).abs();
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Legend label of a family, e.g. `D = 1e5 tokens` or `D ≈ 1.26e5 tokens (bin)`.
pub fn family_label(sym: &str, unit: &str, f: &Family<'_>) -> String {
    if f.binned {
        format!("{sym} ≈ {} {unit} (bin)", tick_label(f.value))
    } else {
        format!("{sym} = {} {unit}", tick_label(f.value))
    }
}

/// Axis label of N under a convention.
pub fn n_label(p: ParamsConvention) -> String {
    match p {
        ParamsConvention::Total => "N (parameters, total)".into(),
        ParamsConvention::Nonembedding => "N (parameters, non-embedding)".into(),
    }
}

/// Axis label of C under a convention.
pub fn c_label(f: FlopsConvention) -> String {
    match f {
        FlopsConvention::SixNd => "C (training FLOPs, 6ND)".into(),
        FlopsConvention::Exact => "C (training FLOPs, exact count)".into(),
    }
}

/// Axis label of the final validation loss.
pub const LOSS_LABEL: &str = "validation loss (nats/token)";
/// Axis label of D.
pub const D_LABEL: &str = "D (training tokens)";

/// The 95% confidence band of a least-squares polynomial y = Σ_k β_k·x^k (k ≤ `degree`,
/// 1 = a line, 2 = a parabola) through (`xs`, `ys`), at each of `at`: ŷ ± t₀.₉₇₅(n − p)·s·
/// √(x₀ᵀ(XᵀX)⁻¹x₀), s² = RSS/(n − p), p = degree + 1 (the textbook regression band; the
/// IsoFLOP parabolas and Approach 1/2 lines are least-squares fits with no bootstrap of their
/// own). None without residual degrees of freedom or with a singular design.
pub fn ls_band(xs: &[f64], ys: &[f64], degree: usize, at: &[f64]) -> Option<Vec<(f64, f64, f64)>> {
    let p = degree + 1;
    let n = xs.len();
    if n <= p || ys.len() != n {
        return None;
    }
    let row = |x: f64| (0..p).map(|k| x.powi(k as i32)).collect::<Vec<f64>>();
    // XᵀX and Xᵀy, then (XᵀX)⁻¹ by Gauss–Jordan (p ≤ 3).
    let mut a = vec![vec![0.0; 2 * p]; p];
    let mut xty = vec![0.0; p];
    for (&x, &y) in xs.iter().zip(ys) {
        let r = row(x);
        for i in 0..p {
            xty[i] += r[i] * y;
            for j in 0..p {
                a[i][j] += r[i] * r[j];
            }
        }
    }
    for (i, r) in a.iter_mut().enumerate() {
        r[p + i] = 1.0;
    }
    for c in 0..p {
        let piv = (c..p).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        a.swap(c, piv);
        let d = a[c][c];
        if d.abs() < 1e-300 {
            return None;
        }
        a[c].iter_mut().for_each(|v| *v /= d);
        for i in (0..p).filter(|&i| i != c) {
            let f = a[i][c];
            let rc = a[c].clone();
            a[i].iter_mut().zip(&rc).for_each(|(v, w)| *v -= f * w);
        }
    }
    let inv: Vec<Vec<f64>> = a.iter().map(|r| r[p..].to_vec()).collect();
    let beta: Vec<f64> = (0..p).map(|i| (0..p).map(|j| inv[i][j] * xty[j]).sum()).collect();
    let fit = |x: f64| row(x).iter().zip(&beta).map(|(r, b)| r * b).sum::<f64>();
    let rss: f64 = xs.iter().zip(ys).map(|(&x, &y)| (y - fit(x)).powi(2)).sum();
    let s = (rss / (n - p) as f64).sqrt();
    let t = t975(n - p);
    Some(
        at.iter()
            .map(|&x| {
                let r = row(x);
                let q: f64 = (0..p).map(|i| (0..p).map(|j| r[i] * inv[i][j] * r[j]).sum::<f64>()).sum();
                let h = t * s * q.max(0.0).sqrt();
                (x, fit(x) - h, fit(x) + h)
            })
            .collect(),
    )
}

/// A band outline (upper edge left to right, lower edge back) from (x, lo, hi) triples.
pub fn outline(v: &[(f64, f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = v.iter().map(|&(x, _, hi)| (x, hi)).collect();
    out.extend(v.iter().rev().map(|&(x, lo, _)| (x, lo)));
    out
}

/// Fewest valid bootstrap laws for a band (fewer give quantiles that mean little).
pub const MIN_BAND_LAWS: usize = 20;

/// The 95% bootstrap band of a curve derived from the law (issue #18): at each x, the 2.5%
/// and 97.5% quantiles of `f(law_b, x)` over the valid bootstrap fits, as a [`Style::Band`]
/// outline (upper edge left to right, lower edge back). None with fewer than
/// [`MIN_BAND_LAWS`] valid fits or no finite value.
///
/// [`Style::Band`]: super::figure::Style::Band
pub fn bootstrap_band(
    xs: &[f64],
    laws: &[crate::fit::law::ChinchillaLaw],
    f: impl Fn(&crate::fit::law::ChinchillaLaw, f64) -> f64,
) -> Option<Vec<(f64, f64)>> {
    let valid: Vec<_> = laws.iter().filter(|l| l.is_valid()).collect();
    sample_band(xs, valid.len(), |i, x| f(valid[i], x))
}

/// [`bootstrap_band`] over `k` samples of any curve: `f(i, x)` is sample i's value at x.
pub fn sample_band(xs: &[f64], k: usize, f: impl Fn(usize, f64) -> f64) -> Option<Vec<(f64, f64)>> {
    if k < MIN_BAND_LAWS {
        return None;
    }
    let mut upper = Vec::with_capacity(xs.len());
    let mut lower = Vec::with_capacity(xs.len());
    for &x in xs {
        let v: Vec<f64> = (0..k).map(|i| f(i, x)).filter(|v| v.is_finite()).collect();
        if v.len() < MIN_BAND_LAWS {
            continue;
        }
        let [lo, hi] = crate::fit::stats::interval95(&v);
        upper.push((x, hi));
        lower.push((x, lo));
    }
    if upper.len() < 2 {
        return None;
    }
    lower.reverse();
    upper.extend(lower);
    Some(upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_band_is_exact_for_a_line_and_widens_away_from_the_data() {
        // y = 1 + 2x + noise ±0.1: the band contains the fit, is narrowest near the centre.
        let xs = [0.0, 1.0, 2.0, 3.0, 4.0];
        let ys = [1.1, 2.9, 5.1, 6.9, 9.1];
        let b = ls_band(&xs, &ys, 1, &[2.0, 10.0]).expect("band");
        let (w_mid, w_far) = (b[0].2 - b[0].1, b[1].2 - b[1].1);
        assert!(b[0].1 < 5.0 && b[0].2 > 5.0 && w_far > 3.0 * w_mid, "{b:?}");
        // A perfect parabola has zero width; three points for three parameters give none.
        let q: Vec<f64> = xs.iter().map(|x| 1.0 - x + 0.5 * x * x).collect();
        let b = ls_band(&xs, &q, 2, &[1.5]).expect("band");
        assert!((b[0].2 - b[0].1).abs() < 1e-9 && (b[0].1 - (1.0 - 1.5 + 0.5 * 2.25)).abs() < 1e-9);
        assert!(ls_band(&xs[..3], &q[..3], 2, &[1.0]).is_none());
        assert!((t975(4) - 2.776).abs() < 1e-9 && (t975(100) - 1.984).abs() < 2e-3);
    }
    use crate::fit::input::synth::point;

    #[test]
    fn families_group_exactly_then_bin() {
        let pts: Vec<RunPoint> = (0..4)
            .flat_map(|i| {
                (0..3).map(move |j| {
                    point(format!("{i}{j}"), 1e5 * (i + 1) as f64, 1e7 * (j + 1) as f64, 3.0, None)
                })
            })
            .collect();
        let f = families(&pts, |p| p.d);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|x| x.runs.len() == 4 && !x.binned));
        let many: Vec<RunPoint> =
            (0..40).map(|i| point(format!("{i}"), 1e5, 1e6 * 1.2f64.powi(i), 3.0, None)).collect();
        let f = families(&many, |p| p.d);
        assert!(f.len() <= MAX_FAMILIES && f.len() >= 6 && f.iter().all(|x| x.binned));
        assert_eq!(f.iter().map(|x| x.runs.len()).sum::<usize>(), 40);
        assert_eq!(family_index(&f, 1e6), 0);
    }

    #[test]
    fn means_average_replicates() {
        let a = point("a".into(), 1e5, 1e7, 3.0, Some("0".into()));
        let b = point("b".into(), 1e5, 1e7, 3.2, Some("1".into()));
        let c = point("c".into(), 2e5, 1e7, 2.0, None);
        let m = mean_by(&[&c, &a, &b], |p| p.n);
        assert_eq!(m.len(), 2);
        assert!((m[0].1 - 3.1).abs() < 1e-12 && m[1] == (2e5, 2.0));
        assert_eq!(log_space(1.0, 100.0, 3).len(), 3);
        assert_eq!(extent([0.0, 3.0, 1.0]), Some((1.0, 3.0)));
    }
}
