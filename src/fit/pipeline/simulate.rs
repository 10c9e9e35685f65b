//! Would a planned grid determine the Approach 3 exponents if the loss really followed
//! L = E + A/N^α + B/D^β? `plan --simulate K` draws K data sets from an assumed law on the
//! planned cells (N, D, seeds), with independent run-to-run noise, and runs each through the
//! same fit, bootstrap and identifiability verdicts as `fit`. The count of data sets in which
//! α, β, E and a come out determined, the median 95% interval half-width, and how often the
//! interval covers the truth say what the grid can deliver before any compute is spent.
//!
//! The heuristic `plan` warnings (N span < 10×, < 3 budgets per size, ...) are necessary, not
//! sufficient: the quick grid passes them (N 11×, D 16×) yet leaves α undetermined in a
//! simulation at its measured noise (README, issue #8).
//!
//! The default law: α = 0.34, β = 0.28 (Hoffmann et al. 2022, Approach 3), E = 2.0 nats,
//! A/N^α = 0.4 nats at the smallest planned N and B/D^β = 0.4 nats at the smallest D (the
//! quick sweep's size and data effects are of that order), and a relative noise of 0.6% per
//! run (the quick sweep's pooled seed SD, 0.014 nats at a loss of ~2.4).

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::estimates::approach3_report;
use crate::error::input_err;
use crate::fit::input::data::{make_cells, RunPoint};
use crate::fit::input::synth::{normal, point};
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::approach3::{Approach3Options, StartGrid};
use crate::fit::uncertainty::bootstrap::BootstrapOptions;
use crate::fit::uncertainty::design::design;

/// The assumed law and noise (`--assume key=value,...`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assumption {
    /// Exponent of N.
    pub alpha: f64,
    /// Exponent of D.
    pub beta: f64,
    /// Irreducible loss, nats/token.
    pub e: f64,
    /// A/N^α at the smallest planned N, nats/token.
    pub n_term: f64,
    /// B/D^β at the smallest planned D, nats/token.
    pub d_term: f64,
    /// Relative SD of one run's loss around the law (seed noise).
    pub noise: f64,
}

impl Default for Assumption {
    fn default() -> Self {
        Assumption { alpha: 0.34, beta: 0.28, e: 2.0, n_term: 0.4, d_term: 0.4, noise: 0.006 }
    }
}

const KEYS: &str = "alpha, beta, e, n_term, d_term, noise";

impl Assumption {
    /// Parses `key=value` pairs separated by commas over the defaults; input errors name the
    /// offending pair and the fix.
    pub fn parse(s: &str) -> Result<Assumption> {
        let mut a = Assumption::default();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(input_err(format!(
                    "--assume: `{pair}` is not key=value; fix: e.g. --assume alpha=0.3,noise=0.01 (keys: {KEYS})"
                )));
            };
            let x: f64 =
                v.trim().parse().ok().filter(|x: &f64| x.is_finite() && *x > 0.0).ok_or_else(|| {
                    input_err(format!(
                        "--assume {pair}: the value must be a positive number; fix: e.g. {}=0.3",
                        k.trim()
                    ))
                })?;
            match k.trim() {
                "alpha" => a.alpha = x,
                "beta" => a.beta = x,
                "e" => a.e = x,
                "n_term" => a.n_term = x,
                "d_term" => a.d_term = x,
                "noise" => a.noise = x,
                other => {
                    return Err(input_err(format!("--assume: unknown key `{other}`; fix: use one of {KEYS}")))
                }
            }
        }
        Ok(a)
    }

    /// The law on a grid whose smallest N and D are `n_min`, `d_min`.
    pub fn law(&self, n_min: f64, d_min: f64) -> ChinchillaLaw {
        ChinchillaLaw {
            e: self.e,
            a: self.n_term * n_min.powf(self.alpha),
            b: self.d_term * d_min.powf(self.beta),
            alpha: self.alpha,
            beta: self.beta,
        }
    }
}

/// What the simulation found for one quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantitySim {
    /// `alpha`, `beta`, `E` or `a`.
    pub name: String,
    /// Its value under the assumed law.
    pub truth: f64,
    /// Data sets in which `fit` calls it determined.
    pub determined: usize,
    /// Data sets whose 95% interval contains the truth.
    pub covered: usize,
    /// Median half-width of the 95% interval over the data sets.
    pub median_half_width: f64,
}

/// The outcome of [`simulate`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimSummary {
    /// Data sets fitted.
    pub reps: usize,
    /// Bootstrap replicates per data set.
    pub bootstrap: usize,
    /// The law the data were drawn from.
    pub law: ChinchillaLaw,
    /// α, β, E, a.
    pub quantities: Vec<QuantitySim>,
}

impl SimSummary {
    /// Lines for `plan`'s output.
    pub fn lines(&self, a: &Assumption) -> Vec<String> {
        let mut out = vec![format!(
            "simulated identifiability: {} data sets from L = E + A/N^α + B/D^β (α {}, β {}, E {}, A/N^α {} and \
             B/D^β {} nats at the smallest N and D, noise {}% per run; the planned cells and seeds; {} bootstrap \
             replicates each):",
            self.reps,
            a.alpha,
            a.beta,
            a.e,
            a.n_term,
            a.d_term,
            a.noise * 100.0,
            self.bootstrap
        )];
        for q in &self.quantities {
            out.push(format!(
                "  {:<5} (truth {:.3}): determined in {}/{}, median 95% interval ±{:.3}, covers the truth in {}/{}",
                q.name, q.truth, q.determined, self.reps, q.median_half_width, q.covered, self.reps
            ));
        }
        out
    }

    /// Warnings when the grid would not deliver determined exponents, or a to ±0.1.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for q in &self.quantities {
            if ["alpha", "beta", "a"].contains(&q.name.as_str()) && 2 * q.determined < self.reps {
                w.push(format!(
                    "simulation: {} is determined in only {}/{} data sets drawn from the assumed law; fix: widen the N \
                     (α, a) or D (β) range, add sizes or seeds",
                    q.name, q.determined, self.reps
                ));
            }
            if q.name == "a" && q.median_half_width > 0.1 {
                w.push(format!(
                    "simulation: the compute-optimal exponent a would come with a 95% interval of about ±{:.2} (wider \
                     than ±0.1)",
                    q.median_half_width
                ));
            }
        }
        w
    }
}

/// Draws `reps` data sets from `a`'s law on `cells` (N parameters, D tokens, seeds), fits each
/// with `bootstrap` replicates and `grid` starts, and summarises the verdicts. Deterministic
/// given `seed`.
pub fn simulate(
    cells: &[(f64, f64, usize)],
    a: &Assumption,
    reps: usize,
    bootstrap: usize,
    grid: StartGrid,
    seed: u64,
) -> Result<SimSummary> {
    if reps == 0 || cells.is_empty() {
        return Err(input_err("--simulate: no data sets or no cells to simulate; fix: e.g. --simulate 20"));
    }
    let n_min = cells.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
    let d_min = cells.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    let law = a.law(n_min, d_min);
    let c_ref = cells.iter().map(|c| 6.0 * c.0 * c.1).fold(0.0, f64::max);
    let truths = [("alpha", law.alpha), ("beta", law.beta), ("E", law.e), ("a", law.exponent_a())];
    let mut found: Vec<Vec<(bool, bool, f64)>> = vec![Vec::new(); truths.len()];
    for rep in 0..reps {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(rep as u64));
        let mut pts: Vec<RunPoint> = Vec::new();
        for (i, &(n, d, seeds)) in cells.iter().enumerate() {
            for k in 0..seeds.max(1) {
                let loss = law.loss(n, d) * (1.0 + a.noise * normal(&mut rng));
                pts.push(point(format!("c{i}_s{k}"), n, d, loss, Some(k.to_string())));
            }
        }
        let cells = make_cells(&pts);
        let a3 = Approach3Options { grid: grid.clone(), ..Default::default() };
        let boot = BootstrapOptions { reps: bootstrap, seed: rep as u64, within_cell: false };
        let (rep3, _) = approach3_report(&cells, &design(&cells), &a3, &boot, c_ref)?;
        for (slot, (name, truth)) in truths.iter().enumerate() {
            let e = rep3.params.iter().chain(&rep3.derived).find(|e| e.name == *name);
            let e = e.ok_or_else(|| anyhow::anyhow!("Approach 3 report has no {name}"))?;
            let (covered, half) = match e.ci95 {
                Some([lo, hi]) => (lo <= *truth && *truth <= hi, (hi - lo) / 2.0),
                None => (false, f64::INFINITY),
            };
            found[slot].push((e.determined, covered, half));
        }
    }
    let quantities = truths
        .iter()
        .zip(found)
        .map(|((name, truth), v)| {
            let mut halves: Vec<f64> = v.iter().map(|x| x.2).collect();
            halves.sort_by(f64::total_cmp);
            QuantitySim {
                name: name.to_string(),
                truth: *truth,
                determined: v.iter().filter(|x| x.0).count(),
                covered: v.iter().filter(|x| x.1).count(),
                median_half_width: halves[halves.len() / 2],
            }
        })
        .collect();
    Ok(SimSummary { reps, bootstrap, law, quantities })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::input::synth::log_grid;

    fn cross(ns: &[f64], ds: &[f64], seeds: usize) -> Vec<(f64, f64, usize)> {
        ns.iter().flat_map(|&n| ds.iter().map(move |&d| (n, d, seeds))).collect()
    }

    #[test]
    fn a_wide_grid_determines_the_exponents_and_a_narrow_one_does_not() {
        let a = Assumption { noise: 0.002, ..Default::default() };
        let ds = log_grid(1e6, 1e8, 5);
        let wide =
            simulate(&cross(&log_grid(1e4, 1e7, 5), &ds, 2), &a, 3, 30, StartGrid::Coarse, 1).expect("sim");
        let narrow = simulate(&cross(&[1e5, 2e5], &ds, 2), &a, 3, 30, StartGrid::Coarse, 1).expect("sim");
        let get =
            |s: &SimSummary, n: &str| s.quantities.iter().find(|q| q.name == n).cloned().expect("quantity");
        assert_eq!(get(&wide, "alpha").determined, 3, "{wide:?}");
        assert!(get(&wide, "a").median_half_width < 0.1, "{wide:?}");
        assert!(wide.warnings().is_empty(), "{:?}", wide.warnings());
        // N spans 2×: α is never determined, and the summary warns.
        assert_eq!(get(&narrow, "alpha").determined, 0, "{narrow:?}");
        assert!(
            narrow.warnings().iter().any(|w| w.contains("alpha is determined in only 0/3")),
            "{narrow:?}"
        );
        assert!((get(&wide, "a").truth - 0.28 / 0.62).abs() < 1e-12);
        // Deterministic given the seed.
        let again = simulate(&cross(&[1e5, 2e5], &ds, 2), &a, 3, 30, StartGrid::Coarse, 1).expect("sim");
        assert_eq!(narrow, again);
    }

    #[test]
    fn assumptions_parse_over_the_defaults_and_bad_ones_are_input_errors() {
        let a = Assumption::parse("alpha=0.3, noise=0.01").expect("parse");
        assert_eq!((a.alpha, a.noise, a.beta), (0.3, 0.01, 0.28));
        for (bad, says) in
            [("alpha", "key=value"), ("gamma=1", "unknown key"), ("beta=-1", "positive number")]
        {
            let e = Assumption::parse(bad).expect_err(bad);
            assert!(crate::error::is_input_error(&e) && e.to_string().contains(says), "{e}");
        }
    }
}
