//! Fused LM head + mean cross-entropy: `cross_entropy(x · Wᵀ, targets)` without the (n, V)
//! logits tensor.
//!
//! The rows are processed in blocks of [`ROWS`]: for each block the logits (ROWS × V, 4 MiB at
//! V = 4096) are computed into one reused buffer, reduced to the per-row loss (as
//! `cross_entropy`: m = max, lse = m + ln Σ e^(x − m), ℓ = lse − x_t, in the same kernels),
//! and, when gradients are wanted, turned in place into ∂L/∂logits = (softmax − onehot)/n and
//! multiplied out at once:
//!   ∂L/∂x[block] = ∂L/∂logits · W,     ∂L/∂Wᵀ += x[block]ᵀ · ∂L/∂logits.
//! The backward pass then only scales the two stored gradients by the upstream gradient.
//! W is transposed once (C × V) for the logits and ∂L/∂W accumulated transposed, then turned
//! back once: `gemm` runs these shapes 15-45% faster with both operands in these layouts
//! (`gemm::layout_bench`), for two (V × C) copies.
//!
//! Against `matmul` + `cross_entropy` this saves writing and re-reading four (n, V) tensors
//! (logits, the zero fill of the matmul output, ∂L/∂logits and its transpose use in the matmul
//! backward): 64 MiB each at n = 4096, V = 4096, more than the rest of the model's activations.
//! The loss is summed over rows in order in f64, as `cross_entropy`.

use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cross_entropy::targets_of;
use super::gemm::{matmul, Mat};
use super::simd::{exp, max, multiversion, rows_per_task, sum_map, Fma, Isa};
use super::{f32_data, fused_ok};

/// Rows per block (fixed, so results do not depend on the thread count). 256 rows keep the
/// block's logits at 4 MiB (V = 4096) and make every product a large, well-shaped `gemm`.
const ROWS: usize = 256;

/// The transpose of a row-major (rows, cols) matrix, in tiles of 16 rows × 8 columns.
///
/// Why so narrow: a tile's output rows lie `rows` floats apart, 16 KiB for W (V = 4096), so
/// they all fall into one L1 set; 8 of them fit its ways, the 32 of a 32×32 tile thrash it.
/// (4096×256: 3.5 → 0.9 ms; 256×4096: 1.1 → 0.9 ms, thread CPU time, best of 9.)
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE_R: usize = 16;
    const TILE_C: usize = 8;
    let mut t = vec![0.0f32; a.len()];
    for r0 in (0..rows).step_by(TILE_R) {
        for c0 in (0..cols).step_by(TILE_C) {
            for r in r0..(r0 + TILE_R).min(rows) {
                for c in c0..(c0 + TILE_C).min(cols) {
                    t[c * rows + r] = a[r * cols + c];
                }
            }
        }
    }
    t
}

/// Mean cross-entropy of the logits `x · Wᵀ` (x: (n, C), W: (V, C), no bias) against targets
/// `(n,)` (u32, u8 or i64), as an f32 scalar. With `grad`, the result is differentiable in x
/// and W (the gradients are computed during the forward pass); without, it is a constant (for
/// evaluation, at a third of the cost). Fused on the CPU for f32, composed elsewhere.
pub fn linear_cross_entropy(x: &Tensor, w: &Tensor, targets: &Tensor, grad: bool) -> Result<Tensor> {
    let (n, c) = x.dims2()?;
    let (_v, cw) = w.dims2()?;
    if c != cw {
        bail!("linear_cross_entropy: x {:?} does not match weight {:?}", x.shape(), w.shape());
    }
    if targets.dims() != [n] {
        bail!("linear_cross_entropy: targets shape {:?}, expected ({n},)", targets.shape());
    }
    if !fused_ok(&[x, w]) || !targets.device().is_cpu() {
        let loss = super::cross_entropy(&x.matmul(&w.t()?)?, targets)?;
        return if grad { Ok(loss) } else { Ok(loss.detach()) };
    }
    let (x, w, t) = (x.contiguous()?, w.contiguous()?, targets.contiguous()?);
    let op = LinearCrossEntropy { grad, grads: Mutex::new(None) };
    if grad {
        x.apply_op3(&w, &t, op)
    } else {
        x.apply_op3_no_bwd(&w, &t, &op)
    }
}

/// The gradients of the loss (for upstream gradient 1) in x and W, as computed by the
/// forward pass, then as tensors once the backward pass has wrapped them.
enum Grads {
    Raw(Vec<f32>, Vec<f32>),
    Tensors(Tensor, Tensor),
}

struct LinearCrossEntropy {
    grad: bool,
    grads: Mutex<Option<Grads>>,
}

/// Per row of logits: the loss, and (with `grad`) the row overwritten by coef·(softmax − onehot).
#[inline(always)]
fn rows_k<F: Fma>(x: &mut [f32], t: &[usize], loss: &mut [f32], coef: f32, grad: bool) {
    let v = x.len() / t.len().max(1);
    for ((xr, &ti), lo) in x.chunks_exact_mut(v).zip(t).zip(loss.iter_mut()) {
        let m = max(xr);
        let s = sum_map(xr, |a| exp::<F>(a - m));
        let lse = m + s.ln();
        *lo = lse - xr[ti];
        if grad {
            for a in xr.iter_mut() {
                *a = coef * exp::<F>(*a - lse);
            }
            xr[ti] -= coef;
        }
    }
}
multiversion! { fn rows(x: &mut [f32], t: &[usize], loss: &mut [f32], coef: f32, grad: bool) = rows_k; }

/// [`rows`] over a block, row groups spread over rayon (each row is independent).
fn rows_par(x: &mut [f32], t: &[usize], loss: &mut [f32], coef: f32, grad: bool) {
    let v = x.len() / t.len().max(1);
    let isa = Isa::detected();
    let rpt = rows_per_task(v);
    if t.len() <= rpt {
        rows(isa, x, t, loss, coef, grad);
    } else {
        x.par_chunks_mut(rpt * v)
            .zip(t.par_chunks(rpt))
            .zip(loss.par_chunks_mut(rpt))
            .for_each(|((x, t), loss)| rows(isa, x, t, loss, coef, grad));
    }
}

/// (∂L/∂x, ∂L/∂W) of the fused head.
type XwGrads = (Vec<f32>, Vec<f32>);

/// The mean cross-entropy of the logits x·Wᵀ (x: n × C, W: V × C) against targets `t` (n,),
/// and with `grad` its gradients (dx (n × C), dW (V × C)), computed in row chunks of `ROWS`
/// without materialising the (n × V) logits.
pub(super) fn loss_and_grads(
    x: &[f32],
    w: &[f32],
    t: &[usize],
    c: usize,
    v: usize,
    grad: bool,
) -> (f32, Option<XwGrads>) {
    let n = t.len();
    assert!(x.len() == n * c && w.len() == v * c, "linear_cross_entropy: operands do not match");
    let coef = 1.0 / n.max(1) as f32;
    let mut loss = vec![0.0f32; n];
    let mut logits = vec![0.0f32; ROWS.min(n) * v];
    let (mut dx, mut dwt) = if grad { (vec![0.0f32; n * c], vec![0.0f32; c * v]) } else { (vec![], vec![]) };
    let wt = transpose(w, v, c); // (C, V)
    for (bi, r0) in (0..n).step_by(ROWS).enumerate() {
        let r = ROWS.min(n - r0);
        let (xb, lb) = (&x[r0 * c..(r0 + r) * c], &mut logits[..r * v]);
        matmul(r, v, c, lb, v, false, Mat::rows(xb, c), Mat::rows(&wt, v));
        rows_par(lb, &t[r0..r0 + r], &mut loss[r0..r0 + r], coef, grad);
        if grad {
            let lb = &*lb;
            matmul(r, c, v, &mut dx[r0 * c..(r0 + r) * c], c, false, Mat::rows(lb, v), Mat::rows(w, c));
            matmul(c, v, r, &mut dwt, v, bi > 0, Mat::rows_t(xb, c), Mat::rows(lb, v));
        }
    }
    let total: f64 = loss.iter().map(|&l| l as f64).sum();
    let mean = if n == 0 { f32::NAN } else { (total / n as f64) as f32 };
    let grads = grad.then(|| (dx, transpose(&dwt, c, v))); // dW (V, C)
    (mean, grads)
}

impl CustomOp3 for LinearCrossEntropy {
    fn name(&self) -> &'static str {
        "fused-linear-cross-entropy"
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
        let (&[n, c], &[v, cw]) = (l1.dims(), l2.dims()) else {
            bail!("{}: expected 2-D x and weight, got {:?} and {:?}", self.name(), l1.shape(), l2.shape())
        };
        if c != cw {
            bail!("{}: x {:?} does not match weight {:?}", self.name(), l1.shape(), l2.shape());
        }
        let x = f32_data(s1, l1, self.name())?;
        let w = f32_data(s2, l2, self.name())?;
        let t = targets_of(s3, l3, v, self.name())?;
        if t.len() != n {
            bail!("{}: {} targets for {n} rows", self.name(), t.len());
        }
        let (mean, grads) = loss_and_grads(x, w, &t, c, v, self.grad);
        if let Some((dx, dw)) = grads {
            *self.grads.lock().unwrap_or_else(|e| e.into_inner()) = Some(Grads::Raw(dx, dw));
        }
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _t: &Tensor,
        _loss: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let mut guard = self.grads.lock().unwrap_or_else(|e| e.into_inner());
        let (dx, dw) = match guard.take() {
            Some(Grads::Raw(dx, dw)) => {
                (Tensor::from_vec(dx, x.shape(), x.device())?, Tensor::from_vec(dw, w.shape(), w.device())?)
            }
            Some(Grads::Tensors(dx, dw)) => (dx, dw),
            None => bail!("{}: backward without the forward's gradients", self.name()),
        };
        *guard = Some(Grads::Tensors(dx.clone(), dw.clone()));
        let g = g.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let &[g] = g.as_slice() else { bail!("{}: expected a scalar gradient", self.name()) };
        if g == 1.0 {
            Ok((Some(dx), Some(dw), None))
        } else {
            Ok((Some((dx * g as f64)?), Some((dw * g as f64)?), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::testutil::*;
    use candle_core::{DType, Device, Var};
    use rand::Rng as _;

    fn fused(v: &[Tensor]) -> Result<Tensor> {
        linear_cross_entropy(&v[0], &v[1], &v[2], true)
    }
    fn reference(v: &[Tensor]) -> Result<Tensor> {
        super::super::composed::cross_entropy(&v[0].matmul(&v[1].t()?)?, &v[2])
    }

    fn targets(rng: &mut Rng, n: usize, v: usize) -> Tensor {
        let t: Vec<u32> = (0..n).map(|_| rng.gen_range(0..v as u32)).collect();
        Tensor::from_vec(t, n, &Device::Cpu).unwrap()
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(51);
        // Row counts below, at and across block boundaries.
        for (n, c, v) in [(1, 3, 7), (9, 16, 65), (64, 32, 256), (300, 24, 1000), (513, 33, 70)] {
            let x = Var::from_tensor(&randn(&mut rng, &[n, c], 1.0)).unwrap();
            let w = Var::from_tensor(&randn(&mut rng, &[v, c], 0.5)).unwrap();
            let t = targets(&mut rng, n, v);
            compare_with_composed_x(&mut rng, &[x, w], &[t], fused, reference, 1e-5, 1e-5);
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(52);
        let x = Var::from_tensor(&randn(&mut rng, &[5, 4], 1.0)).unwrap();
        let w = Var::from_tensor(&randn(&mut rng, &[9, 4], 1.0)).unwrap();
        let t = targets(&mut rng, 5, 9);
        finite_difference_check_x(&mut rng, &[x, w], &[t], fused, 2e-3, 1e-2);
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(53);
        let x = Var::from_tensor(&randn(&mut rng, &[300, 48], 1.0)).unwrap();
        let w = Var::from_tensor(&randn(&mut rng, &[1024, 48], 0.5)).unwrap();
        let t = targets(&mut rng, 300, 1024);
        check_deterministic_x(&mut rng, &[x, w], &[t], fused);
    }

    #[test]
    fn without_grad_same_loss_and_scaled_grads() {
        let mut rng = rng(54);
        let x = Var::from_tensor(&randn(&mut rng, &[70, 8], 1.0)).unwrap();
        let w = Var::from_tensor(&randn(&mut rng, &[33, 8], 1.0)).unwrap();
        let t = targets(&mut rng, 70, 33);
        let a = linear_cross_entropy(&x, &w, &t, true).unwrap();
        let b = linear_cross_entropy(&x, &w, &t, false).unwrap();
        assert_eq!(a.to_vec0::<f32>().unwrap(), b.to_vec0::<f32>().unwrap());
        assert!(b.backward().unwrap().get(&x).is_none(), "no gradient without grad");
        let g1 = a.backward().unwrap();
        let g3 = (linear_cross_entropy(&x, &w, &t, true).unwrap() * 3.0).unwrap().backward().unwrap();
        for v in [&x, &w] {
            let (a, b) = (g1.get(v).unwrap(), g3.get(v).unwrap());
            assert_close(b, &(a * 3.0).unwrap(), 1e-6, 1e-6, "scaled gradient");
        }
        // Same loss as the unfused logits → cross_entropy, for other target dtypes too.
        let logits = x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap();
        let c = super::super::cross_entropy(&logits, &t).unwrap().to_vec0::<f32>().unwrap();
        assert!((c - a.to_vec0::<f32>().unwrap()).abs() < 1e-6);
        for dt in [DType::U8, DType::I64] {
            let d = linear_cross_entropy(&x, &w, &t.to_dtype(dt).unwrap(), false).unwrap();
            assert_eq!(d.to_vec0::<f32>().unwrap(), b.to_vec0::<f32>().unwrap(), "{dt:?} targets");
        }
    }
}
