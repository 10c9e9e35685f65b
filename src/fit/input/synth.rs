//! Synthetic data from a known law, for tests, the benchmark and sanity checks of a design
//! before spending compute on it. Deterministic given the RNG.

use rand::Rng;

use super::data::RunPoint;
use crate::fit::law::ChinchillaLaw;

/// A standard normal draw (Box–Muller), so no extra distribution crate is needed.
pub fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `k` values log-spaced from `lo` to `hi` inclusive.
pub fn log_grid(lo: f64, hi: f64, k: usize) -> Vec<f64> {
    if k == 1 {
        return vec![lo];
    }
    (0..k).map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (k - 1) as f64).exp()).collect()
}

/// A random "truth" with α, β ∈ [0.2, 0.6], E ∈ [0.5, 3] and A, B set so that each power-law
/// term is worth 0.25–1 nats at N = `n_mid` parameters and D = `d_mid` tokens (pass the
/// geometric middle of the grid, so both terms are visible in it).
pub fn random_law<R: Rng>(rng: &mut R, n_mid: f64, d_mid: f64) -> ChinchillaLaw {
    let alpha = rng.gen_range(0.2..0.6);
    let beta = rng.gen_range(0.2..0.6);
    let e = rng.gen_range(0.5..3.0);
    let a = rng.gen_range(0.25..1.0) * n_mid.powf(alpha);
    let b = rng.gen_range(0.25..1.0) * d_mid.powf(beta);
    ChinchillaLaw { e, a, b, alpha, beta }
}

/// Losses of `law` on the grid `ns × ds`, `seeds` replicates per cell, each multiplied by
/// (1 + `noise_rel`·ε), ε ~ N(0, 1). Ids are `n{i}_d{j}_s{k}`.
pub fn grid_points<R: Rng>(
    law: &ChinchillaLaw,
    ns: &[f64],
    ds: &[f64],
    seeds: usize,
    noise_rel: f64,
    rng: &mut R,
) -> Vec<RunPoint> {
    let mut out = Vec::with_capacity(ns.len() * ds.len() * seeds);
    for (i, &n) in ns.iter().enumerate() {
        for (j, &d) in ds.iter().enumerate() {
            for k in 0..seeds {
                let loss = law.loss(n, d) * (1.0 + noise_rel * normal(rng));
                out.push(point(format!("n{i}_d{j}_s{k}"), n, d, loss, Some(k.to_string())));
            }
        }
    }
    out
}

/// IsoFLOP profiles: for each budget C, `per_budget` sizes log-spaced over ±`half_span_dec`
/// decades around `centre(C)`, D = C/(6N), loss from `law` (noiseless). Budgets are recorded
/// in `flops_budget`.
pub fn isoflop_points(
    law: &ChinchillaLaw,
    budgets: &[f64],
    per_budget: usize,
    half_span_dec: f64,
    centre: impl Fn(f64) -> f64,
) -> Vec<RunPoint> {
    let mut out = Vec::new();
    for (bi, &c) in budgets.iter().enumerate() {
        let mid = centre(c);
        let span = 10f64.powf(half_span_dec);
        for (k, n) in log_grid(mid / span, mid * span, per_budget).into_iter().enumerate() {
            let d = c / (6.0 * n);
            let mut p = point(format!("c{bi}_n{k}"), n, d, law.loss(n, d), None);
            p.flops_budget = Some(c);
            out.push(p);
        }
    }
    out
}

/// A run point with C = 6ND and no group or schedule.
pub fn point(id: String, n: f64, d: f64, loss: f64, seed: Option<String>) -> RunPoint {
    RunPoint {
        id,
        n,
        d,
        c: 6.0 * n * d,
        loss,
        seed,
        group: None,
        flops_budget: None,
        schedule: None,
        run: None,
        unique_tokens: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn normal_has_unit_moments() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let xs: Vec<f64> = (0..20000).map(|_| normal(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.04, "mean {m} var {v}");
    }

    #[test]
    fn isoflop_points_sit_on_their_budget() {
        let law = ChinchillaLaw { e: 1.7, a: 400.0, b: 400.0, alpha: 0.34, beta: 0.28 };
        let pts = isoflop_points(&law, &[1e18, 1e19], 5, 0.5, |c| law.n_opt(c));
        assert_eq!(pts.len(), 10);
        for p in &pts {
            let budget = p.flops_budget.expect("budget");
            assert!((p.c / budget - 1.0).abs() < 1e-12);
        }
        let g = log_grid(1.0, 100.0, 3);
        assert!(g.iter().zip([1.0, 10.0, 100.0]).all(|(a, b)| (a / b - 1.0).abs() < 1e-12), "{g:?}");
    }
}
