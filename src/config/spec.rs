//! Validated, resolved specs (ripgrep's "high args"): a [`RunSpec`] is everything that
//! determines a run's numbers, in canonical form; its id is a hash of that form. Built by
//! `config::resolve`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::GptConfig;

/// Where a run's tokens come from, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum CorpusSpec {
    /// The embedded generator: world seed and its options (`corpus::synthetic`).
    Synthetic {
        /// World seed.
        seed: u64,
        /// Generator options as given (defaults filled by the generator).
        options: serde_json::Value,
    },
    /// A folder written by `corpus prepare`.
    Prepared {
        /// Folder path as given.
        path: String,
    },
}

/// LR schedule shape (pure functions in `train::schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Linear warmup, then cosine to `min_lr_fraction` exactly at the last step.
    Cosine,
    /// Warmup, stable at the peak, then a (1−√) cooldown over `cooldown_fraction` of the run.
    Wsd,
    /// Warmup, then constant.
    Constant,
}

/// First cooldown step of a WSD run of `total` steps, s_c = S − round(f·S), at least one
/// cooldown step and not before the end of warmup. Here (not in `train::schedule`) because
/// the report also needs it, to count a WSD branch's shared phase once (issue #24).
pub fn wsd_cooldown_start(total: u64, warmup: u64, cooldown_fraction: f64) -> u64 {
    let k = ((cooldown_fraction * total as f64).round() as u64).clamp(1, total);
    (total - k).max(warmup.min(total.saturating_sub(1)))
}

/// Everything that determines a run's numbers, resolved and validated. Serialised with
/// sorted keys, its sha256 gives the run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Model shape (vocab_size from the corpus).
    #[serde(flatten)]
    pub model: GptConfig,
    /// Corpus.
    pub corpus: CorpusSpec,
    /// Corpus content id (manifest id or generator hash), so a changed corpus changes the id.
    pub corpus_id: String,
    /// Optimizer steps.
    pub max_steps: u64,
    /// Training tokens D = max_steps · batch_size · block_size.
    pub tokens: u64,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak LR after the width rule.
    pub learning_rate: f64,
    /// The rule that produced it ("none", "sqrt", "inverse") and its base width.
    pub lr_rule: String,
    /// Base width of the LR rule.
    pub lr_base_width: usize,
    /// Schedule.
    pub schedule: ScheduleKind,
    /// Final LR / peak.
    pub min_lr_fraction: f64,
    /// Warmup steps.
    pub warmup_steps: u64,
    /// WSD cooldown fraction.
    pub cooldown_fraction: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Global-norm clip (0 = off).
    pub grad_clip: f64,
    /// Init and data seed.
    pub seed: u64,
    /// Periodic eval interval in steps.
    pub eval_interval: u64,
    /// Periodic eval sequences.
    pub eval_sequences: usize,
    /// Final eval sequences.
    pub final_eval_sequences: usize,
    /// Divergence threshold as a multiple of ln(vocab_size).
    pub divergence_factor: f64,
    /// IsoFLOP grids: the compute budget C this run belongs to (D = C / (6·N_total)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops_budget: Option<f64>,
    /// Grids by tokens per parameter: the ratio D / N this run was sized by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_param: Option<f64>,
    /// Where a `[tune]`d grid run's learning rate (and other tuned keys) came from, e.g.
    /// "tune: best of 4 learning rates at 5e5 tokens" (logged in every result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned: Option<String>,
}

impl RunSpec {
    /// First 16 hex chars of sha256 of the canonical JSON (sorted keys).
    pub fn id(&self) -> String {
        let canon = self.canonical_json();
        let h = Sha256::digest(canon.as_bytes());
        h.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The spec as JSON with sorted keys (serde_json's map is ordered).
    pub fn canonical_json(&self) -> String {
        let v = serde_json::to_value(self).expect("RunSpec serialises");
        v.to_string()
    }

    /// The spec as a flat JSON object (for `RunResult::spec`).
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self).expect("RunSpec serialises") {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("a struct serialises to an object"),
        }
    }
}

/// Options that change how a run is executed but not its numbers (not part of the id).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Checkpoint every this many steps (0 = only by time).
    pub checkpoint_interval: u64,
    /// Checkpoint every this many seconds (0 = only by steps).
    pub checkpoint_seconds: f64,
    /// Keep the final weights in `models/ID.safetensors` (`train.keep_model = "final"`).
    pub keep_model: bool,
    /// TensorBoard event files under this folder (`train.tensorboard`).
    pub tensorboard: Option<PathBuf>,
}

/// What the corpus tells the spec: its vocabulary and content id.
#[derive(Debug, Clone)]
pub struct CorpusMeta {
    /// Vocabulary size of the token ids.
    pub vocab_size: usize,
    /// Content id.
    pub id: String,
    /// Training tokens available (None: an unbounded generated stream).
    pub train_tokens: Option<u64>,
}
