//! Besiroglu et al. (2024)'s headline Approach 3 estimator: maximum likelihood with
//! Huber-distributed residuals and a fitted scale (`data_analysis.ipynb`, cells 24–25).
//!
//! With r_i = log L̂_i − log L_i, log L̂ = LSE(a − α·log N, b − β·log D, e) as in
//! [`crate::fit::laws::approach3`], and the Huber density p(x) = exp(−ρ_δ(x))/Z(δ) on x = r/σ,
//!
//! ```text
//! NLL(θ, σ) = Σ_i ρ_δ(r_i/σ) + n·ln σ + n·ln Z(δ),
//! ρ_δ(x) = x²/2 (|x| ≤ δ), δ(|x| − δ/2) otherwise,
//! Z(δ) = √(2π)·erf(δ/√2) + 2·e^{−δ²/2}/δ.
//! ```
//!
//! Why it is here and not the default: with δ = 1e-3 the fitted σ is ~5e-6 (Besiroglu et al.
//! report 4.7e-6), so almost every residual is in the linear part and the estimator is in effect
//! least absolute deviations on log loss. scalinglab's default is the summed Huber of
//! [`crate::fit::laws::approach3`] (their grid replication, cell 18), which needs no scale and is what the
//! 4,500-start grid and the bootstrap are built on; this estimator reproduces their headline
//! table from their start (Hoffmann et al.'s unrounded values), as they did it.

use anyhow::Result;

use crate::fit::input::data::Obs;
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::approach3::check_obs;
use crate::fit::solve::lbfgs::Termination;
use crate::fit::solve::objective::LogData;
use crate::fit::stats::solve_dense;

/// A Huber maximum-likelihood fit.
#[derive(Debug, Clone)]
pub struct HuberMle {
    /// E, A, B, α, β.
    pub law: ChinchillaLaw,
    /// Fitted scale σ of the log-loss residuals (dimensionless).
    pub sigma: f64,
    /// Negative log-likelihood at the optimum, with the normalising constant (nats).
    pub nll: f64,
    /// Why the last L-BFGS pass stopped.
    pub termination: Termination,
}

/// erf by its Maclaurin series (enough terms for |x| ≤ 3, where this is used for δ/√2).
fn erf(x: f64) -> f64 {
    let (mut term, mut sum) = (x, x);
    for n in 1..80 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// ln Z(δ), the Huber density's normaliser (module docs).
pub fn huber_log_norm(delta: f64) -> f64 {
    ((2.0 * std::f64::consts::PI).sqrt() * erf(delta / 2f64.sqrt())
        + 2.0 * (-delta * delta / 2.0).exp() / delta)
        .ln()
}

/// NLL and gradient in p = `[a, b, α, β, e, ln σ]` (module docs).
fn nll(p: &[f64], g: &mut [f64], z: &[[f64; 2]], y: &[f64], delta: f64, log_z: f64) -> f64 {
    g.iter_mut().for_each(|v| *v = 0.0);
    let sigma = p[5].exp();
    let mut f = 0.0;
    for (zi, yi) in z.iter().zip(y) {
        let u = [p[0] - p[2] * zi[0], p[1] - p[3] * zi[1], p[4]];
        let m = u.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let t = u.map(|v| (v - m).exp());
        let s: f64 = t.iter().sum();
        let x = (m + s.ln() - yi) / sigma;
        let (rho, psi) = if x.abs() <= delta {
            (0.5 * x * x, x)
        } else {
            (delta * (x.abs() - 0.5 * delta), delta.copysign(x))
        };
        f += rho;
        let q = psi / sigma;
        let w = t.map(|v| v / s);
        g[0] += q * w[0];
        g[1] += q * w[1];
        g[2] -= q * w[0] * zi[0];
        g[3] -= q * w[1] * zi[1];
        g[4] += q * w[2];
        g[5] -= psi * x;
    }
    let n = y.len() as f64;
    g[5] += n;
    f + n * (p[5] + log_z)
}

/// The σ minimising the NLL for fixed residuals r: the root of Σ ψ(r_i/σ)·r_i/σ = n (the
/// left side falls with σ), by bisection on ln σ.
fn best_sigma(r: &[f64], delta: f64) -> f64 {
    let g = |ls: f64| {
        let s = ls.exp();
        r.iter()
            .map(|&v| {
                let x = v / s;
                if x.abs() <= delta {
                    x * x
                } else {
                    delta * x.abs()
                }
            })
            .sum::<f64>()
            - r.len() as f64
    };
    let (mut lo, mut hi) = (-40.0f64, 5.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if g(mid) > 0.0 {
            lo = mid
        } else {
            hi = mid
        }
    }
    (0.5 * (lo + hi)).exp()
}

/// ln L̂ at θ and its gradient ∂ ln L̂/∂θ (softmax weights of the three LSE terms).
fn predict_grad(th: &[f64], z: &[f64; 2]) -> (f64, [f64; 5]) {
    let u = [th[0] - th[2] * z[0], th[1] - th[3] * z[1], th[4]];
    let m = u.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let t = u.map(|v| (v - m).exp());
    let s: f64 = t.iter().sum();
    let w = t.map(|v| v / s);
    (m + s.ln(), [w[0], w[1], -w[0] * z[0], -w[1] * z[1], w[2]])
}

/// One iteratively-reweighted Gauss–Newton step on Σ H_t(r): weights w = min(1, t/|r|) make
/// the Huber sum a weighted least-squares problem locally (Huber 1981 §7.8); the step is halved
/// until the Huber sum falls. Returns the new θ and its Huber sum.
fn irls_step(th: &[f64], z: &[[f64; 2]], y: &[f64], t: f64) -> Option<(Vec<f64>, f64)> {
    let sum_h = |p: &[f64]| -> f64 {
        z.iter()
            .zip(y)
            .map(|(zi, yi)| crate::fit::solve::objective::huber(predict_grad(p, zi).0 - yi, t))
            .sum()
    };
    let (mut jtj, mut jtr) = ([[0.0; 5]; 5], [0.0; 5]);
    for (zi, yi) in z.iter().zip(y) {
        let (lp, g) = predict_grad(th, zi);
        let r = lp - yi;
        let w = if r.abs() <= t { 1.0 } else { t / r.abs() };
        for a in 0..5 {
            jtr[a] -= w * g[a] * r;
            for b in 0..5 {
                jtj[a][b] += w * g[a] * g[b];
            }
        }
    }
    (0..5).for_each(|k| jtj[k][k] *= 1.0 + 1e-12);
    let step = solve_dense(jtj, jtr)?;
    let f0 = sum_h(th);
    let mut lam = 1.0;
    for _ in 0..60 {
        let cand: Vec<f64> = th.iter().zip(step).map(|(a, s)| a + lam * s).collect();
        let f = sum_h(&cand);
        if f < f0 {
            return Some((cand, f));
        }
        lam *= 0.5;
    }
    None
}

/// Fits by Huber maximum likelihood from `start`. For fixed σ, ρ_δ(r/σ) = H_{δσ}(r)/σ², so the
/// θ-step minimises the Huber sum with threshold t = δσ; with t ≈ 5e-9 that sum is nearly
/// piecewise linear, where L-BFGS stalls at the first kink, so the θ-step is iteratively
/// reweighted Gauss–Newton ([`irls_step`]). The σ-step has the closed condition of
/// [`best_sigma`]. Steps alternate until the NLL stops falling (each step lowers it).
pub fn fit_huber_mle(obs: &[Obs], delta: f64, start: &ChinchillaLaw) -> Result<HuberMle> {
    check_obs(obs, 5, "Huber MLE")?;
    let data = LogData::from_obs(obs);
    let (z, y) = (&data.z, &data.log_loss);
    let resid =
        |th: &[f64]| -> Vec<f64> { z.iter().zip(y).map(|(zi, yi)| predict_grad(th, zi).0 - yi).collect() };
    let log_z = huber_log_norm(delta);
    let total = |th: &[f64], s: f64| -> f64 {
        let mut g = [0.0; 6];
        let p: Vec<f64> = th.iter().copied().chain([s.ln()]).collect();
        nll(&p, &mut g, z, y, delta, log_z)
    };
    let mut theta = start.theta().to_vec();
    let mut sigma = best_sigma(&resid(&theta), delta);
    let mut f = total(&theta, sigma);
    let mut term = Termination::MaxIter;
    for _ in 0..20_000 {
        let Some((th, _)) = irls_step(&theta, z, y, delta * sigma) else {
            term = Termination::Stalled;
            break;
        };
        let s = best_sigma(&resid(&th), delta);
        let fnew = total(&th, s);
        let done = f - fnew <= 1e-13 * f.abs().max(1.0);
        if fnew < f {
            (theta, sigma, f) = (th, s, fnew);
        }
        if done {
            term = Termination::Objective;
            break;
        }
    }
    Ok(HuberMle { law: ChinchillaLaw::from_theta(&theta), sigma, nll: f, termination: term })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normaliser_is_the_integral_of_the_huber_density() {
        // Trapezoid integral of exp(−ρ_δ(x)) over ±60 for δ = 1 (tails beyond are < e^−59).
        let delta = 1.0;
        let h = 1e-3;
        let s: f64 = (-60_000..=60_000)
            .map(|k| {
                let x = k as f64 * h;
                (-crate::fit::solve::objective::huber(x, delta)).exp() * h
            })
            .sum();
        assert!((s.ln() - huber_log_norm(delta)).abs() < 1e-6, "{} vs {}", s.ln(), huber_log_norm(delta));
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let obs: Vec<Obs> = (0..12)
            .map(|i| {
                let (n, d) = (1e7 * 2f64.powi(i % 4), 1e9 * 3f64.powi(i / 4));
                Obs::new(n, d, 1.8 + 400.0 / n.powf(0.34) + 900.0 / d.powf(0.3) + 0.01 * (i as f64).sin())
            })
            .collect();
        let z: Vec<[f64; 2]> = obs.iter().map(|o| [o.n.ln(), o.d.ln()]).collect();
        let y: Vec<f64> = obs.iter().map(|o| o.loss.ln()).collect();
        let p = [6.0, 6.8, 0.34, 0.3, 0.6, (2e-3f64).ln()];
        let mut g = [0.0; 6];
        nll(&p, &mut g, &z, &y, 1.0, 0.0);
        for k in 0..6 {
            let (mut up, mut dn) = (p, p);
            up[k] += 1e-6;
            dn[k] -= 1e-6;
            let mut s = [0.0; 6];
            let fd = (nll(&up, &mut s, &z, &y, 1.0, 0.0) - nll(&dn, &mut s, &z, &y, 1.0, 0.0)) / 2e-6;
            assert!((fd - g[k]).abs() < 1e-4 * (1.0 + fd.abs()), "param {k}: fd {fd} vs {}", g[k]);
        }
    }
}
