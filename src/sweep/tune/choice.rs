//! The tuning's outcome: every trial, the best learning rate of each tuned size (and budget),
//! the rule fitted through them and, with several budgets, the law ([`TuneChoice`],
//! `RESULTS/tune.json`), a pure function of the tuning runs' results, so every sweep child and
//! Slurm task recomputes the same choice.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::rule::{parabola_vertex, LrRule};
use super::spec::{Apply, Candidates, Optimum, TuneSpec};
use crate::config::LoadedConfig;
use crate::error::input_err;
use crate::fit::laws::hyper::{HyperLaw, Optimum as LawOptimum};
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
    /// With `tokens` a list: the tuning budget of these trials, as given (one entry per size
    /// and budget then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
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
    /// Training tokens of each tuning run (with several budgets: of the longest, the one
    /// `best` and the rule use).
    pub tokens: u64,
    /// With `tokens` a list: every tuning budget, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<u64>,
    /// Best, rule or law.
    pub apply: Apply,
    /// Tuned sizes, in grid order (with several budgets: each size at each budget).
    pub sizes: Vec<TunedSize>,
    /// The fitted LR-vs-width rule (through the sizes at the longest budget).
    pub rule: LrRule,
    /// With `tokens` a list: the law η* = c·N^p·D^q through every optimum (`tune::law`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub law: Option<HyperLaw>,
    /// Best values at the edge of the candidates, failed trials.
    pub warnings: Vec<String>,
}

impl TuneChoice {
    /// The sizes the `best` choice and the rule use: those at the longest budget.
    pub fn primary(&self) -> impl Iterator<Item = &TunedSize> {
        let longest = self.budgets.iter().copied().max();
        self.sizes.iter().filter(move |s| s.tokens.is_none() || s.tokens == longest)
    }
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
    let budgets: Vec<u64> = if t.law { t.budgets.iter().map(|d| d.round() as u64).collect() } else { vec![] };
    let longest = budgets.iter().copied().max();
    let at_longest = |s: &TunedSize| s.tokens.is_none() || s.tokens == longest;
    let optima: Vec<(usize, f64)> =
        sizes.iter().filter(|s| at_longest(s)).map(|s| (s.n_embd, s.lr())).collect();
    let base_width = cfg.raw.train.lr_base_width.max(1) as usize;
    let law = fit_law(cfg, t, &sizes, runs)?;
    let tokens = runs.iter().find(|r| budget_of(t, r).is_none() || budget_of(t, r) == longest);
    Ok(TuneChoice {
        tokens: tokens.map(|r| r.spec.tokens).unwrap_or(0),
        budgets,
        apply: t.apply,
        sizes,
        rule: LrRule::fit(&optima, base_width, &cfg.raw.train.lr_rule),
        law,
        warnings,
    })
}

/// The law through every (size, budget) optimum of `sizes`, when `[tune] tokens` is a list.
/// An error when `apply = "law"` and its exponents are not both identified.
fn fit_law(
    cfg: &LoadedConfig,
    t: &TuneSpec,
    sizes: &[TunedSize],
    runs: &[GridRun],
) -> Result<Option<HyperLaw>> {
    if !t.law {
        return Ok(None);
    }
    let by_id: HashMap<String, &GridRun> = runs.iter().map(|r| (r.spec.id(), r)).collect();
    let tunes_batch = t.axes.iter().any(|(k, _)| k.rsplit('.').next() == Some("batch_size"));
    let optima = sizes
        .iter()
        .filter_map(|s| {
            let run = by_id.get(&s.best.id)?;
            Some(LawOptimum {
                shape: s.shape.clone(),
                n: s.params_total,
                d: run.spec.tokens,
                lr: s.lr(),
                batch_tokens: tunes_batch.then_some((run.spec.batch_size * run.spec.model.block_size) as u64),
            })
        })
        .collect();
    let law = HyperLaw::fit(optima);
    if t.apply == Apply::Law && law.as_ref().is_none_or(|l| l.lr.p.is_none() || l.lr.q.is_none()) {
        input_bail!(
            "{}: [tune] apply = \"law\": the law's exponents on N and D are not both determined by the optima \
             (see {}); fix: tune at least two sizes at two budgets, or use apply = \"rule\"",
            cfg.path.display(),
            crate::sweep::store::choice_path(cfg).display()
        );
    }
    Ok(law)
}

/// A tuning run's budget as `[tune] tokens` gave it (its `tokens` label), with a list.
fn budget_of(t: &TuneSpec, r: &GridRun) -> Option<u64> {
    let label = r.axes.iter().find(|(k, _)| k == "tokens").filter(|_| t.law)?;
    label.1.parse::<f64>().ok().map(|d| d.round() as u64)
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
        let tokens = budget_of(t, r);
        match sizes.iter_mut().find(|s| s.shape == label && s.tokens == tokens) {
            Some(s) => s.trials.push(trial),
            None => sizes.push(TunedSize {
                shape: label,
                n_embd: m.n_embd,
                n_layer: m.n_layer,
                params_total: count::params_total(m),
                tokens,
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
            s.tokens.map(|d| format!("{} at {d} tokens", s.shape)).unwrap_or_else(|| s.shape.clone()),
            tune_store(cfg).root.display()
        )
    };
    let same: Vec<f64> = s.trials.iter().filter(|x| x.axes == best.axes).map(|x| x.learning_rate).collect();
    let (lo, hi) = same.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    if same.len() > 1 && (best.learning_rate == lo || best.learning_rate == hi) {
        warnings.push(format!(
            "{}: the best learning rate {:.3e} is the {} candidate: the optimum may lie outside; fix: \
             extend [tune] {}",
            s.tokens.map(|d| format!("{} at {d} tokens", s.shape)).unwrap_or_else(|| s.shape.clone()),
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
