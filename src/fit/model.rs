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
    pub fn from_obs(obs: &[super::data::Obs]) -> LogData {
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

    /// Σ_i w_i · Huber_δ(log L̂_i − log L_i), writing its gradient into `grad`.
    ///
    /// Hot path of every fit: the sum of exponentials is evaluated directly (two `exp` and one
    /// `ln` per observation; e^e is computed once) and falls back to the max-shifted form only
    /// when it under- or overflows.
    pub fn objective(&self, p: &[f64], grad: &mut [f64], data: &LogData, delta: f64) -> f64 {
        let k = self.terms();
        let np = self.n_params();
        grad[..np].fill(0.0);
        let v0 = self.vars[0].unwrap_or(0);
        let v1 = self.vars[1].unwrap_or(1);
        let ee = if self.with_e { p[2 * k].exp() } else { 0.0 };
        let (c0, a0) = (p[0], p[k]);
        let (c1, a1) = if k == 2 { (p[1], p[3]) } else { (0.0, 0.0) };
        let mut total = 0.0;
        let (mut g0, mut g1, mut ga0, mut ga1, mut ge) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..data.len() {
            let z = &data.z[i];
            let t0 = (c0 - a0 * z[v0]).exp();
            let t1 = if k == 2 { (c1 - a1 * z[v1]).exp() } else { 0.0 };
            let mut s = t0 + t1 + ee;
            let (mut e0, mut e1, mut e2) = (t0, t1, ee);
            let lse = if s.is_normal() && s < 1e300 {
                s.ln()
            } else {
                // Stable form: shift by the largest exponent.
                let mut u = [c0 - a0 * z[v0], f64::NEG_INFINITY, f64::NEG_INFINITY];
                if k == 2 {
                    u[1] = c1 - a1 * z[v1];
                }
                if self.with_e {
                    u[2] = p[2 * k];
                }
                let m = u[0].max(u[1]).max(u[2]);
                e0 = (u[0] - m).exp();
                e1 = (u[1] - m).exp();
                e2 = (u[2] - m).exp();
                s = e0 + e1 + e2;
                m + s.ln()
            };
            let r = lse - data.log_loss[i];
            let w = data.weight[i];
            let (h, psi) = if r.abs() <= delta {
                (0.5 * r * r, r)
            } else {
                (delta * (r.abs() - 0.5 * delta), delta * r.signum())
            };
            total += w * h;
            let c = w * psi / s;
            g0 += c * e0;
            ga0 -= c * e0 * z[v0];
            g1 += c * e1;
            ga1 -= c * e1 * z[v1];
            ge += c * e2;
        }
        grad[0] = g0;
        grad[k] = ga0;
        if k == 2 {
            grad[1] = g1;
            grad[3] = ga1;
        }
        if self.with_e {
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
