//! The fused block's backward pass over flat f32 slices (see `block`).
//!
//! **Backward,** with g = ∂L/∂y, in the order the unfused graph runs it (same kernels, same
//! shapes, and each two-term gradient sum is commutative, so the result is bit-identical to
//! the per-op path; tested):
//!   dU = g·W_mp, dW_mp = gᵀ·U, db_mp = Σ g,   dF = gelu′(F) ⊙ dU,
//!   dH₂ = dF·W_fc, dW_fc = dFᵀ·H₂, db_fc = Σ dF,   dx₁ = g + ln_2ᵀ(x₁; dH₂),
//!   dA = dx₁·W_ap, dW_ap = dx₁ᵀ·A, db_ap = Σ dx₁,  dQKV = attnᵀ(QKV, P; dA),
//!   dH₁ = dQKV·W_at, dW_at = dQKVᵀ·H₁, db_at = Σ dQKV,  dx = dx₁ + ln_1ᵀ(x; dH₁),
//! where H₁ = ln_1(x), QKV = c_attn(H₁), A the merged heads, P the attention probabilities,
//! H₂ = ln_2(x₁), F = c_fc(H₂), U = gelu(F), all kept from the forward pass (F without its
//! bias, which the GELU passes add). The weight gradients are written straight into their
//! slices of the packed gradient.

use super::{offsets, pair, shapes, Saved};
use crate::model::fused::buffers::{give, take};
use crate::model::fused::{attention, gelu, layer_norm, linear};

/// The block's backward pass: with x, the packed parameters `p`, the output gradient g and the
/// forward's activations `s`, writes dx (n × C) and the packed parameter gradient `dp` (every
/// element of both).
#[allow(clippy::too_many_arguments)]
pub(in crate::model::fused) fn backward_into(
    x: &[f32],
    p: &[f32],
    g: &[f32],
    s: &Saved,
    b: usize,
    t: usize,
    h: usize,
    c: usize,
    bias: bool,
    dx: &mut [f32],
    dp: &mut [f32],
) {
    let n = x.len() / c;
    let (offs, _) = offsets(c, bias);
    let w = |i: usize| pair(p, &offs, i, bias, c).0;
    // Linear backward for pair i with input `inp_act` (n × inp) and output gradient gy
    // (n × out): dW (and db) into dp, returns dx.
    let lin_bwd = |dp: &mut [f32], i: usize, gy: &[f32], inp_act: &[f32], inp: usize, out: usize| {
        let ((wo, bo), nb) = (offs[i], shapes(c)[i].1);
        linear::backward_w_into(gy, inp_act, n, inp, out, &mut dp[wo..bo]);
        if bias {
            linear::column_sum_into(gy, &mut dp[bo..bo + nb]);
        }
        let mut dx = take(n * inp);
        linear::backward_x_into(gy, w(i), n, inp, out, &mut dx);
        dx
    };
    // LayerNorm backward for pair i plus the residual branch's gradient `res`: dx into
    // `dxo`, dw (and db) into dp.
    let ln_bwd = |dp: &mut [f32], i: usize, xin: &[f32], gy: &[f32], res: &[f32], dxo: &mut [f32]| {
        let (wo, bo) = offs[i];
        if bias {
            layer_norm::backward_into(xin, w(i), gy, Some(res), dxo, &mut dp[wo..bo + c]);
        } else {
            let mut dwb = vec![0.0f32; 2 * c];
            layer_norm::backward_into(xin, w(i), gy, Some(res), dxo, &mut dwb);
            dp[wo..bo].copy_from_slice(&dwb[..c]);
        }
    };
    // MLP: y = x₁ + c_proj(gelu(c_fc(ln_2(x₁)))).
    // (Every buffer from `take` is written in full by its `*_into` kernel before it is read.)
    let du = lin_bwd(dp, 5, g, &s.u, 4 * c, c);
    let mut df = take(n * 4 * c);
    gelu::backward_into(&s.f, pair(p, &offs, 4, bias, c).1.unwrap_or(&[]), &du, &mut df);
    give(du);
    let dh2 = lin_bwd(dp, 4, &df, &s.h2, c, 4 * c);
    give(df);
    let mut dx1 = take(n * c);
    ln_bwd(dp, 3, &s.x1, &dh2, g, &mut dx1);
    give(dh2);
    // Attention: x₁ = x + c_proj(attn(c_attn(ln_1(x)))).
    let da = lin_bwd(dp, 2, &dx1, &s.a, c, c);
    let mut dqkv = take(n * 3 * c);
    attention::backward_into(&s.qkv, &da, &s.probs, b, t, h, c, &mut dqkv);
    give(da);
    let dh1 = lin_bwd(dp, 1, &dqkv, &s.h1, c, 3 * c);
    give(dqkv);
    ln_bwd(dp, 0, x, &dh1, &dx1, dx);
    give(dh1);
    give(dx1);
}
