//! Simulation test of interval coverage and of identifiability verdicts.
//!
//! 100 synthetic data sets from one known L(N, D) on a 6×6 grid with 3 seeds per cell and 1%
//! per-run noise; the production pipeline (coarse start grid for the main fit, 60 bootstrap
//! replicates, the same tight tolerances) must cover the true α, β and a with its 95%
//! intervals in 88–99% of them. Then designs that cannot identify α must say so.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::fit::input::data::make_cells;
use crate::fit::input::synth::{grid_points, log_grid};
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::approach3::{Approach3Options, StartGrid};
use crate::fit::pipeline::estimates::approach3_report;
use crate::fit::pipeline::group::PipelineOptions;
use crate::fit::schema::{Approach3Report, Estimate};
use crate::fit::uncertainty::bootstrap::BootstrapOptions;
use crate::fit::uncertainty::design::design;

const LAW: ChinchillaLaw = ChinchillaLaw { e: 1.8, a: 110.0, b: 300.0, alpha: 0.35, beta: 0.3 };

fn opts(reps: usize, seed: u64) -> PipelineOptions {
    // Production default (cells only). Measured with the two-stage variant instead: α 99%,
    // β 99%, a 98% — inside the band but at its top, as Davison & Hinkley predict.
    let within_cell = false;
    PipelineOptions {
        a3: Approach3Options { grid: StartGrid::Coarse, ..Default::default() },
        bootstrap: BootstrapOptions { reps, seed, within_cell },
        ..Default::default()
    }
}

fn get<'a>(r: &'a Approach3Report, name: &str) -> &'a Estimate {
    r.params.iter().chain(&r.derived).find(|e| e.name == name).expect("estimate present")
}

fn run(ns: &[f64], ds: &[f64], seeds: usize, noise: f64, reps: usize, seed: u64) -> Approach3Report {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cells = make_cells(&grid_points(&LAW, ns, ds, seeds, noise, &mut rng));
    let des = design(&cells);
    let o = opts(reps, seed);
    approach3_report(&cells, &des, &o.a3, &o.bootstrap, 1e18).expect("fit").0
}

/// Issue #8 acceptance: ~40-80 s on 2 cores (100 fits + 6,000 bootstrap refits), so it runs
/// in CI with the rest of `cargo test --release`.
#[test]
fn intervals_cover_the_truth_in_88_to_99_percent() {
    let (ns, ds) = (log_grid(1e4, 1e8, 6), log_grid(1e6, 1e10, 6));
    let truth = [("alpha", LAW.alpha), ("beta", LAW.beta), ("a", LAW.exponent_a())];
    let mut hits = [0usize; 3];
    let mut flagged_not_additive = 0;
    let sets = 100;
    for s in 0..sets {
        let r = run(&ns, &ds, 3, 0.01, 60, 1000 + s);
        flagged_not_additive +=
            usize::from(get(&r, "alpha").reasons.iter().any(|x| x.contains("not additive in N and D")));
        for (k, (name, v)) in truth.iter().enumerate() {
            let [lo, hi] = get(&r, name).ci95.expect("bootstrap interval");
            hits[k] += usize::from(lo <= *v && *v <= hi);
        }
    }
    eprintln!(
        "coverage over {sets} data sets: α {}%, β {}%, a {}%; flagged not additive: {flagged_not_additive}",
        hits[0], hits[1], hits[2]
    );
    // The data are additive by construction: the additivity test (99% level plus an effect-size
    // floor) may fire by chance in a few sets, not more.
    assert!(
        flagged_not_additive <= 5,
        "additive data flagged as not additive in {flagged_not_additive} sets"
    );
    for (k, (name, _)) in truth.iter().enumerate() {
        let cov = hits[k] as f64 / sets as f64;
        assert!((0.88..=0.99).contains(&cov), "{name}: coverage {cov}");
    }
}

#[test]
fn unidentifiable_designs_say_so() {
    // Fixed D and an N span of 2×: α is not determined, and says why.
    let r = run(&log_grid(1e6, 2e6, 6), &[1e9], 2, 0.005, 40, 1);
    let alpha = get(&r, "alpha");
    assert!(!alpha.determined);
    assert!(
        alpha.reasons.iter().any(|s| s.contains("N range under a decade (N spans 2.0×)")),
        "{:?}",
        alpha.reasons
    );
    for name in ["beta", "E", "a", "b"] {
        assert!(!get(&r, name).determined, "{name} should be undetermined with a fixed D");
    }
    // N span 2× with D varied: α still not determined; β is.
    let r = run(&log_grid(1e6, 2e6, 6), &log_grid(1e6, 1e10, 6), 2, 0.005, 40, 2);
    assert!(!get(&r, "alpha").determined);
    // A full grid determines α and β.
    let r = run(&log_grid(1e4, 1e8, 6), &log_grid(1e6, 1e10, 6), 2, 0.005, 40, 3);
    for name in ["alpha", "beta", "a"] {
        assert!(get(&r, name).determined, "{name}: {:?}", get(&r, name).reasons);
    }
}
