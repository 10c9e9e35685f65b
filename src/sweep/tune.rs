//! `[tune]`: per-size learning-rate tuning as the first phase of a sweep (issue 8).
//!
//! Why: at toy scale the best learning rate falls with width (≈ n_embd^-0.58 on real text
//! here, `../shared/TOYSCALE.md`), and a fixed rule that is off by a few percent under-trains
//! the larger models by ~2% in loss — as large as the effects a scaling fit is after. So a
//! sweep can first train a few learning rates per size at one token budget, keep the best one
//! per size, and use it in the main grid:
//!
//! ```toml
//! [tune]
//! tokens = 5e5                   # budget of every tuning run
//! lr_factors = [0.5, 1, 2]       # multiples of the [train] rule's LR at each size, or
//! # learning_rate = [2e-3, 4e-3, 8e-3]   # absolute candidates
//! shapes = ["32x1", "64x2"]      # optional: sizes to tune (default: every grid shape)
//! apply = "best"                 # "best": tuned sizes use their best LR, others the rule;
//!                                # "rule": every size uses the fitted rule
//! optimum = "trial"              # "trial": a size's best LR is its lowest-loss trial;
//!                                # "parabola": the vertex of a quadratic in ln lr
//! beta2 = [0.95, 0.99]           # optional: any other [train]/[model] key, tuned jointly
//! ```
//!
//! The tuning runs live in `RESULTS/tune/` (a results folder of their own, so fits never see
//! them); their outcome — every trial, the best per size and the fitted rule — is written to
//! `RESULTS/tune.json` and each main-grid run records where its values came from
//! (`RunSpec::tuned`). The choice is a pure function of the tuning results, so every sweep
//! child and Slurm task recomputes the same grid.
//!
//! `optimum = "parabola"` fits loss = c₀ + c₁·x + c₂·x², x = ln lr, to each size's trials
//! (≥ 3 learning rates) and takes the vertex x* = −c₁/(2c₂), clamped to the LRs tried; with
//! c₂ ≤ 0 (no minimum inside) it falls back to the best trial. Near the optimum the loss is
//! flat to within seed noise, so the best trial is often a coin flip between neighbours, and a
//! high-side winner can sit at the stability edge, where other seeds and budgets spike; the
//! vertex uses every trial and leans away from the steep (unstable) side.
//!
//! The LR-vs-size rule is a least-squares line in log–log coordinates through the best LR of
//! each tuned size: ln lr = ln c + k·ln(n_embd / lr_base_width), i.e. lr(w) = c·(w/w₀)^k. With
//! a single tuned width the slope k comes from `[train] lr_rule` (0, −½ or −1) instead. Rule
//! values are rounded to 4 significant digits, so a run's spec (and id) cannot depend on the
//! last bit of a libm `exp` on another node.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::grid::{cartesian, list_of, shape_label, shapes_of, GridRun};
use crate::config::spec::{corpus_spec, parse_value, resolve_run, set_key, typed};
use crate::config::LoadedConfig;
use crate::error::input_err;
use crate::input_bail;
use crate::model::count;
use crate::results::{write_json_atomic, ResultsDir, RunResult, RunStatus};

/// Keys of `[tune]` that are not tuned axes.
const CONTROL: [&str; 6] = ["tokens", "learning_rate", "lr_factors", "shapes", "apply", "optimum"];

/// The learning rates tried at each size.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidates {
    /// Multiples of the LR the `[train]` rule gives at that size.
    Factors(Vec<f64>),
    /// The same absolute LRs at every size.
    Absolute(Vec<f64>),
}

/// Which value the main grid uses for a tuned size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Apply {
    /// Its own best trial (the rule only for sizes not tuned).
    Best,
    /// The fitted rule at every size (smooths the jagged per-size optimum).
    Rule,
}

/// How a tuned size's best learning rate is read off its trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimum {
    /// The trial with the lowest final validation loss.
    Trial,
    /// The vertex of a quadratic in ln lr through the trials (module docs).
    Parabola,
}

/// A parsed `[tune]` section.
#[derive(Debug, Clone)]
pub struct TuneSpec {
    /// Training tokens of every tuning run.
    pub tokens: f64,
    /// Learning-rate candidates.
    pub lr: Candidates,
    /// Shape labels to tune (None: all grid shapes).
    pub shapes: Option<Vec<String>>,
    /// Best or rule.
    pub apply: Apply,
    /// Best trial or parabola vertex.
    pub optimum: Optimum,
    /// Other tuned keys and their values (sorted by key).
    pub axes: Vec<(String, Vec<toml::Value>)>,
}

impl TuneSpec {
    /// Whether `key` (bare or dotted) is set by the tuning, so a grid axis may not also set it.
    pub fn tunes(&self, key: &str) -> bool {
        let bare = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
        let key = bare(key);
        key == "learning_rate" || key == "lr_rule" || self.axes.iter().any(|(k, _)| bare(k) == key)
    }
}

/// Parses `[tune]` (None when the config has none).
pub fn parse(cfg: &LoadedConfig) -> Result<Option<TuneSpec>> {
    let Some(t) = &cfg.raw.tune else { return Ok(None) };
    let f = cfg.path.display().to_string();
    let num = |k: &str, v: &toml::Value| -> Result<f64> {
        match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(input_err(format!("{f}: [tune] {k} value {v} must be a positive number"))),
        }
    };
    let tokens = match t.get("tokens") {
        Some(v) => num("tokens", v)?,
        None => {
            input_bail!("{f}: [tune] needs `tokens`, the budget of each tuning run; fix: e.g. tokens = 5e5")
        }
    };
    let nums = |k: &str| -> Result<Option<Vec<f64>>> {
        t.get(k).map(|v| list_of(&f, "tune", k, v)?.iter().map(|x| num(k, x)).collect()).transpose()
    };
    // Any other key is a tuned config key: an unknown one (a typo of a control key included) is
    // named first, before what it may have been meant to be is reported missing.
    for (k, v) in t.iter().filter(|(k, _)| !CONTROL.contains(&k.as_str())) {
        crate::config::spec::set_key(&mut cfg.table.clone(), k, v.clone(), &format!("{f}: [tune]"))?;
    }
    let lr = match (nums("learning_rate")?, nums("lr_factors")?) {
        (Some(_), Some(_)) => {
            input_bail!("{f}: [tune] has both learning_rate and lr_factors; fix: keep one of them")
        }
        (Some(v), None) => Candidates::Absolute(v),
        (None, Some(v)) => Candidates::Factors(v),
        (None, None) => input_bail!(
            "{f}: [tune] needs learning-rate candidates; fix: add lr_factors = [0.5, 1, 2] (multiples of the \
             [train] rule's LR) or learning_rate = [..] (absolute)"
        ),
    };
    let shapes = match t.get("shapes") {
        None => None,
        Some(v) => Some(
            list_of(&f, "tune", "shapes", v)?
                .iter()
                .map(|s| s.as_str().map(str::to_string).unwrap_or_else(|| s.to_string()))
                .collect(),
        ),
    };
    let apply = match t.get("apply").map(|v| v.as_str()) {
        None | Some(Some("best")) => Apply::Best,
        Some(Some("rule")) => Apply::Rule,
        Some(_) => input_bail!("{f}: [tune] apply must be \"best\" or \"rule\""),
    };
    let optimum = match t.get("optimum").map(|v| v.as_str()) {
        None | Some(Some("trial")) => Optimum::Trial,
        Some(Some("parabola")) => Optimum::Parabola,
        Some(_) => input_bail!("{f}: [tune] optimum must be \"trial\" or \"parabola\""),
    };
    let mut axes = Vec::new();
    for (k, v) in t {
        if CONTROL.contains(&k.as_str()) {
            continue;
        }
        let bare = k.rsplit('.').next().unwrap_or(k);
        if ["n_embd", "n_layer", "n_head", "tokens", "lr_rule", "tokens_per_param", "flops"].contains(&bare) {
            input_bail!(
                "{f}: [tune] {k} cannot be tuned (it sets the size, budget or LR rule); fix: remove it from [tune]"
            );
        }
        axes.push((k.clone(), list_of(&f, "tune", k, v)?));
    }
    axes.sort_by(|a, b| a.0.cmp(&b.0));
    let lr_count = match &lr {
        Candidates::Factors(v) | Candidates::Absolute(v) => v.len(),
    };
    if lr_count * axes.iter().map(|a| a.1.len()).product::<usize>() < 2 {
        input_bail!("{f}: [tune] tries only one setting per size; fix: give at least two learning rates");
    }
    Ok(Some(TuneSpec { tokens, lr, shapes, apply, optimum, axes }))
}

/// The results folder of the tuning runs: `RESULTS/tune`.
pub fn tune_store(cfg: &LoadedConfig) -> ResultsDir {
    ResultsDir::new(super::runner::store_of(cfg).root.join("tune"))
}

/// Where the tuning outcome is written: `RESULTS/tune.json`.
pub fn choice_path(cfg: &LoadedConfig) -> std::path::PathBuf {
    super::runner::store_of(cfg).root.join("tune.json")
}

/// The tuning runs: tuned shapes (grid order) × other tuned axes × learning rates, each with
/// `tokens` = `[tune] tokens`, `lr_rule` = "none" and its absolute learning rate.
pub fn expand_tune(cfg: &LoadedConfig) -> Result<Vec<GridRun>> {
    let f = cfg.path.display().to_string();
    let Some(t) = parse(cfg)? else {
        input_bail!("{f} has no [tune] section; fix: add one (README, \"Tuning the learning rate per size\")")
    };
    let meta = crate::corpus::meta(&corpus_spec(&cfg.raw, &cfg.path)?)?;
    let all = shapes_of(cfg)?;
    if let Some(want) = &t.shapes {
        for w in want {
            if !all.iter().any(|s| &shape_label(s) == w) {
                let have: Vec<String> = all.iter().map(|s| shape_label(s)).collect();
                input_bail!(
                    "{f}: [tune] shapes entry \"{w}\" is not a grid shape; fix: use one of {}",
                    have.join(", ")
                );
            }
        }
    }
    let shapes: Vec<_> =
        all.into_iter().filter(|s| t.shapes.as_ref().is_none_or(|w| w.contains(&shape_label(s)))).collect();
    let combos = cartesian(&t.axes);
    let mut runs = Vec::new();
    for shape in &shapes {
        for combo in &combos {
            let lrs: Vec<f64> = match &t.lr {
                Candidates::Absolute(v) => v.clone(),
                Candidates::Factors(fs) => {
                    let mut table = base_table(cfg, shape, combo, t.tokens, &f)?;
                    table.remove("tune");
                    let rule_lr = resolve_run(&typed(&table, &cfg.path)?, &cfg.path, &meta)?.learning_rate;
                    fs.iter().map(|x| x * rule_lr).collect()
                }
            };
            for lr in lrs {
                let mut table = base_table(cfg, shape, combo, t.tokens, &f)?;
                set_key(&mut table, "train.learning_rate", toml::Value::Float(lr), &format!("{f}: [tune]"))?;
                set_key(
                    &mut table,
                    "train.lr_rule",
                    toml::Value::String("none".into()),
                    &format!("{f}: [tune]"),
                )?;
                let spec = resolve_run(&typed(&table, &cfg.path)?, &cfg.path, &meta).map_err(|e| {
                    e.context(input_err(format!(
                        "tuning run {} lr={lr:.4e} is impossible; fix: change [tune]",
                        shape_label(shape)
                    )))
                })?;
                let mut axes: Vec<(String, String)> =
                    shape.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
                axes.extend(combo.iter().map(|(k, v)| (k.clone(), v.to_string())));
                axes.push(("learning_rate".into(), format!("{lr:.4e}")));
                runs.push(GridRun { index: runs.len(), axes, spec });
            }
        }
    }
    Ok(runs)
}

/// The config table of one tuning run before its learning rate is set.
fn base_table(
    cfg: &LoadedConfig,
    shape: &[(String, toml::Value)],
    combo: &[(String, toml::Value)],
    tokens: f64,
    f: &str,
) -> Result<toml::Table> {
    let mut table = cfg.table.clone();
    table.remove("grid");
    table.remove("tune");
    for (k, v) in shape.iter().chain(combo.iter()) {
        set_key(&mut table, k, v.clone(), &format!("{f}: [tune] {k}"))?;
    }
    set_key(&mut table, "train.tokens", toml::Value::Float(tokens), &format!("{f}: [tune] tokens"))?;
    Ok(table)
}

/// How many tuning runs have a result, of how many.
pub fn progress(cfg: &LoadedConfig) -> Result<(usize, usize)> {
    let runs = expand_tune(cfg)?;
    let store = tune_store(cfg);
    Ok((runs.iter().filter(|r| store.run_path(&r.spec.id()).exists()).count(), runs.len()))
}

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

/// The vertex of the least-squares quadratic loss = c₀ + c₁·x + c₂·x² in x = ln lr
/// ([`crate::fit::stats::quadratic`]), clamped to the range tried; `None` with fewer than 3
/// distinct LRs or no interior minimum (c₂ ≤ 0).
pub fn parabola_vertex(points: &[(f64, f64)]) -> Option<f64> {
    let xs: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let mut distinct = xs.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 3 {
        return None;
    }
    let [_, c1, c2] = crate::fit::stats::quadratic(&xs, &ys)?;
    if c2 <= 0.0 || !c1.is_finite() || !c2.is_finite() {
        return None;
    }
    let x = (-c1 / (2.0 * c2)).clamp(distinct[0], distinct[distinct.len() - 1]);
    Some(round_sig(x.exp(), 4))
}

/// The fitted learning-rate rule lr(w) = c·(w / base_width)^exponent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrRule {
    /// LR at `base_width`.
    pub c: f64,
    /// Exponent k on n_embd.
    pub exponent: f64,
    /// The reference width w₀ (`[train] lr_base_width`).
    pub base_width: usize,
    /// True when k was fitted (≥ 2 tuned widths); false when it came from `[train] lr_rule`.
    pub exponent_fitted: bool,
}

impl LrRule {
    /// The rule's LR at width `w`, rounded to 4 significant digits.
    pub fn at(&self, w: usize) -> f64 {
        round_sig(self.c * (w as f64 / self.base_width as f64).powf(self.exponent), 4)
    }

    /// "lr = 3.500e-3·(n_embd/64)^-0.580".
    pub fn describe(&self) -> String {
        format!(
            "lr = {:.3e}·(n_embd/{})^{:.3}{}",
            self.c,
            self.base_width,
            self.exponent,
            if self.exponent_fitted { "" } else { " (exponent from [train] lr_rule)" }
        )
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

/// `x` rounded to `digits` significant digits.
fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let p = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * p).round() / p
}

/// The tuning outcome from the results in `RESULTS/tune/`; None while any tuning run has no
/// result yet. An error when every trial of a size diverged or failed.
pub fn load_choice(cfg: &LoadedConfig, t: &TuneSpec) -> Result<Option<TuneChoice>> {
    let runs = expand_tune(cfg)?;
    let store = tune_store(cfg);
    let mut results = Vec::with_capacity(runs.len());
    for r in &runs {
        match std::fs::read_to_string(store.run_path(&r.spec.id())) {
            Ok(text) => results.push(serde_json::from_str::<RunResult>(&text).map_err(|e| {
                input_err(format!("{}: not a run result ({e})", store.run_path(&r.spec.id()).display()))
            })?),
            Err(_) => return Ok(None),
        }
    }
    choose(cfg, t, &runs, &results).map(Some)
}

/// Picks the best trial per size and fits the rule (see the module doc).
pub fn choose(
    cfg: &LoadedConfig,
    t: &TuneSpec,
    runs: &[GridRun],
    results: &[RunResult],
) -> Result<TuneChoice> {
    let f = cfg.path.display().to_string();
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
    for s in &mut sizes {
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
        let same: Vec<f64> =
            s.trials.iter().filter(|x| x.axes == best.axes).map(|x| x.learning_rate).collect();
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
    }
    let base_width = cfg.raw.train.lr_base_width.max(1) as usize;
    let pts: Vec<(f64, f64)> =
        sizes.iter().map(|s| ((s.n_embd as f64 / base_width as f64).ln(), s.lr().ln())).collect();
    let n = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let (exponent, fitted) = if sxx > 1e-12 {
        (pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx, true)
    } else {
        let k = match cfg.raw.train.lr_rule.as_str() {
            "sqrt" => -0.5,
            "inverse" => -1.0,
            _ => 0.0,
        };
        (k, false)
    };
    let rule = LrRule { c: (my - exponent * mx).exp(), exponent, base_width, exponent_fitted: fitted };
    Ok(TuneChoice {
        tokens: runs.first().map(|r| r.spec.tokens).unwrap_or(0),
        apply: t.apply,
        sizes,
        rule,
        warnings,
    })
}

impl TuneChoice {
    /// Sets this shape's tuned values in a run's config table; returns the provenance recorded
    /// in the run's spec.
    pub fn apply(&self, table: &mut toml::Table, shape: &[(String, toml::Value)], f: &str) -> Result<String> {
        let label = shape_label(shape);
        let width =
            shape.iter().find(|(k, _)| k == "n_embd").and_then(|(_, v)| v.as_integer()).unwrap_or(1).max(1)
                as usize;
        let own = self.sizes.iter().find(|s| s.shape == label);
        // Other tuned keys: this size's best, else those of the nearest tuned width.
        let nearest = own.or_else(|| {
            self.sizes.iter().min_by(|a, b| {
                let d = |s: &TunedSize| (s.n_embd as f64 / width as f64).ln().abs();
                d(a).total_cmp(&d(b))
            })
        });
        let (lr, source) = match (own, self.apply) {
            (Some(s), Apply::Best) => (
                s.lr(),
                match s.vertex {
                    Some(_) => format!(
                        "tune: parabola vertex of {} trials at {} tokens ({label})",
                        s.trials.len(),
                        self.tokens
                    ),
                    None => {
                        format!("tune: best of {} trials at {} tokens ({label})", s.trials.len(), self.tokens)
                    }
                },
            ),
            (own, _) => (
                self.rule.at(width),
                format!(
                    "tune rule{}: {}",
                    if own.is_some() { "" } else { " (size not tuned)" },
                    self.rule.describe()
                ),
            ),
        };
        let origin = format!("{f}: [tune]");
        set_key(table, "train.learning_rate", toml::Value::Float(lr), &origin)?;
        set_key(table, "train.lr_rule", toml::Value::String("none".into()), &origin)?;
        if let Some(s) = nearest {
            for (k, v) in &s.best.axes {
                set_key(table, k, parse_value(v), &origin)?;
            }
        }
        Ok(source)
    }

    /// Human summary lines (sweep and plan output, report).
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sizes {
            let tried: Vec<String> = s
                .trials
                .iter()
                .map(|x| {
                    let extra: Vec<String> = x.axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let extra =
                        if extra.is_empty() { String::new() } else { format!(" {}", extra.join(" ")) };
                    match x.final_val_loss {
                        Some(l) => format!("{:.3e}{extra} → {l:.4}", x.learning_rate),
                        None => format!("{:.3e}{extra} → {}", x.learning_rate, x.status),
                    }
                })
                .collect();
            out.push(format!(
                "{:>8} (N {}): best lr {:.3e}{}; tried {}",
                s.shape,
                s.params_total,
                s.best.learning_rate,
                s.vertex.map(|v| format!(", parabola vertex {v:.3e} (used)")).unwrap_or_default(),
                tried.join(", ")
            ));
        }
        out.push(format!(
            "rule: {} ({})",
            self.rule.describe(),
            match self.apply {
                Apply::Best => "used for sizes not tuned",
                Apply::Rule => "used for every size",
            }
        ));
        out
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A grid shape's axes, as `apply` receives them.
    fn shape(n_embd: i64, n_layer: i64) -> Vec<(String, toml::Value)> {
        vec![
            ("n_embd".to_string(), toml::Value::Integer(n_embd)),
            ("n_layer".to_string(), toml::Value::Integer(n_layer)),
        ]
    }

    /// Results whose loss is |ln(lr / truth(width))| + 3: lowest at the true optimum.
    fn results(runs: &[GridRun], truth: impl Fn(usize) -> f64) -> Vec<RunResult> {
        runs.iter()
            .map(|r| {
                let mut res = crate::sweep::executor::failed_result("t", r, String::new());
                res.status = RunStatus::Ok;
                res.final_val_loss =
                    Some(3.0 + (r.spec.learning_rate / truth(r.spec.model.n_embd)).ln().abs());
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
        let mut table = cfg.table.clone();
        let shape = shape(96, 1);
        let src = c.apply(&mut table, &shape, "c.toml").unwrap();
        assert!(src.contains("size not tuned"), "{src}");
        assert_eq!(table["train"]["learning_rate"].as_float().unwrap(), c.rule.at(96));
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
        let mut table = cfg.table.clone();
        let shape = shape(64, 1);
        let src = c.apply(&mut table, &shape, "c.toml").unwrap();
        assert!(src.contains("parabola vertex of 4 trials"), "{src}");
        assert_eq!(table["train"]["learning_rate"].as_float().unwrap(), c.sizes[1].vertex.unwrap());
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
}
