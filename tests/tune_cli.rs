//! Issue #8, `[tune]` through the CLI: the tuning runs go first, the main grid uses each tuned
//! size's best learning rate and the fitted rule elsewhere, and every result says so.

mod common;

use common::*;

const CFG: &str = "tests/fixtures/tune.toml";

fn lr(r: &serde_json::Value) -> f64 {
    r["spec"]["learning_rate"].as_f64().unwrap()
}

#[test]
fn tune_then_grid_uses_the_best_learning_rate_per_size() {
    let d = tempfile::tempdir().unwrap();
    let set = rd(d.path());
    // Before tuning: plan shows the tuning runs and says the grid's LRs are provisional; a
    // main-grid run cannot start.
    let plan = run(&["plan", CFG, "--set", &set, "--no-measure"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("[tune]: 4 runs"), "{text}");
    assert!(text.contains("provisional"), "{text}");
    assert_input_error(&run(&["run", CFG, "--index", "0", "--set", &set, "-q"]), "[tune] has not finished");

    let out = run(&["sweep", CFG, "-q", "--jobs", "2", "--set", &set]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("best lr"), "{err}");
    let store = d.path().join("tune");
    let trials = results(&store.join("tune"));
    assert_eq!(trials.len(), 4);
    let choice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("tune.json")).unwrap()).unwrap();
    assert_eq!(choice["sizes"].as_array().unwrap().len(), 2);
    // The best trial per tuned width, from the tuning results themselves.
    let best = |w: u64| {
        trials
            .iter()
            .filter(|r| r["spec"]["n_embd"] == w)
            .min_by(|a, b| {
                a["final_val_loss"].as_f64().unwrap().total_cmp(&b["final_val_loss"].as_f64().unwrap())
            })
            .map(lr)
            .unwrap()
    };
    let (b16, b48) = (best(16), best(48));
    let grid = results(&store);
    assert_eq!(grid.len(), 6);
    for r in &grid {
        let w = r["spec"]["n_embd"].as_u64().unwrap();
        let tuned = r["spec"]["tuned"].as_str().unwrap();
        assert_eq!(r["spec"]["lr_rule"], "none");
        match w {
            16 => assert_eq!((lr(r), tuned.contains("best of 2")), (b16, true), "{r}"),
            48 => assert_eq!((lr(r), tuned.contains("best of 2")), (b48, true), "{r}"),
            _ => {
                // Not tuned: the log-log line through the two best points, at width 32.
                let k = (b48 / b16).ln() / 3f64.ln();
                let want = b16 * 2f64.powf(k);
                assert!((lr(r) / want - 1.0).abs() < 1e-3, "{} vs {want}", lr(r));
                assert!(tuned.contains("size not tuned"), "{tuned}");
            }
        }
    }
    // Everything is done: nothing to train, and the choice is unchanged.
    let again = run(&["sweep", CFG, "-q", "--set", &set]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already done"));
    let plan = run(&["plan", CFG, "--set", &set, "--no-measure"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("rule: lr = "), "{text}");
    assert!(!text.contains("pending"), "{text}");
}

#[test]
fn a_grid_axis_may_not_also_be_tuned() {
    let d = tempfile::tempdir().unwrap();
    let set = rd(d.path());
    let out = run(&["plan", CFG, "--set", &set, "--set", "grid.learning_rate=[1e-3, 2e-3]", "--no-measure"]);
    assert_input_error(&out, "also tuned by [tune]");
}

/// `x` to 4 significant digits, as the tuning rounds its learning rates.
fn round4(x: f64) -> f64 {
    let p = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * p).round() / p
}

#[test]
fn two_budgets_fit_the_law_and_apply_law_trains_every_run_at_it() {
    const LAW: &str = "tests/fixtures/tune_law.toml";
    let d = tempfile::tempdir().unwrap();
    let set = rd(d.path());
    let out = run(&["sweep", LAW, "-q", "--jobs", "2", "--set", &set]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("law: lr* = ") && err.contains("Step Law"), "{err}");
    let store = d.path().join("tune-law");
    // 2 sizes × 2 budgets × 3 LRs; each size's 10k-token trials branch off its 20k-token ones.
    let trials = results(&store.join("tune"));
    assert_eq!(trials.len(), 12);
    let branched = trials.iter().filter(|r| r["resumed_from_step"].as_u64().unwrap() > 0).count();
    assert_eq!(branched, 6);
    let choice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("tune.json")).unwrap()).unwrap();
    assert_eq!(choice["budgets"], serde_json::json!([10000, 20000]));
    let law = &choice["law"];
    // The optima are the best trial of each (size, budget), read from the trials themselves.
    let optima = law["optima"].as_array().unwrap();
    assert_eq!(optima.len(), 4);
    for o in optima {
        let best = trials
            .iter()
            .filter(|r| r["params_total"] == o["n"] && r["tokens"] == o["d"])
            .min_by(|a, b| {
                a["final_val_loss"].as_f64().unwrap().total_cmp(&b["final_val_loss"].as_f64().unwrap())
            })
            .unwrap();
        assert_eq!(lr(best), o["lr"].as_f64().unwrap(), "{o}");
    }
    // Least squares: the residuals of ln lr* are orthogonal to 1, ln N and ln D.
    let (c, p, q) = (
        law["lr"]["c"].as_f64().unwrap(),
        law["lr"]["p"].as_f64().unwrap(),
        law["lr"]["q"].as_f64().unwrap(),
    );
    let mut normal = [0.0f64; 3];
    for o in optima {
        let (n, dd) = (o["n"].as_f64().unwrap(), o["d"].as_f64().unwrap());
        let res = o["lr"].as_f64().unwrap().ln() - c.ln() - p * n.ln() - q * dd.ln();
        for (s, x) in normal.iter_mut().zip([1.0, n.ln(), dd.ln()]) {
            *s += res * x;
        }
    }
    assert!(normal.iter().all(|s| s.abs() < 1e-9), "{normal:?}");
    assert!(law["lr"]["p_ci95"].is_array() && law["lr"]["q_ci95"].is_array(), "{law}");
    // Every grid run at the law's LR at its size's longest budget (a shared WSD stable phase).
    let grid = results(&store);
    assert_eq!(grid.len(), 4);
    for r in &grid {
        let longest = grid
            .iter()
            .filter(|o| o["params_total"] == r["params_total"])
            .map(|o| o["tokens"].as_u64().unwrap())
            .max();
        let n = r["params_total"].as_f64().unwrap();
        let want = round4(c * n.powf(p) * (longest.unwrap() as f64).powf(q));
        assert_eq!(lr(r), want, "{r}");
        let tuned = r["spec"]["tuned"].as_str().unwrap();
        assert!(tuned.starts_with("tune law: ") && tuned.contains("the longest budget of"), "{tuned}");
        if r["tokens"].as_u64() < longest {
            assert!(r["resumed_from_step"].as_u64().unwrap() > 0, "the short run branches: {r}");
        }
    }
    let plan = run(&["plan", LAW, "--set", &set, "--no-measure"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("[tune]: 12 runs at 10.0k, 20.0k tokens") && text.contains("lr*(N, D)"), "{text}");
}

#[test]
fn configs_without_the_new_keys_keep_their_run_ids() {
    // Every committed run of configs/quick.toml (tuned with one budget) is still found done,
    // and its tune.json is left byte for byte as it was.
    let tune_json = repo("results/quick/tune.json");
    let before = std::fs::read(&tune_json).unwrap();
    let out = run(&["plan", "configs/quick.toml", "--no-measure", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tune"]["finished"], true);
    let runs = plan["runs"].as_array().unwrap().iter().chain(plan["tune"]["runs"].as_array().unwrap());
    let states: std::collections::BTreeSet<&str> = runs.map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["done-ok"].into_iter().collect());
    assert_eq!(std::fs::read(&tune_json).unwrap(), before);
}
