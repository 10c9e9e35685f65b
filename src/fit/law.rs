//! Chinchilla's parametric loss law and its compute-optimal allocation (Hoffmann et al. 2022,
//! Approach 3; Besiroglu et al. 2024), plus the inference-aware allocation of Sardana et al.
//! 2023 ("Beyond Chinchilla-Optimal").

use serde::{Deserialize, Serialize};

/// L(N, D) = E + A/N^α + B/D^β, with N in parameters, D in training tokens, L in nats/token.
///
/// With C = 6·N·D training FLOPs (Kaplan et al. 2020's approximation), minimising L at fixed C
/// gives (Hoffmann et al. 2022, Appendix D.2):
///
/// ```text
/// a = β/(α+β),  b = α/(α+β),  G = (αA / (βB))^(1/(α+β)),
/// N_opt(C) = G·(C/6)^a,   D_opt(C) = G⁻¹·(C/6)^b.
/// ```
///
/// Hoffmann et al.'s published fit, evaluated by hand at Gopher's compute:
///
/// ```
/// use scalinglab::fit::law::ChinchillaLaw;
/// let law = ChinchillaLaw { e: 1.69, a: 406.4, b: 410.7, alpha: 0.34, beta: 0.28 };
/// let c: f64 = 5.76e23;
/// // By hand: a = β/(α+β), G = (αA/(βB))^(1/(α+β)), N_opt = G·(C/6)^a.
/// let a: f64 = 0.28 / (0.34 + 0.28);
/// let g = ((0.34f64 * 406.4) / (0.28 * 410.7)).powf(1.0 / 0.62);
/// let n_by_hand = g * (c / 6.0).powf(a);
/// let d_by_hand = (c / 6.0).powf(1.0 - a) / g;
/// assert!((law.n_opt(c) / n_by_hand - 1.0).abs() < 1e-12);
/// assert!((law.d_opt(c) / d_by_hand - 1.0).abs() < 1e-12);
/// // 6·N·D recovers C, and the rounded published fit puts N_opt near 32 B parameters
/// // (Besiroglu et al. 2024 note it does not reproduce the paper's 40 B).
/// assert!((6.0 * law.n_opt(c) * law.d_opt(c) / c - 1.0).abs() < 1e-12);
/// assert!(law.n_opt(c) > 3.0e10 && law.n_opt(c) < 3.4e10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChinchillaLaw {
    /// E: irreducible loss, nats/token. JSON key `E` (fit.json schema 2; `e` in schema 1).
    #[serde(with = "crate::fit::lossless", rename = "E", alias = "e")]
    pub e: f64,
    /// A: coefficient of the parameter term, nats/token · parameters^α. JSON key `A`, so
    /// it is never confused with the allocation exponent a (schema 1 wrote `a`).
    #[serde(with = "crate::fit::lossless", rename = "A", alias = "a")]
    pub a: f64,
    /// B: coefficient of the data term, nats/token · tokens^β. JSON key `B` (`b` in schema 1).
    #[serde(with = "crate::fit::lossless", rename = "B", alias = "b")]
    pub b: f64,
    /// α: exponent of N (dimensionless).
    #[serde(with = "crate::fit::lossless")]
    pub alpha: f64,
    /// β: exponent of D (dimensionless).
    #[serde(with = "crate::fit::lossless")]
    pub beta: f64,
}

impl ChinchillaLaw {
    /// From the log-space parameter vector `[ln A, ln B, α, β, ln E]` that the fit optimises
    /// (`PowerSum::CHINCHILLA` in `solve::objective`).
    pub fn from_theta(t: &[f64]) -> ChinchillaLaw {
        ChinchillaLaw { a: t[0].exp(), b: t[1].exp(), alpha: t[2], beta: t[3], e: t[4].exp() }
    }
    /// The log-space parameter vector `[ln A, ln B, α, β, ln E]`.
    pub fn theta(&self) -> [f64; 5] {
        [self.a.ln(), self.b.ln(), self.alpha, self.beta, self.e.ln()]
    }
    /// L(N, D) in nats/token.
    pub fn loss(&self, n: f64, d: f64) -> f64 {
        self.e + self.a / n.powf(self.alpha) + self.b / d.powf(self.beta)
    }
    /// a = β/(α+β): N_opt ∝ C^a.
    pub fn exponent_a(&self) -> f64 {
        self.beta / (self.alpha + self.beta)
    }
    /// b = α/(α+β): D_opt ∝ C^b.
    pub fn exponent_b(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }
    /// G = (αA/(βB))^(1/(α+β)), in parameters / (FLOPs/6)^a.
    pub fn g(&self) -> f64 {
        ((self.alpha * self.a) / (self.beta * self.b)).powf(1.0 / (self.alpha + self.beta))
    }
    /// Compute-optimal parameters N_opt(C) = G·(C/6)^a for C training FLOPs (C = 6ND).
    pub fn n_opt(&self, c: f64) -> f64 {
        self.g() * (c / 6.0).powf(self.exponent_a())
    }
    /// Compute-optimal tokens D_opt(C) = G⁻¹·(C/6)^b.
    pub fn d_opt(&self, c: f64) -> f64 {
        (c / 6.0).powf(self.exponent_b()) / self.g()
    }
    /// Loss of the compute-optimal model at C FLOPs, nats/token.
    pub fn loss_opt(&self, c: f64) -> f64 {
        self.loss(self.n_opt(c), self.d_opt(c))
    }
    /// Tokens per parameter D_opt/N_opt at C FLOPs = G⁻²·(C/6)^(b−a).
    pub fn tokens_per_param(&self, c: f64) -> f64 {
        self.d_opt(c) / self.n_opt(c)
    }
    /// True when all parameters are finite, A, B > 0, α, β > 0 and E ≥ 0, so the derived
    /// allocation formulas are defined.
    pub fn is_valid(&self) -> bool {
        [self.e, self.a, self.b, self.alpha, self.beta].iter().all(|v| v.is_finite())
            && self.a > 0.0
            && self.b > 0.0
            && self.alpha > 0.0
            && self.beta > 0.0
            && self.e >= 0.0
    }

    /// Compute-optimal FLOPs C* whose optimal model reaches `target` loss, by bisection on
    /// ln C (L_opt is decreasing in C). `None` when `target ≤ E` (unreachable) or outside
    /// 1..1e60 FLOPs.
    pub fn flops_for_loss(&self, target: f64) -> Option<f64> {
        if target.partial_cmp(&self.e) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        let (mut lo, mut hi) = (0.0f64, 60.0 * std::f64::consts::LN_10);
        if self.loss_opt(lo.exp()) < target || self.loss_opt(hi.exp()) > target {
            return None;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.loss_opt(mid.exp()) > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some((0.5 * (lo + hi)).exp())
    }

    /// Tokens D that model size `n` needs to reach `target` loss: D = (B/(target − E − A/N^α))^(1/β);
    /// `None` when the size cannot reach it.
    pub fn tokens_for_loss(&self, n: f64, target: f64) -> Option<f64> {
        let room = target - self.e - self.a / n.powf(self.alpha);
        (room > 0.0).then(|| (self.b / room).powf(1.0 / self.beta))
    }

    /// Allocation minimising training + inference FLOPs, 6·N·D + 2·N·T, subject to reaching
    /// `target` loss, for `inference_tokens` T served over the model's life (Sardana et al.
    /// 2023). Returns (N, D, total FLOPs); golden-section search on ln N (the cost is unimodal
    /// in ln N: D(N) falls and 2NT rises).
    pub fn inference_optimal(&self, target: f64, inference_tokens: f64) -> Option<(f64, f64, f64)> {
        // Smallest N that can reach the target: A/N^α < target − E.
        let room = target - self.e;
        if room.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        let n_min = (self.a / room).powf(1.0 / self.alpha);
        let cost = |ln_n: f64| -> f64 {
            let n = ln_n.exp();
            match self.tokens_for_loss(n, target) {
                Some(d) => 6.0 * n * d + 2.0 * n * inference_tokens,
                None => f64::INFINITY,
            }
        };
        let (mut lo, mut hi) = (n_min.ln() + 1e-9, n_min.ln() + 40.0);
        let phi = 0.5 * (5f64.sqrt() - 1.0);
        let mut x1 = hi - phi * (hi - lo);
        let mut x2 = lo + phi * (hi - lo);
        let (mut f1, mut f2) = (cost(x1), cost(x2));
        for _ in 0..300 {
            if f1 < f2 {
                hi = x2;
                x2 = x1;
                f2 = f1;
                x1 = hi - phi * (hi - lo);
                f1 = cost(x1);
            } else {
                lo = x1;
                x1 = x2;
                f1 = f2;
                x2 = lo + phi * (hi - lo);
                f2 = cost(x2);
            }
        }
        let n = (0.5 * (lo + hi)).exp();
        let d = self.tokens_for_loss(n, target)?;
        Some((n, d, 6.0 * n * d + 2.0 * n * inference_tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: ChinchillaLaw = ChinchillaLaw { e: 1.69, a: 406.4, b: 410.7, alpha: 0.34, beta: 0.28 };

    #[test]
    fn optimum_is_the_minimum_on_the_isoflop_line() {
        let c = 1e21;
        let n = H.n_opt(c);
        let best = H.loss(n, c / (6.0 * n));
        for f in [0.8, 0.95, 1.05, 1.25] {
            let m = n * f;
            assert!(H.loss(m, c / (6.0 * m)) > best, "N×{f} beats the optimum");
        }
    }

    #[test]
    fn flops_for_loss_inverts_loss_opt() {
        let c = 3e20;
        let back = H.flops_for_loss(H.loss_opt(c)).expect("reachable");
        assert!((back / c - 1.0).abs() < 1e-9);
        assert!(H.flops_for_loss(1.0).is_none(), "below E is unreachable");
    }

    #[test]
    fn no_inference_means_the_training_optimum() {
        let c = 1e22;
        let (n, d, total) = H.inference_optimal(H.loss_opt(c), 0.0).expect("solvable");
        assert!((n / H.n_opt(c) - 1.0).abs() < 1e-4, "{n} vs {}", H.n_opt(c));
        assert!((total / c - 1.0).abs() < 1e-6 && d > 0.0);
    }

    #[test]
    fn heavy_inference_shrinks_the_model() {
        let c = 1e22;
        let target = H.loss_opt(c);
        let (n, d, _) = H.inference_optimal(target, 1e14).expect("solvable");
        assert!(n < H.n_opt(c) && d > H.d_opt(c));
        assert!((H.loss(n, d) - target).abs() < 1e-9);
    }
}
