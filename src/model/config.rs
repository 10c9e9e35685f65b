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
