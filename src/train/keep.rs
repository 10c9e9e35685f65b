//! Trained models are results too (issue #17): a finished run keeps its final weights in
//! `results/NAME/models/ID.safetensors` (`model::file`), with metadata that makes the file
//! usable on its own: the run id and full spec (so `eval` rebuilds the run's exact validation
//! windows), the tokenizer's location, kind and sha256, and the final losses.
//!
//! Metadata keys (strings, JSON where structured): `scalinglab.config` (the shape),
//! `scalinglab.run_id`, `scalinglab.spec` (the `RunSpec`), `scalinglab.tokenizer` (a
//! [`TokenizerRef`], absent for the synthetic corpus), `scalinglab.final_val_loss`,
//! `scalinglab.final_train_loss`, `scalinglab.val_bits_per_byte` (f64s written with Rust's
//! shortest round-trip form, so they read back to the same bits).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::spec::{CorpusSpec, RunSpec};
use crate::corpus::manifest::Manifest;
use crate::error::input_err;
use crate::model::file::{self, ModelFile};
use crate::results::RunResult;

/// Metadata key of the run id.
pub const KEY_RUN_ID: &str = "scalinglab.run_id";
/// Metadata key of the run's spec (JSON).
pub const KEY_SPEC: &str = "scalinglab.spec";
/// Metadata key of the tokenizer reference (JSON).
pub const KEY_TOKENIZER: &str = "scalinglab.tokenizer";
/// Metadata key of the final validation loss (nats/token).
pub const KEY_FINAL_VAL: &str = "scalinglab.final_val_loss";
/// Metadata key of the final training loss (nats/token).
pub const KEY_FINAL_TRAIN: &str = "scalinglab.final_train_loss";
/// Metadata key of the final validation bits per byte.
pub const KEY_BPB: &str = "scalinglab.val_bits_per_byte";

/// Where a text model's tokenizer is and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerRef {
    /// `bpe` | `byte`.
    pub kind: String,
    /// `tokenizer.json` path as the run saw it (the corpus path of the spec + the file name).
    pub path: String,
    /// sha256 of that file (the corpus manifest's).
    pub sha256: String,
    /// Id of `<|endoftext|>`.
    pub eot_id: u32,
    /// Vocabulary size.
    pub vocab_size: usize,
}

impl TokenizerRef {
    /// The tokenizer of a prepared corpus, from its manifest.
    pub fn of_corpus(dir: &Path, m: &Manifest) -> Self {
        TokenizerRef {
            kind: m.tokenizer.kind.as_str().into(),
            path: dir.join(&m.tokenizer.file).to_string_lossy().into_owned(),
            sha256: m.tokenizer.sha256.clone(),
            eot_id: m.tokenizer.eot_id,
            vocab_size: m.tokenizer.vocab_size,
        }
    }
}

/// A kept model: its weights and what its metadata says.
#[derive(Debug, Clone)]
pub struct KeptModel {
    /// The file it was read from.
    pub path: PathBuf,
    /// Shape and weights.
    pub file: ModelFile,
    /// Run id.
    pub run_id: String,
    /// The run's spec.
    pub spec: RunSpec,
    /// The tokenizer (None: synthetic corpus, token ids only).
    pub tokenizer: Option<TokenizerRef>,
    /// Final validation loss recorded by the run.
    pub final_val_loss: Option<f64>,
}

/// The tokenizer a run's corpus uses (reads only the manifest).
pub fn tokenizer_of(spec: &CorpusSpec) -> Result<Option<TokenizerRef>> {
    match spec {
        CorpusSpec::Synthetic { .. } => Ok(None),
        CorpusSpec::Prepared { path } => {
            let dir = Path::new(path);
            Ok(Some(TokenizerRef::of_corpus(dir, &Manifest::read(dir)?)))
        }
    }
}

fn num(x: Option<f64>) -> Option<String> {
    x.map(|v| format!("{v:?}"))
}

/// Writes a finished run's final weights (`values`, sorted name order) to `path`.
pub fn save_final(path: &Path, spec: &RunSpec, values: &[Vec<f32>], result: &RunResult) -> Result<()> {
    let mut meta = BTreeMap::new();
    meta.insert(KEY_RUN_ID.to_string(), result.id.clone());
    meta.insert(KEY_SPEC.to_string(), spec.canonical_json());
    if let Some(t) = tokenizer_of(&spec.corpus)? {
        meta.insert(KEY_TOKENIZER.to_string(), serde_json::to_string(&t)?);
    }
    for (k, v) in [
        (KEY_FINAL_VAL, num(result.final_val_loss)),
        (KEY_FINAL_TRAIN, num(result.final_train_loss)),
        (KEY_BPB, num(result.val_bits_per_byte)),
    ] {
        if let Some(v) = v {
            meta.insert(k.to_string(), v);
        }
    }
    file::write(path, &spec.model, values, &meta)
}

/// Reads a kept model. `path` may omit `.safetensors`. Errors name the file and the fix.
pub fn load(path: &Path) -> Result<KeptModel> {
    let path = if !path.exists() && path.extension().is_none() {
        path.with_extension("safetensors")
    } else {
        path.to_path_buf()
    };
    let f = file::read(&path)?;
    let bad = |what: &str| {
        input_err(format!(
            "{}: {what}; fix: use a model written by a finished run (results/NAME/models/ID.safetensors); \
             an exported Hugging Face folder is for transformers, not for scalinglab",
            path.display()
        ))
    };
    let run_id = f.metadata.get(KEY_RUN_ID).cloned().ok_or_else(|| bad("no run id in its metadata"))?;
    let spec: RunSpec =
        serde_json::from_str(f.metadata.get(KEY_SPEC).ok_or_else(|| bad("no run spec in its metadata"))?)
            .map_err(|e| bad(&format!("its run spec does not parse ({e})")))?;
    if spec.model != f.cfg {
        return Err(bad("its spec and its config disagree"));
    }
    let tokenizer = match f.metadata.get(KEY_TOKENIZER) {
        Some(j) => Some(serde_json::from_str(j).map_err(|e| bad(&format!("bad tokenizer metadata ({e})")))?),
        None => None,
    };
    let final_val_loss = f.metadata.get(KEY_FINAL_VAL).and_then(|s| s.parse().ok());
    Ok(KeptModel { path, file: f, run_id, spec, tokenizer, final_val_loss })
}
