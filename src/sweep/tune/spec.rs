//! Parsing `[tune]` into a [`TuneSpec`]: the budget, the learning-rate candidates, the sizes
//! to tune, how the choice is applied and read off, and any other tuned keys.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::load::set_key;
use crate::config::LoadedConfig;
use crate::input_bail;
use crate::sweep::axes::{list_of, positive, positives, Axis};

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
    /// The fitted law η*(N, D) at every run (needs several tuning budgets; `tune::law`).
    Law,
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
    /// Training tokens of the tuning runs: the longest budget (the one `best` and `rule` use).
    pub tokens: f64,
    /// Every tuning budget, as given (one unless `tokens` is a list).
    pub budgets: Vec<f64>,
    /// `tokens` is a list: fit the law η* = c·N^p·D^q through the optima (`tune::law`).
    pub law: bool,
    /// Learning-rate candidates.
    pub lr: Candidates,
    /// Shape labels to tune (None: all grid shapes).
    pub shapes: Option<Vec<String>>,
    /// Best or rule.
    pub apply: Apply,
    /// Best trial or parabola vertex.
    pub optimum: Optimum,
    /// Other tuned keys and their values (sorted by key).
    pub axes: Vec<Axis>,
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
    let (budgets, law) = budgets(&f, t.get("tokens"))?;
    let tokens = budgets.iter().copied().fold(0.0, f64::max);
    let nums =
        |k: &str| -> Result<Option<Vec<f64>>> { t.get(k).map(|v| positives(&f, "tune", k, v)).transpose() };
    // Any other key is a tuned config key: an unknown one (a typo of a control key included) is
    // named first, before what it may have been meant to be is reported missing.
    for (k, v) in t.iter().filter(|(k, _)| !CONTROL.contains(&k.as_str())) {
        set_key(&mut cfg.table.clone(), k, v.clone(), &format!("{f}: [tune]"))?;
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
    let apply = apply_of(&f, t.get("apply"), &budgets)?;
    let optimum = match t.get("optimum").map(|v| v.as_str()) {
        None | Some(Some("trial")) => Optimum::Trial,
        Some(Some("parabola")) => Optimum::Parabola,
        Some(_) => input_bail!("{f}: [tune] optimum must be \"trial\" or \"parabola\""),
    };
    let axes = tuned_axes(&f, t)?;
    let lr_count = match &lr {
        Candidates::Factors(v) | Candidates::Absolute(v) => v.len(),
    };
    if lr_count * axes.iter().map(|a| a.1.len()).product::<usize>() < 2 {
        input_bail!("{f}: [tune] tries only one setting per size; fix: give at least two learning rates");
    }
    Ok(Some(TuneSpec { tokens, budgets, law, lr, shapes, apply, optimum, axes }))
}

/// `[tune] apply`: "best" (default), "rule", or "law", which needs several budgets.
fn apply_of(f: &str, v: Option<&toml::Value>, budgets: &[f64]) -> Result<Apply> {
    let tokens = budgets.iter().copied().fold(0.0, f64::max);
    Ok(match v.map(|v| v.as_str()) {
        None | Some(Some("best")) => Apply::Best,
        Some(Some("rule")) => Apply::Rule,
        Some(Some("law")) if budgets.len() < 2 => input_bail!(
            "{f}: [tune] apply = \"law\" needs at least two tuning budgets: with one, the law's exponent on D \
             is not identified and every run would get the one budget's optimum; fix: list the budgets, e.g. \
             tokens = [{:.0e}, {:.0e}], or use apply = \"rule\"",
            tokens / 4.0,
            tokens
        ),
        Some(Some("law")) => Apply::Law,
        Some(_) => input_bail!(
            "{f}: [tune] apply must be \"best\", \"rule\" or \"law\"; fix: use one of them (README, \
             \"Tuning the learning rate per size\")"
        ),
    })
}

/// The tuning budgets of `[tune] tokens`, and whether it is a list (which turns on the law
/// fit). A list must hold distinct positive budgets; one entry fits the law in N only.
fn budgets(f: &str, v: Option<&toml::Value>) -> Result<(Vec<f64>, bool)> {
    match v {
        None => {
            input_bail!("{f}: [tune] needs `tokens`, the budget of each tuning run; fix: e.g. tokens = 5e5")
        }
        Some(v @ toml::Value::Array(_)) => {
            let b = positives(f, "tune", "tokens", v)?;
            for (i, x) in b.iter().enumerate() {
                if b[..i].contains(x) {
                    input_bail!("{f}: [tune] tokens lists {x} twice; fix: give each tuning budget once");
                }
            }
            Ok((b, true))
        }
        Some(v) => Ok((vec![positive(f, "tune", "tokens", v)?], false)),
    }
}

/// The tuned keys other than the learning rate, sorted by key; none may set the size, the
/// budget or the LR rule.
fn tuned_axes(f: &str, t: &toml::Table) -> Result<Vec<Axis>> {
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
        axes.push((k.clone(), list_of(f, "tune", k, v)?));
    }
    axes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(axes)
}
