//! Exact parameter and FLOP counts as pure functions of the shape (no candle).
//!
//! Parameters of a nanoGPT-style GPT with width C, depth L, context T, vocabulary V
//! (`b` = 1 when the model has biases, else 0):
//!
//! | tensor | count |
//! |---|---|
//! | `wte` token embedding | V·C |
//! | `wpe` position embedding | T·C |
//! | per block: `ln_1`, `ln_2` | 2·(C + b·C) |
//! | per block: `attn.c_attn` (3C×C), `attn.c_proj` (C×C) | 4C² + b·4C |
//! | per block: `mlp.c_fc` (4C×C), `mlp.c_proj` (C×4C) | 8C² + b·5C |
//! | `ln_f` | C + b·C |
//! | `lm_head` (V×C, no bias) when untied | V·C |
//!
//! So one block has 12C² + (2 + 11b)·C parameters (Kaplan et al. 2020 §2.1: N ≈ 12·L·C²).
//!
//! **Non-embedding N** (Kaplan et al. 2020) excludes the vocabulary and position matrices:
//! `wte`, `wpe` and, when untied, the `lm_head` unembedding (also a V×C vocabulary matrix;
//! at toy scale it would otherwise dominate "non-embedding" N). **Total N** (Hoffmann et al.
//! 2022) counts every trainable parameter once (a tied matrix once).
//!
//! Training FLOPs per token: C_6N = 6·N_total (Kaplan §2.1, Chinchilla), and the exact count of
//! the matrix multiplications the model performs, forward + backward (backward = 2× forward):
//!
//! ```text
//! forward per token  = L·(2·3C² + 2·C² + 2·8C²)   // c_attn, attn.c_proj, mlp
//!                    + L·(2·T·C + 2·T·C)          // scores q·kᵀ and att·v over all T keys
//!                    + 2·C·V                      // LM head
//!                    = 24·L·C² + 4·L·T·C + 2·C·V
//! train per token    = 3 × forward = 72·L·C² + 12·L·T·C + 6·C·V
//! ```
//!
//! The attention term `12·L·T·C` is PaLM's (Chowdhery et al. 2022, App. B; nanoGPT
//! `estimate_mfu`): the scores are computed densely for all T keys and then masked, so the
//! causal mask saves no FLOPs here. Elementwise work (LayerNorm, GELU, softmax, AdamW) and
//! embedding lookups are not counted, as in Kaplan et al. Table 1.

use super::config::GptConfig;

/// Parameters of one transformer block: 12C² + (2 + 11b)·C.
pub fn params_per_block(cfg: &GptConfig) -> u64 {
    let c = cfg.n_embd as u64;
    let b = cfg.bias as u64;
    let ln = 2 * (c + b * c);
    let attn = 3 * c * c + b * 3 * c + c * c + b * c;
    let mlp = 4 * c * c + b * 4 * c + 4 * c * c + b * c;
    ln + attn + mlp
}

/// All trainable parameters (Chinchilla's N), a tied embedding counted once.
///
/// ```
/// use scalinglab::model::{config::GptConfig, count::params_total};
/// // GPT-2 small: V=50257, T=1024, L=12, C=768, tied, biases → 124,439,808 (the HF count).
/// let cfg = GptConfig { vocab_size: 50257, block_size: 1024, n_layer: 12, n_head: 12,
///                       n_embd: 768, tie_embeddings: true, bias: true, init: Default::default() };
/// assert_eq!(params_total(&cfg), 124_439_808);
/// ```
pub fn params_total(cfg: &GptConfig) -> u64 {
    let (v, t, c, l) = (cfg.vocab_size as u64, cfg.block_size as u64, cfg.n_embd as u64, cfg.n_layer as u64);
    let b = cfg.bias as u64;
    let head = if cfg.tie_embeddings { 0 } else { v * c };
    v * c + t * c + l * params_per_block(cfg) + (c + b * c) + head
}

/// Parameters without `wte`, `wpe` and an untied `lm_head` (Kaplan's N).
pub fn params_nonembedding(cfg: &GptConfig) -> u64 {
    let l = cfg.n_layer as u64;
    let c = cfg.n_embd as u64;
    l * params_per_block(cfg) + c + (cfg.bias as u64) * c
}

/// Training FLOPs per token by the 6N rule: 6·N_total.
pub fn flops_per_token_6n(cfg: &GptConfig) -> f64 {
    6.0 * params_total(cfg) as f64
}

/// Exact training (forward + backward) matmul FLOPs per token: 72·L·C² + 12·L·T·C + 6·C·V.
pub fn flops_per_token_exact(cfg: &GptConfig) -> f64 {
    let (v, t, c, l) = (cfg.vocab_size as f64, cfg.block_size as f64, cfg.n_embd as f64, cfg.n_layer as f64);
    3.0 * (24.0 * l * c * c + 4.0 * l * t * c + 2.0 * c * v)
}

/// Forward-only matmul FLOPs per token: 24·L·C² + 4·L·T·C + 2·C·V.
pub fn flops_per_token_forward(cfg: &GptConfig) -> f64 {
    flops_per_token_exact(cfg) / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_match_a_hand_count() {
        // V=10, T=4, L=1, C=2. Forward matmuls per token, counted by hand (2 FLOPs per MAC):
        // c_attn 2·(3·2·2)=24, c_proj 2·(2·2)=8, c_fc 2·(8·2)=32, mlp c_proj 2·(2·8)=32,
        // scores 2·(4·2)=16, att·v 2·(4·2)=16, lm_head 2·(10·2)=40 → 168; ×3 = 504.
        let cfg = GptConfig {
            vocab_size: 10,
            block_size: 4,
            n_layer: 1,
            n_head: 1,
            n_embd: 2,
            tie_embeddings: true,
            bias: true,
            init: Default::default(),
        };
        assert_eq!(flops_per_token_forward(&cfg), 168.0);
        assert_eq!(flops_per_token_exact(&cfg), 504.0);
    }

    #[test]
    fn block_params_by_hand() {
        // C=2 with biases: ln 2·(2+2)=8; c_attn 12+6; c_proj 4+2; c_fc 16+8; mlp c_proj 16+2 → 74.
        let cfg = GptConfig {
            vocab_size: 10,
            block_size: 4,
            n_layer: 1,
            n_head: 1,
            n_embd: 2,
            tie_embeddings: true,
            bias: true,
            init: Default::default(),
        };
        assert_eq!(params_per_block(&cfg), 74);
        // + wte 20 + wpe 8 + ln_f 4 = 106; untied adds 20.
        assert_eq!(params_total(&cfg), 106);
        assert_eq!(params_total(&GptConfig { tie_embeddings: false, ..cfg.clone() }), 126);
        assert_eq!(params_nonembedding(&cfg), 78);
    }
}
