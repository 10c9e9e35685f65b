//! Fused causal softmax over attention scores `(…, T, T)`.
//!
//! Forward, for row i of each (T, T) matrix, with s the score scale (1 for [`causal_softmax`]):
//!   y_ij = e^(s·x_ij − s·m_i) / Σ_{k≤i} e^(s·x_ik − s·m_i) for j ≤ i,  y_ij = 0 for j > i,
//! with m_i = max_{k≤i} x_ik (s > 0). Backward (the softmax Jacobian restricted to the row):
//!   ∂L/∂x_ij = s · y_ij · (g_ij − Σ_k g_ik·y_ik)   (zero above the diagonal, as y is).
//!
//! The causal structure is built in, so no mask tensor is added: entries above the diagonal
//! are never read, and they take no exp. The composed form is 6 ops forward (mask broadcast
//! add, max, sub, exp, sum, div), each a full (B, H, T, T) tensor, and ~10 backward.

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::simd::{
    exp, hsum, max, max_masked, multiversion, par_rows, sum_map, sum_map2, sum_map2_masked, Fma, Isa, L,
};
use super::{composed, f32_data, fused_ok};

/// Causal softmax of attention scores `(b, h, t, t)`: entries above the diagonal get zero
/// weight. `mask` is the additive (t, t) causal mask of `causal_mask`; the fused CPU op
/// implies it (only its shape is checked), the composed fallback (off the CPU, non-f32, or
/// non-square last two dims) adds it. Differentiable.
pub fn causal_softmax(att: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if !fused_ok(&[att]) || !square_last2(att) {
        return composed::causal_softmax(att, mask);
    }
    let t = att.dims()[att.rank() - 1];
    if mask.dims() != [t, t] {
        bail!("causal_softmax: mask shape {:?}, expected ({t}, {t})", mask.shape());
    }
    att.contiguous()?.apply_op1(CausalSoftmax { scale: 1.0 })
}

/// `causal_softmax(att · scale)` without the mask argument and without materialising the
/// scaled scores: the attention scale 1/√hd is folded into the exponent (forward) and into
/// the gradient (backward). `scale` must be positive and finite. Fused on the CPU for f32,
/// composed (`att · scale`, then the masked softmax) elsewhere. Differentiable.
pub fn causal_softmax_scaled(att: &Tensor, scale: f64) -> Result<Tensor> {
    if !(scale > 0.0 && scale.is_finite()) {
        bail!("causal_softmax_scaled: scale must be positive and finite, got {scale}");
    }
    if !fused_ok(&[att]) || !square_last2(att) {
        let t = att.dim(candle_core::D::Minus1)?;
        let mask = composed::causal_mask(t, att.device())?.to_dtype(att.dtype())?;
        return composed::causal_softmax(&(att * scale)?, &mask);
    }
    att.contiguous()?.apply_op1(CausalSoftmax { scale: scale as f32 })
}

fn square_last2(t: &Tensor) -> bool {
    let d = t.dims();
    d.len() >= 2 && d[d.len() - 1] == d[d.len() - 2]
}

struct CausalSoftmax {
    scale: f32,
}

/// One row: the softmax of its first `xv.len()` (causal) entries into `y`, zeros after.
#[inline(always)]
fn row_fwd_exact<F: Fma>(xv: &[f32], y: &mut [f32], scale: f32) {
    let (yv, yz) = y.split_at_mut(xv.len());
    let ms = max(xv) * scale;
    for (o, &v) in yv.iter_mut().zip(xv) {
        *o = exp::<F>(F::fma(scale, v, -ms));
    }
    let inv = 1.0 / sum_map(yv, |v| v);
    for o in yv.iter_mut() {
        *o *= inv;
    }
    yz.fill(0.0);
}

/// Rows `row0…` (row r is row r mod t of its matrix) of width t.
///
/// A row's causal length `len` is mostly not a multiple of the vector width, and the scalar
/// tail loops (one per pass) cost about as much as the vector body at T = 128. So when whole
/// chunks of [`L`] up to `len` fit in the row, the row is processed in whole chunks with the
/// entries from `len` on masked (−∞ for the max, 0 for the exponentials and their sum): every
/// lane accumulator then sees the same values in the same order as over the exact length, so
/// the results are bit-identical to the exact-length loops (the fallback here).
#[inline(always)]
fn sm_fwd_k<F: Fma>(x: &[f32], y: &mut [f32], t: usize, row0: usize, scale: f32) {
    for (k, (xr, yr)) in x.chunks_exact(t).zip(y.chunks_exact_mut(t)).enumerate() {
        let len = (row0 + k) % t + 1;
        let n = len.div_ceil(L) * L;
        if n > t {
            row_fwd_exact::<F>(&xr[..len], yr, scale);
            continue;
        }
        let (xv, (yv, yz)) = (&xr[..n], yr.split_at_mut(n));
        let ms = max_masked(xv, len) * scale;
        let mut acc = [0.0f32; L];
        for (c, (xs, ys)) in xv.chunks_exact(L).zip(yv.chunks_exact_mut(L)).enumerate() {
            for (l, ((a, o), &v)) in acc.iter_mut().zip(ys).zip(xs).enumerate() {
                let e = exp::<F>(F::fma(scale, v, -ms));
                let e = if c * L + l < len { e } else { 0.0 };
                *o = e;
                *a += e;
            }
        }
        let inv = 1.0 / hsum(acc);
        for (j, o) in yv.iter_mut().enumerate() {
            *o = if j < len { *o * inv } else { 0.0 };
        }
        yz.fill(0.0);
    }
}
multiversion! { pub(super) fn sm_fwd(x: &[f32], y: &mut [f32], t: usize, row0: usize, scale: f32) = sm_fwd_k; }

fn check_square(op: &str, l: &Layout) -> Result<usize> {
    let d = l.dims();
    if d.len() < 2 || d[d.len() - 1] != d[d.len() - 2] {
        bail!("{op}: expected (…, T, T) scores, got {:?}", l.shape());
    }
    Ok(d[d.len() - 1])
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "fused-causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let t = check_square(self.name(), l)?;
        let x = f32_data(s, l, self.name())?;
        let isa = Isa::detected();
        let mut y = vec![0.0f32; x.len()];
        par_rows(&mut y, t, |r0, yr| sm_fwd(isa, &x[r0 * t..r0 * t + yr.len()], yr, t, r0, self.scale));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&g.contiguous()?, &CausalSoftmaxBwd { scale: self.scale })?))
    }
}

/// Backward custom op over (y, g) → dx.
struct CausalSoftmaxBwd {
    scale: f32,
}

/// Rows as [`sm_fwd_k`], with the same whole-chunk masking (0 past `len` in the Σ g·y lane
/// accumulators, bit-identical to the exact-length sum) where the chunks fit in the row.
#[inline(always)]
fn sm_bwd_k<F: Fma>(y: &[f32], g: &[f32], dx: &mut [f32], t: usize, row0: usize, scale: f32) {
    for (k, ((yr, gr), dr)) in
        y.chunks_exact(t).zip(g.chunks_exact(t)).zip(dx.chunks_exact_mut(t)).enumerate()
    {
        let len = (row0 + k) % t + 1;
        let n = len.div_ceil(L) * L;
        if n > t {
            row_bwd_exact(&yr[..len], &gr[..len], dr, scale);
            continue;
        }
        let (yv, gv, (dv, dz)) = (&yr[..n], &gr[..n], dr.split_at_mut(n));
        let s = sum_map2_masked(yv, gv, len, |a, b| a * b);
        for (j, ((d, &yy), &gg)) in dv.iter_mut().zip(yv).zip(gv).enumerate() {
            let v = scale * yy * (gg - s);
            *d = if j < len { v } else { 0.0 };
        }
        dz.fill(0.0);
    }
}

/// One row's softmax backward over its first `yv.len()` entries into `dx`, zeros after.
#[inline(always)]
fn row_bwd_exact(yv: &[f32], gv: &[f32], dx: &mut [f32], scale: f32) {
    let (dv, dz) = dx.split_at_mut(yv.len());
    let s = sum_map2(yv, gv, |a, b| a * b);
    for ((d, &yy), &gg) in dv.iter_mut().zip(yv).zip(gv) {
        *d = scale * yy * (gg - s);
    }
    dz.fill(0.0);
}
multiversion! { pub(super) fn sm_bwd(y: &[f32], g: &[f32], dx: &mut [f32], t: usize, row0: usize, scale: f32) = sm_bwd_k; }

impl CustomOp2 for CausalSoftmaxBwd {
    fn name(&self) -> &'static str {
        "fused-causal-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let t = check_square(self.name(), l1)?;
        let (y, g) = (f32_data(s1, l1, self.name())?, f32_data(s2, l2, self.name())?);
        if y.len() != g.len() {
            bail!("{}: gradient has {} elements, y has {}", self.name(), g.len(), y.len());
        }
        let isa = Isa::detected();
        let mut dx = vec![0.0f32; y.len()];
        par_rows(&mut dx, t, |r0, dr| {
            let rows = r0 * t..r0 * t + dr.len();
            sm_bwd(isa, &y[rows.clone()], &g[rows], dr, t, r0, self.scale)
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::testutil::*;
    use candle_core::{Device, Var};

    fn fused(v: &[Tensor]) -> Result<Tensor> {
        let t = v[0].dim(candle_core::D::Minus1)?;
        causal_softmax(&v[0], &composed::causal_mask(t, &Device::Cpu)?)
    }
    fn reference(v: &[Tensor]) -> Result<Tensor> {
        let t = v[0].dim(candle_core::D::Minus1)?;
        composed::causal_softmax(&v[0], &composed::causal_mask(t, &Device::Cpu)?)
    }
    fn fused_scaled(v: &[Tensor]) -> Result<Tensor> {
        causal_softmax_scaled(&v[0], 0.125)
    }
    fn reference_scaled(v: &[Tensor]) -> Result<Tensor> {
        reference(&[(&v[0] * 0.125)?])
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(21);
        for shape in [vec![1, 1], vec![5, 5], vec![2, 3, 17, 17], vec![2, 2, 64, 64], vec![1, 1, 130, 130]] {
            let x = Var::from_tensor(&randn(&mut rng, &shape, 3.0)).unwrap();
            compare_with_composed(&mut rng, std::slice::from_ref(&x), fused, reference, 1e-6, 1e-5);
            compare_with_composed(&mut rng, &[x], fused_scaled, reference_scaled, 1e-6, 1e-5);
        }
    }

    #[inline(always)]
    fn fwd_exact_k<F: Fma>(x: &[f32], y: &mut [f32], t: usize, scale: f32) {
        for (i, (xr, yr)) in x.chunks_exact(t).zip(y.chunks_exact_mut(t)).enumerate() {
            row_fwd_exact::<F>(&xr[..i % t + 1], yr, scale);
        }
    }
    #[inline(always)]
    fn bwd_exact_k<F: Fma>(y: &[f32], g: &[f32], dx: &mut [f32], t: usize, scale: f32) {
        for (i, ((yr, gr), dr)) in
            y.chunks_exact(t).zip(g.chunks_exact(t)).zip(dx.chunks_exact_mut(t)).enumerate()
        {
            let len = i % t + 1;
            row_bwd_exact(&yr[..len], &gr[..len], dr, scale);
        }
    }
    multiversion! { fn fwd_exact(x: &[f32], y: &mut [f32], t: usize, scale: f32) = fwd_exact_k; }
    multiversion! { fn bwd_exact(y: &[f32], g: &[f32], dx: &mut [f32], t: usize, scale: f32) = bwd_exact_k; }

    /// The whole-chunk masked rows give exactly the numbers of the exact-length loops, with
    /// arbitrary (here: large, NaN-free) values above the diagonal.
    #[test]
    fn masked_chunks_bit_identical_to_exact_length() {
        let mut rng = rng(25);
        for t in [16, 37, 128] {
            let x = randn(&mut rng, &[2 * t * t], 4.0).to_vec1::<f32>().unwrap();
            let g = randn(&mut rng, &[2 * t * t], 1.0).to_vec1::<f32>().unwrap();
            for isa in Isa::supported() {
                let (mut y, mut ye) = (vec![f32::NAN; x.len()], vec![f32::NAN; x.len()]);
                sm_fwd(isa, &x, &mut y, t, 0, 0.3);
                fwd_exact(isa, &x, &mut ye, t, 0.3);
                let (mut d, mut de) = (vec![f32::NAN; x.len()], vec![f32::NAN; x.len()]);
                sm_bwd(isa, &y, &g, &mut d, t, 0, 0.3);
                bwd_exact(isa, &y, &g, &mut de, t, 0.3);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&y), bits(&ye), "forward, t = {t}, {isa:?}");
                assert_eq!(bits(&d), bits(&de), "backward, t = {t}, {isa:?}");
            }
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(22);
        let x = Var::from_tensor(&randn(&mut rng, &[2, 6, 6], 2.0)).unwrap();
        finite_difference_check(&mut rng, std::slice::from_ref(&x), fused, 2e-3, 1e-2);
        finite_difference_check(&mut rng, &[x], fused_scaled, 2e-3, 1e-2);
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(23);
        let x = Var::from_tensor(&randn(&mut rng, &[4, 4, 128, 128], 2.0)).unwrap();
        check_deterministic(&mut rng, &[x], fused_scaled);
    }

    #[test]
    fn rows_sum_to_one_and_ignore_the_future() {
        let mut rng = rng(24);
        let x = randn(&mut rng, &[3, 9, 9], 5.0);
        let y = causal_softmax_scaled(&x, 1.0).unwrap();
        let sums = y.sum(candle_core::D::Minus1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-6), "{sums:?}");
        // Changing scores above the diagonal leaves the output unchanged.
        let upper = composed::causal_mask(9, &Device::Cpu).unwrap().exp().unwrap(); // 1 below, 0 above
        let noisy =
            (&x + (randn(&mut rng, &[3, 9, 9], 100.0).broadcast_mul(&(1.0 - upper).unwrap()))).unwrap();
        let y2 = causal_softmax_scaled(&noisy, 1.0).unwrap();
        assert_close(&y, &y2, 0.0, 0.0, "future scores leak");
    }

    #[test]
    fn non_square_falls_back_to_mask() {
        // (1, 4) scores against a narrowed mask row: the composed path handles it.
        let x = Tensor::new(&[[1.0f32, 2.0, 3.0, 4.0]], &Device::Cpu).unwrap();
        let mask = composed::causal_mask(4, &Device::Cpu).unwrap().narrow(0, 1, 1).unwrap();
        let y = causal_softmax(&x, &mask).unwrap().to_vec2::<f32>().unwrap();
        assert!(y[0][2] == 0.0 && y[0][3] == 0.0 && (y[0][0] + y[0][1] - 1.0).abs() < 1e-6);
    }
}
