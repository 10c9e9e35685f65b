//! Tests of `[tune] tokens` as a list: the law through every (size, budget) optimum, the grid
//! at η*(N, D) with `apply = "law"` (WSD branches of a size sharing its longest budget's), the
//! `tune.json` record with and without the law, and bad sections.

use super::rule::round_sig;
use super::*;
use crate::config::LoadedConfig;
use crate::model::count;
use crate::results::{RunResult, RunStatus};
use crate::sweep::branch::parent_of;
use crate::sweep::cell::GridRun;
use crate::sweep::grid::expand_tuned;
use crate::sweep::store::tune_store;

/// The optimum the synthetic losses put at (N, D): η* = 0.05·N^−0.5·D^0.25.
fn truth(n: u64, d: u64) -> f64 {
    0.05 * (n as f64).powf(-0.5) * (d as f64).powf(0.25)
}

/// Three widths, a grid at two budgets and `[tune]` lines; `sets` as on the command line.
fn config(tune: &str, sets: &[&str]) -> (tempfile::TempDir, LoadedConfig) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    let text = format!(
        "name = \"t\"\nresults_dir = \"{}\"\n[train]\nlr_base_width = 64\nlr_rule = \"sqrt\"\nschedule = \"wsd\"\n\
         warmup_tokens = 4096\n[grid]\nshapes = [\"32x1\", \"64x1\", \"128x1\"]\ntokens = [16384, 65536]\n\
         [tune]\n{tune}",
        dir.path().join("r").display()
    );
    std::fs::write(&p, text).unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let cfg = crate::config::load_config(&p, &sets).unwrap();
    (dir, cfg)
}

/// The batch size (tokens per step) the synthetic losses prefer: B* = 2^3.5·D^0.5, 1024 at
/// 8192 tokens and 2048 at 32768.
fn batch_truth(d: u64) -> f64 {
    2f64.powf(3.5) * (d as f64).sqrt()
}

/// Results whose loss is 3 + 0.2·(ln lr − ln η*(N, D))² + 0.1·(ln B − ln B*(D))²: a parabola in
/// ln lr with its vertex on the known law, lowest at the batch size nearest B*.
fn results(runs: &[GridRun]) -> Vec<RunResult> {
    runs.iter()
        .map(|r| {
            let mut res = crate::sweep::executor::failed_result("t", r, String::new());
            res.status = RunStatus::Ok;
            let opt = truth(count::params_total(&r.spec.model), r.spec.tokens);
            let b = (r.spec.batch_size * r.spec.model.block_size) as f64 / batch_truth(r.spec.tokens);
            res.final_val_loss =
                Some(3.0 + 0.2 * (r.spec.learning_rate / opt).ln().powi(2) + 0.1 * b.ln().powi(2));
            res
        })
        .collect()
}

const TUNE: &str =
    "tokens = [8192, 32768]\nlearning_rate = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]\noptimum = \"parabola\"\n";

/// The tuning of `cfg`, finished on the synthetic results.
fn tuned(cfg: &LoadedConfig) -> Tuning {
    let spec = parse(cfg).unwrap().unwrap();
    let runs = expand_tune(cfg).unwrap();
    let choice = choose(cfg, &spec, &runs, &results(&runs)).unwrap();
    Tuning { spec, store: tune_store(cfg), runs, choice: Some(choice) }
}

#[test]
fn two_budgets_fit_the_law_through_every_optimum() {
    let (_d, cfg) = config(TUNE, &[]);
    let t = tuned(&cfg);
    // 3 sizes × 2 budgets × 5 LRs, and under WSD each size's short runs branch off its long ones.
    assert_eq!(t.runs.len(), 30);
    let branched = (0..t.runs.len()).filter(|&i| parent_of(&t.runs, i).is_some()).count();
    assert_eq!(branched, 15);
    let c = t.choice.as_ref().unwrap();
    assert_eq!((c.budgets.clone(), c.sizes.len(), c.primary().count()), (vec![8192, 32768], 6, 3));
    for s in &c.sizes {
        let want = truth(s.params_total, s.tokens.unwrap());
        assert!((s.lr() / want - 1.0).abs() < 1e-3, "{} at {:?}: {} vs {want}", s.shape, s.tokens, s.lr());
    }
    let law = c.law.as_ref().expect("a law with two budgets");
    assert_eq!(law.optima.len(), 6);
    let (p, q) = (law.lr.p.unwrap(), law.lr.q.unwrap());
    assert!((p + 0.5).abs() < 2e-3 && (q - 0.25).abs() < 2e-3, "{:?}", law.lr);
    assert!((law.lr.c / 0.05).ln().abs() < 0.05, "{:?}", law.lr);
    // Optima rounded to 4 digits are nearly exact: a narrow interval around the estimate.
    let [lo, hi] = law.lr.p_ci95.unwrap();
    assert!(lo < p && p < hi && hi - lo < 0.02, "{lo} {hi}");
    // `best` and the rule use the longest budget: 64x1 gets its own optimum at 32768 tokens.
    let best = c.for_shape(&crate::sweep::axes::Shape { n_embd: 64, n_layer: 1, n_head: None });
    let own = c.sizes.iter().find(|s| s.shape == "64x1" && s.tokens == Some(32768)).unwrap();
    assert_eq!(best.learning_rate, own.lr());
    let summary = c.summary().join("\n");
    assert!(
        summary.contains("law: lr* = ") && summary.contains("Step Law") && summary.contains("-0.713"),
        "{summary}"
    );
    assert!(summary.contains("(reported only"), "{summary}");
}

#[test]
fn apply_law_gives_every_grid_run_the_law_and_wsd_branches_share_it() {
    let (_d, cfg) = config(&format!("{TUNE}apply = \"law\"\n"), &[]);
    let tuning = tuned(&cfg);
    let law = tuning.choice.as_ref().unwrap().law.clone().unwrap();
    let runs = expand_tuned(&cfg, Some(&tuning)).unwrap();
    assert_eq!(runs.len(), 6);
    for r in &runs {
        let n = count::params_total(&r.spec.model);
        let longest =
            runs.iter().filter(|o| o.spec.model == r.spec.model).map(|o| o.spec.tokens).max().unwrap();
        assert_eq!(r.spec.learning_rate, round_sig(law.lr.at(n as f64, longest as f64), 4), "{:?}", r.axes);
        // Against the truth too: at the longest budget, not the run's own (4× shorter is 29% off).
        assert!((r.spec.learning_rate / truth(n, longest) - 1.0).abs() < 0.01);
        let src = r.spec.tuned.as_deref().unwrap();
        assert!(
            src.starts_with("tune law: lr* = ")
                && src.contains(&format!("D = {longest}, the longest budget of")),
            "{src}"
        );
        if r.spec.tokens < longest {
            let parent = parent_of(&runs, r.index).expect("the short run branches");
            assert_eq!(runs[parent].spec.learning_rate, r.spec.learning_rate);
        }
    }
    // Cosine runs share nothing: each run gets η* at its own D.
    let (_d, cfg) = config(&format!("{TUNE}apply = \"law\"\n"), &["train.schedule=cosine"]);
    let tuning = tuned(&cfg);
    let runs = expand_tuned(&cfg, Some(&tuning)).unwrap();
    for r in &runs {
        let (n, d) = (count::params_total(&r.spec.model), r.spec.tokens);
        assert!((r.spec.learning_rate / truth(n, d) - 1.0).abs() < 0.01, "{:?}", r.axes);
        assert!(parent_of(&runs, r.index).is_none());
        assert!(!r.spec.tuned.as_deref().unwrap().contains("longest"));
    }
}

#[test]
fn one_budget_in_a_list_fits_the_law_in_n_only() {
    let (_d, cfg) = config(
        "tokens = [32768]\nlearning_rate = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]\noptimum = \"parabola\"\n",
        &[],
    );
    let t = tuned(&cfg);
    let c = t.choice.as_ref().unwrap();
    let law = c.law.as_ref().unwrap();
    assert_eq!(law.lr.q, None);
    assert!((law.lr.p.unwrap() + 0.5).abs() < 2e-3, "{:?}", law.lr);
    assert!(c.summary().join("\n").contains("q not identified"));
    // The same runs as `tokens = 32768`, whose choice has no law (and so no new field).
    let (_e, plain) = config(
        "tokens = 32768\nlearning_rate = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]\noptimum = \"parabola\"\n",
        &[],
    );
    let p = tuned(&plain);
    let ids = |t: &Tuning| t.runs.iter().map(|r| r.spec.id()).collect::<Vec<_>>();
    assert_eq!(ids(&t), ids(&p));
    let json = serde_json::to_string(p.choice.as_ref().unwrap()).unwrap();
    assert!(!json.contains("\"law\"") && !json.contains("\"budgets\""), "{json}");
}

#[test]
fn tune_json_reads_old_files_unchanged_and_round_trips_the_law() {
    // A committed tune.json (no law): read, and written back byte for byte.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/quick/tune.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let old: TuneChoice = serde_json::from_str(&text).unwrap();
    assert!(old.law.is_none() && old.budgets.is_empty() && old.sizes.iter().all(|s| s.tokens.is_none()));
    assert_eq!(serde_json::to_string_pretty(&old).unwrap() + "\n", text);
    // A choice with the law: the same after a round trip.
    let (_d, cfg) = config(TUNE, &[]);
    let c = tuned(&cfg).choice.unwrap();
    let back: TuneChoice = serde_json::from_str(&serde_json::to_string_pretty(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    assert!(back.law.is_some());
}

#[test]
fn bad_budgets_and_law_requests_are_input_errors() {
    let lrs = "learning_rate = [1e-3, 3e-3]\n";
    for (tune, want) in [
        (format!("tokens = 8192\n{lrs}apply = \"law\"\n"), "needs at least two tuning budgets"),
        (format!("tokens = [8192]\n{lrs}apply = \"law\"\n"), "needs at least two tuning budgets"),
        (format!("tokens = []\n{lrs}"), "tokens is empty"),
        (format!("tokens = [8192, 8192]\n{lrs}"), "lists 8192 twice"),
        (format!("tokens = [8192, -1]\n{lrs}"), "must be a positive number"),
        (format!("tokens = [8192, 8200]\n{lrs}"), "round to fewer distinct budgets"),
        (format!("tokens = [8192, 32768]\n{lrs}apply = \"law\"\nshapes = [\"64x1\"]\n"), "two tuned sizes"),
        (format!("tokens = [8192, 32768]\n{lrs}apply = \"curve\"\n"), "\"best\", \"rule\" or \"law\""),
    ] {
        let (_d, cfg) = config(&tune, &[]);
        let e = parse(&cfg).and_then(|_| expand_tune(&cfg)).unwrap_err();
        assert!(crate::error::is_input_error(&e), "{e:#}");
        let msg = format!("{e:#}");
        assert!(msg.contains(want) && msg.contains("c.toml"), "{tune}: {msg}");
        // The messages of this feature say how to fix it (the shared number check does not).
        assert!(msg.contains("fix") || want.contains("positive"), "{msg}");
    }
}

#[test]
fn a_tuned_batch_size_gets_its_own_law() {
    let (_d, cfg) = config(&format!("{TUNE}batch_size = [16, 32]\n"), &[]);
    let t = tuned(&cfg);
    assert_eq!(t.runs.len(), 60);
    let law = t.choice.as_ref().unwrap().law.clone().unwrap();
    // Each optimum's batch is the one nearest B*(D): 16 × 64 tokens at 8192, 32 × 64 at 32768.
    for o in &law.optima {
        assert_eq!(o.batch_tokens, Some(if o.d == 8192 { 1024 } else { 2048 }), "{o:?}");
    }
    let b = law.batch.as_ref().expect("a batch law");
    assert!(b.p.unwrap().abs() < 1e-9 && (b.q.unwrap() - 0.5).abs() < 1e-9, "{b:?}");
    assert!((b.c / 2f64.powf(3.5) - 1.0).abs() < 1e-9, "{b:?}");
    // The learning-rate law is unchanged by the batch axis (the vertex at the best batch).
    assert!((law.lr.p.unwrap() + 0.5).abs() < 2e-3, "{:?}", law.lr);
    let summary = t.choice.as_ref().unwrap().summary().join("\n");
    assert!(summary.contains("batch law: B* = ") && summary.contains("0.571"), "{summary}");
    // Without a batch axis there is no batch law.
    let (_e, plain) = config(TUNE, &[]);
    assert!(tuned(&plain).choice.unwrap().law.unwrap().batch.is_none());
}
