//! Where tokens come from: the embedded synthetic generator (`synthetic`) or a folder written
//! by `corpus prepare` (text corpora: preparing, verifying, downloading), and the
//! deterministic batch sampler.
//!
//! A prepared corpus is a folder:
//!
//! - `tokenizer.json` — Hugging Face format (`tokenizers.Tokenizer.from_file` loads it):
//!   byte-level BPE or the byte tokenizer (`corpus::tokenizer`).
//! - `train.bin`, `val.bin` — token ids, little-endian `u16` when the vocabulary has at most
//!   65,536 tokens, else `u32`, no header (`corpus::shards`).
//! - `manifest.json` — sources with sha256, tokenizer, dtype, split, sha256 and size of every
//!   file, bytes per token, and the corpus id (`corpus::manifest`).
//!
//! **Token streams.** Text is cut into documents (`corpus::sources`): JSONL lines, or for text
//! files runs of whole paragraphs of about `--doc-bytes`; a literal `<|endoftext|>` also ends
//! a document. Each split's stream is its documents in source order, each *followed by* the
//! `<|endoftext|>` token: `doc₁ EOT doc₂ EOT … docₙ EOT`. Training windows may cross an EOT.
//!
//! **Validation** is random whole documents, seeded (`corpus::split`), never a file's tail and
//! never interleaved with training text. **Sampling** (`corpus::sampler`) is a pure function of
//! `(seed, step)`, so resumed runs see the same batches.

pub mod download;
pub mod load;
pub mod manifest;
pub mod prepare;
pub mod recipes;
pub mod sampler;
pub mod shards;
pub mod sources;
pub mod split;
pub mod synthetic;
pub mod tokenizer;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_external;
#[cfg(test)]
pub(crate) mod tests_get;

pub use load::{load_prepared, verify_prepared, PreparedCorpus, TokenData};
pub use manifest::Manifest;
pub use prepare::{prepare, PrepareOptions};
pub use tokenizer::{CorpusTokenizer, TokenizerKind};

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::config::spec::{CorpusMeta, CorpusSpec};
use crate::error::input_err;
use sampler::SampleMode;
use synthetic::{SyntheticConfig, SyntheticCorpus};

/// Stream seed of the synthetic training stream (validation uses [`SYNTH_VAL_STREAM`]).
pub const SYNTH_TRAIN_STREAM: u64 = 1;
/// Stream seed of the synthetic validation stream: same world, different documents.
pub const SYNTH_VAL_STREAM: u64 = 2;

/// Token streams ready for training, in the model's units.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Training token ids.
    pub train: Vec<u32>,
    /// Held-out token ids (never interleaved with training text).
    pub val: Vec<u32>,
    /// Vocabulary size (every id is below it).
    pub vocab_size: usize,
    /// Mean source bytes per token, for bits per byte (None for the synthetic corpus).
    pub bytes_per_token: Option<f64>,
    /// Entropy floor in nats/token when known (synthetic corpus).
    pub entropy_floor: Option<f64>,
    /// Content id (manifest id or generator hash).
    pub id: String,
    /// How batches are placed in `train`.
    pub mode: SampleMode,
}

/// Parses the `[corpus.synthetic]` options (unknown keys are errors naming the key).
pub fn synthetic_config(options: &serde_json::Value) -> Result<SyntheticConfig> {
    let cfg: SyntheticConfig = serde_json::from_value(options.clone()).map_err(|e| {
        input_err(format!("[corpus.synthetic]: {e}; fix: see corpus::synthetic for the keys"))
    })?;
    cfg.validate().map_err(|e| input_err(format!("[corpus.synthetic]: {e}")))?;
    Ok(cfg)
}

fn synthetic_world(seed: u64, options: &serde_json::Value) -> Result<SyntheticCorpus> {
    let cfg = synthetic_config(options)?;
    SyntheticCorpus::new(&cfg, seed).map_err(|e| input_err(format!("[corpus.synthetic]: {e}")))
}

fn synthetic_id(seed: u64, options: &serde_json::Value) -> Result<String> {
    let cfg = synthetic_config(options)?;
    let canon = serde_json::json!({ "generator": "scalinglab-synthetic-v1", "seed": seed, "config": cfg });
    Ok(Sha256::digest(canon.to_string().as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// Vocabulary and content id of a corpus, without generating or reading its tokens.
pub fn meta(spec: &CorpusSpec) -> Result<CorpusMeta> {
    match spec {
        CorpusSpec::Synthetic { seed, options } => Ok(CorpusMeta {
            vocab_size: synthetic_config(options)?.vocab_size,
            id: synthetic_id(*seed, options)?,
            train_tokens: None,
        }),
        CorpusSpec::Prepared { path } => prepared_meta(path),
    }
}

/// Loads (or generates) the tokens a run needs: at least `train_tokens` training tokens for
/// the synthetic stream (it is generated to length; a shorter run's stream is a prefix of a
/// longer one's) and `val_tokens` held-out tokens.
pub fn load(spec: &CorpusSpec, train_tokens: usize, val_tokens: usize) -> Result<Corpus> {
    match spec {
        CorpusSpec::Synthetic { seed, options } => {
            let world = synthetic_world(*seed, options)?;
            Ok(Corpus {
                train: world.generate(SYNTH_TRAIN_STREAM, train_tokens),
                val: world.generate(SYNTH_VAL_STREAM, val_tokens),
                vocab_size: world.vocab_size(),
                bytes_per_token: None,
                entropy_floor: Some(world.entropy_rate()),
                id: synthetic_id(*seed, options)?,
                mode: SampleMode::Sequential,
            })
        }
        CorpusSpec::Prepared { path } => load_prepared_corpus(path),
    }
}

fn prepared_meta(path: &str) -> Result<CorpusMeta> {
    // Only the manifest is read here (cheap); `load` verifies the token files' hashes.
    let m = Manifest::read(std::path::Path::new(path))?;
    Ok(CorpusMeta {
        vocab_size: m.tokenizer.vocab_size,
        id: m.corpus_id.clone(),
        train_tokens: Some(m.train.tokens),
    })
}

fn load_prepared_corpus(path: &str) -> Result<Corpus> {
    let p = load_prepared(std::path::Path::new(path))?;
    Ok(Corpus {
        vocab_size: p.vocab_size(),
        bytes_per_token: Some(p.bytes_per_token()),
        entropy_floor: None,
        id: p.corpus_id().to_string(),
        mode: SampleMode::Random,
        train: p.train.tokens,
        val: p.val.tokens,
    })
}
