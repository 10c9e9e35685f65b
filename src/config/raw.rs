//! Serde mirror of the TOML file, as close to what the user wrote as possible (ripgrep's
//! "low args"). Unknown keys are errors (`deny_unknown_fields`), defaults live here.

use serde::{Deserialize, Serialize};

/// The whole config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Sweep name: results go to `<results_dir>/<name>/`.
    pub name: String,
    /// Parent folder of the results (relative to the working directory).
    #[serde(default = "default_results_dir")]
    pub results_dir: String,
    /// Where the tokens come from.
    #[serde(default)]
    pub corpus: RawCorpus,
    /// Model shape (the grid may override n_embd, n_layer, ...).
    #[serde(default)]
    pub model: RawModel,
    /// Optimisation and evaluation.
    #[serde(default)]
    pub train: RawTrain,
    /// Sweep axes (issue 3); absent for a single run.
    #[serde(default)]
    pub grid: Option<toml::Table>,
    /// Per-size tuning run before the grid (issue 8), see `sweep::tune`.
    #[serde(default)]
    pub tune: Option<toml::Table>,
}

fn default_results_dir() -> String {
    "results".into()
}

/// `[corpus]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorpus {
    /// `synthetic` (the embedded generator) or `prepared` (a folder from `corpus prepare`).
    #[serde(default = "default_source")]
    pub source: String,
    /// Folder written by `scalinglab corpus prepare` (source = "prepared").
    pub path: Option<String>,
    /// World seed of the synthetic corpus (the lexicon, topics and facts).
    #[serde(default)]
    pub seed: u64,
    /// Options of the synthetic generator (`[corpus.synthetic]`), see `corpus::synthetic`.
    pub synthetic: Option<toml::Table>,
}

impl Default for RawCorpus {
    fn default() -> Self {
        RawCorpus { source: default_source(), path: None, seed: 0, synthetic: None }
    }
}

fn default_source() -> String {
    "synthetic".into()
}

/// `[model]`, names as nanoGPT's `GPTConfig`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawModel {
    /// Width C.
    pub n_embd: i64,
    /// Depth L.
    pub n_layer: i64,
    /// Heads; must divide n_embd. 0 = n_embd / head_dim.
    pub n_head: i64,
    /// Width per head when n_head = 0 (default 16).
    pub head_dim: i64,
    /// Context length T.
    pub block_size: i64,
    /// Tie the LM head to the token embedding.
    pub tie_embeddings: bool,
    /// Biases in Linear and LayerNorm.
    pub bias: bool,
    /// Weight initialisation: "gpt2" (σ = 0.02) or "fan_in" (σ = 1/√n_embd); see
    /// [`crate::model::InitScheme`].
    #[serde(skip_serializing_if = "is_gpt2")]
    pub init: String,
}

fn is_gpt2(s: &str) -> bool {
    s == "gpt2"
}

impl Default for RawModel {
    fn default() -> Self {
        RawModel {
            n_embd: 64,
            n_layer: 2,
            n_head: 0,
            head_dim: 16,
            block_size: 64,
            tie_embeddings: true,
            bias: true,
            init: "gpt2".into(),
        }
    }
}

/// `[train]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTrain {
    /// Training tokens D (sequences · block_size per step).
    pub tokens: f64,
    /// Sequences per optimizer step.
    pub batch_size: i64,
    /// Peak learning rate. When `lr_rule` is set, this is the LR at `lr_base_width`.
    pub learning_rate: f64,
    /// How the peak LR scales with width: "none" (use learning_rate), "sqrt"
    /// (lr · √(lr_base_width / n_embd), the measured best here), "inverse" (lr · base/n_embd, µP-like).
    pub lr_rule: String,
    /// Width at which `learning_rate` applies under an lr_rule.
    pub lr_base_width: i64,
    /// "cosine" (warmup then cosine to min_lr_fraction at the last step), "wsd", "constant".
    pub schedule: String,
    /// Final LR as a fraction of the peak (cosine and WSD end exactly there).
    pub min_lr_fraction: f64,
    /// Linear warmup length in tokens; negative (default) = N_total tokens. Capped at 5% of a
    /// cosine run.
    pub warmup_tokens: f64,
    /// WSD: fraction of the run spent in the (1−√) cooldown.
    pub cooldown_fraction: f64,
    /// Decoupled weight decay on matrices (not biases, LayerNorm, embeddings).
    pub weight_decay: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2 (0.95 for short runs, as nanoGPT/GPT-3).
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Global-norm gradient clip (0 = off).
    pub grad_clip: f64,
    /// Init and data-order seed.
    pub seed: u64,
    /// Periodic eval every this many steps (0 = 20 points per run).
    pub eval_interval: i64,
    /// Sequences in the periodic eval (fixed validation windows).
    pub eval_sequences: i64,
    /// Sequences in the final validation loss (fixed, larger set).
    pub final_eval_sequences: i64,
    /// Checkpoint every this many steps (0 = off) ...
    pub checkpoint_interval: i64,
    /// ... or every this many seconds, whichever comes first.
    pub checkpoint_seconds: f64,
    /// A loss above this multiple of ln(vocab_size) means the run diverged.
    pub divergence_factor: f64,
    /// "final" (default): a finished run keeps its weights in `models/ID.safetensors`;
    /// "none": it keeps nothing. Not part of the run id (it does not change the numbers).
    pub keep_model: KeepModel,
    /// TensorBoard event files go to this folder, one subfolder per run ("" = none; also
    /// `--tensorboard DIR`). Not part of the run id.
    pub tensorboard: String,
}

/// What a finished run keeps of its model (`train.keep_model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum KeepModel {
    /// The final weights, `results/NAME/models/ID.safetensors`.
    Final,
    /// Nothing (the checkpoint is deleted as before).
    None,
}

impl TryFrom<String> for KeepModel {
    type Error = String;
    /// Named here so the error says which key (serde's own says only "unknown variant").
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "final" => Ok(KeepModel::Final),
            "none" => Ok(KeepModel::None),
            _ => Err(format!("train.keep_model = {s:?} is unknown (expected \"final\" or \"none\")")),
        }
    }
}

impl Default for RawTrain {
    fn default() -> Self {
        RawTrain {
            tokens: 1e6,
            batch_size: 32,
            learning_rate: 3e-3,
            lr_rule: "none".into(),
            lr_base_width: 64,
            schedule: "cosine".into(),
            min_lr_fraction: 0.1,
            warmup_tokens: -1.0,
            cooldown_fraction: 0.2,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            grad_clip: 1.0,
            seed: 0,
            eval_interval: 0,
            eval_sequences: 32,
            final_eval_sequences: 256,
            checkpoint_interval: 0,
            checkpoint_seconds: 60.0,
            divergence_factor: 3.0,
            keep_model: KeepModel::Final,
            tensorboard: String::new(),
        }
    }
}
