//! The grid's vocabulary, shared by the main grid (`grid`) and the tuning (`tune`): model
//! shapes, axis lists, positive-number lists, the cartesian product of axes and the labels
//! runs are named by in tables and errors.
//!
//! ```toml
//! shapes = ["32x2", "64x2", "96x3"]     # n_embd x n_layer (heads from head_dim), "64x2x4" with heads, or
//! # n_embd = [32, 64]; n_layer = [2, 4] # a cartesian product of widths and depths
//! seed = [0, 1]                         # any other config key as an axis
//! ```

use anyhow::Result;

use crate::config::load::typed_value;
use crate::config::LoadedConfig;
use crate::error::input_err;
use crate::input_bail;

/// A model shape: width, depth and, when given, heads (else n_embd / head_dim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Width C.
    pub n_embd: i64,
    /// Depth L.
    pub n_layer: i64,
    /// Heads, when the shape names them ("64x2x4").
    pub n_head: Option<i64>,
}

impl Shape {
    /// Its `[model]` keys and values: n_embd, n_layer and n_head when given.
    pub fn keys(&self) -> Vec<(&'static str, i64)> {
        let mut k = vec![("n_embd", self.n_embd), ("n_layer", self.n_layer)];
        k.extend(self.n_head.map(|h| ("n_head", h)));
        k
    }

    /// `n_embd x n_layer` (`x n_head` when given): "64x2", "64x2x4".
    pub fn label(&self) -> String {
        self.keys().iter().map(|(_, v)| v.to_string()).collect::<Vec<_>>().join("x")
    }

    /// Its keys as axis labels, (key, value).
    pub fn axes(&self) -> Vec<(String, String)> {
        self.keys().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

/// One axis: a config key and its values, in the order given.
pub type Axis = (String, Vec<toml::Value>);

/// One point of a product of axes: (key, value) per axis.
pub type Combo = Vec<(String, toml::Value)>;

/// A `[section] key` value that must be a non-empty list.
pub fn list_of(f: &str, section: &str, k: &str, v: &toml::Value) -> Result<Vec<toml::Value>> {
    match v {
        toml::Value::Array(a) if a.is_empty() => {
            input_bail!("{f}: [{section}] {k} is empty; fix: give at least one value, e.g. {k} = [..]")
        }
        toml::Value::Array(a) => Ok(a.clone()),
        _ => input_bail!("{f}: [{section}] {k} must be a list, e.g. {k} = [{v}]"),
    }
}

/// A `[section] key` value (or list entry) that must be a positive number.
pub fn positive(f: &str, section: &str, k: &str, v: &toml::Value) -> Result<f64> {
    match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
        Some(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(input_err(format!("{f}: [{section}] {k} value {v} must be a positive number"))),
    }
}

/// A `[section] key` list of positive numbers.
pub fn positives(f: &str, section: &str, k: &str, v: &toml::Value) -> Result<Vec<f64>> {
    list_of(f, section, k, v)?.iter().map(|x| positive(f, section, k, x)).collect()
}

/// The model shapes of a config, in grid order: `[grid] shapes`, or the product of the
/// `n_embd` × `n_layer` axes, else the single `[model]` shape.
pub fn shapes_of(cfg: &LoadedConfig) -> Result<Vec<Shape>> {
    let f = cfg.path.display().to_string();
    let empty = toml::Table::new();
    let grid = cfg.raw.grid.as_ref().unwrap_or(&empty);
    if let Some(v) = grid.get("shapes") {
        return list_of(&f, "grid", "shapes", v)?.iter().map(|s| parse_shape(&f, s)).collect();
    }
    // An axis value is an integer as `[model]` reads it (same error, e.g. for "64" or 64.5).
    let axis = |k: &str, default: i64| -> Result<Vec<i64>> {
        match grid.get(k) {
            Some(v) => list_of(&f, "grid", k, v)?.into_iter().map(|x| typed_value(x, &cfg.path)).collect(),
            None => Ok(vec![default]),
        }
    };
    let (widths, depths) = (axis("n_embd", cfg.raw.model.n_embd)?, axis("n_layer", cfg.raw.model.n_layer)?);
    Ok(widths
        .iter()
        .flat_map(|&n_embd| depths.iter().map(move |&n_layer| Shape { n_embd, n_layer, n_head: None }))
        .collect())
}

/// One `shapes` entry: "64x2" or "64x2x4", each number at least 1.
fn parse_shape(f: &str, s: &toml::Value) -> Result<Shape> {
    let s = s.as_str().map(str::to_string).unwrap_or_else(|| s.to_string());
    let parts: Vec<&str> = s.split('x').collect();
    let num = |x: &str| x.trim().parse::<i64>().ok().filter(|n| *n > 0);
    let bad = || {
        input_err(format!(
            "{f}: [grid] shapes entry \"{s}\": expected \"n_embd x n_layer\" like \"64x2\" (or \"64x2x4\" with n_head)"
        ))
    };
    let n_embd = num(parts.first().copied().unwrap_or("")).ok_or_else(bad)?;
    let n_layer = num(parts.get(1).copied().unwrap_or("")).ok_or_else(bad)?;
    let n_head = match parts.len() {
        2 => None,
        3 => Some(num(parts[2]).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    Ok(Shape { n_embd, n_layer, n_head })
}

/// All combinations of the axes, in order (the empty product is one empty combination).
pub fn cartesian(axes: &[Axis]) -> Vec<Combo> {
    let mut out: Vec<Combo> = vec![vec![]];
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

/// A combination's values as axis labels, (key, TOML text).
pub fn labels(combo: &Combo) -> Vec<(String, String)> {
    combo.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

/// Axis labels as "k=v k=v" (skipped and impossible grid runs).
pub fn describe(axes: &[(String, String)]) -> String {
    axes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}
