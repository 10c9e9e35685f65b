//! Fused CPU kernels, with hand-written backward passes, for the GPT's ops: LayerNorm,
//! exact-erf GELU, causal softmax and cross-entropy, and the matmul-bearing ones built on the
//! `gemm` kernel candle itself uses (see `gemm`): Linear with bias (`linear`), the attention
//! core from packed qkv to merged heads (`causal_attention`), and the LM head fused with the
//! loss (`linear_cross_entropy`, which never materialises the (B·T, V) logits). The model runs
//! a whole transformer block as one op (`transformer_block`) built from the same kernels, so
//! candle's backward keeps one gradient edge per block instead of one per layer.
//!
//! Each public function has the signature of its composed counterpart in `model::ops` and
//! can replace it one-for-one. On the CPU with f32 tensors it runs one candle custom op
//! (`CustomOp1/2/3`) whose forward is a single vectorised pass per row and whose `bwd` is a
//! second fused custom op, instead of the 5–12 broadcast/elementwise ops (each allocating a
//! full tensor and each differentiated separately) of the composed form. Anywhere else (CUDA,
//! Metal, f64/bf16) the function falls back to [`composed`], the differentiable reference.
//!
//! **Trap (candle 0.11):** `candle_nn::ops::{layer_norm, softmax_last_dim}` are custom ops
//! *without* `bwd`, so gradients silently stop there. Every op here implements `bwd`, and the
//! tests check gradients against the composed forms and against finite differences.
//!
//! **Determinism.** Rows are reduced sequentially in a fixed lane order (see `simd`); rayon
//! splits only between rows, with task sizes that depend on the shape alone, so results are
//! bit-identical for any `RAYON_NUM_THREADS` (tested).
//!
//! **SIMD.** Kernels are written as branch-free slice loops, compiled for AVX-512, AVX2+FMA
//! and portable code, and dispatched at run time (see `simd`); no intrinsics.

mod attention;
#[cfg(test)]
mod bench;
mod block;
mod buffers;
pub mod composed;
mod cross_entropy;
mod gelu;
mod gemm;
mod layer_norm;
mod linear;
mod linear_ce;
pub(crate) mod simd;
mod softmax;
#[cfg(test)]
mod testutil;
pub(crate) mod whole;

pub use attention::causal_attention;
pub use block::{transformer_block, BlockParams};
pub use cross_entropy::cross_entropy;
pub use gelu::gelu;
pub use layer_norm::layer_norm;
pub use linear::linear;
pub use linear_ce::linear_cross_entropy;
pub use simd::Isa;
pub(crate) use simd::{multiversion, Fma};
pub use softmax::{causal_softmax, causal_softmax_scaled};

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, DType, Layout, Result, Tensor};

/// Whether the fused CPU kernels handle these tensors (all on the CPU and f32).
fn fused_ok(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// The f32 data of a contiguous CPU tensor, as a slice.
fn f32_data<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else { bail!("{op}: expected f32 storage, got {:?}", s.dtype()) };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{op}: expected a contiguous input, got strides {:?}", l.stride()),
    }
}
