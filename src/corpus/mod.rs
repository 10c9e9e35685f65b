//! Where tokens come from: the embedded synthetic generator or a folder written by
//! `corpus prepare`; and the deterministic batch sampler.

pub mod sampler;
pub mod synthetic;

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
    Err(input_err(format!("{path}: prepared corpora are not supported yet")))
}

fn load_prepared_corpus(path: &str) -> Result<Corpus> {
    Err(input_err(format!("{path}: prepared corpora are not supported yet")))
}
