//! Gadre et al. (2024)'s over-training law, fitted their way (repository `scaling/laws.py:
//! powlaw_ours`, `curve_fit_powlaw_ours`):
//!
//! ```text
//! L(N, M) = a·N^b + c·6^{b/2}·(M·N)^b + E,   M = D/N tokens per parameter, b < 0,
//! ```
//!
//! which with C = 6·N·D = 6·N²·M and η = −b/2 is Chinchilla's form with α = β
//! (L = E + (a·6^η·M^η + c·M^{−η})·C^{−η}). Estimator: plain least squares on loss (scipy
//! `curve_fit`, Levenberg–Marquardt), from 128 starts a, c ∈ {100, 300, 1000, 3000},
//! b ∈ {−0.1, −0.3}, E ∈ {0, 1, 2, 10}, keeping the fit with the lowest √(Σr²/(n−2)).
//!
//! Why a separate law: their claim is that a fit on five small runs forecasts a 1.4B run
//! trained 32× past Chinchilla-optimal and a 6.9B run, so this module is what checks our
//! forecast machinery against theirs; scalinglab's own Approach 3 is compared beside it.

use crate::fit::stats::solve_dense;

/// Fitted `[a, c, b, E]` of the over-training law.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OvertrainLaw {
    /// Coefficient of the N term (nats/token at N = 1).
    pub a: f64,
    /// Coefficient of the data term.
    pub c: f64,
    /// Shared exponent b < 0.
    pub b: f64,
    /// Irreducible loss, nats/token.
    pub e: f64,
}

impl OvertrainLaw {
    /// Predicted loss at N parameters trained on M tokens per parameter, nats/token.
    pub fn loss(&self, n: f64, m: f64) -> f64 {
        self.a * n.powf(self.b) + self.c * 6f64.powf(self.b / 2.0) * (m * n).powf(self.b) + self.e
    }

    fn from(p: &[f64; 4]) -> OvertrainLaw {
        OvertrainLaw { a: p[0], c: p[1], b: p[2], e: p[3] }
    }

    /// Residuals y − f and the Jacobian ∂f/∂p of the law at parameters p.
    fn residuals(p: &[f64; 4], x: &[(f64, f64)], y: &[f64]) -> (Vec<f64>, Vec<[f64; 4]>) {
        let law = OvertrainLaw::from(p);
        let mut r = Vec::with_capacity(y.len());
        let mut j = Vec::with_capacity(y.len());
        for (&(n, m), &yi) in x.iter().zip(y) {
            let t1 = n.powf(law.b);
            let t2 = 6f64.powf(law.b / 2.0) * (m * n).powf(law.b);
            r.push(yi - law.loss(n, m));
            j.push([t1, t2, law.a * t1 * n.ln() + law.c * t2 * (0.5 * 6f64.ln() + (m * n).ln()), 1.0]);
        }
        (r, j)
    }
}

/// Levenberg–Marquardt (Marquardt's diagonal scaling, as MINPACK) on Σ r² from `p0`, at most
/// `max_eval` evaluations (curve_fit's maxfev = 10000).
fn levenberg_marquardt(p0: [f64; 4], x: &[(f64, f64)], y: &[f64], max_eval: usize) -> [f64; 4] {
    let sse = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>();
    let (mut p, mut lambda) = (p0, 1e-3);
    let (mut r, mut jac) = OvertrainLaw::residuals(&p, x, y);
    let mut f = sse(&r);
    for _ in 0..max_eval {
        let mut jtj = [[0.0; 4]; 4];
        let mut jtr = [0.0; 4];
        for (ri, ji) in r.iter().zip(&jac) {
            for a in 0..4 {
                jtr[a] += ji[a] * ri;
                for b in 0..4 {
                    jtj[a][b] += ji[a] * ji[b];
                }
            }
        }
        let mut m = jtj;
        (0..4).for_each(|k| m[k][k] += lambda * jtj[k][k].max(1e-300));
        let Some(step) = solve_dense(m, jtr) else { break };
        let trial = [p[0] + step[0], p[1] + step[1], p[2] + step[2], p[3] + step[3]];
        let (rt, jt) = OvertrainLaw::residuals(&trial, x, y);
        let ft = sse(&rt);
        if ft.is_finite() && ft < f {
            let rel = (f - ft) / f.max(1e-300);
            (p, r, jac, f) = (trial, rt, jt, ft);
            lambda = (lambda / 10.0).max(1e-12);
            if rel < 1e-15 {
                break;
            }
        } else {
            lambda *= 10.0;
            if lambda > 1e16 {
                break;
            }
        }
    }
    p
}

/// Fits the over-training law to `(N, M)` → loss points by Gadre et al.'s 128-start least
/// squares (module docs); `None` when no start gives a finite fit.
pub fn fit_overtrain(x: &[(f64, f64)], y: &[f64]) -> Option<OvertrainLaw> {
    let mut best: Option<(f64, OvertrainLaw)> = None;
    for a in [1e2, 3e2, 1e3, 3e3] {
        for c in [1e2, 3e2, 1e3, 3e3] {
            for b in [-0.1, -0.3] {
                for e in [0.0, 1.0, 2.0, 10.0] {
                    let p = levenberg_marquardt([a, c, b, e], x, y, 10_000);
                    let (r, _) = OvertrainLaw::residuals(&p, x, y);
                    let s = (r.iter().map(|v| v * v).sum::<f64>() / (r.len() as f64 - 2.0)).sqrt();
                    if s.is_finite() && best.as_ref().is_none_or(|(bs, _)| s < *bs) {
                        best = Some((s, OvertrainLaw::from(&p)));
                    }
                }
            }
        }
    }
    best.map(|(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_law_from_its_own_points() {
        let truth = OvertrainLaw { a: 150.0, c: 300.0, b: -0.27, e: 1.8 };
        let x: Vec<(f64, f64)> =
            [(1e7, 20.0), (8e7, 20.0), (1.5e8, 20.0), (4e8, 20.0), (1e7, 320.0), (8e7, 80.0)]
                .into_iter()
                .collect();
        let y: Vec<f64> = x.iter().map(|&(n, m)| truth.loss(n, m)).collect();
        let fit = fit_overtrain(&x, &y).expect("fit");
        for (got, want) in [(fit.a, truth.a), (fit.c, truth.c), (fit.b, truth.b), (fit.e, truth.e)] {
            assert!((got / want - 1.0).abs() < 1e-4, "{fit:?} vs {truth:?}");
        }
    }
}
