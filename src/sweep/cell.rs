//! One cell of the main grid or of the tuning → one [`RunSpec`], resolved once.
//!
//! A cell is the config with its layers set in order: the shape, a combination of axis values,
//! the token budget, a tuned learning rate, tuned keys. Keys the user names (axes, tuned keys)
//! are set in the config's TOML table as `--set` does and typed once per distinct set (a grid's
//! cells share a handful); the shape, the budget and the learning rate are set on the typed
//! config, each unless a later named key sets the same field (a `n_head` axis over "64x2x4"
//! shapes wins, as it did when every layer went through the table). In the table those layers
//! hold stand-in values, so a named key meets the table it met when they were set there, and a
//! mistake in the named keys is reported at the first cell that has them, in the same words.

use std::collections::HashMap;

use anyhow::Result;

use super::axes::Shape;
use crate::config::load::{key_path, set_key, typed};
use crate::config::raw::RawConfig;
use crate::config::resolve::{corpus_spec, resolve_run, resolve_sized, TokensOf};
use crate::config::spec::CorpusMeta;
use crate::config::{LoadedConfig, RunSpec};

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

/// Where named keys come from, as their errors say it.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// An axis of this section: "FILE: [grid] KEY".
    Axis(&'static str),
    /// This section as a whole: "FILE: [tune]".
    Section(&'static str),
}

/// One layer of a cell, applied in order.
#[derive(Debug, Clone, Copy)]
pub enum Layer<'a> {
    /// The shape's `[model]` keys.
    Shape(&'a Shape),
    /// Keys the user named (an axis combination, tuned keys).
    Keys(&'a [(String, toml::Value)], Origin),
    /// `train.tokens`.
    Tokens(f64),
    /// `train.learning_rate`, with `train.lr_rule = "none"`.
    PeakLr(f64),
}

/// The typed config of one set of named keys, and the table path each key sets (with the
/// index of its layer).
struct Variant {
    raw: RawConfig,
    paths: Vec<(usize, Vec<String>)>,
}

/// Builds and resolves the cells of one config.
pub struct Cells<'a> {
    cfg: &'a LoadedConfig,
    /// The config file, as errors name it.
    pub f: String,
    /// Its corpus's vocabulary and content id.
    pub meta: CorpusMeta,
    variants: HashMap<String, Variant>,
}

impl<'a> Cells<'a> {
    /// Reads the corpus metadata every cell shares.
    pub fn new(cfg: &'a LoadedConfig) -> Result<Self> {
        let meta = crate::corpus::meta(&corpus_spec(&cfg.raw, &cfg.path)?)?;
        Ok(Cells { cfg, f: cfg.path.display().to_string(), meta, variants: HashMap::new() })
    }

    /// The typed config of the cell made of `layers`.
    pub fn config(&mut self, layers: &[Layer]) -> Result<RawConfig> {
        let mut id = String::new();
        for l in layers {
            match l {
                Layer::Keys(keys, _) => keys.iter().for_each(|(k, v)| id.push_str(&format!("{k}={v};"))),
                Layer::Shape(s) => s.keys().iter().for_each(|(k, _)| id.push_str(&format!("{k};"))),
                Layer::Tokens(_) => id.push_str("tokens;"),
                Layer::PeakLr(_) => id.push_str("lr;"),
            }
        }
        if !self.variants.contains_key(&id) {
            let v = self.variant(layers)?;
            self.variants.insert(id.clone(), v);
        }
        let v = &self.variants[&id];
        let mut raw = v.raw.clone();
        for (i, layer) in layers.iter().enumerate() {
            let free = |sec: &str, field: &str| !v.paths.iter().any(|(j, p)| *j > i && p == &[sec, field]);
            match *layer {
                Layer::Shape(s) => {
                    for (k, x) in s.keys() {
                        if free("model", k) {
                            match k {
                                "n_embd" => raw.model.n_embd = x,
                                "n_layer" => raw.model.n_layer = x,
                                _ => raw.model.n_head = x,
                            }
                        }
                    }
                }
                Layer::Tokens(d) if free("train", "tokens") => raw.train.tokens = d,
                Layer::PeakLr(lr) => {
                    if free("train", "learning_rate") {
                        raw.train.learning_rate = lr;
                    }
                    if free("train", "lr_rule") {
                        raw.train.lr_rule = "none".into();
                    }
                }
                Layer::Tokens(_) | Layer::Keys(..) => {}
            }
        }
        Ok(raw)
    }

    /// The config table with the named keys of `layers` set, typed.
    fn variant(&self, layers: &[Layer]) -> Result<Variant> {
        let mut table = self.cfg.table.clone();
        table.remove("grid");
        table.remove("tune");
        let mut paths = Vec::new();
        let stand_in = |table: &mut toml::Table, k: &str, v: toml::Value| set_key(table, k, v, &self.f);
        for (i, l) in layers.iter().enumerate() {
            match l {
                Layer::Keys(keys, origin) => {
                    for (k, v) in keys.iter() {
                        let origin = match origin {
                            Origin::Axis(s) => format!("{}: {s} {k}", self.f),
                            Origin::Section(s) => format!("{}: {s}", self.f),
                        };
                        set_key(&mut table, k, v.clone(), &origin)?;
                        paths.push((i, key_path(k, &origin)?));
                    }
                }
                Layer::Shape(s) => {
                    for (k, _) in s.keys() {
                        stand_in(&mut table, &format!("model.{k}"), toml::Value::Integer(1))?;
                    }
                }
                Layer::Tokens(_) => stand_in(&mut table, "train.tokens", toml::Value::Float(1.0))?,
                Layer::PeakLr(_) => {
                    stand_in(&mut table, "train.learning_rate", toml::Value::Float(1.0))?;
                    stand_in(&mut table, "train.lr_rule", toml::Value::String("none".into()))?;
                }
            }
        }
        Ok(Variant { raw: typed(&table, &self.cfg.path)?, paths })
    }

    /// Resolves a cell's config once: D is its `train.tokens`, or sized from the model by
    /// `tokens_of` (`config::resolve::resolve_sized`).
    pub fn resolve(&self, raw: &RawConfig, tokens_of: Option<&TokensOf>) -> Result<RunSpec> {
        match tokens_of {
            None => resolve_run(raw, &self.cfg.path, &self.meta),
            Some(d) => resolve_sized(raw, &self.cfg.path, &self.meta, d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Layers apply in order, as when each was set in the table: a named key over a shape's
    /// field wins, a typed layer after a named key wins, and a key through a shape's field
    /// meets the integer it met there.
    #[test]
    fn layers_apply_in_order() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("c.toml");
        std::fs::write(&p, "name = \"c\"\n[model]\nhead_dim = 16\n[train]\nbatch_size = 8\n").expect("write");
        let cfg = crate::config::load_config(&p, &[]).expect("config");
        let mut cells = Cells::new(&cfg).expect("cells");
        let shape = Shape { n_embd: 64, n_layer: 2, n_head: Some(4) };
        let combo = vec![
            ("n_head".to_string(), toml::Value::Integer(2)),
            ("train.learning_rate".to_string(), toml::Value::Float(1e-3)),
        ];
        let axis = Origin::Axis("[grid]");
        let raw = cells
            .config(&[Layer::Shape(&shape), Layer::Keys(&combo, axis), Layer::Tokens(1e4)])
            .expect("cell");
        assert_eq!((raw.model.n_embd, raw.model.n_layer, raw.model.n_head), (64, 2, 2));
        assert_eq!((raw.train.tokens, raw.train.learning_rate), (1e4, 1e-3));
        let raw = cells.config(&[Layer::Keys(&combo, axis), Layer::PeakLr(5e-3)]).expect("cell");
        assert_eq!((raw.train.learning_rate, raw.train.lr_rule.as_str()), (5e-3, "none"));
        let through = vec![("model.n_embd.x".to_string(), toml::Value::Integer(1))];
        let e = cells.config(&[Layer::Shape(&shape), Layer::Keys(&through, axis)]).expect_err("not a table");
        assert!(e.to_string().ends_with("[grid] model.n_embd.x: `n_embd` is not a table"), "{e}");
    }
}
