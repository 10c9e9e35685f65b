//! `--holdout-top K`: fit Approach 3 on all but the K largest-compute cells and check the
//! forecast of each held-out cell against its 95% prediction interval.
//!
//! The interval is the 2.5–97.5 percentile range of {L_b(N, D) + σ·ε_b} over the bootstrap
//! fits L_b, where σ = pooled seed SD / √(seeds in the cell) when seeds are replicated (else 0:
//! the interval then covers parameter uncertainty only) and ε_b ~ N(0, 1) (seeded).

use anyhow::Result;

use crate::error::input_err;
use crate::fit::input::data::{cell_obs, Cell, SeedNoise};
use crate::fit::input::synth::normal;
use crate::fit::laws::approach3::{fit_approach3, Approach3Options};
use crate::fit::schema::{HoldoutReport, HoldoutRun};
use crate::fit::stats::interval95;
use crate::fit::uncertainty::bootstrap::{bootstrap_approach3, rep_rng, BootstrapOptions};

/// Runs the forecast check on `cells`, holding out the `k` largest by compute: Approach 3 fitted
/// with `a3` on the rest, its intervals from `boot` (none without replicates).
pub fn holdout(
    cells: &[Cell],
    k: usize,
    a3: &Approach3Options,
    boot: &BootstrapOptions,
    noise: Option<&SeedNoise>,
) -> Result<HoldoutReport> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| cells[b].c.total_cmp(&cells[a].c));
    if cells.len() < k + 5 {
        return Err(input_err(format!(
            "--holdout-top {k}: {} cells leave {} to fit 5 parameters; fix: hold out fewer (at most {})",
            cells.len(),
            cells.len().saturating_sub(k),
            cells.len().saturating_sub(5)
        )));
    }
    let held: Vec<&Cell> = order[..k].iter().map(|&i| &cells[i]).collect();
    let train: Vec<Cell> = order[k..].iter().map(|&i| cells[i].clone()).collect();
    let fit = fit_approach3(&cell_obs(&train), a3)?;
    let laws = if boot.reps > 0 { bootstrap_approach3(&train, &fit, &a3.fit, boot) } else { Vec::new() };
    let mut rng = rep_rng(boot.seed ^ 0x5eed, usize::MAX);
    let runs: Vec<HoldoutRun> = held
        .iter()
        .map(|c| {
            let actual = c.mean();
            let predicted = fit.law.loss(c.n, c.d);
            let sigma = noise.map_or(0.0, |s| s.pooled_sd / (c.losses.len() as f64).sqrt());
            let interval = (laws.len() >= 2).then(|| {
                let draws: Vec<f64> =
                    laws.iter().map(|l| l.loss(c.n, c.d) + sigma * normal(&mut rng)).collect();
                interval95(&draws)
            });
            HoldoutRun {
                ids: c.ids.clone(),
                n: c.n,
                d: c.d,
                c: c.c,
                actual,
                predicted,
                pct_error: 100.0 * (predicted - actual) / actual,
                inside: interval.map(|[lo, hi]| (lo..=hi).contains(&actual)),
                interval,
            }
        })
        .collect();
    let inside: Vec<bool> = runs.iter().filter_map(|r| r.inside).collect();
    let coverage =
        (!inside.is_empty()).then(|| inside.iter().filter(|b| **b).count() as f64 / inside.len() as f64);
    let note = match (laws.is_empty(), noise.is_some()) {
        (true, _) => "no intervals: run with --bootstrap K".to_string(),
        (false, true) => "intervals: bootstrap fits plus seed noise of the cell mean".to_string(),
        (false, false) => {
            "intervals: bootstrap fits only (one seed per cell: seed noise unknown, so they are too narrow)"
                .to_string()
        }
    };
    Ok(HoldoutReport { k, runs, coverage, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::input::data::make_cells;
    use crate::fit::input::synth::{grid_points, log_grid};
    use crate::fit::law::ChinchillaLaw;
    use crate::fit::laws::approach3::StartGrid;

    #[test]
    fn forecasts_the_largest_runs_of_a_known_law() {
        let law = ChinchillaLaw { e: 1.7, a: 400.0, b: 2000.0, alpha: 0.35, beta: 0.35 };
        let mut rng = rep_rng(3, 0);
        let pts = grid_points(&law, &log_grid(1e5, 1e8, 6), &log_grid(1e7, 1e10, 6), 2, 0.003, &mut rng);
        let cells = make_cells(&pts);
        let boot = BootstrapOptions { reps: 40, seed: 1, within_cell: true };
        let a3 = Approach3Options { grid: StartGrid::Coarse, ..Default::default() };
        let noise = crate::fit::input::data::seed_noise(&cells);
        let r = holdout(&cells, 3, &a3, &boot, noise.as_ref()).expect("holdout");
        assert_eq!(r.runs.len(), 3);
        // The held-out cells are the 3 largest by compute.
        let mut cs: Vec<f64> = cells.iter().map(|c| c.c).collect();
        cs.sort_by(|a, b| b.total_cmp(a));
        assert!(r.runs.iter().all(|h| h.c >= cs[2]));
        for h in &r.runs {
            assert!(h.pct_error.abs() < 2.0, "{h:?}");
            assert!(h.interval.is_some());
        }
        assert!(r.coverage.is_some());
        let e = holdout(&cells[..7], 3, &a3, &boot, None).expect_err("too few left");
        assert!(crate::error::is_input_error(&e));
    }
}
