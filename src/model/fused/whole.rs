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

use super::block;
use super::{layer_norm, linear_ce};
use crate::model::params::{BlockTensors, ParameterTensors};

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

/// Forward and backward of the whole model on token ids `idx` and `targets` (both B·T, row
/// major), as `Gpt::loss` followed by `backward` (see the module doc), with the parameters as
/// slices of their (contiguous, f32) storage: the loss (mean cross-entropy, nats/token) and
/// every parameter's gradient (∂L/∂wte including the LM head's when tied; wpe rows ≥ T zero).
pub(crate) fn loss_and_grads(
    d: &Dims,
    p: &ParameterTensors<&[f32]>,
    idx: &[u32],
    targets: &[usize],
) -> (f32, ParameterTensors<Vec<f32>>) {
    let (b, t, c, v) = (d.b, d.t, d.c, d.vocab);
    let n = b * t;
    assert!(
        idx.len() == n && targets.len() == n,
        "whole: {} ids, {} targets for {b}×{t}",
        idx.len(),
        targets.len()
    );
    assert!(p.wte.len() == v * c && p.wpe.len() >= t * c, "whole: embeddings of the wrong size");
    let mut x = embed(p.wte, p.wpe, idx, t, c);
    let packed: Vec<Vec<f32>> = p.h.iter().map(|blk| block::pack(&blk.pairs())).collect();
    let mut saved = Vec::with_capacity(packed.len());
    for pb in &packed {
        let (y, s) = block::forward(&x, pb, b, t, d.n_head, c, d.bias);
        saved.push((std::mem::replace(&mut x, y), s));
    }
    let (lw, lb) = p.ln_f;
    let mut hf = vec![0.0f32; n * c];
    layer_norm::forward_into(&x, lw, lb.unwrap_or(&[]), &mut hf);
    let head = p.lm_head.unwrap_or(p.wte);
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
    let (mut wte, lm_head) = match p.lm_head {
        None => (dhead, None),
        Some(_) => (vec![0.0f32; v * c], Some(dhead)),
    };
    let wpe = embed_backward(&dx, idx, t, c, &mut wte, p.wpe.len());
    drop(dx);
    let h = (blocks.iter())
        .map(|dp| {
            BlockTensors::from_pairs(
                block::unpack(dp, c, d.bias).map(|(w, b)| (w.to_vec(), b.map(<[f32]>::to_vec))),
            )
        })
        .collect();
    let ln_f = (ln_f[..c].to_vec(), d.bias.then(|| ln_f[c..].to_vec()));
    (loss, ParameterTensors { wte, wpe, h, ln_f, lm_head })
}

/// x₀ = wte[idx] + wpe[pos] (B·T, C), one rounding as candle's `broadcast_add` (llm.c's
/// `encoder_forward`).
fn embed(wte: &[f32], wpe: &[f32], idx: &[u32], t: usize, c: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; idx.len() * c];
    for (i, (xr, &tok)) in x.chunks_exact_mut(c).zip(idx).enumerate() {
        let (er, pr) = (&wte[tok as usize * c..][..c], &wpe[(i % t) * c..][..c]);
        for ((o, &e), &q) in xr.iter_mut().zip(er).zip(pr) {
            *o = e + q;
        }
    }
    x
}

/// The embeddings' gradients from dx₀ (llm.c's `encoder_backward`): returns dwpe (`wpe_len`
/// floats, dwpe[pos] = Σ_b dx₀[b, pos] summed over b in order from zero, rows ≥ T zero), and
/// adds each row of dx₀ onto `dwte` in token order.
fn embed_backward(dx: &[f32], idx: &[u32], t: usize, c: usize, dwte: &mut [f32], wpe_len: usize) -> Vec<f32> {
    let mut wpe = vec![0.0f32; wpe_len];
    for (i, dr) in dx.chunks_exact(c).enumerate() {
        for (a, &g) in wpe[(i % t) * c..][..c].iter_mut().zip(dr) {
            *a += g;
        }
    }
    for (dr, &tok) in dx.chunks_exact(c).zip(idx) {
        for (a, &g) in dwte[tok as usize * c..][..c].iter_mut().zip(dr) {
            *a += g;
        }
    }
    wpe
}
