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
