//! The tuning runs: tuned shapes (grid order) × tuning budgets × other tuned axes × learning
//! rates, each at its `[tune] tokens` budget with `lr_rule = "none"` and its absolute learning
//! rate. With `lr_factors` the candidates are multiples of the LR the `[train]` rule gives the
//! size (its own run at the tuning budget, resolved first), so every budget of a size tries the
//! same LRs and, under WSD, a size's shorter tuning runs branch off its longest.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::spec::{parse, Apply, Candidates, TuneSpec};
use crate::config::LoadedConfig;
use crate::error::input_err;
use crate::input_bail;
use crate::model::count;
use crate::sweep::axes::{cartesian, labels, shapes_of, Shape};
use crate::sweep::cell::{Cells, GridRun, Layer, Origin};

/// The tuning runs of a config's `[tune]` (an input error without one).
pub fn expand_tune(cfg: &LoadedConfig) -> Result<Vec<GridRun>> {
    let f = cfg.path.display().to_string();
    let Some(t) = parse(cfg)? else {
        input_bail!("{f} has no [tune] section; fix: add one (README, \"Tuning the learning rate per size\")")
    };
    tune_runs(cfg, &t)
}

/// The tuning runs of `t` (see the module doc).
pub fn tune_runs(cfg: &LoadedConfig, t: &TuneSpec) -> Result<Vec<GridRun>> {
    let mut cells = Cells::new(cfg)?;
    let shapes = tuned_shapes(cfg, t, &cells.f)?;
    let combos = cartesian(&t.axes);
    let mut runs = Vec::new();
    for (shape, &tokens) in shapes.iter().flat_map(|s| t.budgets.iter().map(move |d| (s, d))) {
        for combo in &combos {
            let base =
                [Layer::Shape(shape), Layer::Keys(combo, Origin::Axis("[tune]")), Layer::Tokens(tokens)];
            let lrs: Vec<f64> = match &t.lr {
                Candidates::Absolute(v) => v.clone(),
                Candidates::Factors(fs) => {
                    let raw = cells.config(&base)?;
                    let rule_lr = cells.resolve(&raw, None)?.learning_rate;
                    fs.iter().map(|x| x * rule_lr).collect()
                }
            };
            for lr in lrs {
                let raw = cells.config(&[base[0], base[1], base[2], Layer::PeakLr(lr)])?;
                let spec = cells.resolve(&raw, None).map_err(|e| {
                    e.context(input_err(format!(
                        "tuning run {} lr={lr:.4e} is impossible; fix: change [tune]",
                        shape.label()
                    )))
                })?;
                let mut axes = shape.axes();
                if t.law {
                    axes.push(("tokens".into(), format!("{tokens}")));
                }
                axes.extend(labels(combo));
                axes.push(("learning_rate".into(), format!("{lr:.4e}")));
                runs.push(GridRun { index: runs.len(), axes, spec });
            }
        }
    }
    check_law_design(&cells.f, t, &runs)?;
    Ok(runs)
}

/// With several budgets, each must stay distinct after rounding to whole steps; with
/// `apply = "law"`, at least two tuned sizes must differ in N (else the exponent on N is not
/// identified and the law could not tell sizes apart).
fn check_law_design(f: &str, t: &TuneSpec, runs: &[GridRun]) -> Result<()> {
    let mut by_cell: BTreeMap<Vec<(String, String)>, BTreeSet<u64>> = BTreeMap::new();
    for r in runs {
        let cell = r.axes.iter().filter(|(k, _)| k != "tokens" && k != "learning_rate").cloned().collect();
        by_cell.entry(cell).or_default().insert(r.spec.tokens);
    }
    if by_cell.values().any(|d| d.len() < t.budgets.len()) {
        input_bail!(
            "{f}: [tune] tokens {:?} round to fewer distinct budgets (whole steps of batch_size × block_size \
             tokens); fix: space the budgets further apart",
            t.budgets
        );
    }
    let sizes: BTreeSet<u64> = runs.iter().map(|r| count::params_total(&r.spec.model)).collect();
    if t.apply == Apply::Law && sizes.len() < 2 {
        input_bail!(
            "{f}: [tune] apply = \"law\" needs at least two tuned sizes with different N (the law's exponent on \
             N); fix: tune two or more shapes ([tune] shapes), or use apply = \"best\""
        );
    }
    Ok(())
}

/// The grid shapes `[tune] shapes` names (all of them without it), in grid order.
fn tuned_shapes(cfg: &LoadedConfig, t: &TuneSpec, f: &str) -> Result<Vec<Shape>> {
    let all = shapes_of(cfg)?;
    if let Some(want) = &t.shapes {
        for w in want {
            if !all.iter().any(|s| &s.label() == w) {
                let have: Vec<String> = all.iter().map(Shape::label).collect();
                input_bail!(
                    "{f}: [tune] shapes entry \"{w}\" is not a grid shape; fix: use one of {}",
                    have.join(", ")
                );
            }
        }
    }
    Ok(all.into_iter().filter(|s| t.shapes.as_ref().is_none_or(|w| w.contains(&s.label()))).collect())
}
