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
//! **Memory passes.** Since a Linear's output is fl(x·Wᵀ) + b (`linear::forward`), the bias
//! adds of `attn.c_proj`, `mlp.c_fc` and `mlp.c_proj` ride along in the passes that read those
//! outputs anyway (the residual adds and the GELU), and the residual gradients are added inside
//! the LayerNorm backward passes; each saves one or two passes over an (B·T, C) or (B·T, 4C)
//! buffer with the same roundings as the per-op path.
//!
//! **Pieces.** This file holds the op: the packed parameter layout and candle's two custom ops,
//! `Block` and its backward `BlockBwd`. `forward` and `backward` (with the gradient formulas)
//! are the two passes over flat f32 slices, which `fused::whole` also runs without candle.
//!
//! **Determinism.** Every piece is one of the thread-count-independent kernels of its
//! module (`gemm`, `layer_norm`, `gelu`, `attention`).

mod backward;
mod forward;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::{attention, f32_data, fused_ok, gelu, layer_norm, linear};
use crate::model::params::{BlockTensors, Pair};
pub(super) use backward::backward_into;
pub(super) use forward::{forward, Saved};

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
        let &[n, c] = l1.dims() else { bail!("{}: x must be 2-D, got {:?}", self.name(), l1.shape()) };
        let name = self.name();
        let (x, p, g) = (f32_data(s1, l1, name)?, f32_data(s2, l2, name)?, f32_data(s3, l3, name)?);
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
