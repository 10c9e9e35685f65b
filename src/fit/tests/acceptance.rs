//! Acceptance property tests: parameter recovery from known laws (Approach 3, Approach 2,
//! Kaplan forms) and calibration of the bootstrap width against independent noise draws.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fit::input::data::{cell_obs, make_cells, Cell};
use crate::fit::input::synth::{grid_points, isoflop_points, log_grid, normal, point, random_law};
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::allocation::approach2;
use crate::fit::laws::approach3::{
    fit_approach3, refit_approach3, refit_starts, Approach3Options, StartGrid,
};
use crate::fit::laws::kaplan::{fit_kaplan, KaplanForm};
use crate::fit::solve::lbfgs::LbfgsOptions;
use crate::fit::solve::multistart::FitOptions;
use crate::fit::solve::objective::LogData;
use crate::fit::stats::{interval95, quantile};
use crate::fit::uncertainty::bootstrap::{bootstrap_approach3, rep_rng, resample, BootstrapOptions};

fn grid_cells(law: &ChinchillaLaw, noise: f64, rng: &mut ChaCha8Rng) -> Vec<Cell> {
    make_cells(&grid_points(law, &log_grid(1e4, 1e8, 6), &log_grid(1e6, 1e10, 6), 1, noise, rng))
}

/// The recovery grid: 6 sizes over N ∈ [1e4, 1e10] × 6 token counts over D ∈ [1e6, 1e12].
///
/// Why six decades and not four: by the Cramér–Rao bound (Fisher information of log L with
/// 0.5% noise), on a four-decade 6×6 grid the standard error of Ê reaches 1–2% for some
/// truths in the stated ranges, so "E within 2%" would fail for 2–3 of 30 truths even for a
/// perfect estimator; on this grid the expected number of failures over 30 truths is ~0.1.
fn wide_cells(law: &ChinchillaLaw, noise: f64, rng: &mut ChaCha8Rng) -> Vec<Cell> {
    make_cells(&grid_points(law, &log_grid(1e4, 1e10, 6), &log_grid(1e6, 1e12, 6), 1, noise, rng))
}

#[test]
fn approach3_recovers_30_random_truths() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let opts = Approach3Options::default(); // the full 4,500-start grid
    let mut worst = (0.0f64, 0.0f64, 0.0f64);
    let mut worst_clean = 0.0f64;
    for t in 0..30 {
        let law = random_law(&mut rng, 1e7, 1e9);
        // Noiseless: within 1e-4.
        let clean = fit_approach3(&cell_obs(&wide_cells(&law, 0.0, &mut rng)), &opts).expect("fit").law;
        for (got, want) in [(clean.alpha, law.alpha), (clean.beta, law.beta), (clean.e, law.e)] {
            worst_clean = worst_clean.max((got - want).abs());
            assert!((got - want).abs() < 1e-4, "truth {t} {law:?}: noiseless fit {clean:?}");
        }
        // 0.5% multiplicative noise: α, β within 5%, E within 2%.
        let noisy = fit_approach3(&cell_obs(&wide_cells(&law, 0.005, &mut rng)), &opts).expect("fit").law;
        let rel = |a: f64, b: f64| (a / b - 1.0).abs();
        worst.0 = worst.0.max(rel(noisy.alpha, law.alpha));
        worst.1 = worst.1.max(rel(noisy.beta, law.beta));
        worst.2 = worst.2.max(rel(noisy.e, law.e));
        assert!(rel(noisy.alpha, law.alpha) < 0.05, "truth {t} {law:?}: α {}", noisy.alpha);
        assert!(rel(noisy.beta, law.beta) < 0.05, "truth {t} {law:?}: β {}", noisy.beta);
        assert!(rel(noisy.e, law.e) < 0.02, "truth {t} {law:?}: E {}", noisy.e);
    }
    eprintln!(
        "worst relative errors with 0.5% noise: α {:.4} β {:.4} E {:.4}; noiseless max abs {worst_clean:.2e}",
        worst.0, worst.1, worst.2
    );
}

#[test]
fn approach2_a_matches_beta_over_alpha_plus_beta() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for t in 0..30 {
        let law = random_law(&mut rng, 1e6, 1e8);
        // Five budgets whose optima run from N ≈ 1e5 to 1e8: C = 6·(N/G)^(1/a).
        let budgets: Vec<f64> =
            log_grid(1e5, 1e8, 5).iter().map(|n| 6.0 * (n / law.g()).powf(1.0 / law.exponent_a())).collect();
        let offset: f64 = rng.gen_range(0.5..2.0);
        let pts = isoflop_points(&law, &budgets, 9, 0.7, |c| law.n_opt(c) * offset);
        let mut w = Vec::new();
        let r = approach2(&make_cells(&pts), 0.05, &mut w);
        assert_eq!(r.levels.len(), 5, "truth {t}");
        assert!(
            (r.a.value - law.exponent_a()).abs() < 0.02,
            "truth {t} {law:?}: a {} vs {}",
            r.a.value,
            law.exponent_a()
        );
    }
}

#[test]
fn kaplan_forms_recover_their_exponents() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let opts = FitOptions::default();
    for t in 0..10 {
        let (an, ad) = (rng.gen_range(0.05..0.6), rng.gen_range(0.05..0.6));
        let (nc, dc) = (10f64.powf(rng.gen_range(9.0..14.0)), 10f64.powf(rng.gen_range(9.0..14.0)));
        for noise in [0.0, 0.005] {
            let tol = if noise == 0.0 { 1e-4 } else { 0.05 };
            let noisy = |l: f64, rng: &mut ChaCha8Rng| l * (1.0 + noise * normal(rng));
            // L(N) at one large D per size, L(D) at one large N per token count.
            let ln: Vec<Cell> = log_grid(1e4, 1e8, 8)
                .into_iter()
                .map(|n| {
                    make_cells(&[point("x".into(), n, 1e12, noisy((nc / n).powf(an), &mut rng), None)])[0]
                        .clone()
                })
                .collect();
            let f = fit_kaplan(KaplanForm::N, false, &ln, &opts).expect("L(N)");
            assert!(
                (f.params[0].1 / an - 1.0).abs() < tol,
                "truth {t} noise {noise}: α_N {} vs {an}",
                f.params[0].1
            );
            let ld: Vec<Cell> = log_grid(1e6, 1e10, 8)
                .into_iter()
                .map(|d| {
                    make_cells(&[point("x".into(), 1e9, d, noisy((dc / d).powf(ad), &mut rng), None)])[0]
                        .clone()
                })
                .collect();
            let f = fit_kaplan(KaplanForm::D, false, &ld, &opts).expect("L(D)");
            assert!(
                (f.params[0].1 / ad - 1.0).abs() < tol,
                "truth {t} noise {noise}: α_D {} vs {ad}",
                f.params[0].1
            );
            // L(C): a frontier of strictly improving runs with L = (C_c/C)^α_C.
            let cc = 1e25;
            let lc: Vec<Cell> = log_grid(1e12, 1e20, 10)
                .into_iter()
                .map(|c| {
                    make_cells(&[point(
                        "x".into(),
                        (c / 6.0).sqrt(),
                        (c / 6.0).sqrt(),
                        noisy((cc / c).powf(an), &mut rng),
                        None,
                    )])[0]
                        .clone()
                })
                .collect();
            let f = fit_kaplan(KaplanForm::C, false, &lc, &opts).expect("L(C)");
            assert!(
                (f.params[0].1 / an - 1.0).abs() < tol,
                "truth {t} noise {noise}: α_C {} vs {an}",
                f.params[0].1
            );
            // Joint L(N, D) on a 6×6 grid.
            let (jnc, jdc) = (1e8f64, 1e9f64);
            let mut joint = Vec::new();
            for n in log_grid(1e4, 1e8, 6) {
                for d in log_grid(1e6, 1e10, 6) {
                    let l = ((jnc / n).powf(an / ad) + jdc / d).powf(ad);
                    joint.push(point("x".into(), n, d, noisy(l, &mut rng), None));
                }
            }
            let f = fit_kaplan(KaplanForm::Joint, false, &make_cells(&joint), &opts).expect("L(N,D)");
            assert!(
                (f.params[0].1 / an - 1.0).abs() < tol,
                "truth {t} noise {noise}: joint α_N {} vs {an}",
                f.params[0].1
            );
            assert!(
                (f.params[1].1 / ad - 1.0).abs() < tol,
                "truth {t} noise {noise}: joint α_D {} vs {ad}",
                f.params[1].1
            );
        }
    }
}

/// Bootstrap interval width vs the spread of fits over independent noise draws of the same
/// design: within a factor 1.5. Also checks that every bootstrap refit is a real optimum
/// (matches a fresh full-grid fit of the same resample), and shows what warm starts with
/// loose (scipy-default-like) tolerances would have given.
#[test]
fn bootstrap_width_matches_spread_over_noise_draws() {
    let law = ChinchillaLaw {
        e: 1.8,
        a: 0.9 * 1e6f64.powf(0.35),
        b: 1.2 * 1e8f64.powf(0.3),
        alpha: 0.35,
        beta: 0.3,
    };
    let noise = 0.01;
    let opts = Approach3Options { grid: StartGrid::Coarse, ..Default::default() };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // Spread over 120 independent noise draws.
    let fits: Vec<ChinchillaLaw> = (0..120)
        .map(|_| fit_approach3(&cell_obs(&grid_cells(&law, noise, &mut rng)), &opts).expect("fit").law)
        .collect();
    let spread = |f: &dyn Fn(&ChinchillaLaw) -> f64| {
        let v: Vec<f64> = fits.iter().map(f).collect();
        quantile(&v, 0.975) - quantile(&v, 0.025)
    };
    let (s_alpha, s_beta) = (spread(&|l| l.alpha), spread(&|l| l.beta));
    // Mean bootstrap width over 4 data sets.
    let (mut w_alpha, mut w_beta, mut w_naive) = (0.0, 0.0, 0.0);
    for k in 0..4 {
        let cells = grid_cells(&law, noise, &mut rng);
        let fit = fit_approach3(&cell_obs(&cells), &opts).expect("fit");
        let boot = bootstrap_approach3(
            &cells,
            &fit,
            &opts.fit,
            &BootstrapOptions { reps: 200, seed: k, within_cell: true },
        );
        assert!(boot.len() >= 190, "{} of 200 refits converged", boot.len());
        let width = |f: &dyn Fn(&ChinchillaLaw) -> f64| {
            let [lo, hi] = interval95(&boot.iter().map(f).collect::<Vec<_>>());
            hi - lo
        };
        w_alpha += width(&|l| l.alpha) / 4.0;
        w_beta += width(&|l| l.beta) / 4.0;
        // Naive: warm start at the full-data optimum, loose tolerances, no other starts.
        let loose = FitOptions {
            lbfgs: LbfgsOptions { gtol: 1e-5, ftol: 2.2e-9, max_iter: 15000, ..Default::default() },
            parallel: false,
            ..opts.fit
        };
        let naive: Vec<f64> = (0..200)
            .filter_map(|r| {
                let obs = resample(&cells, &mut rep_rng(k, r));
                refit_approach3(&LogData::from_obs(&obs), std::slice::from_ref(&fit.theta), &loose)
                    .map(|f| f.law.alpha)
            })
            .collect();
        let [lo, hi] = interval95(&naive);
        w_naive += (hi - lo) / 4.0;
        // Every production refit is the optimum a fresh full 4,500-start fit finds.
        for r in 0..3 {
            let obs = resample(&cells, &mut rep_rng(k, r));
            let inner = FitOptions { parallel: false, ..opts.fit };
            let refit =
                refit_approach3(&LogData::from_obs(&obs), &refit_starts(&fit), &inner).expect("refit");
            let full = fit_approach3(&obs, &Approach3Options::default()).expect("fit");
            assert!(
                refit.objective <= full.objective * (1.0 + 1e-9),
                "rep {r}: refit {} vs full {}",
                refit.objective,
                full.objective
            );
            assert!(
                (full.law.alpha - refit.law.alpha).abs() < 1e-4,
                "rep {r}: refit α {} vs full-grid α {}",
                refit.law.alpha,
                full.law.alpha
            );
        }
    }
    eprintln!("α: bootstrap width {w_alpha:.4} vs spread {s_alpha:.4} (naive warm/loose {w_naive:.4}); β: {w_beta:.4} vs {s_beta:.4}");
    for (w, s, name) in [(w_alpha, s_alpha, "α"), (w_beta, s_beta, "β")] {
        assert!(w / s < 1.5 && s / w < 1.5, "{name}: bootstrap width {w} vs spread over draws {s}");
    }
}
