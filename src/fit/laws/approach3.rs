//! Chinchilla Approach 3 (Hoffmann et al. 2022) as Besiroglu et al. (2024) showed it must be
//! done: L(N, D) = E + A/N^α + B/D^β fitted as
//!
//! ```text
//! log L̂ = LSE(a − α·log N, b − β·log D, e),   A = e^a, B = e^b, E = e^e,
//! minimise Σ_i Huber_δ(log L̂_i − log L_i),    δ = 1e-3,
//! ```
//!
//! with L-BFGS (analytic gradients, tight tolerances) from the grid α, β ∈ {0, 0.5, 1, 1.5, 2},
//! e ∈ {−1, −0.5, 0, 0.5, 1}, a, b ∈ {0, 5, 10, 15, 20, 25} (4,500 starts), keeping the best.
//!
//! With `FitOptions::e_floor` (`fit --e-floor`), E ≥ floor holds exactly: the optimiser works
//! in u with E = floor + e^u ([`EBound`]), for the fit, bootstrap refits and profiles alike.

use anyhow::Result;

use crate::error::input_err;
use crate::fit::input::data::Obs;
use crate::fit::law::ChinchillaLaw;
use crate::fit::solve::multistart::{
    fit_power_sum, fit_with_fixed, grid, subsample, EBound, FitOptions, MultiStart,
};
use crate::fit::solve::objective::{LogData, PackedData, PowerSum};

/// Which initial points to start L-BFGS from. Parameter order is `[a, b, α, β, e]`.
#[derive(Debug, Clone, PartialEq)]
pub enum StartGrid {
    /// Besiroglu et al. 2024's 4,500-point grid (see the module docs).
    Besiroglu,
    /// 3·3·3·2·2 = 108 starts spanning the same box (α, β ∈ {0.25, 0.75, 1.5}, e ∈ {−1, 0, 1},
    /// a, b ∈ {5, 15}): `--starts coarse` for a quick look.
    Coarse,
    /// 2⁵ = 32 starts (α, β ∈ {0.3, 1}, e ∈ {−1, 0.5}, a, b ∈ {5, 15}): added to the full
    /// fit's local minima for bootstrap refits and profiles, to catch a resample whose optimum
    /// moved to another basin.
    Refit,
    /// Explicit starts.
    Custom(Vec<[f64; 5]>),
}

impl StartGrid {
    /// The starts as parameter vectors `[a, b, α, β, e]`.
    pub fn starts(&self) -> Vec<Vec<f64>> {
        let ab: &[f64] = &[0.0, 5.0, 10.0, 15.0, 20.0, 25.0];
        let ex: &[f64] = &[0.0, 0.5, 1.0, 1.5, 2.0];
        let e: &[f64] = &[-1.0, -0.5, 0.0, 0.5, 1.0];
        match self {
            StartGrid::Besiroglu => grid(&[ab, ab, ex, ex, e]),
            StartGrid::Coarse => {
                grid(&[&[5.0, 15.0], &[5.0, 15.0], &[0.25, 0.75, 1.5], &[0.25, 0.75, 1.5], &[-1.0, 0.0, 1.0]])
            }
            StartGrid::Refit => grid(&[&[5.0, 15.0], &[5.0, 15.0], &[0.3, 1.0], &[0.3, 1.0], &[-1.0, 0.5]]),
            StartGrid::Custom(v) => v.iter().map(|s| s.to_vec()).collect(),
        }
    }
}

/// The start grids `fit --starts` chooses between (fit.json records the number of starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starts {
    /// [`StartGrid::Besiroglu`], 4,500 starts.
    Full,
    /// [`StartGrid::Coarse`], 108 starts.
    Coarse,
}

impl Starts {
    /// The grid of this choice.
    pub fn grid(self) -> StartGrid {
        match self {
            Starts::Full => StartGrid::Besiroglu,
            Starts::Coarse => StartGrid::Coarse,
        }
    }
    /// The command-line name: `full` or `coarse`.
    pub fn name(self) -> &'static str {
        match self {
            Starts::Full => "full",
            Starts::Coarse => "coarse",
        }
    }
    /// The choice a fit that tried `starts` starts was made with (over 1,000: the full grid).
    pub fn of_count(starts: usize) -> Starts {
        if starts > 1000 {
            Starts::Full
        } else {
            Starts::Coarse
        }
    }
}

/// Settings for [`fit_approach3`].
#[derive(Debug, Clone)]
pub struct Approach3Options {
    /// Huber δ, tolerances, parallelism.
    pub fit: FitOptions,
    /// Initial points.
    pub grid: StartGrid,
}

impl Default for Approach3Options {
    fn default() -> Self {
        Approach3Options { fit: FitOptions::default(), grid: StartGrid::Besiroglu }
    }
}

/// A fitted Approach 3 law.
#[derive(Debug, Clone)]
pub struct Approach3Fit {
    /// E, A, B, α, β.
    pub law: ChinchillaLaw,
    /// `[a, b, α, β, e]` = `[ln A, ln B, α, β, ln E]`.
    pub theta: Vec<f64>,
    /// Σ Huber objective at the optimum (dimensionless).
    pub objective: f64,
    /// Starts tried / converged, and whether the best converged.
    pub starts: usize,
    /// Starts whose L-BFGS run met a convergence test.
    pub converged_starts: usize,
    /// Whether the best start converged.
    pub best_converged: bool,
    /// Distinct local minima, best first (warm starts for refits).
    pub minima: Vec<Vec<f64>>,
}

impl Approach3Fit {
    fn from_ms(ms: MultiStart) -> Approach3Fit {
        Approach3Fit {
            law: ChinchillaLaw::from_theta(&ms.best),
            theta: ms.best,
            objective: ms.objective,
            starts: ms.starts,
            converged_starts: ms.converged,
            best_converged: ms.best_converged,
            minima: ms.minima,
        }
    }
}

/// Checks observations for a fit with `n_params` parameters: enough of them, all positive
/// and finite. `what` names the fit in messages.
pub fn check_obs(obs: &[Obs], n_params: usize, what: &str) -> Result<()> {
    if obs.len() < n_params {
        return Err(input_err(format!(
            "{what}: {} distinct (N, D) points but the law has {n_params} parameters; \
             fix: add runs (at least {n_params} distinct sizes/token counts, ideally 3× that)",
            obs.len()
        )));
    }
    for (i, o) in obs.iter().enumerate() {
        for (name, v) in [("N", o.n), ("D", o.d), ("loss", o.loss), ("weight", o.weight)] {
            if !v.is_finite() || v <= 0.0 {
                return Err(input_err(format!(
                    "{what}: point {i} has {name} = {v}; every value must be positive and finite; \
                     fix: remove or correct that run"
                )));
            }
        }
    }
    Ok(())
}

/// Fits L(N, D) = E + A/N^α + B/D^β to `obs` (N parameters, D tokens, L nats/token) by the
/// Besiroglu et al. 2024 procedure (module docs). Input error when there are fewer
/// observations than 5 parameters or a value is not positive and finite.
pub fn fit_approach3(obs: &[Obs], opts: &Approach3Options) -> Result<Approach3Fit> {
    check_obs(obs, 5, "Approach 3")?;
    let data = LogData::from_obs(obs);
    fit_power_sum(PowerSum::CHINCHILLA, &data, &opts.grid.starts(), &opts.fit)
        .map(Approach3Fit::from_ms)
        .ok_or_else(|| anyhow::anyhow!("Approach 3: every start gave a non-finite objective"))
}

/// Refits on (resampled) data from `starts`: the full fit's minima plus the refit grid is
/// what the bootstrap uses. `None` when every start fails.
pub fn refit_approach3(data: &LogData, starts: &[Vec<f64>], fit: &FitOptions) -> Option<Approach3Fit> {
    fit_power_sum(PowerSum::CHINCHILLA, data, starts, fit).map(Approach3Fit::from_ms)
}

/// Starts for refits near a fit: its distinct minima, then the [`StartGrid::Refit`] grid.
pub fn refit_starts(fit: &Approach3Fit) -> Vec<Vec<f64>> {
    let mut s = fit.minima.clone();
    if s.is_empty() {
        s.push(fit.theta.clone());
    }
    s.extend(StartGrid::Refit.starts());
    s
}

/// Sum of squared ln-loss residuals Σ w·(log L̂ − log L)² at parameters `theta`.
pub fn sum_sq_log(data: &LogData, theta: &[f64]) -> f64 {
    (0..data.len())
        .map(|i| {
            let r = PowerSum::CHINCHILLA.predict_log(theta, &data.z[i]) - data.log_loss[i];
            data.weight[i] * r * r
        })
        .sum()
}

/// Profile of the fit: parameter `index` of θ = `[a, b, α, β, e]` held at `value`, the others
/// re-optimised from the fit's minima and the refit grid; returns the refitted θ.
pub fn profile_theta(
    data: &LogData,
    fit: &Approach3Fit,
    index: usize,
    value: f64,
    opts: &FitOptions,
) -> Option<Vec<f64>> {
    // Many rows (issue #18): the refit grid on an evenly strided subsample first, then
    // L-BFGS on all rows from its answer and from the full fit's minima.
    if opts.coarse_rows > 0 && data.len() > 2 * opts.coarse_rows {
        let coarse = profile_on(&subsample(data, opts.coarse_rows), &refit_starts(fit), index, value, opts)?;
        let mut starts = vec![coarse];
        starts.extend(fit.minima.iter().cloned());
        return profile_on(data, &starts, index, value, opts);
    }
    profile_on(data, &refit_starts(fit), index, value, opts)
}

/// [`profile_theta`] from the given starts.
fn profile_on(
    data: &LogData,
    starts: &[Vec<f64>],
    index: usize,
    value: f64,
    opts: &FitOptions,
) -> Option<Vec<f64>> {
    let delta = opts.delta;
    let packed = PackedData::new(PowerSum::CHINCHILLA, data);
    let obj = |p: &[f64], g: &mut [f64]| packed.objective(p, g, delta);
    let o = FitOptions { parallel: false, ..*opts };
    match opts.e_floor {
        // With E bounded below, the free parameters are re-optimised in the bound's
        // coordinates too (holding E itself needs no bound).
        Some(floor) if index != 4 => {
            let b = EBound::new(floor, 4);
            let starts: Vec<Vec<f64>> = starts.iter().map(|s| b.to_inner(s)).collect();
            fit_with_fixed(b.wrap(&obj), &starts, (index, value), &o).map(|x| b.to_outer(&x))
        }
        _ => fit_with_fixed(obj, starts, (index, value), &o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synth(law: &ChinchillaLaw) -> Vec<Obs> {
        let mut v = Vec::new();
        for i in 0..6 {
            for j in 0..6 {
                let n = 1e5 * 10f64.powf(i as f64 * 0.6);
                let d = 1e7 * 10f64.powf(j as f64 * 0.5);
                v.push(Obs::new(n, d, law.loss(n, d)));
            }
        }
        v
    }

    #[test]
    fn grid_sizes() {
        assert_eq!(StartGrid::Besiroglu.starts().len(), 4500);
        assert_eq!(StartGrid::Coarse.starts().len(), 108);
        assert_eq!(StartGrid::Refit.starts().len(), 32);
    }

    #[test]
    fn recovers_a_noiseless_law_from_the_coarse_grid() {
        let truth = ChinchillaLaw { e: 1.8, a: 400.0, b: 900.0, alpha: 0.35, beta: 0.3 };
        let opts = Approach3Options { grid: StartGrid::Coarse, ..Default::default() };
        let fit = fit_approach3(&synth(&truth), &opts).expect("fit");
        assert!((fit.law.alpha - 0.35).abs() < 1e-4, "{:?}", fit.law);
        assert!((fit.law.beta - 0.3).abs() < 1e-4, "{:?}", fit.law);
        assert!((fit.law.e - 1.8).abs() < 1e-4, "{:?}", fit.law);
        assert!(fit.best_converged);
    }

    #[test]
    fn e_floor_is_inactive_below_the_truth_and_binds_above_it() {
        let truth = ChinchillaLaw { e: 1.8, a: 400.0, b: 900.0, alpha: 0.35, beta: 0.3 };
        let obs = synth(&truth);
        let with = |floor: f64| Approach3Options {
            grid: StartGrid::Coarse,
            fit: FitOptions { e_floor: Some(floor), ..Default::default() },
        };
        // A floor under the true E changes nothing: the law is still recovered.
        let fit = fit_approach3(&obs, &with(1.5)).expect("fit");
        assert!((fit.law.e - 1.8).abs() < 1e-4 && (fit.law.alpha - 0.35).abs() < 1e-3, "{:?}", fit.law);
        // A floor above it holds E at the floor (never below), and the fit is worse.
        let fit = fit_approach3(&obs, &with(2.0)).expect("fit");
        assert!(fit.law.e >= 2.0 && fit.law.e < 2.0 + 1e-3, "{:?}", fit.law);
        assert!(fit.objective > 1e-6, "{}", fit.objective);
        // Profiles keep the bound too.
        let data = LogData::from_obs(&obs);
        let th = profile_theta(&data, &fit, 2, 0.3, &with(2.0).fit).expect("profile");
        assert!(th[4].exp() >= 2.0 && th[2] == 0.3, "{th:?}");
    }

    #[test]
    fn e_bound_gradient_matches_finite_differences() {
        let obs = synth(&ChinchillaLaw { e: 1.8, a: 400.0, b: 900.0, alpha: 0.35, beta: 0.3 });
        let packed = PackedData::new(PowerSum::CHINCHILLA, &LogData::from_obs(&obs));
        let f = |p: &[f64], g: &mut [f64]| packed.objective(p, g, 1.0);
        let b = EBound::new(1.6, 4);
        let w = b.wrap(&f);
        let u = b.to_inner(&[5.0, 6.0, 0.3, 0.25, 0.7]);
        assert!((b.to_outer(&u)[4] - 0.7).abs() < 1e-12, "round trip");
        let mut g = vec![0.0; 5];
        w(&u, &mut g);
        for k in 0..5 {
            let h = 1e-6;
            let (mut up, mut dn) = (u.clone(), u.clone());
            up[k] += h;
            dn[k] -= h;
            let mut s = vec![0.0; 5];
            let fd = (w(&up, &mut s) - w(&dn, &mut s)) / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-5 * (1.0 + fd.abs()), "param {k}: fd {fd} vs {}", g[k]);
        }
    }

    #[test]
    fn too_few_points_is_an_input_error() {
        let obs = vec![Obs::new(1e6, 1e8, 3.0); 4];
        let e = fit_approach3(&obs, &Approach3Options::default()).expect_err("4 < 5");
        assert!(crate::error::is_input_error(&e) && e.to_string().contains("5 parameters"), "{e}");
        let mut obs = synth(&ChinchillaLaw { e: 1.8, a: 400.0, b: 900.0, alpha: 0.35, beta: 0.3 });
        obs[3].loss = f64::NAN;
        assert!(crate::error::is_input_error(
            &fit_approach3(&obs, &Approach3Options::default()).expect_err("NaN")
        ));
    }

    #[test]
    fn profile_holds_the_parameter_and_costs_fit() {
        let truth = ChinchillaLaw { e: 1.8, a: 400.0, b: 900.0, alpha: 0.35, beta: 0.3 };
        let obs = synth(&truth);
        let data = LogData::from_obs(&obs);
        let opts = Approach3Options { grid: StartGrid::Coarse, ..Default::default() };
        let fit = fit_approach3(&obs, &opts).expect("fit");
        let th = profile_theta(&data, &fit, 2, 0.2, &opts.fit).expect("profile");
        assert_eq!(th[2], 0.2);
        assert!(sum_sq_log(&data, &th) > 1e3 * sum_sq_log(&data, &fit.theta).max(1e-20));
    }
}
