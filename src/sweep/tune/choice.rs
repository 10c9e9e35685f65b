//! The tuning's outcome: every trial, the best learning rate of each tuned size and the rule
//! fitted through them ([`TuneChoice`], `RESULTS/tune.json`), a pure function of the tuning
//! runs' results, so every sweep child and Slurm task recomputes the same choice.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::rule::{parabola_vertex, LrRule};
use super::spec::{Apply, Candidates, Optimum, TuneSpec};
use crate::config::LoadedConfig;
use crate::error::input_err;
use crate::input_bail;
use crate::model::count;
use crate::results::{write_json_atomic, ResultsDir, RunResult, RunStatus};
use crate::sweep::cell::GridRun;
use crate::sweep::store::{choice_path, tune_store};

/// One tuning run's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Run id (in `RESULTS/tune/runs/`).
    pub id: String,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Other tuned keys, as TOML values.
    pub axes: BTreeMap<String, String>,
    /// ok / diverged / failed.
    pub status: String,
    /// Final validation loss (nats/token); None unless ok.
    pub final_val_loss: Option<f64>,
}

/// The trials and the winner of one tuned size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedSize {
    /// Shape label, e.g. "64x2".
    pub shape: String,
    /// Width.
    pub n_embd: usize,
    /// Depth.
    pub n_layer: usize,
    /// All parameters.
    pub params_total: u64,
    /// Every trial, in run order.
    pub trials: Vec<Trial>,
    /// The lowest final validation loss.
    pub best: Trial,
    /// With `optimum = "parabola"`: the vertex of the quadratic in ln lr (4 significant
    /// digits), when it has a minimum; this size's LR then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertex: Option<f64>,
}

impl TunedSize {
    /// The learning rate this size's tuning chose: the vertex, else the best trial's.
    pub fn lr(&self) -> f64 {
        self.vertex.unwrap_or(self.best.learning_rate)
    }
}

/// The outcome of the tuning (`RESULTS/tune.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneChoice {
    /// Training tokens of each tuning run.
    pub tokens: u64,
    /// Best or rule.
    pub apply: Apply,
    /// Tuned sizes, in grid order.
    pub sizes: Vec<TunedSize>,
    /// The fitted LR-vs-width rule.
    pub rule: LrRule,
    /// Best values at the edge of the candidates, failed trials.
    pub warnings: Vec<String>,
}

/// The tuning outcome from the results of `runs` in `store`; None while any tuning run has
/// no result yet. An error when every trial of a size diverged or failed.
pub fn load_choice(
    cfg: &LoadedConfig,
    t: &TuneSpec,
    runs: &[GridRun],
    store: &ResultsDir,
) -> Result<Option<TuneChoice>> {
    let mut results = Vec::with_capacity(runs.len());
    for r in runs {
        match std::fs::read_to_string(store.run_path(&r.spec.id())) {
            Ok(text) => results.push(serde_json::from_str::<RunResult>(&text).map_err(|e| {
                input_err(format!("{}: not a run result ({e})", store.run_path(&r.spec.id()).display()))
            })?),
            Err(_) => return Ok(None),
        }
    }
    choose(cfg, t, runs, &results).map(Some)
}

/// Picks the best trial per size and fits the rule (see the module doc of `tune`).
pub fn choose(
    cfg: &LoadedConfig,
    t: &TuneSpec,
    runs: &[GridRun],
    results: &[RunResult],
) -> Result<TuneChoice> {
    let (mut sizes, mut warnings) = trials_by_size(t, runs, results);
    for s in &mut sizes {
        pick_best(cfg, t, s, &mut warnings)?;
    }
    let optima: Vec<(usize, f64)> = sizes.iter().map(|s| (s.n_embd, s.lr())).collect();
    let base_width = cfg.raw.train.lr_base_width.max(1) as usize;
    Ok(TuneChoice {
        tokens: runs.first().map(|r| r.spec.tokens).unwrap_or(0),
        apply: t.apply,
        sizes,
        rule: LrRule::fit(&optima, base_width, &cfg.raw.train.lr_rule),
        warnings,
    })
}

/// The trials grouped by size (in run order), and a warning per trial that did not end ok.
fn trials_by_size(t: &TuneSpec, runs: &[GridRun], results: &[RunResult]) -> (Vec<TunedSize>, Vec<String>) {
    let mut sizes: Vec<TunedSize> = Vec::new();
    let mut warnings = Vec::new();
    for (r, res) in runs.iter().zip(results) {
        let m = &r.spec.model;
        let label = r.axes.iter().filter(|(k, _)| ["n_embd", "n_layer", "n_head"].contains(&k.as_str()));
        let label = label.map(|(_, v)| v.clone()).collect::<Vec<_>>().join("x");
        let axes: BTreeMap<String, String> = r
            .axes
            .iter()
            .filter(|(k, _)| t.axes.iter().any(|(a, _)| a == k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let trial = Trial {
            id: r.spec.id(),
            learning_rate: r.spec.learning_rate,
            axes,
            status: res.status.as_str().to_string(),
            final_val_loss: if res.status == RunStatus::Ok { res.final_val_loss } else { None },
        };
        if trial.final_val_loss.is_none() {
            warnings.push(format!(
                "tuning run {} ({label}, lr {:.3e}) {}",
                trial.id, trial.learning_rate, trial.status
            ));
        }
        match sizes.iter_mut().find(|s| s.shape == label) {
            Some(s) => s.trials.push(trial),
            None => sizes.push(TunedSize {
                shape: label,
                n_embd: m.n_embd,
                n_layer: m.n_layer,
                params_total: count::params_total(m),
                best: trial.clone(),
                trials: vec![trial],
                vertex: None,
            }),
        }
    }
    (sizes, warnings)
}

/// Sets a size's best trial (and vertex); warns when the best is at the edge of the
/// candidates. An error when every trial diverged or failed.
fn pick_best(cfg: &LoadedConfig, t: &TuneSpec, s: &mut TunedSize, warnings: &mut Vec<String>) -> Result<()> {
    let f = cfg.path.display().to_string();
    let best = s
        .trials
        .iter()
        .filter(|x| x.final_val_loss.is_some())
        .min_by(|a, b| a.final_val_loss.unwrap().total_cmp(&b.final_val_loss.unwrap()));
    let Some(best) = best.cloned() else {
        input_bail!(
            "{f}: [tune] every tuning run of {} diverged or failed (see {}); fix: lower the learning rates \
             in [tune]",
            s.shape,
            tune_store(cfg).root.display()
        )
    };
    let same: Vec<f64> = s.trials.iter().filter(|x| x.axes == best.axes).map(|x| x.learning_rate).collect();
    let (lo, hi) = same.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    if same.len() > 1 && (best.learning_rate == lo || best.learning_rate == hi) {
        warnings.push(format!(
            "{}: the best learning rate {:.3e} is the {} candidate: the optimum may lie outside; fix: \
             extend [tune] {}",
            s.shape,
            best.learning_rate,
            if best.learning_rate == lo { "lowest" } else { "highest" },
            match t.lr {
                Candidates::Factors(_) => "lr_factors",
                Candidates::Absolute(_) => "learning_rate",
            }
        ));
    }
    if t.optimum == Optimum::Parabola {
        let pts: Vec<(f64, f64)> = s
            .trials
            .iter()
            .filter(|x| x.axes == best.axes)
            .filter_map(|x| x.final_val_loss.map(|l| (x.learning_rate, l)))
            .collect();
        s.vertex = parabola_vertex(&pts);
    }
    s.best = best;
    Ok(())
}

/// Writes `RESULTS/tune.json` when it is missing or differs (atomically).
pub fn write_choice(cfg: &LoadedConfig, c: &TuneChoice) -> Result<()> {
    let path = choice_path(cfg);
    let same = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<TuneChoice>(&t).ok())
        .is_some_and(|old| &old == c);
    if !same {
        write_json_atomic(&path, c)?;
    }
    Ok(())
}
