//! Fused causal multi-head self-attention core: from the packed `c_attn` output
//! qkv (B·T, 3C) = [q | k | v] to the merged heads y (B·T, C), before `c_proj`.
//!
//! Forward, per sequence b and head h, with q, k, v the (T, hd) slices of qkv read in place
//! through strides (no split / permute / contiguous copies) and s = 1/√hd:
//!   S = q·kᵀ,  P = causal_softmax(s·S) (as `causal_softmax_scaled`),  y[b, :, h] = P·v.
//! P is kept (B·H·T·T floats) for the backward:
//!   dP = dy·vᵀ,  dS = s·P ⊙ (dP − rowsum(dP ⊙ P)),  dq = dS·k,  dk = dSᵀ·q,  dv = Pᵀ·dy,
//! written straight into their columns of dqkv (B·T, 3C).
//! **Causal blocking.** P and dS are zero above the diagonal, so every product runs on row
//! blocks of 32 (`row_blocks`): rows r0..r1 of S, P·v, dP and dS·k only over columns < r1,
//! rows j0..j1 of dSᵀ·q and Pᵀ·dy only over rows ≥ j0 — 62.5% of the full T×T work at
//! T = 128. The skipped terms are exact zeros, so only the length of each dot product changes.
//!
//! The composed form (`model::gpt` before: reshape, permute, three `contiguous` copies of
//! q, k, v, two batched matmuls, the fused softmax, a transpose copy) allocates eight
//! (B, H, T, ·) tensors forward and more backward, where candle's matmul backward also copies
//! transposes. Here each (b, h) works on T×T scratch that stays in L1/L2.
//!
//! **Determinism.** Sequences are independent; rayon splits over sequences only and every
//! product runs single-threaded inside its task, so results do not depend on the thread count.

use std::sync::{Arc, Mutex};

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::gemm::{matmul_st, Mat};
use super::simd::Isa;
use super::softmax::{sm_bwd, sm_fwd};
use super::{causal_softmax_scaled, f32_data, fused_ok};

/// Causal self-attention over packed qkv (B·T, 3C) with `n_head` heads → (B·T, C), heads
/// merged in order (y[:, h·hd..(h+1)·hd] is head h). Scores are scaled by 1/√hd. Fused on the
/// CPU for f32, composed (as nanoGPT) elsewhere. Differentiable.
pub fn causal_attention(qkv: &Tensor, b: usize, t: usize, n_head: usize) -> Result<Tensor> {
    let (rows, c3) = qkv.dims2()?;
    if rows != b * t || c3 % 3 != 0 || (c3 / 3) % n_head.max(1) != 0 || n_head == 0 {
        bail!("causal_attention: qkv {:?} does not fit b = {b}, t = {t}, {n_head} heads", qkv.shape());
    }
    if !fused_ok(&[qkv]) {
        return composed(qkv, b, t, n_head);
    }
    qkv.contiguous()?.apply_op1(Attention { b, t, h: n_head, probs: Mutex::new(None) })
}

/// The composed reference (the model's former code path).
pub fn composed(qkv: &Tensor, b: usize, t: usize, h: usize) -> Result<Tensor> {
    let c = qkv.dim(1)? / 3;
    let hd = c / h;
    let qkv = qkv.reshape((b, t, 3, h, hd))?.permute((2, 0, 3, 1, 4))?; // (3, B, H, T, hd)
    let q = qkv.get(0)?.contiguous()?;
    let k = qkv.get(1)?.contiguous()?;
    let v = qkv.get(2)?.contiguous()?;
    let att = q.matmul(&k.t()?)?;
    let att = causal_softmax_scaled(&att, 1.0 / (hd as f64).sqrt())?;
    att.matmul(&v)?.transpose(1, 2)?.reshape((b * t, c))
}

/// The forward pass over qkv (B·T, 3C) with C = `c`: the merged heads y (B·T, C) and the
/// probabilities P (B·H·T·T) kept for [`backward`].
pub(super) fn forward(qkv: &[f32], b: usize, t: usize, h: usize, c: usize) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0f32; b * t * c];
    let mut probs = vec![0.0f32; b * h * t * t];
    forward_into(qkv, b, t, h, c, &mut y, &mut probs);
    (y, probs)
}

/// [`forward`] into y (B·T·C) and probs (B·H·T·T): every element of both is written, none read.
pub(super) fn forward_into(
    qkv: &[f32],
    b: usize,
    t: usize,
    h: usize,
    c: usize,
    y: &mut [f32],
    probs: &mut [f32],
) {
    let hd = c / h;
    let (tt, c3) = (t * t, 3 * c);
    let scale = scale_of(hd);
    let isa = Isa::detected();
    assert!(y.len() == b * t * c && probs.len() == b * h * tt, "attention: output buffers of the wrong size");
    let seq = |(bi, (yb, pb)): (usize, (&mut [f32], &mut [f32]))| {
        let xb = &qkv[bi * t * c3..(bi + 1) * t * c3];
        let mut s = vec![0.0f32; tt];
        for (hi, p) in pb.chunks_exact_mut(tt).enumerate() {
            let q = &xb[hi * hd..];
            let k = &xb[c + hi * hd..];
            let v = &xb[2 * c + hi * hd..];
            for (r0, r1) in row_blocks(t) {
                // Rows r0..r1 of S and P: only columns < r1 can be unmasked.
                let (m, s_rows) = (r1 - r0, &mut s[r0 * t..r1 * t]);
                let qb = Mat { data: &q[r0 * c3..], rs: c3, cs: 1 };
                matmul_st(m, r1, hd, s_rows, t, false, qb, Mat { data: k, rs: 1, cs: c3 });
                let p_rows = &mut p[r0 * t..r1 * t];
                sm_fwd(isa, s_rows, p_rows, t, r0, scale);
                let vb = Mat { data: v, rs: c3, cs: 1 };
                matmul_st(m, hd, r1, &mut yb[r0 * c + hi * hd..], c, false, Mat::rows(p_rows, t), vb);
            }
        }
    };
    if candle_core::utils::get_num_threads() > 1 && b > 1 {
        y.par_chunks_mut(t * c).zip(probs.par_chunks_mut(h * tt)).enumerate().for_each(seq);
    } else {
        y.chunks_mut(t * c).zip(probs.chunks_mut(h * tt)).enumerate().for_each(seq);
    }
}

/// Row blocks [r0, r1) of the T×T score matrices: the causal products skip the columns ≥ r1
/// of a block (all masked), so the QKᵀ, PV and backward products do (1 + 1/n_blocks)/2 of the
/// full T×T work (62.5% at T = 128). Blocks of 32 rows keep each product large enough for the
/// `gemm` microkernels (32 rows = two AVX-512 registers of f32).
fn row_blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    const ROWS: usize = 32;
    (0..t.div_ceil(ROWS)).map(move |i| (i * ROWS, ((i + 1) * ROWS).min(t)))
}

struct Attention {
    b: usize,
    t: usize,
    h: usize,
    probs: Mutex<Option<Arc<Vec<f32>>>>,
}

fn scale_of(hd: usize) -> f32 {
    (1.0 / (hd as f64).sqrt()) as f32
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_data(s, l, self.name())?;
        let c = l.dims()[1] / 3;
        let (y, probs) = forward(qkv, self.b, self.t, self.h, c);
        *self.probs.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(probs));
        Ok((CpuStorage::F32(y), Shape::from((self.b * self.t, c))))
    }

    fn bwd(&self, qkv: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let probs = self.probs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(probs) = probs else {
            bail!("{}: backward without the forward's probabilities", self.name())
        };
        let op = AttentionBwd { b: self.b, t: self.t, h: self.h, probs };
        Ok(Some(qkv.apply_op2_no_bwd(&g.contiguous()?, &op)?))
    }
}

/// The backward pass: dqkv (B·T, 3C) from qkv, dy (B·T, C) and the forward's probabilities.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    qkv: &[f32],
    dy: &[f32],
    probs: &[f32],
    b: usize,
    t: usize,
    h: usize,
    c: usize,
) -> Vec<f32> {
    let mut dqkv = vec![0.0f32; b * t * 3 * c];
    backward_into(qkv, dy, probs, b, t, h, c, &mut dqkv);
    dqkv
}

/// [`backward`] into `dqkv` (B·T·3C): every element is written (dq over row blocks, dk and dv
/// over column blocks, each covering all T rows), none read.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_into(
    qkv: &[f32],
    dy: &[f32],
    probs: &[f32],
    b: usize,
    t: usize,
    h: usize,
    c: usize,
    dqkv: &mut [f32],
) {
    let hd = c / h;
    let (tt, c3) = (t * t, 3 * c);
    let scale = scale_of(hd);
    let isa = Isa::detected();
    assert_eq!(dqkv.len(), b * t * c3, "attention backward: output buffer of the wrong size");
    let seq = |(bi, db): (usize, &mut [f32])| {
        let xb = &qkv[bi * t * c3..(bi + 1) * t * c3];
        let gb = &dy[bi * t * c..(bi + 1) * t * c];
        let (mut dp, mut ds) = (vec![0.0f32; tt], vec![0.0f32; tt]);
        for hi in 0..h {
            let p = &probs[(bi * h + hi) * tt..(bi * h + hi + 1) * tt];
            let (qo, ko, vo) = (hi * hd, c + hi * hd, 2 * c + hi * hd);
            let (q, k, v) = (&xb[qo..], &xb[ko..], &xb[vo..]);
            for (r0, r1) in row_blocks(t) {
                // Rows r0..r1: dP = dy·vᵀ and dS = softmax backward (scaled, zero above the
                // diagonal) on columns < r1, then dq = dS·k over those columns.
                let m = r1 - r0;
                let dyb = Mat { data: &gb[r0 * c + hi * hd..], rs: c, cs: 1 };
                let dp_rows = &mut dp[r0 * t..r1 * t];
                matmul_st(m, r1, hd, dp_rows, t, false, dyb, Mat { data: v, rs: 1, cs: c3 });
                sm_bwd(isa, &p[r0 * t..r1 * t], dp_rows, &mut ds[r0 * t..r1 * t], t, r0, scale);
                let dsb = Mat::rows(&ds[r0 * t..], t);
                matmul_st(m, hd, r1, &mut db[r0 * c3 + qo..], c3, false, dsb, Mat { data: k, rs: c3, cs: 1 });
            }
            for (j0, j1) in row_blocks(t) {
                // Rows j0..j1 of dk = dSᵀ·q and dv = Pᵀ·dy: only rows i ≥ j0 of dS and P are
                // non-zero in columns j0..j1.
                let (m, kk) = (j1 - j0, t - j0);
                let dst = Mat { data: &ds[j0 * t + j0..], rs: 1, cs: t };
                let qb = Mat { data: &q[j0 * c3..], rs: c3, cs: 1 };
                matmul_st(m, hd, kk, &mut db[j0 * c3 + ko..], c3, false, dst, qb);
                let pt = Mat { data: &p[j0 * t + j0..], rs: 1, cs: t };
                let dyb = Mat { data: &gb[j0 * c + hi * hd..], rs: c, cs: 1 };
                matmul_st(m, hd, kk, &mut db[j0 * c3 + vo..], c3, false, pt, dyb);
            }
        }
    };
    if candle_core::utils::get_num_threads() > 1 && b > 1 {
        dqkv.par_chunks_mut(t * c3).enumerate().for_each(seq);
    } else {
        dqkv.chunks_mut(t * c3).enumerate().for_each(seq);
    }
}

/// (qkv, dy) → dqkv, with the forward's probabilities.
struct AttentionBwd {
    b: usize,
    t: usize,
    h: usize,
    probs: Arc<Vec<f32>>,
}

impl CustomOp2 for AttentionBwd {
    fn name(&self) -> &'static str {
        "fused-causal-attention-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, t, h) = (self.b, self.t, self.h);
        let qkv = f32_data(s1, l1, self.name())?;
        let dy = f32_data(s2, l2, self.name())?;
        let c = l1.dims()[1] / 3;
        if dy.len() != b * t * c || self.probs.len() != b * h * t * t {
            bail!("{}: gradient {:?} does not match qkv {:?}", self.name(), l2.shape(), l1.shape());
        }
        let dqkv = backward(qkv, dy, &self.probs, b, t, h, c);
        Ok((CpuStorage::F32(dqkv), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::testutil::*;
    use candle_core::Var;

    /// qkv as (B, T, 3C) and the head count as the length of the extra argument (the helpers
    /// take plain `fn`s).
    fn split(v: &[Tensor]) -> (Tensor, usize, usize, usize) {
        let (b, t, c3) = v[0].dims3().unwrap();
        (v[0].reshape((b * t, c3)).unwrap(), b, t, v[1].dim(0).unwrap())
    }
    fn fused(v: &[Tensor]) -> Result<Tensor> {
        let (x, b, t, h) = split(v);
        causal_attention(&x, b, t, h)
    }
    fn reference(v: &[Tensor]) -> Result<Tensor> {
        let (x, b, t, h) = split(v);
        composed(&x, b, t, h)
    }
    fn heads(h: usize) -> Tensor {
        Tensor::zeros(h, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap()
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(61);
        // T = 70: three causal row blocks, the last one ragged.
        for (b, t, h, hd) in [(1, 1, 1, 1), (2, 5, 2, 3), (3, 17, 4, 8), (2, 70, 2, 8), (2, 128, 4, 32)] {
            let qkv = Var::from_tensor(&randn(&mut rng, &[b, t, 3 * h * hd], 1.0)).unwrap();
            compare_with_composed_x(&mut rng, &[qkv], &[heads(h)], fused, reference, 1e-5, 1e-4);
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(62);
        let qkv = Var::from_tensor(&randn(&mut rng, &[2, 4, 3 * 2 * 3], 1.0)).unwrap();
        finite_difference_check_x(&mut rng, &[qkv], &[heads(2)], fused, 2e-3, 1e-2);
        // Two causal row blocks.
        let qkv = Var::from_tensor(&randn(&mut rng, &[1, 40, 6], 1.0)).unwrap();
        finite_difference_check_x(&mut rng, &[qkv], &[heads(1)], fused, 2e-3, 1e-2);
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(63);
        let qkv = Var::from_tensor(&randn(&mut rng, &[6, 33, 3 * 4 * 8], 1.0)).unwrap();
        check_deterministic_x(&mut rng, &[qkv], &[heads(4)], fused);
    }
}
