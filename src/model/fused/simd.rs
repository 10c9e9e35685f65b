//! Vector building blocks for the fused kernels: lane-wise `exp` and `erf`, fixed-order
//! reductions and the row-parallel driver. The run-time ISA dispatch (`Isa`, the `Fma`
//! policies, `multiversion!`) is the crate's one CPU-dispatch module, [`crate::cpu`], shared
//! with the fit objective; it is re-exported here for the kernels.
//!
//! **Determinism.** LLVM may not reorder a float reduction, so reductions are written with
//! [`L`] explicit lane accumulators (lane `l` sums elements `l, l + L, l + 2L, …`) followed by
//! a fixed pairwise tree. The order depends only on the row length, never on the thread count;
//! rayon only ever splits work *between* rows ([`par_rows`]).

use rayon::prelude::*;

pub use crate::cpu::Isa;
pub(crate) use crate::cpu::{multiversion, Fma};

/// Lanes of the explicit reduction accumulators (one AVX-512 register of f32).
pub(crate) const L: usize = 16;

/// Elements per rayon task: below this a step runs on the calling thread; above it rows are
/// grouped so every task carries at least this much work (≈ 64 KiB of f32), which keeps the
/// scheduling cost (a few µs per task) under a few percent.
pub(crate) const TASK_ELEMS: usize = 1 << 14;

/// `x` clamped to `[lo, hi]` with NaN passed through (so a diverged run stays visibly NaN).
#[inline(always)]
fn clamp_nan(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi {
        hi
    } else {
        x
    }
}

/// Lower clamp of [`exp`]: e^−87.33 ≈ 1.18e-38 is the smallest normal f32 (n = −126).
const EXP_LO: f32 = -87.336_54;
/// Upper clamp of [`exp`] (n ≤ 127 keeps 2^n finite); every caller here passes x ≤ 0.
const EXP_HI: f32 = 88.0;

/// e^x in f32 (Cephes `expf`): x = n·ln2 + r with n = round(x·log2 e), |r| ≤ ln2/2 (ln2 split
/// in a hi/lo pair so r is exact), e^r = 1 + r + r²·P(r) with a degree-5 minimax P, then
/// 2^n is built in the exponent bits. Max relative error ≈ 2 ulp (≤ 2.4e-7) on [−87.3, 88];
/// inputs below −87.34 (including −∞) return ≈ 1.2e-38 instead of 0, NaN stays NaN.
#[inline(always)]
pub(crate) fn exp<F: Fma>(x: f32) -> f32 {
    // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4; // 0.693359375 = 355/512, exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = clamp_nan(x, EXP_LO, EXP_HI);
    let t = F::fma(x, std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = F::fma(n, -LN2_HI, x);
    let r = F::fma(n, -LN2_LO, r);
    let mut p = 1.987_569_2e-4;
    p = F::fma(p, r, 1.398_199_9e-3);
    p = F::fma(p, r, 8.333_452e-3);
    p = F::fma(p, r, 4.166_579_6e-2);
    p = F::fma(p, r, 1.666_666_5e-1);
    p = F::fma(p, r, 0.5);
    let er = F::fma(p, r * r, r + 1.0);
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    er * f32::from_bits((ni.wrapping_add(127) << 23) as u32)
}

/// erf(x) in f32 as the rational minimax fit used by Eigen: erf(x) ≈ x·P(x²)/Q(x²) with P of
/// degree 6 and Q of degree 4 in x², x clamped to [−4, 4] (1 − erf(4) = 1.5e-8 is below half
/// an f32 ulp of 1). No exp and no branch, one division. Max abs error vs f64 erf: 6.5e-8 for
/// the fit itself (f64 evaluation), 4.5e-7 (≈ 7 ulp of 1, near |x| ≈ 3.9) once evaluated by
/// Horner in f32, with or without FMA (test `erf_accuracy`, dense grid on [−6, 6]).
#[inline(always)]
pub(crate) fn erf<F: Fma>(x: f32) -> f32 {
    let x = clamp_nan(x, -4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10;
    p = F::fma(x2, p, 2.770_681_4e-8);
    p = F::fma(x2, p, -2.101_024e-6);
    p = F::fma(x2, p, -5.692_506_4e-5);
    p = F::fma(x2, p, -7.349_906_3e-4);
    p = F::fma(x2, p, -2.954_6e-3);
    p = F::fma(x2, p, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5;
    q = F::fma(x2, q, -2.133_740_6e-4);
    q = F::fma(x2, q, -1.682_827e-3);
    q = F::fma(x2, q, -7.373_329_2e-3);
    q = F::fma(x2, q, -1.426_473_9e-2);
    x * p / q
}

/// Fixed pairwise sum of the lane accumulators.
#[inline(always)]
pub(crate) fn hsum(mut a: [f32; L]) -> f32 {
    let mut w = L / 2;
    while w > 0 {
        for l in 0..w {
            a[l] += a[l + w];
        }
        w /= 2;
    }
    a[0]
}

/// Σ f(x_i, y_i) over two equal-length slices with lane accumulators (fixed order).
#[inline(always)]
pub(crate) fn sum_map2(x: &[f32], y: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0.0f32; L];
    let (xc, yc) = (x.chunks_exact(L), y.chunks_exact(L));
    let (xt, yt) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for ((a, &xv), &yv) in acc.iter_mut().zip(xs).zip(ys) {
            *a += f(xv, yv);
        }
    }
    for ((a, &xv), &yv) in acc.iter_mut().zip(xt).zip(yt) {
        *a += f(xv, yv);
    }
    hsum(acc)
}

/// Σ f(x_i) with lane accumulators (fixed order).
#[inline(always)]
pub(crate) fn sum_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; L];
    let xc = x.chunks_exact(L);
    let xt = xc.remainder();
    for xs in xc {
        for (a, &xv) in acc.iter_mut().zip(xs) {
            *a += f(xv);
        }
    }
    for (a, &xv) in acc.iter_mut().zip(xt) {
        *a += f(xv);
    }
    hsum(acc)
}

/// [`sum_map2`] over the first `len` elements, computed over whole chunks of [`L`]: `x.len()`
/// must be a multiple of L, and the terms from `len` on count as 0. Each lane accumulator gets
/// the same terms in the same order as `sum_map2(&x[..len], &y[..len], f)` plus exact zeros,
/// so the result is bit-identical, without the scalar tail loop.
#[inline(always)]
pub(crate) fn sum_map2_masked(x: &[f32], y: &[f32], len: usize, f: impl Fn(f32, f32) -> f32) -> f32 {
    debug_assert!(x.len() == y.len() && x.len().is_multiple_of(L) && len <= x.len());
    let mut acc = [0.0f32; L];
    for (c, (xs, ys)) in x.chunks_exact(L).zip(y.chunks_exact(L)).enumerate() {
        for (l, ((a, &xv), &yv)) in acc.iter_mut().zip(xs).zip(ys).enumerate() {
            let v = f(xv, yv);
            *a += if c * L + l < len { v } else { 0.0 };
        }
    }
    hsum(acc)
}

/// [`max`] of the first `len` elements, computed over whole chunks of [`L`] (`x.len()` a
/// multiple of L) with the rest masked to −∞: bit-identical to `max(&x[..len])`, without the
/// scalar tail loop.
#[inline(always)]
pub(crate) fn max_masked(x: &[f32], len: usize) -> f32 {
    debug_assert!(x.len().is_multiple_of(L) && len <= x.len());
    let mut acc = [f32::NEG_INFINITY; L];
    for (c, xs) in x.chunks_exact(L).enumerate() {
        for (l, (a, &v)) in acc.iter_mut().zip(xs).enumerate() {
            let v = if c * L + l < len { v } else { f32::NEG_INFINITY };
            *a = if v > *a { v } else { *a };
        }
    }
    acc.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// max_i x_i with lane accumulators; NaN never wins a comparison, so a NaN row yields a
/// finite max and the NaN then propagates through `exp(x − max)` instead of vanishing.
/// Returns −∞ for an empty slice.
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; L];
    let xc = x.chunks_exact(L);
    let xt = xc.remainder();
    for xs in xc {
        for (a, &v) in acc.iter_mut().zip(xs) {
            *a = if v > *a { v } else { *a };
        }
    }
    for (a, &v) in acc.iter_mut().zip(xt) {
        *a = if v > *a { v } else { *a };
    }
    acc.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Rows per rayon task for rows of `width` elements (a function of the width only, so any
/// per-task partial results are combined in the same order whatever the thread count).
#[inline]
pub(crate) fn rows_per_task(width: usize) -> usize {
    (TASK_ELEMS / width.max(1)).max(1)
}

/// Runs `f(first_row, rows)` over `out` (rows of `width`), split into tasks of
/// [`rows_per_task`] rows spread over rayon when there is more than one task. Each output
/// row is written by exactly one call, so results do not depend on the thread count.
pub(crate) fn par_rows<F>(out: &mut [f32], width: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    if width == 0 || out.is_empty() {
        return;
    }
    let step = rows_per_task(width) * width;
    if out.len() <= step {
        f(0, out);
    } else {
        let rpt = step / width;
        out.par_chunks_mut(step).enumerate().for_each(|(i, chunk)| f(i * rpt, chunk));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::cpu::erf::erf_f64;

    #[inline(always)]
    fn exp_k<F: Fma>(x: &[f32], y: &mut [f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = exp::<F>(v);
        }
    }
    #[inline(always)]
    fn erf_k<F: Fma>(x: &[f32], y: &mut [f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = erf::<F>(v);
        }
    }
    multiversion! { fn exp_slice(x: &[f32], y: &mut [f32]) = exp_k; }
    multiversion! { fn erf_slice(x: &[f32], y: &mut [f32]) = erf_k; }

    fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
        (0..=n).map(|i| lo + (hi - lo) * i as f32 / n as f32).collect()
    }

    #[test]
    fn exp_accuracy() {
        let x = grid(-87.0, 88.0, 400_000);
        for isa in Isa::supported() {
            let mut y = vec![0.0; x.len()];
            exp_slice(isa, &x, &mut y);
            let worst = x
                .iter()
                .zip(&y)
                .map(|(&x, &y)| {
                    let r = (x as f64).exp();
                    ((y as f64 - r) / r).abs()
                })
                .fold(0.0, f64::max);
            assert!(worst < 3.0e-7, "{isa:?}: exp max rel err {worst:e}");
        }
        let mut y = [0.0; 3];
        exp_slice(Isa::detected(), &[f32::NEG_INFINITY, f32::NAN, 0.0], &mut y);
        assert!(y[0] >= 0.0 && y[0] < 1.2e-38, "exp(-inf) = {}", y[0]);
        assert!(y[1].is_nan());
        assert_eq!(y[2], 1.0);
    }

    #[test]
    fn erf_accuracy() {
        let x = grid(-6.0, 6.0, 400_000);
        for isa in Isa::supported() {
            let mut y = vec![0.0; x.len()];
            erf_slice(isa, &x, &mut y);
            let worst =
                x.iter().zip(&y).map(|(&x, &y)| (y as f64 - erf_f64(x as f64)).abs()).fold(0.0, f64::max);
            assert!(worst < 5e-7, "{isa:?}: erf max abs err {worst:e}");
        }
        let mut y = [0.0; 2];
        erf_slice(Isa::detected(), &[f32::NAN, 0.0], &mut y);
        assert!(y[0].is_nan());
        assert_eq!(y[1], 0.0);
    }

    #[test]
    fn reductions_match_f64() {
        let x: Vec<f32> = (0..1003).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013).collect();
        let s = sum_map(&x, |v| v);
        let r: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((s as f64 - r).abs() < 1e-4, "{s} vs {r}");
        assert_eq!(max(&x), x.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
        assert_eq!(max(&[]), f32::NEG_INFINITY);
        let d = sum_map2(&x, &x, |a, b| a * b);
        let rd: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        assert!((d as f64 - rd).abs() < 1e-3 * rd, "{d} vs {rd}");
    }
}
