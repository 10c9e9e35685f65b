//! The whole GPT's training loss and gradients on the CPU in one call, without candle's
//! autograd: embeddings, the fused blocks, ln_f and the fused LM head + loss forward, then the
//! same kernels' backward passes in reverse, as llm.c does.
//!
//! **Why.** Candle's backward gives every graph edge a zero-filled gradient tensor and adds
//! each contribution onto it (`GradStore::or_insert` + `add`): per step one (B·T, C) fill and
//! add per block input, one per packed block parameter vector and again per parameter (the
//! `cat` backward), plus the `cat` of the parameters in the forward. At (256, 6, 8) that was
//! ~4% of a step (perf, steady state). Here each gradient is written once, where it is made:
//! +3.1% tokens/s at (256, 6, 8) over 6 interleaved `scalinglab bench` rounds (1.00–1.05×).
//! The residual-stream activations are fresh vectors rather than `buffers` ones: with pooled
//! buffers the same code measured 3.5% *slower* than the autograd path (5 rounds), the gemm
//! kernels themselves running slower, and resident memory 200 MB higher.
//!
//! **Same numbers.** Every value is computed by the kernels the candle path runs, in the order
//! candle combines them, so the loss and every gradient are bit-identical to
//! `Gpt::loss(..).backward()` (tested in `model::gpt`):
//! - x₀ = wte[idx] + wpe[pos] (one rounding, as `broadcast_add`);
//! - the blocks, ln_f and the LM head + loss through `block`, `layer_norm`, `linear_ce`;
//! - dwpe[pos] = Σ_b dx₀[b, pos], summed over b in order from zero (candle's `sum_keepdim`);
//!   rows ≥ T zero (the `narrow` backward);
//! - dwte: the LM head's dW first (when tied), then each row of dx₀ added in token order
//!   (candle's `index_add`, which runs after the head's contribution in its backward order).

use super::block::{self, PairSlices};
use super::{layer_norm, linear_ce};

/// The model's shape for [`loss_and_grads`].
pub(crate) struct Dims {
    /// Sequences per batch.
    pub b: usize,
    /// Sequence length (≤ the rows of wpe).
    pub t: usize,
    /// Width C.
    pub c: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Vocabulary size V.
    pub vocab: usize,
    /// Linears and LayerNorms carry biases.
    pub bias: bool,
}

/// The parameters, as slices of their (contiguous, f32) storage.
pub(crate) struct Params<'a> {
    /// Token embedding (V, C).
    pub wte: &'a [f32],
    /// Position embedding (block_size, C).
    pub wpe: &'a [f32],
    /// Each block's (weight, bias) pairs in `block`'s packing order (ln_1, c_attn, attn.c_proj,
    /// ln_2, c_fc, mlp.c_proj).
    pub blocks: Vec<[PairSlices<'a>; 6]>,
    /// Final LayerNorm (weight, bias).
    pub ln_f: PairSlices<'a>,
    /// The LM head (V, C) when it is not tied to wte.
    pub head: Option<&'a [f32]>,
}

/// The loss and every parameter's gradient.
pub(crate) struct Grads {
    /// Mean cross-entropy (nats/token).
    pub loss: f32,
    /// ∂L/∂wte (V, C), including the LM head's when tied.
    pub wte: Vec<f32>,
    /// ∂L/∂wpe (block_size, C).
    pub wpe: Vec<f32>,
    /// Each block's packed gradient (`block::unpack` splits it into pairs).
    pub blocks: Vec<Vec<f32>>,
    /// ∂L/∂ln_f weight, bias (C each; the bias part is unused without biases).
    pub ln_f: Vec<f32>,
    /// ∂L/∂lm_head (V, C) when untied.
    pub head: Option<Vec<f32>>,
}

impl Grads {
    /// The (weight, bias) gradient slices of block `i`.
    pub fn block(&self, i: usize, c: usize, bias: bool) -> [PairSlices<'_>; 6] {
        block::unpack(&self.blocks[i], c, bias)
    }
}

/// Forward and backward of the whole model on token ids `idx` and `targets` (both B·T, row
/// major), as `Gpt::loss` followed by `backward` (see the module doc).
pub(crate) fn loss_and_grads(d: &Dims, p: &Params, idx: &[u32], targets: &[usize]) -> Grads {
    let (b, t, c, v) = (d.b, d.t, d.c, d.vocab);
    let n = b * t;
    assert!(
        idx.len() == n && targets.len() == n,
        "whole: {} ids, {} targets for {b}×{t}",
        idx.len(),
        targets.len()
    );
    assert!(p.wte.len() == v * c && p.wpe.len() >= t * c, "whole: embeddings of the wrong size");
    let mut x = vec![0.0f32; n * c];
    for (i, (xr, &tok)) in x.chunks_exact_mut(c).zip(idx).enumerate() {
        let (er, pr) = (&p.wte[tok as usize * c..][..c], &p.wpe[(i % t) * c..][..c]);
        for ((o, &e), &q) in xr.iter_mut().zip(er).zip(pr) {
            *o = e + q;
        }
    }
    let packed: Vec<Vec<f32>> = p.blocks.iter().map(block::pack).collect();
    let mut saved = Vec::with_capacity(packed.len());
    for pb in &packed {
        let (y, s) = block::forward(&x, pb, b, t, d.n_head, c, d.bias);
        saved.push((std::mem::replace(&mut x, y), s));
    }
    let (lw, lb) = p.ln_f;
    let mut hf = vec![0.0f32; n * c];
    layer_norm::forward_into(&x, lw, lb.unwrap_or(&[]), &mut hf);
    let head = p.head.unwrap_or(p.wte);
    let (loss, grads) = linear_ce::loss_and_grads(&hf, head, targets, c, v, true);
    drop(hf);
    let (dhf, dhead) = grads.expect("linear_cross_entropy returns gradients when asked");
    let mut dx = vec![0.0f32; n * c];
    let mut ln_f = vec![0.0f32; 2 * c];
    layer_norm::backward_into(&x, lw, &dhf, None, &mut dx, &mut ln_f);
    drop(x);
    let mut blocks = vec![Vec::new(); packed.len()];
    for (i, (xin, s)) in saved.into_iter().enumerate().rev() {
        let mut dxin = vec![0.0f32; n * c];
        let mut dp = vec![0.0f32; packed[i].len()];
        block::backward_into(&xin, &packed[i], &dx, &s, b, t, d.n_head, c, d.bias, &mut dxin, &mut dp);
        drop(xin);
        dx = dxin;
        blocks[i] = dp;
    }
    let mut wpe = vec![0.0f32; p.wpe.len()];
    for (i, dr) in dx.chunks_exact(c).enumerate() {
        for (a, &g) in wpe[(i % t) * c..][..c].iter_mut().zip(dr) {
            *a += g;
        }
    }
    let (mut wte, head) = match p.head {
        None => (dhead, None),
        Some(_) => (vec![0.0f32; v * c], Some(dhead)),
    };
    for (dr, &tok) in dx.chunks_exact(c).zip(idx) {
        for (a, &g) in wte[tok as usize * c..][..c].iter_mut().zip(dr) {
            *a += g;
        }
    }
    drop(dx);
    Grads { loss, wte, wpe, blocks, ln_f, head }
}
