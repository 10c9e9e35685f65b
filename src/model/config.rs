//! The shape of a GPT: everything `count` needs to give N and C, with no candle types, so
//! `fit` and `report` can compute parameter and FLOP counts without linking candle.

use serde::{Deserialize, Serialize};

/// Shape of a nanoGPT-style GPT (names follow nanoGPT's `GPTConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Vocabulary size V, e.g. 4096.
    pub vocab_size: usize,
    /// Context length T (learned position embeddings for 0..T), e.g. 128.
    pub block_size: usize,
    /// Number of transformer blocks L, e.g. 4.
    pub n_layer: usize,
    /// Attention heads per block; must divide `n_embd`.
    pub n_head: usize,
    /// Width C (d_model), e.g. 128.
    pub n_embd: usize,
    /// LM head shares the token embedding matrix (GPT-2 ties them).
    pub tie_embeddings: bool,
    /// Linear layers and LayerNorms carry biases (GPT-2: true).
    pub bias: bool,
    /// How the weights are drawn at step 0 (`[model] init`). Left out of a run's spec (and so
    /// of its id) when it is GPT-2's, so runs made before the key existed keep their ids.
    #[serde(default, skip_serializing_if = "InitScheme::is_gpt2")]
    pub init: InitScheme,
}

/// The initialisation scale of every weight matrix and embedding (`[model] init`); biases are
/// 0 and LayerNorm gains 1 under both.
///
/// - `gpt2` (the default): N(0, 0.02²), residual projections N(0, (0.02/√(2·n_layer))²)
///   (GPT-2 / nanoGPT `_init_weights`). Tuned for n_embd ≈ 768: at the widths of a toy
///   sweep (16–80) 0.02 is 5–10× below 1/√n_embd, so attention starts uniform and training
///   sits on a plateau whose length varies from seed to seed.
/// - `fan_in`: the same scheme with base σ = 1/√n_embd (the fan-in of every matrix that
///   reads the residual stream), residual projections σ/√(2·n_layer). On English bytes at
///   32×4 and 48×6 it lowered the seed-to-seed SD of the loss at 4M tokens from 1.0% to
///   0.2–0.4% and the loss by 0.03–0.06 nats (README, issue #16 pilots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// σ = 0.02 (GPT-2).
    #[default]
    Gpt2,
    /// σ = 1/√n_embd.
    FanIn,
}

impl InitScheme {
    /// The `[model] init` value names, for messages.
    pub const NAMES: &'static str = "\"gpt2\" or \"fan_in\"";

    /// True for the GPT-2 default (which a spec leaves out).
    pub fn is_gpt2(&self) -> bool {
        *self == InitScheme::Gpt2
    }

    /// Parses a `[model] init` value.
    pub fn parse(s: &str) -> Option<InitScheme> {
        match s {
            "gpt2" => Some(InitScheme::Gpt2),
            "fan_in" => Some(InitScheme::FanIn),
            _ => None,
        }
    }

    /// The base σ of the weight matrices and embeddings at width `n_embd`.
    pub fn base_std(&self, n_embd: usize) -> f64 {
        match self {
            InitScheme::Gpt2 => 0.02,
            InitScheme::FanIn => 1.0 / (n_embd as f64).sqrt(),
        }
    }
}

impl GptConfig {
    /// A tiny model for tests: V=64, T=16, L=2, H=2, C=32, tied, with biases.
    pub fn tiny() -> Self {
        GptConfig {
            vocab_size: 64,
            block_size: 16,
            n_layer: 2,
            n_head: 2,
            n_embd: 32,
            tie_embeddings: true,
            bias: true,
            init: InitScheme::Gpt2,
        }
    }

    /// Per-head width C / H.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Checks the shape; the message names the key and the fix.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("block_size", self.block_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
        ];
        for (k, v) in positive {
            if v == 0 {
                return Err(format!("`{k}` must be positive (got 0); fix: set {k} to at least 1"));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(format!(
                "n_head = {} does not divide n_embd = {}; fix: pick n_head from the divisors of n_embd",
                self.n_head, self.n_embd
            ));
        }
        if self.vocab_size > u32::MAX as usize {
            return Err("`vocab_size` is too large; fix: use at most 2^32-1".into());
        }
        Ok(())
    }
}
