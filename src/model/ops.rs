//! The elementwise and normalisation ops of the GPT, each differentiable.
//!
//! **Trap (candle 0.11):** `candle_nn::LayerNorm` on contiguous input, `ops::layer_norm` and
//! `ops::softmax_last_dim` are custom ops without a backward pass, so gradients silently stop
//! at them. The ops here are fused CPU kernels with hand-written backward passes
//! (`model::fused`), which fall back to composed, differentiable candle ops on other devices
//! and dtypes (`model::fused::composed`); the model test checks every parameter gets a
//! non-zero gradient.

pub use super::fused::composed::causal_mask;
pub use super::fused::{
    causal_attention, causal_softmax, causal_softmax_scaled, cross_entropy, gelu, layer_norm, linear,
    linear_cross_entropy, transformer_block, BlockParams,
};
