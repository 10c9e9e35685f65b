//! Fused LayerNorm over the last dim (PyTorch `nn.LayerNorm`, eps = 1e-5, biased variance).
//!
//! Forward, per row x of length C:
//!   μ = Σx/C,  σ² = Σ(x − μ)²/C,  r = 1/√(σ² + ε),  x̂ = (x − μ)·r,  y = x̂ ⊙ w + b.
//! Backward, with g = ∂L/∂y and ĝ = g ⊙ w:
//!   ∂L/∂x = r · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)),  ∂L/∂w = Σ_rows g ⊙ x̂,  ∂L/∂b = Σ_rows g.
//! (the two means are the projections of ĝ out of the directions that the centring and the
//! scaling remove). μ and r are recomputed from x in the backward pass: two passes over a row
//! already in L1 are cheaper than storing and re-reading them.
//!
//! The composed form is 9 candle ops forward (3 reductions, 5 broadcasts) and about twice as
//! many backward; this is one pass forward and one backward (all three grads together).

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::simd::{multiversion, rows_per_task, sum_map, sum_map2, Fma, Isa};
use super::{composed, f32_data, fused_ok};

/// ε of PyTorch's `nn.LayerNorm`.
const EPS: f32 = 1e-5;

/// LayerNorm over the last dim: (x − mean) / √(var + eps) · w + b, with the biased variance
/// as PyTorch's `nn.LayerNorm` (eps = 1e-5). `w` and `b` are `(C,)` for `x` of shape `(…, C)`.
/// Fused on the CPU for f32 (any layout; non-contiguous input is copied first), composed
/// elsewhere. Differentiable in `x`, `w` and `b`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if !fused_ok(&[x, w]) || b.is_some_and(|b| !fused_ok(&[b])) {
        return composed::layer_norm(x, w, b);
    }
    let c = x.dim(D::Minus1)?;
    for (name, t) in [("weight", Some(w)), ("bias", b)] {
        if let Some(t) = t {
            if t.dims() != [c] {
                bail!("layer_norm: {name} shape {:?} does not match the last dim {c} of x", t.shape());
            }
        }
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, LayerNorm),
        None => x.apply_op2(&w, LayerNorm),
    }
}

const LN_NAME: &str = "fused-layer-norm";
const LN_NO_BIAS_NAME: &str = "fused-layer-norm-no-bias";

/// The forward custom op: `CustomOp3` over (x, w, b) and `CustomOp2` over (x, w) (no bias).
struct LayerNorm;

#[inline(always)]
fn ln_fwd_k<F: Fma>(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    let c = w.len();
    let inv_c = 1.0 / c as f32;
    for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
        let mean = sum_map(xr, |v| v) * inv_c;
        let var = sum_map(xr, |v| (v - mean) * (v - mean)) * inv_c;
        let r = 1.0 / (var + EPS).sqrt();
        if b.is_empty() {
            for ((o, &v), &wv) in yr.iter_mut().zip(xr).zip(w) {
                *o = (v - mean) * r * wv;
            }
        } else {
            for (((o, &v), &wv), &bv) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                *o = F::fma((v - mean) * r, wv, bv);
            }
        }
    }
}
multiversion! { fn ln_fwd(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) = ln_fwd_k; }

/// Forward over all rows; `b` empty means no bias.
pub(super) fn forward(x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    forward_into(x, w, b, &mut y);
    y
}

/// [`forward`] into `y` (same length as x; every element is written, none read).
pub(super) fn forward_into(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    let c = w.len();
    let isa = Isa::detected();
    super::simd::par_rows(y, c, |r0, yr| ln_fwd(isa, &x[r0 * c..r0 * c + yr.len()], w, b, yr));
}

fn check_rows(op: &str, x: &[f32], c: usize) -> Result<()> {
    if c == 0 || !x.len().is_multiple_of(c) {
        bail!("{op}: x has {} elements, not a multiple of C = {c}", x.len());
    }
    Ok(())
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        LN_NAME
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
        let name = LN_NAME;
        let (x, w, b) = (f32_data(s1, l1, name)?, f32_data(s2, l2, name)?, f32_data(s3, l3, name)?);
        check_rows(name, x, w.len())?;
        Ok((CpuStorage::F32(forward(x, w, b)), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = backward(x, w, g, true)?;
        Ok((Some(dx), Some(dw), db))
    }
}

impl CustomOp2 for LayerNorm {
    fn name(&self) -> &'static str {
        LN_NO_BIAS_NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = LN_NO_BIAS_NAME;
        let (x, w) = (f32_data(s1, l1, name)?, f32_data(s2, l2, name)?);
        check_rows(name, x, w.len())?;
        Ok((CpuStorage::F32(forward(x, w, &[])), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = backward(x, w, g, false)?;
        Ok((Some(dx), Some(dw)))
    }
}

/// (dx, dw, db) from one [`LayerNormBwd`] pass, split out of its `(n + 2, C)` result.
fn backward(x: &Tensor, w: &Tensor, g: &Tensor, bias: bool) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let c = w.dim(0)?;
    let n = x.elem_count() / c;
    let all = x.apply_op3_no_bwd(w, &g.contiguous()?, &LayerNormBwd)?;
    let dx = all.narrow(0, 0, n)?.reshape(x.shape())?;
    let dw = all.narrow(0, n, 1)?.reshape(c)?;
    let db = if bias { Some(all.narrow(0, n + 1, 1)?.reshape(c)?) } else { None };
    Ok((dx, dw, db))
}

/// The backward pass over all rows: dx (same shape as x) and [dw | db] (2C, overwritten).
/// With `res` (same shape as x), dx = ∂L/∂x + res: a residual branch's gradient added while the
/// row is in L1 rather than in a separate pass over both (`fl(dx + res)`, the same rounding as
/// adding afterwards).
pub(super) fn backward_into(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    res: Option<&[f32]>,
    dx: &mut [f32],
    dwb: &mut [f32],
) {
    let c = w.len();
    let n = x.len() / c;
    let isa = Isa::detected();
    dwb.fill(0.0);
    // Fixed row blocks (a function of C only): each block's dw/db partial is summed in
    // block order below, so the result is the same for any number of threads.
    let step = rows_per_task(c) * c;
    let blocks = n.div_ceil(rows_per_task(c)).max(1);
    let mut parts = vec![0.0f32; blocks * 2 * c];
    let res = res.unwrap_or(&[]);
    assert!(res.is_empty() || res.len() == dx.len(), "layer_norm backward: residual of the wrong size");
    if blocks == 1 {
        ln_bwd(isa, x, w, g, res, dx, &mut parts);
    } else {
        dx.par_chunks_mut(step).zip(parts.par_chunks_mut(2 * c)).enumerate().for_each(|(i, (d, p))| {
            let rows = i * step..i * step + d.len();
            let r = if res.is_empty() { res } else { &res[rows.clone()] };
            ln_bwd(isa, &x[rows.clone()], w, &g[rows], r, d, p);
        });
    }
    for p in parts.chunks_exact(2 * c) {
        for (a, &v) in dwb.iter_mut().zip(p) {
            *a += v;
        }
    }
}

/// Backward custom op over (x, w, g): returns `(n + 2, C)` = rows of dx, then dw, then db.
struct LayerNormBwd;

/// Backward over a block of rows: writes the block's dx (plus `res`, unless empty) and
/// accumulates its dw, db partials (`part` = [dw | db], 2C) row by row in order.
#[inline(always)]
fn ln_bwd_k<F: Fma>(x: &[f32], w: &[f32], g: &[f32], res: &[f32], dx: &mut [f32], part: &mut [f32]) {
    let c = w.len();
    let inv_c = 1.0 / c as f32;
    let (dw, db) = part.split_at_mut(c);
    for (i, ((xr, gr), dr)) in
        x.chunks_exact(c).zip(g.chunks_exact(c)).zip(dx.chunks_exact_mut(c)).enumerate()
    {
        let mean = sum_map(xr, |v| v) * inv_c;
        let var = sum_map(xr, |v| (v - mean) * (v - mean)) * inv_c;
        let r = 1.0 / (var + EPS).sqrt();
        // ĝ = g ⊙ w, kept in dx until the two means are known.
        for ((d, &gv), &wv) in dr.iter_mut().zip(gr).zip(w) {
            *d = gv * wv;
        }
        let mean_gh = sum_map(dr, |v| v) * inv_c;
        let mean_ghx = sum_map2(dr, xr, |d, v| d * (v - mean)) * (r * inv_c);
        for ((((d, &v), &gv), dwv), dbv) in
            dr.iter_mut().zip(xr).zip(gr).zip(dw.iter_mut()).zip(db.iter_mut())
        {
            let xh = (v - mean) * r;
            *d = r * F::fma(-xh, mean_ghx, *d - mean_gh);
            *dwv = F::fma(gv, xh, *dwv);
            *dbv += gv;
        }
        if !res.is_empty() {
            for (d, &rv) in dr.iter_mut().zip(&res[i * c..(i + 1) * c]) {
                *d += rv;
            }
        }
    }
}
multiversion! {
    fn ln_bwd(x: &[f32], w: &[f32], g: &[f32], res: &[f32], dx: &mut [f32], part: &mut [f32]) = ln_bwd_k;
}

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "fused-layer-norm-bwd"
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
        let (x, w, g) = (f32_data(s1, l1, name)?, f32_data(s2, l2, name)?, f32_data(s3, l3, name)?);
        let c = w.len();
        check_rows(name, x, c)?;
        if g.len() != x.len() {
            bail!("{name}: gradient has {} elements, x has {}", g.len(), x.len());
        }
        let n = x.len() / c;
        let mut out = vec![0.0f32; (n + 2) * c];
        let (dx, dwb) = out.split_at_mut(n * c);
        backward_into(x, w, g, None, dx, dwb);
        Ok((CpuStorage::F32(out), Shape::from((n + 2, c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::testutil::*;
    use candle_core::{Device, Var};

    fn fused_w_bias(v: &[Tensor]) -> Result<Tensor> {
        layer_norm(&v[0], &v[1], Some(&v[2]))
    }
    fn composed_w_bias(v: &[Tensor]) -> Result<Tensor> {
        composed::layer_norm(&v[0], &v[1], Some(&v[2]))
    }
    fn fused_no_bias(v: &[Tensor]) -> Result<Tensor> {
        layer_norm(&v[0], &v[1], None)
    }
    fn composed_no_bias(v: &[Tensor]) -> Result<Tensor> {
        composed::layer_norm(&v[0], &v[1], None)
    }

    fn inputs(rng: &mut Rng, lead: &[usize], c: usize) -> Vec<Var> {
        let mut xs = lead.to_vec();
        xs.push(c);
        // An offset mean and a non-unit scale, so centring and scaling both matter.
        let x = (randn(rng, &xs, 2.0) + 0.7).unwrap();
        vec![
            Var::from_tensor(&x).unwrap(),
            Var::from_tensor(&(randn(rng, &[c], 0.5) + 1.0).unwrap()).unwrap(),
            Var::from_tensor(&randn(rng, &[c], 0.5)).unwrap(),
        ]
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(1);
        for (lead, c) in [(vec![7], 5), (vec![3, 11], 128), (vec![2, 64], 33), (vec![300], 512), (vec![1], 1)]
        {
            let vars = inputs(&mut rng, &lead, c);
            compare_with_composed(&mut rng, &vars, fused_w_bias, composed_w_bias, 2e-5, 2e-4);
            compare_with_composed(&mut rng, &vars[..2], fused_no_bias, composed_no_bias, 2e-5, 2e-4);
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(2);
        let vars = inputs(&mut rng, &[3], 6);
        finite_difference_check(&mut rng, &vars, fused_w_bias, 2e-3, 1e-2);
        finite_difference_check(&mut rng, &vars[..2], fused_no_bias, 2e-3, 1e-2);
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(3);
        // 1000 rows of 128: eight row blocks, so the dw/db partial sums are exercised.
        let vars = inputs(&mut rng, &[1000], 128);
        check_deterministic(&mut rng, &vars, fused_w_bias);
    }

    #[test]
    fn non_contiguous_input() {
        let mut rng = rng(4);
        let x = randn(&mut rng, &[16, 9], 1.0).t().unwrap(); // (9, 16), strided
        let (w, b) = (randn(&mut rng, &[16], 1.0), randn(&mut rng, &[16], 1.0));
        let f = layer_norm(&x, &w, Some(&b)).unwrap();
        let r = composed::layer_norm(&x, &w, Some(&b)).unwrap();
        assert_close(&f, &r, 2e-5, 2e-4, "strided layer_norm");
    }

    #[test]
    fn rejects_bad_weight() {
        let x = Tensor::zeros((4, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::ones(7, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(layer_norm(&x, &w, None).is_err());
    }
}
