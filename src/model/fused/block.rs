//! One fused op for a whole pre-LayerNorm transformer block (nanoGPT's `Block`), x (B·T, C) →
//!   x₁ = x + c_proj(attn(c_attn(ln_1(x)))),   y = x₁ + mlp.c_proj(gelu(c_fc(ln_2(x₁)))).
//!
//! **Why.** With one candle op per layer (`linear`, `layer_norm`, `causal_attention`, `gelu`
//! and the two residual adds), candle's backward pass gives every graph edge a zero-filled
//! gradient tensor and adds the op's gradient onto it (`GradStore::or_insert` + `add`, candle
//! 0.11 `backprop.rs`). A block has 12 such activation edges, about 20·(B·T·C) floats, each
//! written by the fill, then read twice and written once by the add: at (256, 6, 8) that was
//! 10–13% of a training step. Here the block is one edge for x (plus one small edge for the
//! packed parameters); the activations live in plain vectors kept by the op for its backward.
//!
//! **Parameters.** A custom op takes at most three tensors, so the block's parameters are
//! flattened and concatenated (`Tensor::cat`, in the order of [`BlockTensors::pairs`], each
//! weight followed by its bias) into one vector of 12C² + 13C floats (9C less without
//! biases); candle's `cat` backward hands each parameter its slice of the packed gradient.
//! Copying the parameters costs O(C²) per step against the O(B·T·C) activations saved.
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
//!
//! **Memory passes.** Since a Linear's output is fl(x·Wᵀ) + b (`linear::forward`), the bias
//! adds of `attn.c_proj`, `mlp.c_fc` and `mlp.c_proj` ride along in the passes that read those
//! outputs anyway (the residual adds and the GELU), and the residual gradients are added inside
//! the LayerNorm backward passes; each saves one or two passes over an (B·T, C) or (B·T, 4C)
//! buffer with the same roundings as the per-op path.
//!
//! **Determinism.** Every piece is one of the thread-count-independent kernels of its
//! module (`gemm`, `layer_norm`, `gelu`, `attention`).

use std::sync::{Arc, Mutex};

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::buffers::{give, take};
use super::gemm::{matmul_new, Mat};
use super::{attention, f32_data, fused_ok, gelu, layer_norm, linear};
use crate::model::params::{BlockTensors, Pair};

/// The parameters of one block as (weight, bias) pairs (`model::params::BlockTensors`); W of
/// a Linear is (out, in) as `nn.Linear`, LayerNorm weights and biases are (C,). Biases are all
/// present or all absent.
pub type BlockParams<'a> = BlockTensors<&'a Tensor>;

/// (weight shape, bias length) of each pair in packing order, for width C; a weight shape
/// (0, k) is the 1-D (k,) of a LayerNorm.
fn shapes(c: usize) -> [((usize, usize), usize); 6] {
    [((0, c), c), ((3 * c, c), 3 * c), ((c, c), c), ((0, c), c), ((4 * c, c), 4 * c), ((c, 4 * c), c)]
}

/// Offsets of (weight, bias) of each pair in the packed vector, and its total length.
pub(super) fn offsets(c: usize, bias: bool) -> ([(usize, usize); 6], usize) {
    let mut offs = [(0, 0); 6];
    let mut at = 0;
    for (o, ((r, k), nb)) in offs.iter_mut().zip(shapes(c)) {
        o.0 = at;
        at += r.max(1) * k;
        o.1 = at;
        if bias {
            at += nb;
        }
    }
    (offs, at)
}

/// One transformer block on x (B·T, C) with `n_head` heads (see the module doc). Fused on the
/// CPU for f32 with biases all present or all absent; elsewhere the per-op path
/// ([`unfused`]). Differentiable in x and every parameter.
pub fn transformer_block(x: &Tensor, p: &BlockParams, b: usize, t: usize, n_head: usize) -> Result<Tensor> {
    let (rows, c) = x.dims2()?;
    if rows != b * t || n_head == 0 || c % n_head != 0 {
        bail!("transformer_block: x {:?} does not fit b = {b}, t = {t}, {n_head} heads", x.shape());
    }
    for (i, ((w, bias), ((r, k), nb))) in p.pairs().into_iter().zip(shapes(c)).enumerate() {
        let want: &[usize] = if r == 0 { &[k] } else { &[r, k] };
        if w.dims() != want || bias.is_some_and(|bt| bt.dims() != [nb]) {
            bail!(
                "transformer_block: parameter pair {i} has shapes {:?}, {:?} for C = {c}",
                w.shape(),
                bias.map(|bt| bt.shape())
            );
        }
    }
    let pairs = p.pairs();
    let with_bias = pairs.iter().all(|(_, bt)| bt.is_some());
    let no_bias = pairs.iter().all(|(_, bt)| bt.is_none());
    let all: Vec<&Tensor> = pairs.iter().flat_map(|(w, bt)| std::iter::once(*w).chain(*bt)).collect();
    if !(with_bias || no_bias) || !fused_ok(&[x]) || !fused_ok(&all) {
        return unfused(x, p, b, t, n_head);
    }
    let flat = all.iter().map(|t| t.flatten_all()).collect::<Result<Vec<_>>>()?;
    let packed = Tensor::cat(&flat, 0)?;
    x.contiguous()?.apply_op2(&packed, Block { b, t, h: n_head, bias: with_bias, saved: Mutex::new(None) })
}

/// The per-op path (the model's former code): `layer_norm`, `linear`, `causal_attention`,
/// `gelu` and candle adds, each its own graph node.
pub fn unfused(x: &Tensor, p: &BlockParams, b: usize, t: usize, n_head: usize) -> Result<Tensor> {
    let h1 = layer_norm::layer_norm(x, p.ln_1.0, p.ln_1.1)?;
    let qkv = linear::linear(&h1, p.c_attn.0, p.c_attn.1)?; // (B·T, 3C)
    let a = attention::causal_attention(&qkv, b, t, n_head)?; // (B·T, C), heads merged
    let x1 = (x + linear::linear(&a, p.attn_proj.0, p.attn_proj.1)?)?;
    let h2 = layer_norm::layer_norm(&x1, p.ln_2.0, p.ln_2.1)?;
    let u = gelu::gelu(&linear::linear(&h2, p.c_fc.0, p.c_fc.1)?)?; // (B·T, 4C)
    &x1 + linear::linear(&u, p.mlp_proj.0, p.mlp_proj.1)?
}

/// The forward activations the backward pass needs (see the module doc); their buffers go back
/// to `buffers` when the graph holding the op is dropped.
pub(super) struct Saved {
    h1: Vec<f32>,
    qkv: Vec<f32>,
    probs: Vec<f32>,
    a: Vec<f32>,
    x1: Vec<f32>,
    h2: Vec<f32>,
    f: Vec<f32>,
    u: Vec<f32>,
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

struct Block {
    b: usize,
    t: usize,
    h: usize,
    bias: bool,
    saved: Mutex<Option<Arc<Saved>>>,
}

/// The slices of one (weight, bias) pair of the packed vector (bias `None` without biases).
fn pair<'p>(
    p: &'p [f32],
    offs: &[(usize, usize); 6],
    i: usize,
    bias: bool,
    c: usize,
) -> (&'p [f32], Option<&'p [f32]>) {
    let (w, bo) = offs[i];
    (&p[w..bo], bias.then(|| &p[bo..bo + shapes(c)[i].1]))
}

impl CustomOp2 for Block {
    fn name(&self) -> &'static str {
        "fused-transformer-block"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(s1, l1, self.name())?;
        let p = f32_data(s2, l2, self.name())?;
        let &[n, c] = l1.dims() else { bail!("{}: x must be 2-D, got {:?}", self.name(), l1.shape()) };
        let (_, np) = offsets(c, self.bias);
        if p.len() != np || n != self.b * self.t {
            bail!(
                "{}: {} packed parameters for C = {c} (want {np}), x {:?}",
                self.name(),
                p.len(),
                l1.shape()
            );
        }
        let (y, saved) = forward(x, p, self.b, self.t, self.h, c, self.bias);
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(saved));
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        p: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(saved) = saved else { bail!("{}: backward without the forward's activations", self.name()) };
        let op = BlockBwd { b: self.b, t: self.t, h: self.h, bias: self.bias, saved };
        let all = x.apply_op3_no_bwd(p, &g.contiguous()?, &op)?;
        let nx = x.elem_count();
        let dx = all.narrow(0, 0, nx)?.reshape(x.shape())?;
        let dp = all.narrow(0, nx, p.elem_count())?;
        Ok((Some(dx), Some(dp)))
    }
}

/// (x, packed parameters, g) → [dx (B·T·C) | d packed], one flat vector.
struct BlockBwd {
    b: usize,
    t: usize,
    h: usize,
    bias: bool,
    saved: Arc<Saved>,
}

impl CustomOp3 for BlockBwd {
    fn name(&self) -> &'static str {
        "fused-transformer-block-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (x, p, g) = (f32_data(s1, l1, name)?, f32_data(s2, l2, name)?, f32_data(s3, l3, name)?);
        let &[n, c] = l1.dims() else { bail!("{name}: x must be 2-D, got {:?}", l1.shape()) };
        let (_, np) = offsets(c, self.bias);
        let s = &*self.saved;
        if p.len() != np || g.len() != n * c || s.x1.len() != n * c {
            bail!("{name}: gradient {:?} or parameters do not match x {:?}", l3.shape(), l1.shape());
        }
        let mut out = vec![0.0f32; n * c + np];
        let (dx, dp) = out.split_at_mut(n * c);
        backward_into(x, p, g, &self.saved, self.b, self.t, self.h, c, self.bias, dx, dp);
        Ok((CpuStorage::F32(out), Shape::from(n * c + np)))
    }
}

/// A (weight, bias) pair of slices; the bias is `None` without biases.
pub(crate) type PairSlices<'a> = Pair<&'a [f32]>;

/// The packed parameter vector of one block from its (weight, bias) slices in packing order
/// (what `transformer_block`'s `cat` builds).
pub(super) fn pack(pairs: &[PairSlices; 6]) -> Vec<f32> {
    let len = pairs.iter().map(|(w, b)| w.len() + b.map_or(0, |b| b.len())).sum();
    let mut p = Vec::with_capacity(len);
    for (w, b) in pairs {
        p.extend_from_slice(w);
        p.extend_from_slice(b.unwrap_or(&[]));
    }
    p
}

/// The (weight, bias) slices of each pair of a packed vector (parameters or their gradient).
pub(super) fn unpack(p: &[f32], c: usize, bias: bool) -> [PairSlices<'_>; 6] {
    let (offs, np) = offsets(c, bias);
    assert_eq!(p.len(), np, "block: packed vector of the wrong length");
    std::array::from_fn(|i| pair(p, &offs, i, bias, c))
}

/// The block's forward pass on x (n × C) with the packed parameters `p` ([`offsets`]): the
/// output y and the activations its backward pass needs.
pub(super) fn forward(
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

/// The block's backward pass: with x, the packed parameters `p`, the output gradient g and the
/// forward's activations `s`, writes dx (n × C) and the packed parameter gradient `dp` (every
/// element of both).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_into(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::composed;
    use crate::model::fused::testutil::*;
    use candle_core::{DType, Device, Var};

    /// x (B, T, C), then the 12 (or 6 without biases) parameters in packing order; the head
    /// count is the length of the extra argument (the helpers take plain `fn`s).
    fn parts(v: &[Tensor]) -> (Tensor, Vec<Tensor>, usize, usize, usize) {
        let (b, t, c) = v[0].dims3().unwrap();
        let h = v.last().unwrap().dim(0).unwrap();
        (v[0].reshape((b * t, c)).unwrap(), v[1..v.len() - 1].to_vec(), b, t, h)
    }
    fn with_params<R>(ps: &[Tensor], f: impl FnOnce(&BlockParams) -> R) -> R {
        let bias = ps.len() == 12;
        let pr = |i: usize| if bias { (&ps[2 * i], Some(&ps[2 * i + 1])) } else { (&ps[i], None) };
        let p = BlockParams {
            ln_1: pr(0),
            c_attn: pr(1),
            attn_proj: pr(2),
            ln_2: pr(3),
            c_fc: pr(4),
            mlp_proj: pr(5),
        };
        f(&p)
    }
    fn fused(v: &[Tensor]) -> Result<Tensor> {
        let (x, ps, b, t, h) = parts(v);
        with_params(&ps, |p| transformer_block(&x, p, b, t, h))
    }
    fn per_op(v: &[Tensor]) -> Result<Tensor> {
        let (x, ps, b, t, h) = parts(v);
        with_params(&ps, |p| unfused(&x, p, b, t, h))
    }
    /// Plain candle ops throughout (the composed form of every fused op).
    fn reference(v: &[Tensor]) -> Result<Tensor> {
        let (x, ps, b, t, h) = parts(v);
        with_params(&ps, |p| {
            let h1 = composed::layer_norm(&x, p.ln_1.0, p.ln_1.1)?;
            let qkv = linear::composed(&h1, p.c_attn.0, p.c_attn.1)?;
            let a = attention::composed(&qkv, b, t, h)?;
            let x1 = (&x + linear::composed(&a, p.attn_proj.0, p.attn_proj.1)?)?;
            let h2 = composed::layer_norm(&x1, p.ln_2.0, p.ln_2.1)?;
            let u = composed::gelu(&linear::composed(&h2, p.c_fc.0, p.c_fc.1)?)?;
            &x1 + linear::composed(&u, p.mlp_proj.0, p.mlp_proj.1)?
        })
    }
    fn heads(h: usize) -> Tensor {
        Tensor::zeros(h, DType::F32, &Device::Cpu).unwrap()
    }
    /// x and random parameters (LayerNorm weights around 1) for B, T, H, hd.
    fn vars(rng: &mut Rng, b: usize, t: usize, h: usize, hd: usize, bias: bool) -> Vec<Var> {
        let c = h * hd;
        let mut vs = vec![Var::from_tensor(&randn(rng, &[b, t, c], 1.0)).unwrap()];
        for (i, ((r, k), nb)) in shapes(c).into_iter().enumerate() {
            let scale = 1.0 / (k as f32).sqrt();
            let w = if r == 0 { (randn(rng, &[k], 0.2) + 1.0).unwrap() } else { randn(rng, &[r, k], scale) };
            vs.push(Var::from_tensor(&w).unwrap());
            if bias {
                let s = if i == 0 || i == 3 { 0.2 } else { 0.1 };
                vs.push(Var::from_tensor(&randn(rng, &[nb], s)).unwrap());
            }
        }
        vs
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(71);
        for (b, t, h, hd) in [(1, 1, 1, 1), (2, 5, 2, 3), (2, 17, 4, 8), (1, 64, 2, 16)] {
            for bias in [true, false] {
                let vs = vars(&mut rng, b, t, h, hd, bias);
                compare_with_composed_x(&mut rng, &vs, &[heads(h)], fused, reference, 1e-4, 1e-3);
            }
        }
    }

    /// The fused block gives exactly the numbers of the per-op path (same kernels, same order).
    #[test]
    fn bit_identical_to_per_op_path() {
        let mut rng = rng(72);
        for (b, t, h, hd, bias) in [(2, 17, 4, 8, true), (3, 32, 2, 16, false), (2, 128, 4, 32, true)] {
            let vs = vars(&mut rng, b, t, h, hd, bias);
            let extra = [heads(h)];
            let r = randn(&mut rng, &[b * t, h * hd], 1.0);
            // Twice: the second call runs on the buffers the first one returned (stale values).
            let (yf, gf) = output_and_grads(&vs, &extra, fused, &r);
            let (yf2, gf2) = output_and_grads(&vs, &extra, fused, &r);
            let (yp, gp) = output_and_grads(&vs, &extra, per_op, &r);
            let bits = |t: &Tensor| {
                t.flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            for (y, gs) in [(&yf, &gf), (&yf2, &gf2)] {
                assert_eq!(bits(y), bits(&yp), "forward differs");
                for (i, (f, p)) in gs.iter().zip(&gp).enumerate() {
                    assert_eq!(bits(f), bits(p), "gradient of input {i} differs");
                }
            }
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(73);
        for bias in [true, false] {
            let vs = vars(&mut rng, 2, 3, 2, 2, bias);
            finite_difference_check_x(&mut rng, &vs, &[heads(2)], fused, 2e-3, 1e-2);
        }
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(74);
        let vs = vars(&mut rng, 4, 33, 4, 8, true);
        check_deterministic_x(&mut rng, &vs, &[heads(4)], fused);
    }

    #[test]
    fn rejects_mismatched_parameters() {
        let mut rng = rng(75);
        let vs = vars(&mut rng, 1, 4, 2, 4, true);
        let mut v: Vec<Tensor> = vs.iter().map(|v| v.as_tensor().clone()).collect();
        v.push(heads(2));
        v[3] = randn(&mut rng, &[8, 8], 0.1); // c_attn weight (3C, C) replaced by (C, C)
        let err = fused(&v).unwrap_err().to_string();
        assert!(err.contains("parameter pair 1"), "{err}");
    }
}
