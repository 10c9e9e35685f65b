//! IsoFLOP minima by Akima interpolation (Porian et al. 2024, repository `analysis.py`), the
//! alternative to Hoffmann et al.'s parabola that [`crate::fit::laws::allocation::approach2`] fits.
//!
//! Per budget, log loss is interpolated against log N with Akima's (1970) spline (scipy's
//! `Akima1DInterpolator`): node slopes
//!
//! ```text
//! t_j = (|m_{j+1} − m_j|·m_{j−1} + |m_{j−1} − m_{j−2}|·m_j) / (|m_{j+1} − m_j| + |m_{j−1} − m_{j−2}|)
//! ```
//!
//! from the secant slopes m (two extrapolated at each end, m_{−1} = 2m_0 − m_1, …), cubic
//! Hermite between nodes. The argmin is taken on a geometric grid of 25·(k − 1) sizes over the
//! sampled range for k sampled sizes; a minimum on the first or last grid point is at the edge
//! and the budget is dropped. Why: a parabola in log N is biased when the profile is not
//! symmetric over the sampled range (Porian et al. §3; Besiroglu et al. §4); Akima follows the
//! points without imposing a shape.

/// Akima spline through (x, y), x strictly increasing, at least 2 nodes.
#[derive(Debug, Clone)]
pub struct Akima {
    x: Vec<f64>,
    y: Vec<f64>,
    t: Vec<f64>,
}

impl Akima {
    /// Builds the spline; `None` with fewer than 2 nodes or x not increasing.
    pub fn new(x: &[f64], y: &[f64]) -> Option<Akima> {
        let n = x.len();
        if n < 2 || y.len() != n || x.windows(2).any(|w| w[1] <= w[0]) {
            return None;
        }
        // m[k + 2] is the secant slope of interval k; two extrapolated slopes at each end.
        let mut m = vec![0.0; n + 3];
        for k in 0..n - 1 {
            m[k + 2] = (y[k + 1] - y[k]) / (x[k + 1] - x[k]);
        }
        if n == 2 {
            m[3] = m[2];
        }
        m[1] = 2.0 * m[2] - m[3];
        m[0] = 2.0 * m[1] - m[2];
        m[n + 1] = 2.0 * m[n] - m[n - 1];
        m[n + 2] = 2.0 * m[n + 1] - m[n];
        let dm: Vec<f64> = m.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let f12max = (0..n).map(|j| dm[j + 2] + dm[j]).fold(0.0, f64::max);
        let t = (0..n)
            .map(|j| {
                let (f1, f2) = (dm[j + 2], dm[j]);
                if f1 + f2 > 1e-9 * f12max {
                    (f1 * m[j + 1] + f2 * m[j + 2]) / (f1 + f2)
                } else {
                    0.5 * (m[j + 3] + m[j])
                }
            })
            .collect();
        Some(Akima { x: x.to_vec(), y: y.to_vec(), t })
    }

    /// The spline at `v` (clamped to the node range).
    pub fn eval(&self, v: f64) -> f64 {
        let n = self.x.len();
        let k = self.x.partition_point(|&xi| xi <= v).clamp(1, n - 1) - 1;
        let h = self.x[k + 1] - self.x[k];
        let s = ((v - self.x[k]) / h).clamp(0.0, 1.0);
        let (y0, y1, t0, t1) = (self.y[k], self.y[k + 1], self.t[k] * h, self.t[k + 1] * h);
        let (s2, s3) = (s * s, s * s * s);
        (2.0 * s3 - 3.0 * s2 + 1.0) * y0
            + (s3 - 2.0 * s2 + s) * t0
            + (-2.0 * s3 + 3.0 * s2) * y1
            + (s3 - s2) * t1
    }
}

/// Porian et al.'s IsoFLOP minimum of one budget: sizes `n` (any order) and losses; returns
/// N* and the interpolated loss there, or `None` when the minimum is at the edge of the
/// sampled sizes (or fewer than 3 sizes).
pub fn akima_argmin(n: &[f64], loss: &[f64]) -> Option<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = n.iter().zip(loss).map(|(&a, &b)| (a.ln(), b.ln())).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pts.len() < 3 {
        return None;
    }
    let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
    let spline = Akima::new(&x, &y)?;
    let k = 25 * (x.len() - 1);
    let (lo, hi) = (x[0], x[x.len() - 1]);
    let grid = (0..k).map(|i| lo + (hi - lo) * i as f64 / (k - 1) as f64);
    let (i, (xv, yv)) = grid
        .map(|g| (g, spline.eval(g)))
        .enumerate()
        .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1).then(a.0.cmp(&b.0)))?;
    (i > 0 && i < k - 1).then(|| (xv.exp(), yv.exp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_nodes_and_reproduces_lines_and_finds_an_inner_minimum() {
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let line: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        let s = Akima::new(&x, &line).expect("spline");
        for v in [0.0, 0.3, 1.7, 3.99, 4.0] {
            assert!((s.eval(v) - (2.0 * v + 1.0)).abs() < 1e-12, "{v}");
        }
        // A zigzag is interpolated at its nodes.
        let zig = Akima::new(&x, &[0.0, 1.0, 0.0, 1.0, 0.0]).expect("spline");
        assert!((zig.eval(1.0) - 1.0).abs() < 1e-12 && (zig.eval(2.0)).abs() < 1e-12);
        // A parabola in ln N sampled at 7 sizes: minimum found within a grid step.
        let n: Vec<f64> = (0..7).map(|i| 1e6 * 2f64.powi(i)).collect();
        let loss: Vec<f64> =
            n.iter().map(|v: &f64| 3.0 + 0.05 * (v.ln() - (1.2e7f64).ln()).powi(2)).collect();
        let (nstar, _) = akima_argmin(&n, &loss).expect("inner");
        assert!((nstar.ln() - (1.2e7f64).ln()).abs() < 0.05, "{nstar}");
        // Monotone losses: the minimum is at the edge.
        assert!(akima_argmin(&n, &n.iter().map(|v| 1.0 / v).collect::<Vec<_>>()).is_none());
    }
}
