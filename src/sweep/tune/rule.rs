//! The numbers of a tuning's choice: the parabola vertex of a size's trials and the
//! learning-rate-vs-width rule fitted through the sizes' optima (module docs of `tune`).

use serde::{Deserialize, Serialize};

/// The vertex of the least-squares quadratic loss = c₀ + c₁·x + c₂·x² in x = ln lr
/// ([`crate::fit::stats::quadratic`]), clamped to the range tried; `None` with fewer than 3
/// distinct LRs or no interior minimum (c₂ ≤ 0).
pub fn parabola_vertex(points: &[(f64, f64)]) -> Option<f64> {
    let xs: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let mut distinct = xs.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 3 {
        return None;
    }
    let [_, c1, c2] = crate::fit::stats::quadratic(&xs, &ys)?;
    if c2 <= 0.0 || !c1.is_finite() || !c2.is_finite() {
        return None;
    }
    let x = (-c1 / (2.0 * c2)).clamp(distinct[0], distinct[distinct.len() - 1]);
    Some(round_sig(x.exp(), 4))
}

/// The fitted learning-rate rule lr(w) = c·(w / base_width)^exponent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrRule {
    /// LR at `base_width`.
    pub c: f64,
    /// Exponent k on n_embd.
    pub exponent: f64,
    /// The reference width w₀ (`[train] lr_base_width`).
    pub base_width: usize,
    /// True when k was fitted (≥ 2 tuned widths); false when it came from `[train] lr_rule`.
    pub exponent_fitted: bool,
}

impl LrRule {
    /// The least-squares line ln lr = ln c + k·ln(w / w₀) through (width, best LR) of each
    /// tuned size; with a single width, k from `lr_rule` ("sqrt" −½, "inverse" −1, else 0).
    pub fn fit(optima: &[(usize, f64)], base_width: usize, lr_rule: &str) -> LrRule {
        let pts: Vec<(f64, f64)> =
            optima.iter().map(|&(w, lr)| ((w as f64 / base_width as f64).ln(), lr.ln())).collect();
        let n = pts.len() as f64;
        let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let (exponent, fitted) = if sxx > 1e-12 {
            (pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx, true)
        } else {
            let k = match lr_rule {
                "sqrt" => -0.5,
                "inverse" => -1.0,
                _ => 0.0,
            };
            (k, false)
        };
        LrRule { c: (my - exponent * mx).exp(), exponent, base_width, exponent_fitted: fitted }
    }

    /// The rule's LR at width `w`, rounded to 4 significant digits.
    pub fn at(&self, w: usize) -> f64 {
        round_sig(self.c * (w as f64 / self.base_width as f64).powf(self.exponent), 4)
    }

    /// "lr = 3.500e-3·(n_embd/64)^-0.580".
    pub fn describe(&self) -> String {
        format!(
            "lr = {:.3e}·(n_embd/{})^{:.3}{}",
            self.c,
            self.base_width,
            self.exponent,
            if self.exponent_fitted { "" } else { " (exponent from [train] lr_rule)" }
        )
    }
}

/// `x` rounded to `digits` significant digits.
pub(super) fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let p = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * p).round() / p
}
