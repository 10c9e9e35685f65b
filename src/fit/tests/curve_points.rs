//! Approach 3 on training-curve points (`fit --a3-points`, issue #21), end to end through
//! [`fit_report`]: results folders written as a sweep writes them (`runs/ID.json` with the
//! schedule keys of the spec, `curves/ID.jsonl` with an evaluation every tenth of a run, a WSD
//! run that branched off a longer one starting with a copy of that run's curve), with losses
//! from a known law.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::config::spec::wsd_cooldown_start;
use crate::fit::input::synth::{log_grid, normal};
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::approach3::Starts;
use crate::fit::pipeline::summary::render;
use crate::fit::schema::{A3Points, Approach3Report, FitReport};
use crate::fit::{fit_report, FitRequest};
use crate::report::synth::run_json;
use crate::results::{write_atomic, write_json_atomic, ResultsDir, RunResult};

/// Tokens per optimizer step (batch 64 × context 64).
const PER_STEP: u64 = 4096;
/// Warmup steps of every run.
const WARMUP: u64 = 50;
/// WSD cooldown fraction.
const COOLDOWN: f64 = 0.2;
/// Steps of the five token budgets (2M to 33M tokens).
const STEPS: [u64; 5] = [500, 1000, 2000, 4000, 8000];

fn law() -> ChinchillaLaw {
    ChinchillaLaw { e: 1.8, a: 0.9 * 4e5f64.powf(0.34), b: 0.9 * 1.1e7f64.powf(0.3), alpha: 0.34, beta: 0.3 }
}

/// How the synthetic sweep is made.
struct Sweep {
    /// `cosine` or `wsd`.
    schedule: &'static str,
    /// Added to every evaluation in a WSD run's stable phase, nats/token.
    stable_shift: f64,
    /// Relative noise of every evaluation (1 + noise·ε), drawn per (size, seed, step) so a
    /// branch's copy of its parent's curve is the parent's.
    noise: f64,
    /// Seeds per (N, D).
    seeds: usize,
}

/// Multiplicative noise for one evaluation, a pure function of `key`.
fn jitter(noise: f64, key: u64) -> f64 {
    1.0 + noise * normal(&mut ChaCha8Rng::seed_from_u64(key))
}

/// The evaluation steps of a run of `steps` steps: every tenth of it; a WSD run shorter than
/// the longest starts with the longest run's evaluations up to its own cooldown start.
fn eval_steps(sw: &Sweep, steps: u64) -> Vec<u64> {
    let longest = *STEPS.last().expect("budgets");
    let own = (1..=10).map(|k| k * steps / 10);
    if sw.schedule != "wsd" || steps == longest {
        return own.collect();
    }
    let sc = wsd_cooldown_start(steps, WARMUP, COOLDOWN);
    let copied = (1..=10).map(|k| k * longest / 10).filter(|s| *s <= sc);
    copied.chain(own.filter(|s| *s > sc)).collect()
}

/// Writes the sweep into `dir`.
fn write(dir: &Path, sw: &Sweep) {
    let store = ResultsDir::new(dir);
    let law = law();
    let corpus = json!({"source": "synthetic", "seed": 0, "options": {}});
    for (i, n) in log_grid(1e5, 1.6e6, 5).into_iter().enumerate() {
        let n = n.round() as u64;
        for &steps in &STEPS {
            let sc = wsd_cooldown_start(steps, WARMUP, COOLDOWN);
            for seed in 0..sw.seeds as u64 {
                let mut curve = String::new();
                for s in eval_steps(sw, steps) {
                    let t = (s * PER_STEP) as f64;
                    let stable = sw.schedule == "wsd" && s <= sc;
                    // A stable-phase evaluation is the same in every run of (size, seed) that has it.
                    let key = if stable {
                        i as u64 * 1_000_003 + seed * 7_919 + s
                    } else {
                        ((i as u64) << 40) | (steps << 20) | (seed << 16) | s
                    };
                    let shift = if stable { sw.stable_shift } else { 0.0 };
                    let loss = (law.loss(n as f64, t) + shift) * jitter(sw.noise, key);
                    let line = json!({"step": s, "tokens": s * PER_STEP, "lr": 0.003, "train_loss": loss, "val_loss": loss, "seconds": 1.0});
                    curve.push_str(&format!("{line}\n"));
                }
                let d = steps * PER_STEP;
                let id = format!("n{i}s{steps}r{seed}");
                let final_loss = law.loss(n as f64, d as f64)
                    * jitter(sw.noise, u64::MAX - (i as u64) * 100_000 - steps - seed);
                let mut v = run_json(&id, n, d, Some(final_loss), "ok", corpus.clone());
                let spec = &mut v["spec"];
                spec["schedule"] = json!(sw.schedule);
                spec["max_steps"] = json!(steps);
                spec["warmup_steps"] = json!(WARMUP);
                spec["cooldown_fraction"] = json!(COOLDOWN);
                spec["seed"] = json!(seed);
                let r: RunResult = serde_json::from_value(v).expect("run json");
                write_json_atomic(&store.run_path(&id), &r).expect("write run");
                write_atomic(&store.curve_path(&id), curve.as_bytes()).expect("write curve");
            }
        }
    }
}

/// `fit` of `dir` with `--a3-points points --starts coarse --bootstrap reps`, written to
/// `dir/fit.NAME.json`.
fn fit(dir: &Path, points: &str, reps: usize) -> FitReport {
    let a3_points = A3Points::parse(points).expect("valid");
    let out = dir.join(format!("fit.{}.json", points.replace(':', "_")));
    let req = FitRequest {
        results_dir: Some(dir.to_path_buf()),
        out: Some(out),
        starts: Starts::Coarse,
        bootstrap: reps,
        a3_points,
        ..FitRequest::default()
    };
    fit_report(&req).expect("fit").0
}

fn a3(r: &FitReport) -> &Approach3Report {
    r.groups[0].approach3.as_ref().expect("approach 3")
}

/// Mean of ln(fitted / true) loss at the runs' ends (every size and budget of [`write`]): how
/// far the law fitted to the points is from the annealed law the runs end on.
fn bias_at_run_ends(r: &FitReport) -> f64 {
    let (fitted, truth) = (a3(r).law, law());
    let ns = log_grid(1e5, 1.6e6, 5);
    let ends: Vec<f64> = ns
        .iter()
        .flat_map(|n| STEPS.map(|s| (n.round(), (s * PER_STEP) as f64)))
        .map(|(n, d)| (fitted.loss(n, d) / truth.loss(n, d)).ln())
        .collect();
    ends.iter().sum::<f64>() / ends.len() as f64
}

/// Cosine runs whose every evaluation follows the law (0.3% noise, 2 seeds): the fit on the
/// evaluations past half of each run recovers the law, with the bootstrap over whole runs,
/// and says so in fit.json and on stdout.
#[test]
fn curve_points_that_follow_the_law_recover_it() {
    let t = tempfile::tempdir().expect("tempdir");
    write(t.path(), &Sweep { schedule: "cosine", stable_shift: 0.0, noise: 0.003, seeds: 2 });
    let r = fit(t.path(), "curve:0.5", 20);
    let a = a3(&r);
    let (got, want) = (a.law, law());
    eprintln!("curve:0.5 on cosine runs: {got:?} (truth {want:?})");
    assert!((got.alpha / want.alpha - 1.0).abs() < 0.05, "α {} vs {}", got.alpha, want.alpha);
    assert!((got.beta / want.beta - 1.0).abs() < 0.05, "β {} vs {}", got.beta, want.beta);
    assert!((got.e / want.e - 1.0).abs() < 0.02, "E {} vs {}", got.e, want.e);
    let d = a.data.as_ref().expect("data record");
    // 5 sizes × 5 budgets × 2 seeds; per run the evaluations at 5/10 to 9/10 and the final point.
    assert_eq!((d.runs, d.points, d.before_end, d.bootstrap_unit.as_str()), (50, 300, 250, "runs"));
    let b = a.bootstrap.as_ref().expect("bootstrap");
    assert!(b.resampling.starts_with("whole runs") && b.converged > 15, "{b:?}");
    assert_eq!(r.conventions.a3_points, A3Points::Curve { from: 0.5, annealing_only: false });
    let text = render(&r);
    assert!(text.contains("points (--a3-points curve:0.5): 300 observations from 50 runs"), "{text}");
    assert!(r.groups[0].interval_note.contains("resamples whole runs"), "{}", r.groups[0].interval_note);

    // Without the option nothing of it is written.
    let plain = fit(t.path(), "final", 0);
    let json = serde_json::to_string(&plain).expect("json");
    assert!(!json.contains("a3_points") && !json.contains("\"data\""), "the default writes no new field");
    assert_eq!(a3(&plain).quality.points, 50 / 2, "25 cells of final points");
}

/// A curve fit in fit.json is not replaced by a fit on final points unless asked.
#[test]
fn a_curve_fit_is_not_silently_replaced() {
    let t = tempfile::tempdir().expect("tempdir");
    write(t.path(), &Sweep { schedule: "cosine", stable_shift: 0.0, noise: 0.0, seeds: 1 });
    let req = |points: &str, overwrite: bool| FitRequest {
        results_dir: Some(t.path().to_path_buf()),
        starts: Starts::Coarse,
        a3_points: A3Points::parse(points).expect("valid"),
        overwrite,
        ..FitRequest::default()
    };
    fit_report(&req("curve:0.5", false)).expect("curve fit");
    let e = fit_report(&req("final", false)).expect_err("would replace the curve fit");
    let msg = format!("{e:#}");
    assert!(
        crate::error::is_input_error(&e) && msg.contains("--a3-points curve:0.5 (this fit: final)"),
        "{msg}"
    );
    fit_report(&req("final", true)).expect("--overwrite replaces it");
}

/// WSD runs whose stable-phase evaluations sit 0.05 nats above the law (the cooldown and the
/// final points on it): plain curve points bias the law, the annealing ones do not, and
/// `annealed` is exactly the default's fit (every run's final point ends a cooldown).
#[test]
fn wsd_stable_phase_biases_curve_points_but_not_annealing_ones() {
    let t = tempfile::tempdir().expect("tempdir");
    write(t.path(), &Sweep { schedule: "wsd", stable_shift: 0.05, noise: 0.0, seeds: 1 });
    let plain = fit(t.path(), "curve:0.5", 0);
    let aware = fit(t.path(), "curve-annealing:0.5", 0);
    let (bp, ba) = (bias_at_run_ends(&plain), bias_at_run_ends(&aware));
    let (lp, la) = (a3(&plain).law, a3(&aware).law);
    eprintln!("curve:0.5 {lp:?}, bias at run ends {bp:+.5}\ncurve-annealing:0.5 {la:?}, bias {ba:+.5}");
    assert!(ba.abs() < 1e-4, "annealing points: the law, {ba}");
    assert!((la.alpha / 0.34 - 1.0).abs() < 0.01 && (la.beta / 0.3 - 1.0).abs() < 0.01, "{la:?}");
    assert!(bp > 2e-3, "stable-phase points pull the law up at the runs' ends: {bp}");
    let d = a3(&aware).data.as_ref().expect("data");
    // Each run: its evaluation at 9/10 (in the cooldown) and its final point.
    assert_eq!((d.runs, d.points), (25, 50));
    assert!(d.notes.iter().any(|n| n.starts_with("left out") && n.contains("before the LR began to decay")));

    let (fin, ann) = (fit(t.path(), "final", 0), fit(t.path(), "annealed", 0));
    assert_eq!(a3(&fin).law, a3(&ann).law, "annealed = final on a WSD sweep");
    assert_eq!(a3(&ann).data.as_ref().expect("data").policy, A3Points::Annealed);
    assert!(a3(&fin).data.is_none());
}

/// The selection rules on a hand-made sweep, and the names of the choices.
mod selection {
    use crate::fit::input::a3_points::{annealed_points, curve_sample, A3Points, RunsSample};
    use crate::fit::input::data::RunPoint;
    use crate::fit::input::source::RunCurve;
    use crate::fit::input::synth::point;

    fn run(id: &str, n: f64, d: f64, loss: f64, schedule: &str) -> RunPoint {
        RunPoint { schedule: Some(schedule.into()), ..point(id.into(), n, d, loss, None) }
    }

    fn curve(p: &RunPoint, points: &[(f64, f64)], annealing_from: Option<f64>) -> RunCurve {
        let (id, n, schedule) = (p.id.clone(), p.n, p.schedule.clone());
        RunCurve {
            id,
            n,
            flops_per_token: 6.0 * n,
            schedule,
            points: points.to_vec(),
            group: None,
            annealing_from,
        }
    }

    #[test]
    fn names_round_trip_and_bad_names_say_the_fix() {
        for s in ["final", "annealed", "curve:0.5", "curve:0", "curve:1", "curve-annealing:0.25"] {
            assert_eq!(A3Points::parse(s).expect(s).name(), s);
        }
        assert_eq!(A3Points::parse("curve"), Ok(A3Points::Curve { from: 0.5, annealing_only: false }));
        assert_eq!(
            A3Points::parse("curve-annealing"),
            Ok(A3Points::Curve { from: 0.5, annealing_only: true })
        );
        for (bad, says) in [
            ("curve:1.5", "outside [0, 1]"),
            ("curve:-0.1", "outside [0, 1]"),
            ("curve-annealing:NaN", "outside [0, 1]"),
            ("curve:half", "not a number"),
            ("curve:", "no fraction after the colon"),
            ("final:0.5", "takes no fraction"),
            ("annealed:1", "takes no fraction"),
            ("cosine", "is not one of final"),
        ] {
            let e = A3Points::parse(bad).expect_err(bad);
            assert!(e.contains(says) && e.contains("fix:"), "{bad}: {e}");
        }
        let p = A3Points::Curve { from: 0.3, annealing_only: true };
        let j = serde_json::to_string(&p).expect("json");
        assert_eq!(j, "\"curve-annealing:0.3\"");
        assert_eq!(serde_json::from_str::<A3Points>(&j).expect("reads back"), p);
    }

    /// A WSD run (D = 1000 tokens, cooldown after 800) with a branch (D = 500, cooldown after
    /// 400) whose curve starts with a copy of the parent's, a cosine and a constant run.
    fn sweep() -> (Vec<RunPoint>, Vec<RunCurve>) {
        let parent = run("p", 1e6, 1000.0, 2.0, "wsd");
        let branch = run("b", 1e6, 500.0, 2.4, "wsd");
        let cosine = run("k", 2e6, 1000.0, 1.9, "cosine");
        let constant = run("z", 4e6, 1000.0, 1.8, "constant");
        let curves = vec![
            curve(
                &parent,
                &[(200.0, 3.0), (400.0, 2.8), (600.0, 2.6), (800.0, 2.5), (900.0, 2.2), (1000.0, 2.1)],
                Some(800.0),
            ),
            curve(&branch, &[(200.0, 3.0), (400.0, 2.8), (450.0, 2.5), (500.0, 2.45)], Some(400.0)),
            curve(&cosine, &[(100.0, 3.5), (500.0, 2.3), (1000.0, 1.95)], Some(10.0)),
            curve(&constant, &[(500.0, 2.2), (1000.0, 1.85)], None),
        ];
        (vec![branch, parent, cosine, constant], curves)
    }

    /// (run id, tokens) of every point, run by run.
    fn picked(s: &RunsSample) -> Vec<Vec<(String, f64)>> {
        s.runs.iter().map(|r| r.iter().map(|&i| (s.points[i].id.clone(), s.points[i].d)).collect()).collect()
    }

    #[test]
    fn curve_points_past_f_by_schedule_with_branch_copies_once() {
        let (points, curves) = sweep();
        let s = curve_sample(&points, &curves, 0.3, false).expect("curve:0.3");
        let want = |id: &str, ts: &[f64]| ts.iter().map(|t| (id.to_string(), *t)).collect::<Vec<_>>();
        // Longest runs first; the branch's copy of the parent's 400 is the parent's, while its
        // 200 (before F for the parent) is its own.
        assert_eq!(
            picked(&s),
            vec![
                want("p", &[400.0, 600.0, 800.0, 900.0, 1000.0]),
                want("k", &[500.0, 1000.0]),
                want("z", &[500.0, 1000.0]),
                want("b", &[200.0, 450.0, 500.0]),
            ]
        );
        // A final point is the run's final eval, not the periodic one at the same step.
        let last = |r: usize| &s.points[*s.runs[r].last().expect("final")];
        assert_eq!((last(0).loss, last(3).loss), (2.0, 2.4));
        assert!(s.points.iter().all(|p| p.run.as_deref() == Some(p.id.as_str())));
        let d = &s.data;
        assert_eq!((d.runs, d.points, d.before_end, d.periodic_runs), (4, 12, 8, 4));
        let [m, _] = d.periodic_minus_final.expect("periodic vs final");
        assert!((m - 0.0625).abs() < 1e-12, "{m}");
        assert!(
            d.notes.iter().any(|n| n.starts_with("1 evaluations appear in several runs")),
            "{:?}",
            d.notes
        );

        let s = curve_sample(&points, &curves, 0.3, true).expect("curve-annealing:0.3");
        assert_eq!(
            picked(&s),
            vec![want("p", &[900.0, 1000.0]), want("k", &[500.0, 1000.0]), want("b", &[450.0, 500.0])]
        );
        assert!(
            s.data.notes.iter().any(|n| n.contains("1 runs whose LR never decays (constant: 1)")),
            "{:?}",
            s.data.notes
        );
        assert!(
            s.data.notes.iter().any(|n| n.starts_with("left out 5 evaluations taken before the LR")),
            "{:?}",
            s.data.notes
        );
    }

    #[test]
    fn annealed_keeps_the_runs_that_anneal() {
        let (points, _) = sweep();
        let (kept, d) = annealed_points(&points).expect("annealed");
        let ids: Vec<&str> = kept.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["b", "p", "k"]);
        assert_eq!((d.runs, d.points, d.bootstrap_unit.as_str()), (3, 3, "cells"));
        let e = annealed_points(&points[3..]).expect_err("constant only");
        let msg = format!("{e:#}");
        assert!(
            crate::error::is_input_error(&e) && msg.contains("no run's schedule anneals (constant: 1)"),
            "{msg}"
        );
        assert!(msg.contains("fix:"), "{msg}");
    }
}
