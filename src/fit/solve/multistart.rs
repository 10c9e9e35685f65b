//! Multi-start L-BFGS over a grid of initial points (Hoffmann et al. 2022; Besiroglu et al.
//! 2024), in parallel with rayon; deterministic (the best is chosen by objective, then by start
//! index, whatever the thread schedule).

use rayon::prelude::*;

use super::lbfgs::{minimize, LbfgsOptions, LbfgsResult};
use super::objective::{LogData, PackedData, PowerSum};

/// Settings shared by the Huber fits.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    /// Huber threshold δ on ln-loss residuals (default 1e-3).
    pub delta: f64,
    /// L-BFGS tolerances (tight by default; see [`super::lbfgs`]).
    pub lbfgs: LbfgsOptions,
    /// Run the starts on the rayon pool.
    pub parallel: bool,
    /// Lower bound on the irreducible term E (nats/token), e.g. the synthetic corpus's
    /// entropy floor: no model can go below it, so neither can E = lim L(N, D). Enforced
    /// exactly by fitting u with E = floor + e^u (ln E = LSE(ln floor, u)).
    pub e_floor: Option<f64>,
    /// With more than twice this many rows, start grids run on an evenly strided subsample
    /// of this many rows and the best points are polished on all rows ([`fit_power_sum`]);
    /// 0 = every start on every row (`fit --all-rows`).
    pub coarse_rows: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            delta: super::objective::HUBER_DELTA,
            lbfgs: LbfgsOptions::default(),
            parallel: true,
            e_floor: None,
            coarse_rows: COARSE_ROWS,
        }
    }
}

/// Outcome of a multi-start fit.
#[derive(Debug, Clone)]
pub struct MultiStart {
    /// Parameters of the lowest objective found (layout of the model).
    pub best: Vec<f64>,
    /// Objective at `best` (Σ w·Huber, dimensionless).
    pub objective: f64,
    /// Starts tried.
    pub starts: usize,
    /// Starts whose L-BFGS run met a convergence test.
    pub converged: usize,
    /// Whether the best run met a convergence test.
    pub best_converged: bool,
    /// Distinct local minima (|Δθ|∞ > 1e-3), lowest objective first, at most 8: warm starts for
    /// bootstrap refits and profiles.
    pub minima: Vec<Vec<f64>>,
    /// Indices into the starts of the [`POLISH`] lowest finite end points, lowest first
    /// (what [`coarse_then_polish`] re-runs on all rows).
    pub ranked: Vec<usize>,
}

/// Starts (and their end points) polished on all rows after a subsample's grid.
pub const POLISH: usize = 48;

/// Runs L-BFGS on `objective` from every start and keeps the best.
pub fn multistart_with<F>(objective: F, starts: &[Vec<f64>], opts: &FitOptions) -> Option<MultiStart>
where
    F: Fn(&[f64], &mut [f64]) -> f64 + Sync,
{
    let run = |x0: &Vec<f64>| -> LbfgsResult { minimize(&objective, x0, &opts.lbfgs) };
    let results: Vec<LbfgsResult> =
        if opts.parallel { starts.par_iter().map(run).collect() } else { starts.iter().map(run).collect() };
    let converged = results.iter().filter(|r| r.termination.converged()).count();
    let mut order: Vec<usize> = (0..results.len()).filter(|&i| results[i].f.is_finite()).collect();
    order.sort_by(|&i, &j| results[i].f.total_cmp(&results[j].f).then(i.cmp(&j)));
    let &first = order.first()?;
    let mut minima: Vec<Vec<f64>> = Vec::new();
    for &i in &order {
        if minima.len() >= 8 {
            break;
        }
        let x = &results[i].x;
        if !results[i].termination.converged() || x.iter().any(|v| !v.is_finite()) {
            continue;
        }
        if minima.iter().all(|m| m.iter().zip(x).any(|(a, b)| (a - b).abs() > 1e-3)) {
            minima.push(x.clone());
        }
    }
    Some(MultiStart {
        best: results[first].x.clone(),
        objective: results[first].f,
        starts: starts.len(),
        converged,
        best_converged: results[first].termination.converged(),
        minima,
        ranked: order.iter().take(POLISH).copied().collect(),
    })
}

/// Rows the start grid runs on when the data has more than twice as many (issue #18).
pub const COARSE_ROWS: usize = 512;

/// An evenly strided subsample of `m` rows (deterministic: rows `⌊i·n/m⌋`), weights scaled
/// by n/m so the objective keeps its scale.
pub fn subsample(data: &LogData, m: usize) -> LogData {
    let n = data.len();
    let idx: Vec<usize> = (0..m).map(|i| i * n / m).collect();
    let scale = n as f64 / m as f64;
    LogData {
        z: idx.iter().map(|&i| data.z[i]).collect(),
        log_loss: idx.iter().map(|&i| data.log_loss[i]).collect(),
        weight: idx.iter().map(|&i| data.weight[i] * scale).collect(),
    }
}

/// Multi-start fit of a [`PowerSum`] model to `data` (packed once for the vectorised
/// objective, [`PackedData`]).
///
/// Scaling with rows (issue #18: the full grid on every row cost ~8 ms of CPU per row, 78 s
/// at 10⁴ rows): with more than 2·[`COARSE_ROWS`] rows the start grid runs on an evenly
/// strided subsample of [`COARSE_ROWS`] rows, and L-BFGS then polishes the best start and
/// every distinct local minimum it found (at most 8, [`MultiStart::minima`]) on all rows;
/// the lowest full-data objective wins. Cost: grid × 512 rows + ≤ 9 runs × n rows, linear
/// in n. The published sets (≤ 1,745 rows) take the exact path.
pub fn fit_power_sum(
    spec: PowerSum,
    data: &LogData,
    starts: &[Vec<f64>],
    opts: &FitOptions,
) -> Option<MultiStart> {
    coarse_then_polish(data, starts, opts.coarse_rows, |d, s| fit_power_sum_all(spec, d, s, opts))
}

/// Runs `fit(data, starts)` directly, or, with more than 2·`rows` rows (`rows` > 0) and more
/// than 16 starts, on a [`subsample`] of `rows` rows first and then from its best point and
/// distinct minima on all rows ([`fit_power_sum`]'s docs). `starts` and `converged` report
/// the grid stage.
pub fn coarse_then_polish<F>(data: &LogData, starts: &[Vec<f64>], rows: usize, fit: F) -> Option<MultiStart>
where
    F: Fn(&LogData, &[Vec<f64>]) -> Option<MultiStart>,
{
    if rows == 0 || data.len() <= 2 * rows || starts.len() <= 16 {
        return fit(data, starts);
    }
    let coarse = fit(&subsample(data, rows), starts)?;
    // Both the best end points and the starts that led there: a start's run on all rows can
    // end lower than from its subsample end point (the Huber objective is nearly flat along
    // the E–B ridge, where L-BFGS stops early).
    let mut polish = vec![coarse.best.clone()];
    polish.extend(coarse.minima.iter().filter(|m| **m != coarse.best).cloned());
    polish.extend(coarse.ranked.iter().map(|&i| starts[i].clone()));
    let mut full = fit(data, &polish)?;
    full.starts = coarse.starts;
    full.converged = coarse.converged;
    Some(full)
}

/// [`fit_power_sum`] with every start on every row.
fn fit_power_sum_all(
    spec: PowerSum,
    data: &LogData,
    starts: &[Vec<f64>],
    opts: &FitOptions,
) -> Option<MultiStart> {
    let delta = opts.delta;
    let packed = PackedData::new(spec, data);
    let obj = |p: &[f64], g: &mut [f64]| packed.objective(p, g, delta);
    match (opts.e_floor, spec.with_e) {
        (Some(floor), true) => {
            let k = spec.n_params() - 1;
            let b = EBound::new(floor, k);
            let inner: Vec<Vec<f64>> = starts.iter().map(|s| b.to_inner(s)).collect();
            let mut ms = multistart_with(b.wrap(&obj), &inner, opts)?;
            ms.best = b.to_outer(&ms.best);
            ms.minima = ms.minima.iter().map(|m| b.to_outer(m)).collect();
            Some(ms)
        }
        _ => multistart_with(obj, starts, opts),
    }
}

/// The reparametrisation behind [`FitOptions::e_floor`]: parameter `k` (e = ln E) is replaced
/// by u with E = floor + e^u, so every u gives E > floor and L-BFGS needs no constraint.
#[derive(Debug, Clone, Copy)]
pub struct EBound {
    ln_floor: f64,
    k: usize,
}

impl EBound {
    /// Bound E ≥ `floor` (nats/token) on parameter index `k` (= ln E).
    pub fn new(floor: f64, k: usize) -> EBound {
        EBound { ln_floor: floor.ln(), k }
    }
    /// ln E from u: ln(floor + e^u).
    fn e_of(&self, u: f64) -> f64 {
        let (m, n) = if u > self.ln_floor { (u, self.ln_floor) } else { (self.ln_floor, u) };
        m + (n - m).exp().ln_1p()
    }
    /// θ (with ln E) to the optimiser's parameters (with u); E at or below the floor maps
    /// to E = floor·(1 + 1e-3).
    pub fn to_inner(&self, theta: &[f64]) -> Vec<f64> {
        let mut v = theta.to_vec();
        let floor = self.ln_floor.exp();
        let excess = (theta[self.k].exp() - floor).max(1e-3 * floor);
        v[self.k] = excess.ln();
        v
    }
    /// The optimiser's parameters back to θ.
    pub fn to_outer(&self, inner: &[f64]) -> Vec<f64> {
        let mut v = inner.to_vec();
        v[self.k] = self.e_of(inner[self.k]);
        v
    }
    /// The objective in the optimiser's parameters (chain rule: d ln E / du = σ(u − ln floor)).
    pub fn wrap<'a, F>(&'a self, f: &'a F) -> impl Fn(&[f64], &mut [f64]) -> f64 + Sync + 'a
    where
        F: Fn(&[f64], &mut [f64]) -> f64 + Sync,
    {
        move |p: &[f64], g: &mut [f64]| {
            let outer = self.to_outer(p);
            let v = f(&outer, g);
            let u = p[self.k];
            g[self.k] *= 1.0 / (1.0 + (self.ln_floor - u).exp());
            v
        }
    }
}

/// Cartesian product of per-parameter value lists, in parameter order.
pub fn grid(axes: &[&[f64]]) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = vec![Vec::new()];
    for axis in axes {
        out =
            out.into_iter().flat_map(|p| axis.iter().map(move |&v| [p.as_slice(), &[v]].concat())).collect();
    }
    out
}

/// Fits with parameter `fixed.0` held at `fixed.1`, re-optimising the others from `starts`
/// (full-length vectors; the fixed entry is overwritten). Returns the full parameter vector.
pub fn fit_with_fixed<F>(
    objective: F,
    starts: &[Vec<f64>],
    fixed: (usize, f64),
    opts: &FitOptions,
) -> Option<Vec<f64>>
where
    F: Fn(&[f64], &mut [f64]) -> f64 + Sync,
{
    let (j, v) = fixed;
    let expand = move |sub: &[f64]| -> Vec<f64> {
        let mut full = Vec::with_capacity(sub.len() + 1);
        full.extend_from_slice(&sub[..j]);
        full.push(v);
        full.extend_from_slice(&sub[j..]);
        full
    };
    let sub_obj = |sub: &[f64], g: &mut [f64]| -> f64 {
        let full = expand(sub);
        let mut gf = vec![0.0; full.len()];
        let f = objective(&full, &mut gf);
        g[..j].copy_from_slice(&gf[..j]);
        g[j..].copy_from_slice(&gf[j + 1..]);
        f
    };
    let sub_starts: Vec<Vec<f64>> = starts
        .iter()
        .map(|s| s.iter().enumerate().filter(|(i, _)| *i != j).map(|(_, x)| *x).collect())
        .collect();
    let ms = multistart_with(sub_obj, &sub_starts, opts)?;
    Some(expand(&ms.best))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_the_cartesian_product() {
        let g = grid(&[&[0.0, 1.0], &[5.0, 6.0, 7.0]]);
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], vec![0.0, 5.0]);
        assert_eq!(g[5], vec![1.0, 7.0]);
    }

    #[test]
    fn finds_the_global_of_a_double_well() {
        // f(x) = (x² − 1)² + 0.3x: global minimum near x = −1, local near x = +1.
        let f = |x: &[f64], g: &mut [f64]| {
            g[0] = 4.0 * x[0] * (x[0] * x[0] - 1.0) + 0.3;
            (x[0] * x[0] - 1.0).powi(2) + 0.3 * x[0]
        };
        let starts = vec![vec![2.0], vec![0.5], vec![-2.0]];
        let ms = multistart_with(f, &starts, &FitOptions::default()).expect("fit");
        assert!(ms.best[0] < -0.9, "{:?}", ms.best);
        assert_eq!(ms.minima.len(), 2);
        assert_eq!(ms.converged, 3);
    }

    #[test]
    fn fixed_parameter_stays_fixed() {
        // f = (x−1)² + (y−2)² + (z−3)²; with y fixed at 5 the others still reach 1 and 3.
        let f = |p: &[f64], g: &mut [f64]| {
            let t = [1.0, 2.0, 3.0];
            let mut s = 0.0;
            for k in 0..3 {
                s += (p[k] - t[k]).powi(2);
                g[k] = 2.0 * (p[k] - t[k]);
            }
            s
        };
        let x = fit_with_fixed(f, &[vec![0.0, 0.0, 0.0]], (1, 5.0), &FitOptions::default()).expect("fit");
        assert!((x[0] - 1.0).abs() < 1e-8 && x[1] == 5.0 && (x[2] - 3.0).abs() < 1e-8, "{x:?}");
    }
}
