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

use anyhow::Result;

use crate::config::spec::{corpus_spec, resolve_run, set_key, typed, RunSpec};
use crate::config::LoadedConfig;
use crate::error::input_err;
use crate::input_bail;
use crate::model::count;

/// Control keys of `[grid]` that are not axes.
const CONTROL: [&str; 3] = ["skip_invalid", "params", "shapes"];
/// The token-axis keys (at most one).
const TOKEN_AXES: [&str; 3] = ["tokens", "tokens_per_param", "flops"];

/// One expanded run.
#[derive(Debug, Clone)]
pub struct GridRun {
    /// Position in the grid (the `--index` / Slurm array task id).
    pub index: usize,
    /// The axis values that made it (key, value), for tables and errors.
    pub axes: Vec<(String, String)>,
    /// The resolved spec.
    pub spec: RunSpec,
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
    let f = cfg.path.display().to_string();
    let cspec = corpus_spec(&cfg.raw, &cfg.path)?;
    let meta = crate::corpus::meta(&cspec)?;
    let choice = match super::tune::parse(cfg)? {
        None => None,
        Some(t) => match super::tune::load_choice(cfg, &t)? {
            Some(c) => Some(c),
            None if provisional => None,
            None => {
                let (done, total) = super::tune::progress(cfg)?;
                input_bail!(
                    "{f}: [tune] has not finished ({done} of {total} tuning runs done in {}); fix: run \
                     `scalinglab sweep {f}` (it runs the tuning first), or `scalinglab run {f} --tune --index I` \
                     for each tuning run",
                    super::tune::tune_store(cfg).root.display()
                )
            }
        },
    };
    let tuned = choice.is_some();
    let Some(grid) = &cfg.raw.grid else {
        return Ok((
            vec![GridRun { index: 0, axes: vec![], spec: resolve_run(&cfg.raw, &cfg.path, &meta)? }],
            tuned,
        ));
    };
    let list = |k: &str, v: &toml::Value| list_of(&f, "grid", k, v);
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
    let token_keys: Vec<&str> = TOKEN_AXES.iter().copied().filter(|k| grid.contains_key(*k)).collect();
    // `tokens` + `flops` together is the one allowed pair: IsoFLOP branches of a tokens grid.
    if token_keys.len() > 1 && token_keys != ["tokens", "flops"] {
        input_bail!(
            "{f}: [grid] has {}; fix: keep exactly one of tokens, tokens_per_param, flops (or tokens and flops)",
            token_keys.join(" and ")
        );
    }
    let values_of = |k: &str| -> Result<Vec<f64>> {
        list(k, &grid[k])?
            .iter()
            .map(|v| match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
                Some(x) if x.is_finite() && x > 0.0 => Ok(x),
                _ => Err(input_err(format!("{f}: [grid] {k} value {v} must be a positive number"))),
            })
            .collect()
    };
    // Each token-axis cell as (axis key, value), in the order given: `tokens` first.
    let mut token_vals: Vec<(Option<&str>, Option<f64>)> = Vec::new();
    for k in &token_keys {
        token_vals.extend(values_of(k)?.into_iter().map(|x| (Some(*k), Some(x))));
    }
    if token_vals.is_empty() {
        token_vals.push((None, None));
    }
    // With both axes, an IsoFLOP cell is kept only where its D = C/(6·N) lies inside the range of
    // `tokens`: it is then a WSD branch of its shape's longest run (a cooldown's cost), and no
    // cell trains longer, or on fewer steps, than the tokens grid does.
    let d_range: Option<(f64, f64)> = if token_keys.len() == 2 {
        let d = values_of("tokens")?;
        Some((d.iter().copied().fold(f64::INFINITY, f64::min), d.iter().copied().fold(0.0, f64::max)))
    } else {
        None
    };
    let mut out_of_range = 0usize;
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
        others.push((k.clone(), list(k, v)?));
    }
    others.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(t) = super::tune::parse(cfg)? {
        for (k, _) in &others {
            if t.tunes(k) {
                input_bail!(
                    "{f}: [grid] {k} is also tuned by [tune]; fix: remove it from one of the two sections"
                );
            }
        }
    }
    let combos = cartesian(&others);
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for shape in &shapes {
        for (axis, tv) in &token_vals {
            for combo in &combos {
                let mut table = cfg.table.clone();
                table.remove("grid");
                table.remove("tune");
                let mut axes = Vec::new();
                for (k, v) in shape.iter().chain(combo.iter()) {
                    set_key(&mut table, k, v.clone(), &format!("{f}: [grid] {k}"))?;
                    axes.push((k.clone(), v.to_string()));
                }
                // The tuned values of this shape (learning rate, and any other tuned key).
                let tuned_by = match &choice {
                    Some(c) => Some(c.apply(&mut table, shape, &f)?),
                    None => None,
                };
                let mut raw = typed(&table, &cfg.path)?;
                let attempt = (|| -> Result<RunSpec> {
                    // Resolve once for N, then size D by the token axis.
                    let mut spec = match (*axis, tv) {
                        (Some("tokens"), Some(d)) => {
                            raw.train.tokens = *d;
                            resolve_run(&raw, &cfg.path, &meta)?
                        }
                        (Some(k), Some(x)) => {
                            let probe = resolve_run(&raw, &cfg.path, &meta).or_else(|_| {
                                let mut r = raw.clone();
                                r.train.tokens = 1e12;
                                resolve_run(&r, &cfg.path, &meta)
                            })?;
                            let n = if k == "tokens_per_param" && nonembedding {
                                count::params_nonembedding(&probe.model)
                            } else {
                                count::params_total(&probe.model)
                            } as f64;
                            raw.train.tokens = if k == "flops" {
                                x / (6.0 * count::params_total(&probe.model) as f64)
                            } else {
                                x * n
                            };
                            resolve_run(&raw, &cfg.path, &meta)?
                        }
                        _ => resolve_run(&raw, &cfg.path, &meta)?,
                    };
                    match (*axis, tv) {
                        (Some("flops"), Some(c)) => spec.flops_budget = Some(*c),
                        (Some("tokens_per_param"), Some(r)) => spec.tokens_per_param = Some(*r),
                        _ => {}
                    }
                    spec.tuned = tuned_by.clone();
                    Ok(spec)
                })();
                if let (Some(k), Some(v)) = (axis, tv) {
                    axes.push((k.to_string(), format!("{v}")));
                }
                if let (Some((lo, hi)), Some("flops"), Ok(spec)) = (d_range, *axis, &attempt) {
                    // Within one step of the range: the tokens cells themselves are rounded to steps.
                    let (d, step) = (spec.tokens as f64, (spec.batch_size * spec.model.block_size) as f64);
                    if d < lo - step || d > hi + step {
                        out_of_range += 1;
                        continue;
                    }
                }
                match attempt {
                    Ok(spec) => runs.push(GridRun { index: runs.len(), axes, spec }),
                    Err(e) if skip_invalid && crate::error::is_input_error(&e) => {
                        let desc: Vec<String> = axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        skipped.push(format!("{} ({e:#})", desc.join(" ")));
                    }
                    Err(e) => {
                        let desc: Vec<String> = axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        return Err(e.context(input_err(format!(
                            "grid run {} is impossible; fix: change the axis values or set skip_invalid = true in [grid]",
                            desc.join(" ")
                        ))));
                    }
                }
            }
        }
    }
    for s in &skipped {
        eprintln!("skipped (skip_invalid): {s}");
    }
    if out_of_range > 0 && std::env::var_os("SCALINGLAB_QUIET_GRID").is_none() {
        eprintln!(
            "grid: {out_of_range} IsoFLOP cell(s) left out: their D = C/(6·N) is outside the tokens range \
             (every kept IsoFLOP cell is a branch of its shape's tokens runs)"
        );
    }
    if runs.is_empty() {
        input_bail!("{f}: [grid] leaves no valid run; fix: check the axes");
    }
    Ok((runs, tuned))
}

/// A `[section] key` value that must be a non-empty list.
pub(crate) fn list_of(f: &str, section: &str, k: &str, v: &toml::Value) -> Result<Vec<toml::Value>> {
    match v {
        toml::Value::Array(a) if a.is_empty() => {
            input_bail!("{f}: [{section}] {k} is empty; fix: give at least one value, e.g. {k} = [..]")
        }
        toml::Value::Array(a) => Ok(a.clone()),
        _ => input_bail!("{f}: [{section}] {k} must be a list, e.g. {k} = [{v}]"),
    }
}

/// The model shapes of a config, in grid order: `[grid] shapes`, or the product of the
/// `n_embd` × `n_layer` axes, else the single `[model]` shape. Each is its (key, value) list.
pub fn shapes_of(cfg: &LoadedConfig) -> Result<Vec<Vec<(String, toml::Value)>>> {
    let f = cfg.path.display().to_string();
    let empty = toml::Table::new();
    let grid = cfg.raw.grid.as_ref().unwrap_or(&empty);
    let list = |k: &str, v: &toml::Value| list_of(&f, "grid", k, v);
    let mut shapes: Vec<Vec<(String, toml::Value)>> = Vec::new();
    if let Some(v) = grid.get("shapes") {
        for s in list("shapes", v)? {
            let s = s.as_str().map(str::to_string).unwrap_or_else(|| s.to_string());
            let parts: Vec<&str> = s.split('x').collect();
            let num = |x: &str| x.trim().parse::<i64>().ok().filter(|n| *n > 0);
            let bad = || {
                input_err(format!("{f}: [grid] shapes entry \"{s}\": expected \"n_embd x n_layer\" like \"64x2\" (or \"64x2x4\" with n_head)"))
            };
            let (c, l) = (
                num(parts.first().copied().unwrap_or("")).ok_or_else(bad)?,
                num(parts.get(1).copied().unwrap_or("")).ok_or_else(bad)?,
            );
            let mut o = vec![
                ("n_embd".to_string(), toml::Value::Integer(c)),
                ("n_layer".to_string(), toml::Value::Integer(l)),
            ];
            match parts.len() {
                2 => {}
                3 => o.push(("n_head".to_string(), toml::Value::Integer(num(parts[2]).ok_or_else(bad)?))),
                _ => return Err(bad()),
            }
            shapes.push(o);
        }
    } else {
        let widths = grid.get("n_embd").map(|v| list("n_embd", v)).transpose()?;
        let depths = grid.get("n_layer").map(|v| list("n_layer", v)).transpose()?;
        for w in widths.clone().unwrap_or_else(|| vec![toml::Value::Integer(cfg.raw.model.n_embd)]) {
            for d in depths.clone().unwrap_or_else(|| vec![toml::Value::Integer(cfg.raw.model.n_layer)]) {
                shapes.push(vec![("n_embd".to_string(), w.clone()), ("n_layer".to_string(), d)]);
            }
        }
    }
    Ok(shapes)
}

/// A shape's label, `n_embd x n_layer` (`x n_head` when given): "64x2", "64x2x4".
pub fn shape_label(shape: &[(String, toml::Value)]) -> String {
    shape.iter().map(|(_, v)| v.to_string()).collect::<Vec<_>>().join("x")
}

/// All combinations of the axes, in order (the empty product is one empty combination).
pub(crate) fn cartesian(axes: &[(String, Vec<toml::Value>)]) -> Vec<Vec<(String, toml::Value)>> {
    let mut out: Vec<Vec<(String, toml::Value)>> = vec![vec![]];
    for (k, vals) in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                vals.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((k.clone(), v.clone()));
                    p
                })
            })
            .collect();
    }
    out
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
