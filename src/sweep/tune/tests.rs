//! Tests of the tuning: the choice per size, the fitted rule, the parabola vertex, and bad
//! `[tune]` sections.

use super::rule::round_sig;
use super::*;
use crate::config::LoadedConfig;
use crate::results::{RunResult, RunStatus};
use crate::sweep::axes::Shape;
use crate::sweep::cell::GridRun;

#[test]
fn rounding() {
    assert_eq!(round_sig(0.0034567891, 4), 0.003457);
    assert_eq!(round_sig(123456.0, 2), 120000.0);
}

/// A config with three widths and `[tune]` lines appended.
fn config(tune: &str) -> (tempfile::TempDir, LoadedConfig) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    let text = format!(
        "name = \"t\"\nresults_dir = \"{}\"\n[train]\nlr_base_width = 64\nlr_rule = \"sqrt\"\n\
         [grid]\nshapes = [\"32x1\", \"64x1\", \"128x1\"]\ntokens = [8192]\n[tune]\ntokens = 4096\n{tune}",
        dir.path().join("r").display()
    );
    std::fs::write(&p, text).unwrap();
    let cfg = crate::config::load_config(&p, &[]).unwrap();
    (dir, cfg)
}

/// A grid shape, as `for_shape` receives it.
fn shape(n_embd: i64, n_layer: i64) -> Shape {
    Shape { n_embd, n_layer, n_head: None }
}

/// Results whose loss is |ln(lr / truth(width))| + 3: lowest at the true optimum.
fn results(runs: &[GridRun], truth: impl Fn(usize) -> f64) -> Vec<RunResult> {
    runs.iter()
        .map(|r| {
            let mut res = crate::sweep::executor::failed_result("t", r, String::new());
            res.status = RunStatus::Ok;
            res.final_val_loss = Some(3.0 + (r.spec.learning_rate / truth(r.spec.model.n_embd)).ln().abs());
            res
        })
        .collect()
}

#[test]
fn best_per_size_and_the_fitted_rule() {
    // Optima on an exact power law lr = 4e-3·(w/64)^-0.6, and candidates that contain them:
    // each size must pick its own optimum and the rule must give back c and k.
    let truth = |w: usize| 4e-3 * (w as f64 / 64.0).powf(-0.6);
    let lrs: Vec<String> = [32, 64, 128].iter().map(|w| format!("{:e}", truth(*w))).collect();
    let (_d, cfg) = config(&format!("learning_rate = [{}]\n", lrs.join(", ")));
    let t = parse(&cfg).unwrap().unwrap();
    let runs = expand_tune(&cfg).unwrap();
    assert_eq!(runs.len(), 9);
    assert!(runs.iter().all(|r| r.spec.tokens == 4096 && r.spec.lr_rule == "none"));
    let c = choose(&cfg, &t, &runs, &results(&runs, truth)).unwrap();
    assert_eq!(c.sizes.len(), 3);
    for s in &c.sizes {
        assert_eq!(s.trials.len(), 3);
        assert!((s.best.learning_rate / truth(s.n_embd) - 1.0).abs() < 1e-12, "{s:?}");
    }
    assert!((c.rule.exponent + 0.6).abs() < 1e-9, "{:?}", c.rule);
    assert!((c.rule.c / 4e-3 - 1.0).abs() < 1e-9, "{:?}", c.rule);
    assert!(c.rule.exponent_fitted);
    // The smallest width's optimum is the highest candidate, the largest's the lowest.
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    // The main grid gets each size's best (apply = best), recorded in the spec.
    let tuned = c.for_shape(&shape(96, 1));
    let src = &tuned.source;
    assert!(src.contains("size not tuned"), "{src}");
    assert_eq!(tuned.learning_rate, c.rule.at(96));
    assert!((c.rule.at(96) / truth(96) - 1.0).abs() < 1e-3);
}

#[test]
fn parabola_vertex_recovers_a_quadratic_and_falls_back_without_a_minimum() {
    // loss = 3 + 0.2·(ln lr − ln 4e-3)²: the vertex is 4e-3 whatever the trials.
    let q = |lr: f64| 3.0 + 0.2 * (lr / 4e-3).ln().powi(2);
    let pts: Vec<(f64, f64)> = [1e-3, 2.5e-3, 5e-3, 1.2e-2].iter().map(|&x| (x, q(x))).collect();
    assert_eq!(parabola_vertex(&pts), Some(4e-3));
    // The best trial would be 5e-3; a mutation of the vertex formula moves this.
    let best = pts.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
    assert_eq!(best, 5e-3);
    // A minimum outside the range is clamped to the nearest LR tried.
    let lo: Vec<(f64, f64)> = [1e-2, 2e-2, 4e-2].iter().map(|&x| (x, q(x))).collect();
    assert_eq!(parabola_vertex(&lo), Some(1e-2));
    // Concave, or fewer than 3 LRs: no vertex.
    let cap: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x, 6.0 - y)).collect();
    assert_eq!(parabola_vertex(&cap), None);
    assert_eq!(parabola_vertex(&pts[..2]), None);
}

#[test]
fn optimum_parabola_sets_each_tuned_size_to_its_vertex() {
    let (_d, cfg) = config("lr_factors = [0.3, 0.7, 1.5, 3]\noptimum = \"parabola\"\n");
    let t = parse(&cfg).unwrap().unwrap();
    assert_eq!(t.optimum, Optimum::Parabola);
    let runs = expand_tune(&cfg).unwrap();
    let truth = |w: usize| 4e-3 * (w as f64 / 64.0).powf(-0.6);
    let res: Vec<RunResult> = results(&runs, truth)
        .into_iter()
        .zip(&runs)
        .map(|(mut r, g)| {
            r.final_val_loss =
                Some(3.0 + 0.2 * (g.spec.learning_rate / truth(g.spec.model.n_embd)).ln().powi(2));
            r
        })
        .collect();
    let c = choose(&cfg, &t, &runs, &res).unwrap();
    for s in &c.sizes {
        let v = s.vertex.expect("vertex");
        assert!((v / truth(s.n_embd) - 1.0).abs() < 1e-3, "{s:?}");
        assert_ne!(v, s.best.learning_rate);
    }
    assert!((c.rule.exponent + 0.6).abs() < 1e-3, "{:?}", c.rule);
    let tuned = c.for_shape(&shape(64, 1));
    let src = &tuned.source;
    assert!(src.contains("parabola vertex of 4 trials"), "{src}");
    assert_eq!(tuned.learning_rate, c.sizes[1].vertex.unwrap());
    assert!(c.summary()[1].contains("parabola vertex"), "{:?}", c.summary());
}

#[test]
fn factors_follow_the_config_rule_and_one_width_keeps_its_slope() {
    let (_d, cfg) = config("lr_factors = [0.5, 1, 2]\nshapes = [\"64x1\"]\n");
    let t = parse(&cfg).unwrap().unwrap();
    let runs = expand_tune(&cfg).unwrap();
    let lrs: Vec<f64> = runs.iter().map(|r| r.spec.learning_rate).collect();
    assert_eq!(lrs, vec![1.5e-3, 3e-3, 6e-3]); // [train] default 3e-3 at the base width 64
    let c = choose(&cfg, &t, &runs, &results(&runs, |_| 3e-3)).unwrap();
    assert_eq!(c.sizes[0].best.learning_rate, 3e-3);
    assert!(!c.rule.exponent_fitted);
    assert_eq!(c.rule.exponent, -0.5); // from lr_rule = "sqrt"
    assert_eq!(c.rule.at(256), 1.5e-3);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn bad_sections_are_input_errors() {
    for (tune, want) in [
        ("lr_factors = [1]\n", "only one setting"),
        ("", "learning-rate candidates"),
        ("lr_factors = [1, 2]\nlearning_rate = [1e-3, 2e-3]\n", "both"),
        ("lr_factors = [1, 2]\nshapes = [\"48x1\"]\n", "not a grid shape"),
        ("lr_factors = [1, 2]\nn_layer = [1, 2]\n", "cannot be tuned"),
        ("lr_factors = [1, -2]\n", "positive"),
        ("lr_factors = [1, 2]\noptimum = \"mean\"\n", "optimum must be"),
    ] {
        let (_d, cfg) = config(tune);
        let e = parse(&cfg).and_then(|_| expand_tune(&cfg)).unwrap_err();
        assert!(crate::error::is_input_error(&e), "{e:#}");
        assert!(format!("{e:#}").contains(want), "{tune}: {e:#}");
        assert!(format!("{e:#}").contains("c.toml"), "{e:#}");
    }
}
