//! `scalinglab export MODEL --hf DIR`: a folder that Hugging Face `transformers` loads with
//! `GPT2LMHeadModel.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`.
//!
//! What GPT-2 can express: every scalinglab model. The mapping, exact in f32:
//! - names gain the `transformer.` prefix; `lm_head.weight` is written only when the
//!   embeddings are untied (`tie_word_embeddings` says which);
//! - `attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj` weights are transposed: GPT-2
//!   stores them as `Conv1D` (in, out), scalinglab (like nanoGPT's `nn.Linear`) as (out, in);
//! - `bias = false` models get zero biases (GPT-2 always has them; adding zero is exact);
//! - the MLP is GELU with the exact erf form, `activation_function = "gelu"` (GPT-2's own
//!   default is the tanh approximation `gelu_new`, which would change the loss slightly:
//!   by 1.2e-6 and 1.8e-6 nats on the two 32×2 tinyshakespeare models of
//!   `tests/model_cli.rs`, measured by `tests/hf_check.py`). scalinglab's erf is a minimax
//!   fit within 4.5e-7 of the true erf, so the exported model agrees to float rounding
//!   (2e-8 nats there);
//! - LayerNorm ε = 1e-5, attention scaled by 1/√head_dim, no dropout, `n_positions` =
//!   `block_size` (longer inputs are not defined for the model, as in training).
//!
//! Files: `config.json`, `model.safetensors` (`format = "pt"`), and for text models the
//! corpus's `tokenizer.json` (checked against the model's recorded sha256), a
//! `tokenizer_config.json` (`PreTrainedTokenizerFast`, `<|endoftext|>` as bos/eos/unk) and
//! `special_tokens_map.json`. A synthetic-corpus model has no tokenizer: its folder has no
//! tokenizer files (ids in, ids out).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use crate::corpus::tokenizer::tokenizer_configs;
use crate::model::file::to_bytes;
use crate::model::params::ParameterTensors;
use crate::results::write_atomic;
use crate::train::keep::KeptModel;

/// The `config.json` of a GPT2LMHeadModel with this model's shape.
pub fn hf_config(m: &KeptModel) -> serde_json::Value {
    let c = &m.file.cfg;
    let eot = m.tokenizer.as_ref().map(|t| t.eot_id).unwrap_or(0);
    json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_ctx": c.block_size,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": 4 * c.n_embd,
        "activation_function": "gelu",
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "summary_first_dropout": 0.0,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "scale_attn_weights": true,
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
        "use_cache": true,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "tie_word_embeddings": c.tie_embeddings,
        "torch_dtype": "float32",
        "scalinglab": {
            "run_id": m.run_id,
            "final_val_loss": m.final_val_loss,
            "corpus_id": m.spec.corpus_id,
            "exported_by": format!("scalinglab {}", env!("CARGO_PKG_VERSION")),
        },
    })
}

/// The tensors in GPT-2's names and layouts (module docs).
pub fn hf_tensors(m: &KeptModel) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let f = &m.file;
    let tensors = f.shapes.iter().cloned().zip(f.values.iter().cloned()).collect();
    let mut p =
        ParameterTensors::from_canonical(&f.cfg, tensors).expect("a model file holds every parameter");
    // GPT-2 always has biases: a bias-free model gets zeros, one per row of each weight.
    for (w, b) in p.pairs_mut() {
        b.get_or_insert_with(|| (vec![w.0[0]], vec![0.0; w.0[0]]));
    }
    for block in &mut p.h {
        for (shape, v) in block.linear_weights_mut() {
            *v = transposed(v, shape[0], shape[1]);
            shape.reverse();
        }
    }
    let mut named = p.map_named(|name, (shape, v)| (name, shape, v));
    // GPT2LMHeadModel's own head; everything else is under `transformer.`.
    let head = named.lm_head.take();
    let mut out: Vec<_> =
        named.into_canonical().into_iter().map(|(n, s, v)| (format!("transformer.{n}"), s, v)).collect();
    out.extend(head);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The (cols, rows) transpose of a row-major (rows, cols) matrix: `nn.Linear`'s (out, in) as
/// GPT-2's `Conv1D` (in, out).
fn transposed(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; v.len()];
    for r in 0..rows {
        for k in 0..cols {
            t[k * rows + r] = v[r * cols + k];
        }
    }
    t
}

/// Writes the folder; returns what it wrote (file names) for the command's summary.
pub fn export(m: &KeptModel, dir: &Path, tokenizer_file: Option<&Path>) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut wrote = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<()> {
        write_atomic(&dir.join(name), bytes)?;
        wrote.push(name.to_string());
        Ok(())
    };
    let meta = BTreeMap::from([("scalinglab.run_id".to_string(), m.run_id.clone())]);
    put("model.safetensors", &to_bytes(&hf_tensors(m), &meta)?)?;
    put("config.json", serde_json::to_string_pretty(&hf_config(m))?.as_bytes())?;
    if let Some(t) = &m.tokenizer {
        let json = super::tokenizer_json(m, t, tokenizer_file)?;
        put("tokenizer.json", json.as_bytes())?;
        let (cfg, map) = tokenizer_configs(Some(m.file.cfg.block_size));
        put("tokenizer_config.json", cfg.as_bytes())?;
        put("special_tokens_map.json", map.as_bytes())?;
    }
    Ok(wrote)
}
