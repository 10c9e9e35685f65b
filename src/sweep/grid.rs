//! Grid expansion: a config's `[grid]` → one [`RunSpec`] per run, in a fixed order, so run
//! index I means the same run everywhere (local executor, Slurm array task I).
//!
//! ```toml
//! [grid]
//! shapes = ["32x2", "64x2", "96x3"]     # n_embd x n_layer (heads from head_dim), or
//! # n_embd = [32, 64]; n_layer = [2, 4] # a cartesian product of widths and depths
//! tokens = [1e6, 2e6, 4e6]              # absolute D, or
//! # tokens_per_param = [5, 10, 20, 40]  # D = ratio · N (N per `params`, default total), or
//! # flops = [1e13, 3e13]                # IsoFLOP: D = C / (6·N_total)
//! seed = [0, 1]                         # any other [model]/[train]/[corpus] key as an axis
//! skip_invalid = false                  # true: drop impossible combinations (listed on stderr)
//! ```
//!
//! Order: shapes (outer) × token axis × other axes (sorted by key), each in the order given.
//! Each run is one cell (`cell`): its shape, axis values and the `[tune]` choice of its shape
//! set on the config, its budget sized from its model, resolved once.
//!
//! [`RunSpec`]: crate::config::RunSpec

use anyhow::Result;

use super::axes::{cartesian, describe, labels, list_of, positives, shapes_of, Combo, Shape};
use super::cell::{Cells, GridRun, Layer, Origin};
use super::tune::{Apply, TuneChoice, TuneSpec, Tuned, Tuning};
use crate::config::resolve::TokensOf;
use crate::config::spec::ScheduleKind;
use crate::config::{LoadedConfig, RunSpec};
use crate::error::input_err;
use crate::input_bail;
use crate::model::{count, GptConfig};

/// Control keys of `[grid]` that are not axes.
const CONTROL: [&str; 3] = ["skip_invalid", "params", "shapes"];
/// The token-axis keys (at most one, or `tokens` and `flops`).
const TOKEN_AXES: [&str; 3] = ["tokens", "tokens_per_param", "flops"];

/// A cell's token budget, from the token axis.
#[derive(Debug, Clone, Copy)]
enum Budget {
    /// No token axis: `train.tokens`.
    Config,
    /// `tokens`: D itself.
    Tokens(f64),
    /// `tokens_per_param`: D = ratio · N.
    PerParam(f64),
    /// `flops`: D = C / (6·N_total).
    Flops(f64),
}

impl Budget {
    /// The axis key and value, for labels.
    fn axis(self) -> Option<(&'static str, f64)> {
        match self {
            Budget::Config => None,
            Budget::Tokens(d) => Some(("tokens", d)),
            Budget::PerParam(r) => Some(("tokens_per_param", r)),
            Budget::Flops(c) => Some(("flops", c)),
        }
    }

    /// D from the model, for the axes that size it by N (None: D is `train.tokens`).
    fn sizer(self, nonembedding: bool) -> Option<Box<TokensOf>> {
        let n = move |m: &GptConfig| {
            if nonembedding {
                count::params_nonembedding(m)
            } else {
                count::params_total(m)
            }
        };
        match self {
            Budget::PerParam(x) => Some(Box::new(move |m| x * n(m) as f64)),
            Budget::Flops(x) => Some(Box::new(move |m| x / (6.0 * count::params_total(m) as f64))),
            Budget::Config | Budget::Tokens(_) => None,
        }
    }
}

/// A parsed `[grid]`.
struct GridSpec {
    /// Drop impossible cells instead of failing.
    skip_invalid: bool,
    /// `params = "nonembedding"`: `tokens_per_param` counts non-embedding parameters.
    nonembedding: bool,
    /// Model shapes (outer loop).
    shapes: Vec<Shape>,
    /// Token-axis cells, `tokens` first.
    budgets: Vec<Budget>,
    /// With `tokens` and `flops`: the tokens range an IsoFLOP cell must fall in.
    d_range: Option<(f64, f64)>,
    /// Combinations of the other axes (sorted by key).
    combos: Vec<Combo>,
}

/// Runs of a config: its grid expanded, or the single run of a config without `[grid]`.
/// Impossible combinations are errors naming them, unless `skip_invalid = true`.
pub fn expand(cfg: &LoadedConfig) -> Result<Vec<GridRun>> {
    Ok(expand_with(cfg, false)?.0)
}

/// [`expand`], with the `[tune]` choice applied per shape (learning rate and any other tuned
/// keys). When `provisional` is true and the tuning has not finished, the grid is expanded with
/// the `[train]` values instead and the flag returned is false (for `plan` and `status`);
/// otherwise an unfinished tuning is an input error saying how to run it.
pub fn expand_with(cfg: &LoadedConfig, provisional: bool) -> Result<(Vec<GridRun>, bool)> {
    let (tuning, runs) = expand_sweep(cfg, provisional)?;
    Ok((runs, tuning.is_some_and(|t| t.choice.is_some())))
}

/// Both phases of a config's sweep: its `[tune]` phase (runs, results folder, choice) and the
/// main grid, as [`expand_with`] builds it.
pub fn expand_sweep(cfg: &LoadedConfig, provisional: bool) -> Result<(Option<Tuning>, Vec<GridRun>)> {
    let cells = Cells::new(cfg)?;
    let tuning = Tuning::load(cfg)?;
    let runs = expand_cells(cfg, cells, tuning.as_ref(), provisional)?;
    Ok((tuning, runs))
}

/// The main grid with a finished tuning's choice (`sweep`, after its tuning phase).
pub fn expand_tuned(cfg: &LoadedConfig, tuning: Option<&Tuning>) -> Result<Vec<GridRun>> {
    expand_cells(cfg, Cells::new(cfg)?, tuning, false)
}

fn expand_cells(
    cfg: &LoadedConfig,
    mut cells: Cells,
    tuning: Option<&Tuning>,
    provisional: bool,
) -> Result<Vec<GridRun>> {
    let choice = match tuning {
        None => None,
        Some(t) => match &t.choice {
            Some(c) => Some(c),
            None if provisional => None,
            None => return Err(t.unfinished(cfg)),
        },
    };
    let Some(grid) = &cfg.raw.grid else {
        return Ok(vec![GridRun { index: 0, axes: vec![], spec: cells.resolve(&cfg.raw, None)? }]);
    };
    let g = GridSpec::parse(cfg, grid, tuning.map(|t| &t.spec))?;
    let mut out = Expansion::default();
    for shape in &g.shapes {
        let tuned = choice.map(|c| c.for_shape(shape));
        let by_law = match (choice, &tuned) {
            (Some(c), Some(base)) if c.apply == Apply::Law => law_cells(&mut cells, &g, shape, c, base),
            _ => vec![],
        };
        let cell_budgets = g.budgets.iter().flat_map(|b| g.combos.iter().map(move |c| (b, c)));
        for (i, (budget, combo)) in cell_budgets.enumerate() {
            let t = by_law.get(i).cloned().flatten().or_else(|| tuned.clone());
            out.cell(&mut cells, &g, shape, *budget, combo, t.as_ref())?;
        }
    }
    out.finish(&cells.f)
}

/// With `apply = "law"`: each cell of `shape` (budget × combo, in grid order) with the law's
/// learning rate at its N and D, found by resolving the cell once without it; WSD cells all at
/// the shape's longest D, so its branches share one stable phase (`tune::law`). A cell that
/// does not resolve gets None (the rule's LR then, and the same error or skip as without).
fn law_cells(
    cells: &mut Cells,
    g: &GridSpec,
    shape: &Shape,
    c: &TuneChoice,
    base: &Tuned,
) -> Vec<Option<Tuned>> {
    let mut probe = Vec::new();
    for budget in &g.budgets {
        for combo in &g.combos {
            let mut layers = vec![
                Layer::Shape(shape),
                Layer::Keys(combo, Origin::Axis("[grid]")),
                Layer::Keys(&base.keys, Origin::Section("[tune]")),
            ];
            if let Budget::Tokens(d) = budget {
                layers.push(Layer::Tokens(*d));
            }
            let spec = cells
                .config(&layers)
                .ok()
                .and_then(|raw| cells.resolve(&raw, budget.sizer(g.nonembedding).as_deref()).ok());
            let kept = spec
                .filter(|s| !matches!(budget, Budget::Flops(_)) || g.d_range.is_none_or(|r| within(s, r)));
            probe.push(
                kept.map(|s| (count::params_total(&s.model), s.tokens, s.schedule == ScheduleKind::Wsd)),
            );
        }
    }
    let longest = probe.iter().flatten().filter(|x| x.2).map(|x| x.1).max();
    let label = shape.label();
    probe
        .iter()
        .map(|p| {
            let (n, d, wsd) = (*p)?;
            let (d, of) = if wsd { (longest?, Some(label.as_str())) } else { (d, None) };
            c.law_tuned(base, n, d, of)
        })
        .collect()
}

impl GridSpec {
    /// Parses `[grid]`; `tune`: the `[tune]` section, whose keys no axis may also set.
    fn parse(cfg: &LoadedConfig, grid: &toml::Table, tune: Option<&TuneSpec>) -> Result<GridSpec> {
        let f = cfg.path.display().to_string();
        let skip_invalid = match grid.get("skip_invalid") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => input_bail!("{f}: [grid] skip_invalid must be true or false"),
        };
        let nonembedding = match grid.get("params").and_then(|v| v.as_str()) {
            None | Some("total") => false,
            Some("nonembedding") => true,
            Some(o) => input_bail!("{f}: [grid] params = \"{o}\"; fix: use \"total\" or \"nonembedding\""),
        };
        let shapes = shapes_of(cfg)?;
        let (budgets, d_range) = budgets(&f, grid)?;
        let mut others: Vec<(String, Vec<toml::Value>)> = Vec::new();
        for (k, v) in grid {
            if CONTROL.contains(&k.as_str())
                || TOKEN_AXES.contains(&k.as_str())
                || k == "n_embd"
                || k == "n_layer"
            {
                if (k == "n_embd" || k == "n_layer") && grid.contains_key("shapes") {
                    input_bail!("{f}: [grid] has both shapes and {k}; fix: list the shapes only");
                }
                continue;
            }
            others.push((k.clone(), list_of(&f, "grid", k, v)?));
        }
        others.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(t) = tune {
            for (k, _) in &others {
                if t.tunes(k) {
                    input_bail!(
                        "{f}: [grid] {k} is also tuned by [tune]; fix: remove it from one of the two sections"
                    );
                }
            }
        }
        Ok(GridSpec { skip_invalid, nonembedding, shapes, budgets, d_range, combos: cartesian(&others) })
    }
}

/// A grid's token-axis cells, and the range of `tokens` an IsoFLOP cell must fall in.
type TokenAxes = (Vec<Budget>, Option<(f64, f64)>);

/// The token-axis cells in the order given (`tokens` first), and with both `tokens` and
/// `flops` the range of `tokens`: an IsoFLOP cell is kept only where its D = C/(6·N) lies
/// inside it, where it is a WSD branch of its shape's longest run (a cooldown's cost), and no
/// cell trains longer, or on fewer steps, than the tokens grid does.
fn budgets(f: &str, grid: &toml::Table) -> Result<TokenAxes> {
    let keys: Vec<&str> = TOKEN_AXES.iter().copied().filter(|k| grid.contains_key(*k)).collect();
    // `tokens` + `flops` together is the one allowed pair: IsoFLOP branches of a tokens grid.
    if keys.len() > 1 && keys != ["tokens", "flops"] {
        input_bail!(
            "{f}: [grid] has {}; fix: keep exactly one of tokens, tokens_per_param, flops (or tokens and flops)",
            keys.join(" and ")
        );
    }
    let mut budgets = Vec::new();
    for k in &keys {
        budgets.extend(positives(f, "grid", k, &grid[*k])?.into_iter().map(|x| match *k {
            "tokens" => Budget::Tokens(x),
            "tokens_per_param" => Budget::PerParam(x),
            _ => Budget::Flops(x),
        }));
    }
    if budgets.is_empty() {
        budgets.push(Budget::Config);
    }
    let d_range = if keys.len() == 2 {
        let d = positives(f, "grid", "tokens", &grid["tokens"])?;
        Some((d.iter().copied().fold(f64::INFINITY, f64::min), d.iter().copied().fold(0.0, f64::max)))
    } else {
        None
    };
    Ok((budgets, d_range))
}

/// The runs so far, the cells skipped as impossible and the IsoFLOP cells out of range.
#[derive(Default)]
struct Expansion {
    runs: Vec<GridRun>,
    skipped: Vec<String>,
    out_of_range: usize,
}

impl Expansion {
    /// Adds one cell: its run, or (`skip_invalid`) a note that it is impossible.
    fn cell(
        &mut self,
        cells: &mut Cells,
        g: &GridSpec,
        shape: &Shape,
        budget: Budget,
        combo: &Combo,
        tuned: Option<&Tuned>,
    ) -> Result<()> {
        let mut layers = vec![Layer::Shape(shape), Layer::Keys(combo, Origin::Axis("[grid]"))];
        if let Some(t) = tuned {
            layers.extend([Layer::PeakLr(t.learning_rate), Layer::Keys(&t.keys, Origin::Section("[tune]"))]);
        }
        if let Budget::Tokens(d) = budget {
            layers.push(Layer::Tokens(d));
        }
        let raw = cells.config(&layers)?;
        let attempt = cells.resolve(&raw, budget.sizer(g.nonembedding).as_deref()).map(|mut spec| {
            match budget {
                Budget::Flops(c) => spec.flops_budget = Some(c),
                Budget::PerParam(r) => spec.tokens_per_param = Some(r),
                Budget::Config | Budget::Tokens(_) => {}
            }
            spec.tuned = tuned.map(|t| t.source.clone());
            spec
        });
        let mut axes = shape.axes();
        axes.extend(labels(combo));
        axes.extend(budget.axis().map(|(k, v)| (k.to_string(), format!("{v}"))));
        if let (Some(range), Budget::Flops(_), Ok(spec)) = (g.d_range, budget, &attempt) {
            if !within(spec, range) {
                self.out_of_range += 1;
                return Ok(());
            }
        }
        match attempt {
            Ok(spec) => self.runs.push(GridRun { index: self.runs.len(), axes, spec }),
            Err(e) if g.skip_invalid && crate::error::is_input_error(&e) => {
                self.skipped.push(format!("{} ({e:#})", describe(&axes)));
            }
            Err(e) => {
                return Err(e.context(input_err(format!(
                "grid run {} is impossible; fix: change the axis values or set skip_invalid = true in [grid]",
                describe(&axes)
            ))))
            }
        }
        Ok(())
    }

    /// The runs, after saying what was left out; an error when nothing is left.
    fn finish(self, f: &str) -> Result<Vec<GridRun>> {
        for s in &self.skipped {
            eprintln!("skipped (skip_invalid): {s}");
        }
        if self.out_of_range > 0 && std::env::var_os("SCALINGLAB_QUIET_GRID").is_none() {
            eprintln!(
                "grid: {} IsoFLOP cell(s) left out: their D = C/(6·N) is outside the tokens range \
                 (every kept IsoFLOP cell is a branch of its shape's tokens runs)",
                self.out_of_range
            );
        }
        if self.runs.is_empty() {
            input_bail!("{f}: [grid] leaves no valid run; fix: check the axes");
        }
        Ok(self.runs)
    }
}

/// Whether a run's D lies in `(lo, hi)`, to within one step (the tokens cells themselves are
/// rounded to steps).
fn within(spec: &RunSpec, (lo, hi): (f64, f64)) -> bool {
    let (d, step) = (spec.tokens as f64, (spec.batch_size * spec.model.block_size) as f64);
    d >= lo - step && d <= hi + step
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_config;

    /// `[grid] tokens` + `flops`: the IsoFLOP cells are added to the tokens grid, kept only where
    /// D = C/(6·N) lies in the tokens range, carry their budget, and branch off their shape's
    /// longest run (so they cost a cooldown each).
    #[test]
    fn tokens_and_flops_add_isoflop_branches_inside_the_tokens_range() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("c.toml");
        let budgets = [3e9, 1e10, 3e10, 1e12];
        let toml = format!(
            "name = \"g\"\n[corpus]\nsource = \"synthetic\"\n[model]\nhead_dim = 16\nblock_size = 32\n\
             [train]\nbatch_size = 8\nschedule = \"wsd\"\nwarmup_tokens = 2560\n\
             [grid]\nshapes = [\"16x1\", \"32x1\", \"64x2\"]\ntokens = [2e4, 1.6e5]\nflops = {budgets:?}\n"
        );
        std::fs::write(&p, toml).expect("write");
        let cfg = load_config(&p, &[]).expect("config");
        let runs = expand(&cfg).expect("expand");
        let tokens_runs: Vec<&GridRun> = runs.iter().filter(|r| r.spec.flops_budget.is_none()).collect();
        assert_eq!(tokens_runs.len(), 6, "3 shapes × 2 budgets");
        let step = (8 * 32) as f64;
        let mut expected = 0;
        for t in tokens_runs.iter().filter(|r| r.spec.tokens as f64 > 1e5) {
            let n = count::params_total(&t.spec.model) as f64;
            for c in budgets {
                let d = c / (6.0 * n);
                let inside = d >= 2e4 - step && d <= 1.6e5 + step;
                expected += inside as usize;
                let cell = runs
                    .iter()
                    .find(|r| r.spec.flops_budget == Some(c) && r.spec.model.n_embd == t.spec.model.n_embd);
                assert_eq!(
                    cell.is_some(),
                    inside,
                    "budget {c} at {}x{}",
                    t.spec.model.n_embd,
                    t.spec.model.n_layer
                );
                if let Some(cell) = cell {
                    assert!((cell.spec.tokens as f64 - d).abs() <= step, "D = C/(6N) to one step");
                    let parent = super::super::branch::parent_of(&runs, cell.index).expect("a branch");
                    assert_eq!(runs[parent].spec.id(), t.spec.id(), "branches off the 1.6e5-token run");
                }
            }
        }
        assert!(
            expected >= 2 && expected < budgets.len() * 3,
            "the fixture keeps some cells and drops others"
        );
        assert_eq!(runs.len(), 6 + expected);
        // Any other pair of token axes stays an error.
        std::fs::write(&p, "name = \"g\"\n[grid]\ntokens = [2e4]\ntokens_per_param = [20]\n").expect("write");
        let e = expand(&load_config(&p, &[]).expect("config")).expect_err("two axes");
        assert!(crate::error::is_input_error(&e) && e.to_string().contains("tokens_per_param"), "{e}");
    }
}
