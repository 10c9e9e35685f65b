//! Fused mean cross-entropy over logits `(n, V)` (log-softmax, pick, mean in one pass).
//!
//! Forward, per row x with target t:  m = max x,  lse = m + ln Σ_j e^(x_j − m),
//! ℓ = lse − x_t;  loss = (1/n) Σ_rows ℓ (rows summed in order in f64).
//! Backward, for the scalar upstream gradient g:
//!   ∂L/∂x_j = (g/n) · (softmax(x)_j − [j = t]) = (g/n) · (e^(x_j − lse) − [j = t]).
//!
//! The forward keeps each row's lse (n floats) for the backward, which is then a single
//! exp pass over the logits instead of max, exp-sum and exp again. The composed form
//! materialises four (n, V) tensors forward (diff, exp, logp, …) and about as many backward.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::simd::{exp, max, multiversion, rows_per_task, sum_map, Fma, Isa};
use super::{composed, f32_data, fused_ok};

/// Mean cross-entropy (nats/token) of logits `(n, V)` against targets `(n,)` (u32, or u8 /
/// i64): −mean_i log softmax(logits_i)[target_i], returned as an f32 scalar. Fused on the CPU
/// for f32 logits, composed elsewhere. Differentiable in the logits (not the targets).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if !fused_ok(&[logits]) || !targets.device().is_cpu() {
        return composed::cross_entropy(logits, targets);
    }
    let (n, _v) = logits.dims2()?;
    if targets.dims() != [n] {
        bail!("cross_entropy: targets shape {:?}, expected ({n},)", targets.shape());
    }
    logits.contiguous()?.apply_op2(&targets.contiguous()?, CrossEntropy { lse: Mutex::new(None) })
}

/// Forward op over (logits, targets); keeps the per-row lse for the backward.
struct CrossEntropy {
    lse: Mutex<Option<Vec<f32>>>,
}

/// Targets as indices, checked against the vocabulary size.
pub(super) fn targets_of(s: &CpuStorage, l: &Layout, v: usize, op: &str) -> Result<Vec<usize>> {
    let Some((a, b)) = l.contiguous_offsets() else { bail!("{op}: targets must be contiguous") };
    let t: Vec<usize> = match s {
        CpuStorage::U32(d) => d[a..b].iter().map(|&x| x as usize).collect(),
        CpuStorage::U8(d) => d[a..b].iter().map(|&x| x as usize).collect(),
        CpuStorage::I64(d) => d[a..b].iter().map(|&x| usize::try_from(x).unwrap_or(usize::MAX)).collect(),
        _ => bail!("{op}: targets must be u32, u8 or i64, got {:?}", s.dtype()),
    };
    if let Some(bad) = t.iter().find(|&&x| x >= v) {
        bail!("{op}: target {bad} out of range for {v} classes");
    }
    Ok(t)
}

/// Per-row loss and lse for a block of rows.
#[inline(always)]
fn ce_fwd_k<F: Fma>(x: &[f32], t: &[usize], loss: &mut [f32], lse: &mut [f32]) {
    let v = x.len() / t.len().max(1);
    for (((xr, &ti), lo), ls) in x.chunks_exact(v).zip(t).zip(loss.iter_mut()).zip(lse.iter_mut()) {
        let m = max(xr);
        let s = sum_map(xr, |a| exp::<F>(a - m));
        *ls = m + s.ln();
        *lo = *ls - xr[ti];
    }
}
multiversion! { fn ce_fwd(x: &[f32], t: &[usize], loss: &mut [f32], lse: &mut [f32]) = ce_fwd_k; }

/// (per-row loss, per-row lse) over all rows, row blocks spread over rayon.
fn rows_fwd(x: &[f32], t: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let n = t.len();
    let v = x.len() / n.max(1);
    let isa = Isa::detected();
    let (mut loss, mut lse) = (vec![0.0f32; n], vec![0.0f32; n]);
    let rpt = rows_per_task(v);
    if n <= rpt {
        ce_fwd(isa, x, t, &mut loss, &mut lse);
    } else {
        loss.par_chunks_mut(rpt).zip(lse.par_chunks_mut(rpt)).enumerate().for_each(|(i, (lo, ls))| {
            let r = i * rpt..i * rpt + lo.len();
            ce_fwd(isa, &x[r.start * v..r.end * v], &t[r], lo, ls);
        });
    }
    (loss, lse)
}

fn check_logits<'a>(op: &str, s: &'a CpuStorage, l: &Layout) -> Result<(&'a [f32], usize)> {
    let &[_, v] = l.dims() else { bail!("{op}: expected (n, V) logits, got {:?}", l.shape()) };
    Ok((f32_data(s, l, op)?, v))
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, v) = check_logits(self.name(), s1, l1)?;
        let t = targets_of(s2, l2, v, self.name())?;
        if t.len() * v != x.len() {
            bail!("{}: {} targets for {} rows", self.name(), t.len(), x.len() / v.max(1));
        }
        let (loss, lse) = rows_fwd(x, &t);
        let total: f64 = loss.iter().map(|&l| l as f64).sum();
        let mean = if t.is_empty() { f32::NAN } else { (total / t.len() as f64) as f32 };
        *self.lse.lock().unwrap_or_else(|e| e.into_inner()) = Some(lse);
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _loss: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let &[g] = g.as_slice() else { bail!("{}: expected a scalar gradient", self.name()) };
        let lse = self.lse.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let dx = logits.apply_op2_no_bwd(targets, &CrossEntropyBwd { g, lse })?;
        Ok((Some(dx), None))
    }
}

/// Backward op over (logits, targets) → dlogits, for upstream gradient `g` and the forward's
/// per-row lse (recomputed if absent).
struct CrossEntropyBwd {
    g: f32,
    lse: Option<Vec<f32>>,
}

#[inline(always)]
fn ce_bwd_k<F: Fma>(x: &[f32], t: &[usize], lse: &[f32], coef: f32, dx: &mut [f32]) {
    let v = x.len() / t.len().max(1);
    for (((xr, &ti), &ls), dr) in x.chunks_exact(v).zip(t).zip(lse).zip(dx.chunks_exact_mut(v)) {
        for (d, &a) in dr.iter_mut().zip(xr) {
            *d = coef * exp::<F>(a - ls);
        }
        dr[ti] -= coef;
    }
}
multiversion! { fn ce_bwd(x: &[f32], t: &[usize], lse: &[f32], coef: f32, dx: &mut [f32]) = ce_bwd_k; }

impl CustomOp2 for CrossEntropyBwd {
    fn name(&self) -> &'static str {
        "fused-cross-entropy-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, v) = check_logits(self.name(), s1, l1)?;
        let t = targets_of(s2, l2, v, self.name())?;
        let n = t.len();
        let lse = match &self.lse {
            Some(l) if l.len() == n => l.clone(),
            _ => rows_fwd(x, &t).1,
        };
        let coef = self.g / n.max(1) as f32;
        let isa = Isa::detected();
        let mut dx = vec![0.0f32; x.len()];
        super::simd::par_rows(&mut dx, v, |r0, dr| {
            let r = r0..r0 + dr.len() / v;
            ce_bwd(isa, &x[r.start * v..r.end * v], &t[r.clone()], &lse[r], coef, dr);
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::testutil::*;
    use candle_core::{Device, Var};
    use rand::Rng as _;

    fn fused(v: &[Tensor]) -> Result<Tensor> {
        cross_entropy(&v[0], &v[1])
    }
    fn reference(v: &[Tensor]) -> Result<Tensor> {
        composed::cross_entropy(&v[0], &v[1])
    }

    fn targets(rng: &mut Rng, n: usize, v: usize) -> Tensor {
        let t: Vec<u32> = (0..n).map(|_| rng.gen_range(0..v as u32)).collect();
        Tensor::from_vec(t, n, &Device::Cpu).unwrap()
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(31);
        for (n, v) in [(1, 1), (1, 7), (9, 65), (64, 256), (33, 1000), (20, 5000)] {
            let x = Var::from_tensor(&randn(&mut rng, &[n, v], 4.0)).unwrap();
            let t = targets(&mut rng, n, v);
            // (1, 1) has loss 0 and a zero gradient; the others must have a live gradient.
            if v > 1 {
                compare_with_composed_x(&mut rng, &[x], &[t], fused, reference, 1e-6, 1e-5);
            } else {
                assert_eq!(cross_entropy(&x, &t).unwrap().to_vec0::<f32>().unwrap(), 0.0);
            }
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(32);
        let x = Var::from_tensor(&randn(&mut rng, &[4, 9], 2.0)).unwrap();
        let t = targets(&mut rng, 4, 9);
        finite_difference_check_x(&mut rng, &[x], &[t], fused, 2e-3, 1e-2);
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(33);
        let x = Var::from_tensor(&randn(&mut rng, &[300, 1024], 3.0)).unwrap();
        let t = targets(&mut rng, 300, 1024);
        check_deterministic_x(&mut rng, &[x], &[t], fused);
    }

    #[test]
    fn scaled_loss_and_other_target_dtypes() {
        let mut rng = rng(34);
        let x = Var::from_tensor(&randn(&mut rng, &[6, 11], 2.0)).unwrap();
        let t = targets(&mut rng, 6, 11);
        // Upstream gradient ≠ 1: d(3·CE)/dx = 3·dCE/dx.
        let g1 = cross_entropy(&x, &t).unwrap().backward().unwrap().get(&x).unwrap().clone();
        let loss3 = (cross_entropy(&x, &t).unwrap() * 3.0).unwrap();
        let g3 = loss3.backward().unwrap().get(&x).unwrap().clone();
        assert_close(&g3, &(g1 * 3.0).unwrap(), 1e-6, 1e-6, "scaled gradient");
        let a = cross_entropy(&x, &t).unwrap().to_vec0::<f32>().unwrap();
        for dt in [DType::U8, DType::I64] {
            let b = cross_entropy(&x, &t.to_dtype(dt).unwrap()).unwrap().to_vec0::<f32>().unwrap();
            assert_eq!(a, b, "{dt:?} targets");
        }
    }

    #[test]
    fn rejects_bad_targets() {
        let x = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(cross_entropy(&x, &Tensor::new(&[0u32, 3], &Device::Cpu).unwrap()).is_err());
        assert!(cross_entropy(&x, &Tensor::new(&[0u32, 1, 2], &Device::Cpu).unwrap()).is_err());
    }
}
