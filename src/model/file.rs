//! Model files: a trained model's parameters as one safetensors file, with the GPT-2 /
//! nanoGPT names and layouts of the checkpoints (`wte.weight` (V, C), `h.0.attn.c_attn.weight`
//! (3C, C) as PyTorch's `nn.Linear` stores it, ...), f32, and string metadata (safetensors'
//! `__metadata__`) that says what the model is: its shape under [`KEY_CONFIG`], plus whatever
//! the writer adds (the run, the tokenizer, the final losses: `train::keep`).
//!
//! Issue #17: a finished run keeps its final weights here, so `sample`, `eval` and `export`
//! can use them. The file carries `format = "pt"`, which `transformers` and `safetensors`'
//! PyTorch loader expect, so `safetensors.torch.load_file` opens it as it is.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Result;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::config::GptConfig;
use super::init::param_specs;
use crate::error::input_err;
use crate::results::write_atomic;

/// Metadata key of the model shape (a [`GptConfig`] as JSON).
pub const KEY_CONFIG: &str = "scalinglab.config";

/// A model read from a file: its shape, and its parameters in sorted name order (the order
/// of `init::param_specs`, i.e. of `Gpt::vars`).
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Shape.
    pub cfg: GptConfig,
    /// Parameter names, sorted.
    pub names: Vec<String>,
    /// Parameter shapes, in `names` order.
    pub shapes: Vec<Vec<usize>>,
    /// Flat f32 values, in `names` order.
    pub values: Vec<Vec<f32>>,
    /// Every metadata entry (including `format` and [`KEY_CONFIG`]).
    pub metadata: BTreeMap<String, String>,
}

/// About how many bytes a model file of `params` parameters takes: 4 per parameter (f32)
/// plus the JSON header (names, shapes, offsets, metadata: a few kB at these sizes). For
/// `plan`'s disk line.
pub fn approx_bytes(params: u64) -> f64 {
    4.0 * params as f64 + 4096.0
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Serialises named f32 tensors and `metadata` (plus `format = "pt"`) as safetensors bytes.
pub fn to_bytes(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| f32_bytes(v)).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((n, s, _), b) in tensors.iter().zip(&bytes) {
        views.push((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?));
    }
    let mut meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    meta.insert("format".into(), "pt".into());
    Ok(safetensors::tensor::serialize(views, Some(meta))?)
}

/// Writes the model's parameters (sorted name order, as `Gpt::values` returns them) and
/// `metadata` to `path`, atomically (temp file + rename). [`KEY_CONFIG`] is added.
pub fn write(
    path: &Path,
    cfg: &GptConfig,
    values: &[Vec<f32>],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let specs = param_specs(cfg);
    if specs.len() != values.len() {
        anyhow::bail!("{} parameter tensors for a model with {}", values.len(), specs.len());
    }
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> =
        specs.into_iter().zip(values).map(|(s, v)| (s.name, s.shape, v.clone())).collect();
    let mut meta = metadata.clone();
    meta.insert(KEY_CONFIG.into(), serde_json::to_string(cfg)?);
    write_atomic(path, &to_bytes(&tensors, &meta)?)
}

/// Reads and checks a model file: every tensor `param_specs` of its config names, with that
/// shape, in f32. Anything else is an input error naming the file and the fix.
pub fn read(path: &Path) -> Result<ModelFile> {
    let bytes = std::fs::read(path).map_err(|e| {
        input_err(format!(
            "{}: cannot read the model file ({e}); fix: check the path (finished runs keep their weights in \
             results/NAME/models/ID.safetensors unless train.keep_model = \"none\")",
            path.display()
        ))
    })?;
    let bad = |why: String| {
        input_err(format!(
            "{}: not a complete scalinglab model file ({why}); fix: use a file written by a finished run or \
             `export`; to rebuild a run's model, delete its runs/ID.json and re-run the sweep",
            path.display()
        ))
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("{e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("{e}")))?;
    let metadata: BTreeMap<String, String> =
        header.metadata().clone().unwrap_or_default().into_iter().collect();
    let cfg_json = metadata.get(KEY_CONFIG).ok_or_else(|| bad(format!("no `{KEY_CONFIG}` metadata")))?;
    let cfg: GptConfig =
        serde_json::from_str(cfg_json).map_err(|e| bad(format!("bad `{KEY_CONFIG}`: {e}")))?;
    cfg.validate().map_err(|e| bad(format!("bad `{KEY_CONFIG}`: {e}")))?;
    let mut out = ModelFile { cfg: cfg.clone(), names: vec![], shapes: vec![], values: vec![], metadata };
    for s in param_specs(&cfg) {
        let t = st.tensor(&s.name).map_err(|_| bad(format!("tensor {} is missing", s.name)))?;
        if t.dtype() != Dtype::F32 || t.shape() != s.shape.as_slice() {
            return Err(bad(format!(
                "tensor {} is {:?} {:?}, expected F32 {:?}",
                s.name,
                t.dtype(),
                t.shape(),
                s.shape
            )));
        }
        let v: Vec<f32> =
            t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.names.push(s.name);
        out.shapes.push(s.shape);
        out.values.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let d = tempfile::tempdir().unwrap();
        let cfg = GptConfig::tiny();
        let specs = param_specs(&cfg);
        let values: Vec<Vec<f32>> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (0..s.shape.iter().product::<usize>()).map(|j| (i * 1000 + j) as f32 * 1e-3).collect()
            })
            .collect();
        let p = d.path().join("m.safetensors");
        let meta = BTreeMap::from([("scalinglab.run_id".to_string(), "abc".to_string())]);
        write(&p, &cfg, &values, &meta).unwrap();
        let m = read(&p).unwrap();
        assert_eq!(m.cfg, cfg);
        assert_eq!(m.values, values);
        assert_eq!(m.metadata["scalinglab.run_id"], "abc");
        assert_eq!(m.metadata["format"], "pt");
        // Truncated: an input error naming the file.
        let bytes = std::fs::read(&p).unwrap();
        let t = d.path().join("t.safetensors");
        std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
        let e = read(&t).unwrap_err();
        assert!(crate::error::is_input_error(&e));
        assert!(format!("{e:#}").contains("t.safetensors: not a complete"), "{e:#}");
        let e = read(&d.path().join("missing.safetensors")).unwrap_err();
        assert!(crate::error::is_input_error(&e) && format!("{e:#}").contains("cannot read"), "{e:#}");
    }
}
