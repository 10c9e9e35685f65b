//! Fused Linear layer `y = x · Wᵀ + b` (PyTorch `nn.Linear`, W is (out, in)).
//!
//! Forward: one `gemm` call on the untransposed W (the kernel reads Wᵀ through strides) writes
//! the product P = x·Wᵀ, then the bias is added to each row: y = fl(P + b), one rounding after
//! the whole product. That order lets the fused transformer block fold the add into the pass
//! that consumes y anyway (the GELU, the residual add) with the same bits as this op.
//! Backward, with g = ∂L/∂y of shape (n, out):
//!   ∂L/∂x = g · W  (n × in),   ∂L/∂W = gᵀ · x  (out × in),   ∂L/∂b = Σ_rows g.
//! Each is one `gemm` call (or one pass for the bias) straight into its own fresh buffer.
//!
//! The composed form (`x.matmul(&w.t())?.broadcast_add(&b)`) zero-fills the product, makes a
//! second (n, out) tensor for the bias add, and its backward runs through the transpose and
//! broadcast nodes (a `sum_keepdim`, a squeeze and the transposed copy of ∂L/∂Wᵀ).

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};

use super::gemm::{matmul, matmul_new, Mat};
use super::{f32_data, fused_ok};

/// `x · Wᵀ + b` for x of shape (…, in), W (out, in) and b (out,), as `nn.Linear`. Fused on the
/// CPU for f32, composed (`matmul` + `broadcast_add`) elsewhere. Differentiable in all three.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    if x.dim(D::Minus1)? != inp {
        bail!("linear: x {:?} does not match weight {:?}", x.shape(), w.shape());
    }
    if let Some(b) = b {
        if b.dims() != [out] {
            bail!("linear: bias {:?}, expected ({out},)", b.shape());
        }
    }
    if !fused_ok(&[x, w]) || b.is_some_and(|b| !fused_ok(&[b])) {
        return composed(x, w, b);
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, Linear),
        None => x.apply_op2(&w, Linear),
    }
}

/// The composed reference: `x.matmul(Wᵀ) + b` (batched over leading dims of x).
pub fn composed(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = x.broadcast_matmul(&w.t()?)?;
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// y (rows × out) = x (rows × in) · Wᵀ + b, W (out × in): the product, then the bias added
/// to each row (see the module doc).
pub(super) fn forward(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    rows: usize,
    inp: usize,
    out: usize,
) -> Vec<f32> {
    let mut y = matmul_new(rows, out, inp, Mat::rows(x, inp), Mat::rows_t(w, inp));
    if let Some(b) = b {
        add_bias(b, &mut y);
    }
    y
}

/// [`forward`] into `y` (rows × out): every element is written, none read before.
pub(super) fn forward_into(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    rows: usize,
    inp: usize,
    out: usize,
    y: &mut [f32],
) {
    product_into(x, w, rows, inp, out, y);
    if let Some(b) = b {
        add_bias(b, y);
    }
}

/// The product x · Wᵀ alone into `y` (rows × out; every element written, none read): the
/// first half of [`forward_into`], for callers that add the bias themselves.
pub(super) fn product_into(x: &[f32], w: &[f32], rows: usize, inp: usize, out: usize, y: &mut [f32]) {
    assert_eq!(y.len(), rows * out, "linear: output buffer of the wrong size");
    matmul(rows, out, inp, y, out, false, Mat::rows(x, inp), Mat::rows_t(w, inp));
}

/// y[r, j] += b[j] for every row r of y.
fn add_bias(b: &[f32], y: &mut [f32]) {
    for r in y.chunks_exact_mut(b.len().max(1)) {
        for (o, &v) in r.iter_mut().zip(b) {
            *o += v;
        }
    }
}

/// y = res + (y + b) elementwise (b broadcast over the rows of y; y + 0 without a bias) — a
/// residual add after [`product_into`], with the same roundings as `res + forward(…)`.
pub(super) fn add_bias_residual(res: &[f32], b: Option<&[f32]>, y: &mut [f32]) {
    assert_eq!(res.len(), y.len(), "linear: residual of the wrong size");
    match b {
        Some(b) => {
            for (yr, rr) in y.chunks_exact_mut(b.len().max(1)).zip(res.chunks_exact(b.len().max(1))) {
                for ((o, &r), &v) in yr.iter_mut().zip(rr).zip(b) {
                    *o = r + (*o + v);
                }
            }
        }
        None => {
            for (o, &r) in y.iter_mut().zip(res) {
                *o += r;
            }
        }
    }
}

/// ∂L/∂x = g · W (rows × in) for g (rows × out) and W (out × in).
pub(super) fn backward_x(g: &[f32], w: &[f32], rows: usize, inp: usize, out: usize) -> Vec<f32> {
    matmul_new(rows, inp, out, Mat::rows(g, out), Mat::rows(w, inp))
}

/// [`backward_x`] into `dx` (rows × in; every element written, none read).
pub(super) fn backward_x_into(g: &[f32], w: &[f32], rows: usize, inp: usize, out: usize, dx: &mut [f32]) {
    assert_eq!(dx.len(), rows * inp, "linear: gradient buffer of the wrong size");
    matmul(rows, inp, out, dx, inp, false, Mat::rows(g, out), Mat::rows(w, inp));
}

/// ∂L/∂W = gᵀ · x (out × in), written into `dw` (its previous contents are never read).
pub(super) fn backward_w_into(g: &[f32], x: &[f32], rows: usize, inp: usize, out: usize, dw: &mut [f32]) {
    matmul(out, inp, rows, dw, inp, false, Mat::rows_t(g, out), Mat::rows(x, inp));
}

/// ∂L/∂b = Σ_rows g into `db` (out,), rows added in order.
pub(super) fn column_sum_into(g: &[f32], db: &mut [f32]) {
    let out = db.len();
    db.fill(0.0);
    for r in g.chunks_exact(out.max(1)) {
        for (a, &v) in db.iter_mut().zip(r) {
            *a += v;
        }
    }
}

struct Linear;

/// (rows, in, out) of x (…, in) and W (out, in), and the output shape (…, out).
fn dims(op: &str, lx: &Layout, lw: &Layout) -> Result<(usize, usize, usize, Shape)> {
    let &[out, inp] = lw.dims() else { bail!("{op}: weight must be 2-D, got {:?}", lw.shape()) };
    let xd = lx.dims();
    if xd.is_empty() || xd[xd.len() - 1] != inp {
        bail!("{op}: x {:?} does not match weight {:?}", lx.shape(), lw.shape());
    }
    let rows = lx.shape().elem_count() / inp.max(1);
    let mut od = xd.to_vec();
    *od.last_mut().expect("rank ≥ 1") = out;
    Ok((rows, inp, out, Shape::from(od)))
}

impl Linear {
    fn fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        b: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, inp, out, shape) = dims("fused-linear", l1, l2)?;
        let x = f32_data(s1, l1, "fused-linear")?;
        let w = f32_data(s2, l2, "fused-linear")?;
        Ok((CpuStorage::F32(forward(x, w, b, rows, inp, out)), shape))
    }

    fn grads(x: &Tensor, w: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
        let g = g.contiguous()?;
        Ok((g.apply_op2_no_bwd(w, &LinearBwdX)?, g.apply_op2_no_bwd(x, &LinearBwdW)?))
    }
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear-no-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd(s1, l1, s2, l2, None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = Self::grads(x, w, g)?;
        Ok((Some(dx), Some(dw)))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
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
        let b = f32_data(s3, l3, "fused-linear")?;
        if b.len() != l2.dims()[0] {
            bail!("{}: bias has {} elements for {} outputs", "fused-linear", b.len(), l2.dims()[0]);
        }
        self.fwd(s1, l1, s2, l2, Some(b))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = Self::grads(x, w, g)?;
        let db = g.contiguous()?.apply_op1_no_bwd(&ColumnSum)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// (g (…, out), W (out, in)) → ∂L/∂x = g · W, shape (…, in).
struct LinearBwdX;

impl CustomOp2 for LinearBwdX {
    fn name(&self) -> &'static str {
        "fused-linear-bwd-x"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let &[out, inp] = l2.dims() else { bail!("{}: weight must be 2-D", self.name()) };
        let g = f32_data(s1, l1, self.name())?;
        let w = f32_data(s2, l2, self.name())?;
        let gd = l1.dims();
        if gd.last() != Some(&out) {
            bail!("{}: gradient {:?} does not match weight {:?}", self.name(), l1.shape(), l2.shape());
        }
        let rows = g.len() / out.max(1);
        let dx = backward_x(g, w, rows, inp, out);
        let mut sd = gd.to_vec();
        *sd.last_mut().expect("rank ≥ 1") = inp;
        Ok((CpuStorage::F32(dx), Shape::from(sd)))
    }
}

/// (g (…, out), x (…, in)) → ∂L/∂W = gᵀ · x, shape (out, in).
struct LinearBwdW;

impl CustomOp2 for LinearBwdW {
    fn name(&self) -> &'static str {
        "fused-linear-bwd-w"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (out, inp) = (l1.dims()[l1.dims().len() - 1], l2.dims()[l2.dims().len() - 1]);
        let g = f32_data(s1, l1, self.name())?;
        let x = f32_data(s2, l2, self.name())?;
        let rows = g.len() / out.max(1);
        if x.len() != rows * inp {
            bail!("{}: gradient {:?} and input {:?} disagree on rows", self.name(), l1.shape(), l2.shape());
        }
        let mut dw = vec![0.0f32; out * inp];
        backward_w_into(g, x, rows, inp, out, &mut dw);
        Ok((CpuStorage::F32(dw), Shape::from((out, inp))))
    }
}

/// g (…, out) → Σ over all leading dims, shape (out,); rows added in order.
struct ColumnSum;

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "fused-linear-bwd-b"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = l.dims()[l.dims().len() - 1];
        let g = f32_data(s, l, self.name())?;
        let mut acc = vec![0.0f32; out];
        column_sum_into(g, &mut acc);
        Ok((CpuStorage::F32(acc), Shape::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::testutil::*;
    use candle_core::Var;

    fn fused(v: &[Tensor]) -> Result<Tensor> {
        linear(&v[0], &v[1], v.get(2))
    }
    fn reference(v: &[Tensor]) -> Result<Tensor> {
        composed(&v[0], &v[1], v.get(2))
    }

    #[test]
    fn matches_composed_values_and_grads() {
        let mut rng = rng(41);
        for (lead, inp, out) in
            [(vec![1], 1, 1), (vec![5], 3, 7), (vec![2, 33], 64, 48), (vec![300], 128, 384)]
        {
            let xs: Vec<usize> = lead.iter().copied().chain([inp]).collect();
            let x = Var::from_tensor(&randn(&mut rng, &xs, 1.0)).unwrap();
            let w = Var::from_tensor(&randn(&mut rng, &[out, inp], 0.5)).unwrap();
            let b = Var::from_tensor(&randn(&mut rng, &[out], 0.5)).unwrap();
            compare_with_composed(&mut rng, &[x.clone(), w.clone(), b], fused, reference, 1e-5, 1e-4);
            compare_with_composed(&mut rng, &[x, w], fused, reference, 1e-5, 1e-4);
        }
    }

    #[test]
    fn finite_differences() {
        let mut rng = rng(42);
        let x = Var::from_tensor(&randn(&mut rng, &[4, 5], 1.0)).unwrap();
        let w = Var::from_tensor(&randn(&mut rng, &[3, 5], 1.0)).unwrap();
        let b = Var::from_tensor(&randn(&mut rng, &[3], 1.0)).unwrap();
        finite_difference_check(&mut rng, &[x, w, b], fused, 2e-3, 1e-2);
    }

    #[test]
    fn deterministic_across_threads() {
        let mut rng = rng(43);
        let x = Var::from_tensor(&randn(&mut rng, &[512, 96], 1.0)).unwrap();
        let w = Var::from_tensor(&randn(&mut rng, &[200, 96], 0.3)).unwrap();
        let b = Var::from_tensor(&randn(&mut rng, &[200], 0.3)).unwrap();
        check_deterministic(&mut rng, &[x, w, b], fused);
    }
}
