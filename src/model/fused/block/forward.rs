//! The fused block's forward pass over flat f32 slices: y and the activations its backward
//! pass keeps (`block` has the packed layout and the memory passes saved).

use super::{offsets, pair};
use crate::model::fused::buffers::{give, take};
use crate::model::fused::gemm::{matmul_new, Mat};
use crate::model::fused::{attention, gelu, layer_norm, linear};

/// The forward activations the backward pass needs (see `block`'s module doc); their buffers go back
/// to `buffers` when the graph holding the op is dropped.
pub(in crate::model::fused) struct Saved {
    pub(super) h1: Vec<f32>,
    pub(super) qkv: Vec<f32>,
    pub(super) probs: Vec<f32>,
    pub(super) a: Vec<f32>,
    pub(super) x1: Vec<f32>,
    pub(super) h2: Vec<f32>,
    pub(super) f: Vec<f32>,
    pub(super) u: Vec<f32>,
}

impl Drop for Saved {
    fn drop(&mut self) {
        for v in [
            &mut self.h1,
            &mut self.qkv,
            &mut self.probs,
            &mut self.a,
            &mut self.x1,
            &mut self.h2,
            &mut self.f,
            &mut self.u,
        ] {
            give(std::mem::take(v));
        }
    }
}

/// The block's forward pass on x (n × C) with the packed parameters `p` ([`offsets`]): the
/// output y and the activations its backward pass needs.
pub(in crate::model::fused) fn forward(
    x: &[f32],
    p: &[f32],
    b: usize,
    t: usize,
    h: usize,
    c: usize,
    bias: bool,
) -> (Vec<f32>, Saved) {
    let n = x.len() / c;
    let (offs, _) = offsets(c, bias);
    let empty: &[f32] = &[];
    // Every buffer from `take` is written in full by its `*_into` kernel before it is read.
    let ln = |i: usize, x: &[f32]| {
        let (w, bb) = pair(p, &offs, i, bias, c);
        let mut y = take(n * c);
        layer_norm::forward_into(x, w, bb.unwrap_or(empty), &mut y);
        y
    };
    let lin = |i: usize, x: &[f32], inp: usize, out: usize| {
        let (w, bb) = pair(p, &offs, i, bias, c);
        let mut y = take(n * out);
        linear::forward_into(x, w, bb, n, inp, out, &mut y);
        y
    };
    // The product alone of pair i (its bias is added by the pass that consumes it).
    let product = |i: usize, x: &[f32], inp: usize, out: usize| {
        let mut y = take(n * out);
        linear::product_into(x, pair(p, &offs, i, bias, c).0, n, inp, out, &mut y);
        y
    };
    let h1 = ln(0, x);
    let qkv = lin(1, &h1, c, 3 * c);
    let (mut a, mut probs) = (take(n * c), take(b * h * t * t));
    attention::forward_into(&qkv, b, t, h, c, &mut a, &mut probs);
    let mut x1 = product(2, &a, c, c);
    linear::add_bias_residual(x, pair(p, &offs, 2, bias, c).1, &mut x1);
    let h2 = ln(3, &x1);
    // F is kept without its bias; the GELU passes add it (same bits as the Linear's output).
    let f = product(4, &h2, c, 4 * c);
    let b4 = pair(p, &offs, 4, bias, c).1.unwrap_or(empty);
    let mut u = take(n * 4 * c);
    gelu::forward_into(&f, b4, &mut u);
    // The output goes to candle, so it is a fresh vector (no zero fill: see `gemm::matmul_new`).
    let (w5, b5) = pair(p, &offs, 5, bias, c);
    let mut y = matmul_new(n, c, 4 * c, Mat::rows(&u, 4 * c), Mat::rows_t(w5, 4 * c));
    linear::add_bias_residual(&x1, b5, &mut y);
    (y, Saved { h1, qkv, probs, a, x1, h2, f, u })
}
