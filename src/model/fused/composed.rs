//! The composed, differentiable reference forms (copied from `model::ops`). The fused ops fall
//! back to these off the CPU (CUDA, Metal) and for dtypes other than f32, and the tests use
//! them as the reference for values and gradients.

use candle_core::{DType, Device, Result, Tensor, D};

/// LayerNorm over the last dim: (x − mean) / √(var + eps) · w + b, with the biased variance
/// as PyTorch's `nn.LayerNorm` (eps = 1e-5).
pub fn layer_norm(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    const EPS: f64 = 1e-5;
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + EPS)?.sqrt()?)?;
    let y = xn.broadcast_mul(w)?;
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// GELU with the exact erf form, as PyTorch's `nn.GELU()` (nanoGPT's MLP).
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.gelu_erf()
}

/// Causal softmax of attention scores `(b, h, t, t)`: entries above the diagonal get zero
/// weight. `mask` is the additive (t, t) mask from [`causal_mask`].
pub fn causal_softmax(att: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let att = att.broadcast_add(mask)?;
    let max = att.max_keepdim(D::Minus1)?;
    let e = att.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Additive causal mask (t, t): 0 on and below the diagonal, −∞ above.
pub fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let v: Vec<f32> =
        (0..t).flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY })).collect();
    Tensor::from_vec(v, (t, t), device)
}

/// Mean cross-entropy (nats/token) of logits `(n, V)` against targets `(n,)` u32:
/// −mean_i log softmax(logits_i)[target_i].
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?;
    let diff = logits.broadcast_sub(&max)?;
    let lse = diff.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let logp = diff.broadcast_sub(&lse)?;
    let picked = logp.gather(&targets.unsqueeze(1)?, 1)?; // (n, 1)
    picked.mean_all()?.neg()?.to_dtype(DType::F32)
}
