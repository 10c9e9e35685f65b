//! Nonparametric bootstrap over cells, with seed replicates resampled inside each cell; and,
//! when Approach 3 is fitted on training-curve points (`fit --a3-points curve:F`), over whole
//! runs ([`resample_runs`]).
//!
//! Each replicate draws as many cells as there are, with replacement, each with all its seeds
//! (its mean loss); with `within_cell` it also redraws the seeds of every drawn cell with
//! replacement (two-stage). So the intervals carry both the design (which sizes and token
//! counts were run) and run-to-run noise. In the coverage simulation (`acceptance_sim`) the
//! cells-only scheme covered α, β, a in 98/96/98% of 100 data sets and the two-stage one in
//! 99/99/98% (it counts seed noise twice), so cells-only is the default. With one seed per cell
//! the intervals cannot separate seed noise from lack of fit.
//!
//! Every refit starts from the full-data fit's distinct local minima *and* a coarse grid, with
//! the same tight L-BFGS tolerances as the full fit: a warm start alone with loose tolerances
//! barely moves and gives intervals an order of magnitude too narrow (tested in
//! `acceptance`). Replicates run in parallel; each has its own ChaCha8 stream
//! (`seed`, stream = replicate index), so results do not depend on the thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::fit::input::data::{cell_obs, Cell, Obs};
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::approach3::{refit_approach3, refit_starts, Approach3Fit};
use crate::fit::solve::multistart::FitOptions;
use crate::fit::solve::objective::LogData;

/// Settings for the bootstrap.
#[derive(Debug, Clone, Copy)]
pub struct BootstrapOptions {
    /// Number of replicates K.
    pub reps: usize,
    /// RNG seed.
    pub seed: u64,
    /// Also resample seeds within each drawn cell (two-stage bootstrap). Davison & Hinkley
    /// (1997, §3.8) note that resampling both stages overstates the variance; cell-only
    /// resampling already carries seed noise through the cell means.
    pub within_cell: bool,
}

/// One resampled data set: cells with replacement, seeds within cells with replacement; each
/// returned cell holds the mean of its drawn seeds as its single loss.
pub fn resample_cells<R: Rng>(cells: &[Cell], within_cell: bool, rng: &mut R) -> Vec<Cell> {
    (0..cells.len())
        .map(|_| {
            let c = &cells[rng.gen_range(0..cells.len())];
            let k = c.losses.len();
            let mean = if within_cell {
                (0..k).map(|_| c.losses[rng.gen_range(0..k)]).sum::<f64>() / k as f64
            } else {
                c.mean()
            };
            Cell { losses: vec![mean], ..c.clone() }
        })
        .collect()
}

/// [`resample_cells`] (two-stage) as observations.
pub fn resample<R: Rng>(cells: &[Cell], rng: &mut R) -> Vec<Obs> {
    resample_cells(cells, true, rng).iter().map(Cell::obs).collect()
}

/// The replicate's RNG: stream `rep` of ChaCha8 seeded with `seed`.
pub fn rep_rng(seed: u64, rep: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(rep as u64);
    rng
}

/// One resampled data set of whole runs: as many runs as there are, drawn with replacement,
/// each with all its points (a cluster bootstrap: Davison & Hinkley 1997, §3.8). The points of
/// one run share its errors (its seed, its validation windows, the path of its training), so
/// resampling points one by one would treat them as independent and give intervals too narrow.
pub fn resample_runs<R: Rng>(runs: &[Vec<Obs>], rng: &mut R) -> Vec<Obs> {
    let mut out = Vec::new();
    for _ in 0..runs.len() {
        out.extend_from_slice(&runs[rng.gen_range(0..runs.len())]);
    }
    out
}

/// `draw` run on replicate `rep`'s RNG for each of `opts.reps` replicates, in parallel; failed
/// ones (`None`) are dropped.
fn replicates<T, F>(opts: &BootstrapOptions, draw: F) -> Vec<T>
where
    T: Send,
    F: Fn(&mut ChaCha8Rng) -> Option<T> + Sync,
{
    let out: Vec<Option<T>> =
        (0..opts.reps).into_par_iter().map(|rep| draw(&mut rep_rng(opts.seed, rep))).collect();
    out.into_iter().flatten().collect()
}

/// Runs `refit` on `reps` resampled data sets in parallel; failed refits are dropped.
pub fn bootstrap_with<T, F>(cells: &[Cell], opts: &BootstrapOptions, refit: F) -> Vec<T>
where
    T: Send,
    F: Fn(&[Cell]) -> Option<T> + Sync,
{
    replicates(opts, |rng| refit(&resample_cells(cells, opts.within_cell, rng)))
}

/// Bootstrap of Approach 3: one refitted law per successful replicate.
pub fn bootstrap_approach3(
    cells: &[Cell],
    fit: &Approach3Fit,
    fit_opts: &FitOptions,
    opts: &BootstrapOptions,
) -> Vec<ChinchillaLaw> {
    let starts = refit_starts(fit);
    let inner = FitOptions { parallel: false, ..*fit_opts };
    bootstrap_with(cells, opts, |cs| {
        let data = LogData::from_obs(&cell_obs(cs));
        refit_approach3(&data, &starts, &inner).filter(|f| f.best_converged).map(|f| f.law)
    })
}

/// Bootstrap of Approach 3 on curve points: each replicate refits on [`resample_runs`] of
/// `runs` (each run's observations), from the full fit's minima and the refit grid.
pub fn bootstrap_runs_approach3(
    runs: &[Vec<Obs>],
    fit: &Approach3Fit,
    fit_opts: &FitOptions,
    opts: &BootstrapOptions,
) -> Vec<ChinchillaLaw> {
    let starts = refit_starts(fit);
    let inner = FitOptions { parallel: false, ..*fit_opts };
    replicates(opts, |rng| {
        let data = LogData::from_obs(&resample_runs(runs, rng));
        refit_approach3(&data, &starts, &inner).filter(|f| f.best_converged).map(|f| f.law)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(n: f64, losses: &[f64]) -> Cell {
        Cell { n, d: 1e8, c: 6e8 * n, losses: losses.to_vec(), ids: vec![], flops_budget: None }
    }

    #[test]
    fn resample_draws_cells_and_seeds() {
        let cells = vec![cell(1e6, &[3.0, 3.2]), cell(2e6, &[2.5])];
        let mut rng = rep_rng(7, 0);
        let mut seen_seed_mix = false;
        for _ in 0..200 {
            let r = resample(&cells, &mut rng);
            assert_eq!(r.len(), 2);
            for o in &r {
                if o.n == 1e6 {
                    assert!([3.0, 3.1, 3.2].iter().any(|v| (o.loss - v).abs() < 1e-12), "{}", o.loss);
                    seen_seed_mix |= (o.loss - 3.0).abs() < 1e-12 || (o.loss - 3.2).abs() < 1e-12;
                } else {
                    assert_eq!(o.loss, 2.5);
                }
            }
        }
        assert!(seen_seed_mix, "seeds within a cell are resampled");
    }

    /// Every resampled data set is a union of whole runs: each drawn run with all its points,
    /// as many runs as there are, no run cut short (issue #21).
    #[test]
    fn resample_runs_draws_whole_runs() {
        // Run r has r + 1 points, all with N = r + 1 (so each point names its run).
        let runs: Vec<Vec<Obs>> = (0..6)
            .map(|r| (0..=r).map(|k| Obs::new((r + 1) as f64, 1e6 * (k + 1) as f64, 3.0)).collect())
            .collect();
        let mut rng = rep_rng(3, 0);
        let mut drawn_twice = false;
        for _ in 0..200 {
            let obs = resample_runs(&runs, &mut rng);
            let mut copies = 0;
            for (r, run) in runs.iter().enumerate() {
                let of_run: Vec<&Obs> = obs.iter().filter(|o| o.n == (r + 1) as f64).collect();
                let k = of_run.len() / run.len();
                assert_eq!(of_run.len(), k * run.len(), "run {r}: {} points, not whole copies", of_run.len());
                for p in run {
                    assert_eq!(of_run.iter().filter(|o| o.d == p.d).count(), k, "run {r} drawn {k} times");
                }
                copies += k;
                drawn_twice |= k > 1;
            }
            assert_eq!(copies, runs.len(), "as many runs as there are");
        }
        assert!(drawn_twice, "runs are drawn with replacement");
    }

    #[test]
    fn replicate_streams_are_deterministic_and_distinct() {
        let a: u64 = rep_rng(1, 3).gen();
        let b: u64 = rep_rng(1, 3).gen();
        let c: u64 = rep_rng(1, 4).gen();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
