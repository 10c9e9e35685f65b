//! Sum-of-power-laws models fitted in log space with a Huber loss (Besiroglu et al. 2024).
//!
//! A [`PowerSum`] with terms k = 1..K over log-variables z_k (log N or log D) predicts
//!
//! ```text
//! log L̂ = LSE(c_1 − α_1·z_1, …, c_K − α_K·z_K [, e])
//! ```
//!
//! i.e. L̂ = Σ_k e^{c_k} · exp(z_k)^{−α_k} [+ e^e]. Chinchilla's parametric form
//! (Hoffmann et al. 2022, Approach 3) is K = 2 with z = (log N, log D) and an irreducible term
//! E = e^e; Kaplan et al. (2020)'s single-variable laws L(X) = (X_c/X)^α are K = 1 with
//! c = α·log X_c. The objective is Σ_i w_i · Huber_δ(log L̂_i − log L_i) — a *sum*, not a mean,
//! as Besiroglu et al. 2024 stress (the mean rescales the objective by 1/n and, with a fixed
//! optimizer tolerance, stops early). Parameters are ordered `[c_1..c_K, α_1..α_K, e]`.

use super::kernel::{sums, Coef, Columns};

/// Default Huber threshold on log-loss residuals (Hoffmann et al. 2022; Besiroglu et al. 2024).
pub const HUBER_DELTA: f64 = 1e-3;

/// Observations in log space: z = (log N, log D), log L, and a weight per observation.
#[derive(Debug, Clone, Default)]
pub struct LogData {
    /// (ln N, ln D) per observation (N in parameters, D in tokens).
    pub z: Vec<[f64; 2]>,
    /// ln L per observation (L in nats/token).
    pub log_loss: Vec<f64>,
    /// Weight of each observation in the summed objective (1 for a cell mean).
    pub weight: Vec<f64>,
}

impl LogData {
    /// Builds log data from (N, D, L, w) tuples; callers validate positivity first.
    pub fn from_obs(obs: &[crate::fit::input::data::Obs]) -> LogData {
        LogData {
            z: obs.iter().map(|o| [o.n.ln(), o.d.ln()]).collect(),
            log_loss: obs.iter().map(|o| o.loss.ln()).collect(),
            weight: obs.iter().map(|o| o.weight).collect(),
        }
    }
    /// Number of observations.
    pub fn len(&self) -> usize {
        self.log_loss.len()
    }
    /// True when there are no observations.
    pub fn is_empty(&self) -> bool {
        self.log_loss.is_empty()
    }
}

/// Structure of a sum-of-power-laws model (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerSum {
    /// Which log-variable each term uses: 0 = ln N, 1 = ln D. At most 2 terms.
    pub vars: [Option<usize>; 2],
    /// Whether the irreducible term e^e is present.
    pub with_e: bool,
}

impl PowerSum {
    /// Chinchilla's L = E + A/N^α + B/D^β (params `[a, b, α, β, e]`).
    pub const CHINCHILLA: PowerSum = PowerSum { vars: [Some(0), Some(1)], with_e: true };

    /// One power law in variable `var` (0 = N, 1 = D), optionally with E.
    pub fn single(var: usize, with_e: bool) -> PowerSum {
        PowerSum { vars: [Some(var), None], with_e }
    }
    /// Number of power-law terms K.
    pub fn terms(&self) -> usize {
        self.vars.iter().filter(|v| v.is_some()).count()
    }
    /// Number of parameters: 2K (+1 with E).
    pub fn n_params(&self) -> usize {
        2 * self.terms() + usize::from(self.with_e)
    }

    /// Predicted ln L at log-variables `z` for parameters `p`.
    pub fn predict_log(&self, p: &[f64], z: &[f64; 2]) -> f64 {
        let k = self.terms();
        let mut u = [f64::NEG_INFINITY; 3];
        for t in 0..k {
            let v = self.vars[t].unwrap_or(0);
            u[t] = p[t] - p[k + t] * z[v];
        }
        if self.with_e {
            u[k] = p[2 * k];
        }
        let m = u.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        m + u.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
    }

    /// Σ_i w_i · Huber_δ(log L̂_i − log L_i) with its gradient, for one evaluation: packs
    /// `data` first, so fits build a [`PackedData`] once and call [`PackedData::objective`].
    pub fn objective(&self, p: &[f64], grad: &mut [f64], data: &LogData, delta: f64) -> f64 {
        PackedData::new(*self, data).objective(p, grad, delta)
    }
}

/// [`LogData`] laid out for the vectorised objective of one [`PowerSum`] (one column per
/// quantity, padded: [`Columns`]), and the objective itself. Per observation i, with
/// u_k = c_k − α_k·z_k and u_E = e:
///
/// ```text
/// t_k = e^{u_k},  S = t_1 + t_2 + e^e,  log L̂ = ln S,  r = log L̂ − log L_i,
/// f  += w_i·H(r),           H(r) = r²/2 (|r| ≤ δ), δ(|r| − δ/2) otherwise,
/// ∂f/∂c_k += w_i·ψ(r)·t_k/S,   ∂f/∂α_k −= w_i·ψ(r)·t_k·z_k/S,   ∂f/∂e += w_i·ψ(r)·e^e/S,
/// ```
///
/// with ψ = H′ (r inside ±δ, else δ·sign r). An absent term (Kaplan's one-variable laws, or
/// no E) is u = −∞, so e^u = 0 and it drops out. The sums run in the vectorised kernel
/// ([`super::kernel`]: why, and how it stays exact where S over- or underflows).
#[derive(Debug, Clone)]
pub struct PackedData {
    spec: PowerSum,
    /// z of the first term (ln N or ln D), z of the second (0 when there is none), ln L and
    /// the weights.
    cols: Columns,
}

impl PackedData {
    /// Packs `data` for `spec`.
    pub fn new(spec: PowerSum, data: &LogData) -> PackedData {
        let v0 = spec.vars[0].unwrap_or(0);
        let v1 = spec.vars[1];
        let cols = Columns::new(
            data.len(),
            &|i| data.z[i][v0],
            &|i| v1.map_or(0.0, |v| data.z[i][v]),
            &|i| data.log_loss[i],
            &|i| data.weight[i],
        );
        PackedData { spec, cols }
    }

    /// Σ_i w_i · Huber_δ(log L̂_i − log L_i), writing its gradient into `grad` (see the type's
    /// docs for the formulas).
    pub fn objective(&self, p: &[f64], grad: &mut [f64], delta: f64) -> f64 {
        let spec = self.spec;
        let k = spec.terms();
        let pe = if spec.with_e { p[2 * k] } else { f64::NEG_INFINITY };
        let (c1, na1) = if k == 2 { (p[1], -p[3]) } else { (f64::NEG_INFINITY, 0.0) };
        let coef = Coef { c0: p[0], na0: -p[k], c1, na1, pe, delta };
        let [total, g0, gz0, g1, gz1, ge] = sums(&self.cols, &coef);
        grad[0] = g0;
        grad[k] = -gz0;
        if k == 2 {
            grad[1] = g1;
            grad[3] = -gz1;
        }
        if spec.with_e {
            grad[2 * k] = ge;
        }
        total
    }
}

/// Huber_δ(r): r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond.
pub fn huber(r: f64, delta: f64) -> f64 {
    if r.abs() <= delta {
        0.5 * r * r
    } else {
        delta * (r.abs() - 0.5 * delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> LogData {
        let mut d = LogData::default();
        for (i, (n, dd)) in [(1e5, 1e7), (3e6, 2e8), (2e7, 5e9), (1e6, 1e9)].iter().enumerate() {
            d.z.push([f64::ln(*n), f64::ln(*dd)]);
            d.log_loss.push((2.0 + 0.3 * i as f64).ln());
            d.weight.push(1.0 + i as f64 * 0.5);
        }
        d
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let d = data();
        for (spec, p) in [
            (PowerSum::CHINCHILLA, vec![5.0, 6.0, 0.4, 0.3, 0.5]),
            (PowerSum::single(0, true), vec![3.0, 0.3, 0.2]),
            (PowerSum::single(1, false), vec![3.0, 0.2]),
        ] {
            // δ = 10 keeps every residual in the quadratic zone, δ = 1e-3 in the linear one.
            for delta in [10.0, 1e-3] {
                let mut g = vec![0.0; p.len()];
                spec.objective(&p, &mut g, &d, delta);
                for j in 0..p.len() {
                    let h = 1e-6;
                    let (mut pp, mut pm) = (p.clone(), p.clone());
                    pp[j] += h;
                    pm[j] -= h;
                    let mut tmp = vec![0.0; p.len()];
                    let fd = (spec.objective(&pp, &mut tmp, &d, delta)
                        - spec.objective(&pm, &mut tmp, &d, delta))
                        / (2.0 * h);
                    assert!(
                        (fd - g[j]).abs() < 1e-6 * (1.0 + g[j].abs()),
                        "{spec:?} δ={delta} j={j}: {fd} vs {}",
                        g[j]
                    );
                }
            }
        }
    }

    /// The objective with libm's `exp`/`ln`, one observation at a time and the max-shift
    /// only where the direct sum fails (the implementation before [`PackedData`]): the
    /// reference the vectorised kernel must match.
    fn reference_objective(spec: PowerSum, p: &[f64], grad: &mut [f64], data: &LogData, delta: f64) -> f64 {
        let k = spec.terms();
        grad[..spec.n_params()].fill(0.0);
        let mut total = 0.0;
        for i in 0..data.len() {
            let mut u = [f64::NEG_INFINITY; 3];
            for t in 0..k {
                u[t] = p[t] - p[k + t] * data.z[i][spec.vars[t].unwrap_or(0)];
            }
            if spec.with_e {
                u[2] = p[2 * k];
            }
            let direct: Vec<f64> = u.iter().map(|x| x.exp()).collect();
            let s: f64 = direct.iter().sum();
            let (e, s, lse) = if s.is_normal() && s < 1e300 {
                (direct, s, s.ln())
            } else {
                let m = u[0].max(u[1]).max(u[2]);
                let e: Vec<f64> = u.iter().map(|x| (x - m).exp()).collect();
                let s: f64 = e.iter().sum();
                (e, s, m + s.ln())
            };
            let r = lse - data.log_loss[i];
            let w = data.weight[i];
            total += w * huber(r, delta);
            let c = w * r.clamp(-delta, delta) / s;
            for t in 0..k {
                grad[t] += c * e[t];
                grad[k + t] -= c * e[t] * data.z[i][spec.vars[t].unwrap_or(0)];
            }
            if spec.with_e {
                grad[2 * k] += c * e[2];
            }
        }
        total
    }

    #[test]
    fn packed_objective_matches_the_libm_reference() {
        let mut d = data();
        // 4 + 9 observations: one full group of eight and a padded one.
        for i in 0..9 {
            let x = i as f64;
            d.z.push([f64::ln(1e5 * 3f64.powf(x)), f64::ln(1e7 * 2.5f64.powf(x))]);
            d.log_loss.push((2.0 + 0.1 * x).ln());
            d.weight.push(1.0);
        }
        let cases: Vec<(PowerSum, Vec<f64>)> = vec![
            (PowerSum::CHINCHILLA, vec![5.0, 6.0, 0.4, 0.3, 0.5]),
            (PowerSum::CHINCHILLA, vec![25.0, 0.0, 0.0, 2.0, -1.0]),
            // Terms far beyond e^±709 at some points: the max-shifted branch.
            (PowerSum::CHINCHILLA, vec![800.0, 6.0, 0.5, 0.3, 0.5]),
            (PowerSum::CHINCHILLA, vec![475.0, 6.0, 1.0, 0.3, 0.5]),
            (PowerSum::CHINCHILLA, vec![-900.0, -700.0, 0.4, 0.3, -800.0]),
            (PowerSum::single(0, true), vec![3.0, 0.3, 0.2]),
            (PowerSum::single(1, false), vec![3.0, 0.2]),
            (PowerSum::single(1, false), vec![-800.0, 0.2]),
        ];
        for (spec, p) in cases {
            for delta in [10.0, 1e-3] {
                let (mut g, mut gr) = (vec![0.0; p.len()], vec![0.0; p.len()]);
                let f = PackedData::new(spec, &d).objective(&p, &mut g, delta);
                let fr = reference_objective(spec, &p, &mut gr, &d, delta);
                assert!(f.is_finite() && (f - fr).abs() <= 1e-13 * fr.abs(), "{spec:?} {p:?}: {f} vs {fr}");
                for j in 0..p.len() {
                    let scale = gr.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                    assert!((g[j] - gr[j]).abs() <= 1e-12 * scale, "{spec:?} {p:?} j={j}: {g:?} vs {gr:?}");
                }
            }
        }
    }

    #[test]
    fn predict_log_is_log_of_the_sum() {
        let p = [5.0, 6.0, 0.4, 0.3, 0.5];
        let (n, d) = (1e6f64, 1e9f64);
        let direct = 5f64.exp() / n.powf(0.4) + 6f64.exp() / d.powf(0.3) + 0.5f64.exp();
        let got = PowerSum::CHINCHILLA.predict_log(&p, &[n.ln(), d.ln()]);
        assert!((got - direct.ln()).abs() < 1e-12);
    }

    #[test]
    fn huber_is_continuous_at_delta() {
        let d = 1e-3;
        assert!((huber(d, d) - huber(d * (1.0 + 1e-12), d)).abs() < 1e-15);
        assert_eq!(huber(-0.5, d), huber(0.5, d));
    }
}
