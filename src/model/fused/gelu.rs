//! Fused exact (erf) GELU, as PyTorch's `nn.GELU()`.
//!
//! Forward: y = x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)) the standard normal CDF.
//! Backward: ∂L/∂x = g · (Φ(x) + x·φ(x)) with φ(x) = e^(−x²/2)/√(2π) the normal density.
//!
//! candle differentiates `gelu_erf` with about ten composed elementwise ops (sqr, neg, div,
//! exp, mul, mul, div, erf, affine, add, mul, add), each allocating a full tensor; here the
//! backward is one pass that reads x and g and writes dx. erf is the rational minimax fit in
//! `simd::erf` (max abs error 4.5e-7 vs f64 erf, so |ΔΦ| ≤ 2.3e-7 and |Δy| ≤ 2.3e-7·|x|), exp
//! is `simd::exp` (≤ 3e-7 relative).

use std::f32::consts::FRAC_1_SQRT_2;

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::simd::{erf, exp, multiversion, par_rows, Fma, Isa};
use super::{composed, f32_data, fused_ok};

/// 1/√(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU with the exact erf form, as PyTorch's `nn.GELU()` (nanoGPT's MLP): x·Φ(x). Fused on
/// the CPU for f32 (any layout), composed (`Tensor::gelu_erf`) elsewhere. Differentiable.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if !fused_ok(&[x]) {
        return composed::gelu(x);
    }
    x.contiguous()?.apply_op1(Gelu)
}

/// GELU of every element of x.
pub(super) fn forward(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    forward_into(x, &[], &mut y);
    y
}

/// GELU of x + b into `y` (same length as x; every element is written, none read), with the
/// bias `b` added to each row of width `b.len()` (`fl(x + b)`, as a Linear layer's output
/// before it: see `linear::forward`); an empty `b` is no bias.
pub(super) fn forward_into(x: &[f32], b: &[f32], y: &mut [f32]) {
    let isa = Isa::detected();
    let w = b.len().max(1);
    par_rows(y, w, |r, yc| gelu_fwd(isa, &x[r * w..r * w + yc.len()], b, yc));
}

/// ∂L/∂x = g · GELU′(x), elementwise.
pub(super) fn backward(x: &[f32], g: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; x.len()];
    backward_into(x, &[], g, &mut dx);
    dx
}

/// g · GELU′(x + b) into `dx` (same length as x; every element is written, none read), `b`
/// as in [`forward_into`].
pub(super) fn backward_into(x: &[f32], b: &[f32], g: &[f32], dx: &mut [f32]) {
    let isa = Isa::detected();
    let w = b.len().max(1);
    par_rows(dx, w, |r, dc| {
        let e = r * w..r * w + dc.len();
        gelu_bwd(isa, &x[e.clone()], b, &g[e], dc)
    });
}

struct Gelu;

#[inline(always)]
fn gelu_fwd_k<F: Fma>(x: &[f32], b: &[f32], y: &mut [f32]) {
    if b.is_empty() {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = gelu_of::<F>(v);
        }
    } else {
        for (yr, xr) in y.chunks_exact_mut(b.len()).zip(x.chunks_exact(b.len())) {
            for ((o, &v), &bv) in yr.iter_mut().zip(xr).zip(b) {
                *o = gelu_of::<F>(v + bv);
            }
        }
    }
}
multiversion! { fn gelu_fwd(x: &[f32], b: &[f32], y: &mut [f32]) = gelu_fwd_k; }

#[inline(always)]
fn gelu_of<F: Fma>(v: f32) -> f32 {
    v * F::fma(0.5, erf::<F>(v * FRAC_1_SQRT_2), 0.5)
}

#[inline(always)]
fn gelu_grad<F: Fma>(v: f32, gv: f32) -> f32 {
    let cdf = F::fma(0.5, erf::<F>(v * FRAC_1_SQRT_2), 0.5);
    let pdf = exp::<F>(-0.5 * v * v) * FRAC_1_SQRT_2PI;
    gv * F::fma(v, pdf, cdf)
}

#[inline(always)]
fn gelu_bwd_k<F: Fma>(x: &[f32], b: &[f32], g: &[f32], dx: &mut [f32]) {
    if b.is_empty() {
        for ((d, &v), &gv) in dx.iter_mut().zip(x).zip(g) {
            *d = gelu_grad::<F>(v, gv);
        }
    } else {
        let w = b.len();
        for ((dr, xr), gr) in dx.chunks_exact_mut(w).zip(x.chunks_exact(w)).zip(g.chunks_exact(w)) {
            for (((d, &v), &gv), &bv) in dr.iter_mut().zip(xr).zip(gr).zip(b) {
                *d = gelu_grad::<F>(v + bv, gv);
            }
        }
    }
}
multiversion! { fn gelu_bwd(x: &[f32], b: &[f32], g: &[f32], dx: &mut [f32]) = gelu_bwd_k; }

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(s, l, self.name())?;
        Ok((CpuStorage::F32(forward(x)), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&g.contiguous()?, &GeluBwd)?))
    }
}

/// Backward custom op over (x, g) → dx.
struct GeluBwd;

impl CustomOp2 for GeluBwd {
    fn name(&self) -> &'static str {
        "fused-gelu-erf-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (f32_data(s1, l1, self.name())?, f32_data(s2, l2, self.name())?);
        if x.len() != g.len() {
            bail!("{}: gradient has {} elements, x has {}", self.name(), g.len(), x.len());
        }
        Ok((CpuStorage::F32(backward(x, g)), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::testutil::*;
    use candle_core::cpu::erf::erf_f64;
    use candle_core::Var;

    fn fused(v: &[Tensor]) -> Result<Tensor> {
        gelu(&v[0])
    }
    fn reference(v: &[Tensor]) -> Result<Tensor> {
        composed::gelu(&v[0])
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(11);
        for shape in [vec![1], vec![17], vec![3, 40], vec![64, 512], vec![2, 3, 33]] {
            let x = Var::from_tensor(&randn(&mut rng, &shape, 3.0)).unwrap();
            compare_with_composed(&mut rng, &[x], fused, reference, 1e-6, 1e-5);
        }
    }

    /// Every kernel variant against f64 on a dense grid, forward and derivative.
    #[test]
    fn kernels_match_f64_on_all_isas() {
        let x: Vec<f32> = (0..=200_000).map(|i| -10.0 + i as f32 * 1e-4).collect();
        let g = vec![1.0f32; x.len()];
        for isa in Isa::supported() {
            let (mut y, mut d) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            gelu_fwd(isa, &x, &[], &mut y);
            gelu_bwd(isa, &x, &[], &g, &mut d);
            let (mut ey, mut ed) = (0.0f64, 0.0f64);
            for ((&x, &y), &d) in x.iter().zip(&y).zip(&d) {
                let x = x as f64;
                let cdf = 0.5 * (1.0 + erf_f64(x / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                ey = ey.max((y as f64 - x * cdf).abs() / x.abs().max(1.0));
                ed = ed.max((d as f64 - (cdf + x * pdf)).abs());
            }
            assert!(ey < 3e-7, "{isa:?}: gelu forward error {ey:e}");
            assert!(ed < 5e-7, "{isa:?}: gelu derivative error {ed:e}");
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(12);
        let x = Var::from_tensor(&randn(&mut rng, &[5, 7], 2.0)).unwrap();
        finite_difference_check(&mut rng, &[x], fused, 2e-3, 1e-2);
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(13);
        let x = Var::from_tensor(&randn(&mut rng, &[300, 512], 2.0)).unwrap();
        check_deterministic(&mut rng, &[x], fused);
    }

    #[test]
    fn non_contiguous_input() {
        let mut rng = rng(14);
        let x = randn(&mut rng, &[12, 5], 2.0).t().unwrap();
        assert_close(&gelu(&x).unwrap(), &composed::gelu(&x).unwrap(), 1e-6, 1e-5, "strided gelu");
    }
}
