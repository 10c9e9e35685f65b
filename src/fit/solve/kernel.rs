//! The vectorised inner loop of the fit objective: Σ w·Huber and its gradient sums over the
//! observations (the formulas are on `PackedData`, in `objective.rs`), compiled for AVX-512,
//! AVX2 and portable code by the crate's CPU dispatch (`crate::cpu`).
//!
//! Why: the objective is the hot path of every fit (a 4,500-start Approach 3 fit evaluates it
//! ~700,000 times). With one array per quantity ([`Columns`]) and [`vmath`](super::vmath)'s
//! inlined, branch-free `exp` and `ln`, LLVM evaluates four (AVX2) or eight (AVX-512)
//! observations per instruction; the arrays are padded with zero-weight observations to a
//! multiple of eight so the vector loop has no scalar remainder.
//!
//! Exactness: S = e^{u_1} + e^{u_2} + e^e is summed directly (two `exp` per point, e^e once per
//! call) when S ∈ [1e-200, 1e200]: there every term is exact to 1 ulp, and a term that
//! `vmath::exp` flushes to zero (< e^−707 ≈ 1e-307) is below 1e-107·S. Otherwise that
//! observation is redone in the max-shifted form m = max u, t_k = e^{u_k − m},
//! log L̂ = m + ln S, S = Σ t_k.

use super::vmath::{exp, ln};
use crate::cpu::{multiversion, BaselineFma, Fma, Isa};

/// Observations as columns, padded with zero-weight observations to a multiple of eight.
#[derive(Debug, Clone)]
pub struct Columns {
    /// z of the first term per observation (ln N or ln D), then padding.
    pub z0: Vec<f64>,
    /// z of the second term (0 when there is none).
    pub z1: Vec<f64>,
    /// ln L.
    pub log_loss: Vec<f64>,
    /// Weights; 0 for the padding.
    pub weight: Vec<f64>,
}

impl Columns {
    /// The columns of `n` observations, observation i having z0(i), z1(i), log_loss(i) and
    /// weight(i).
    pub fn new(
        n: usize,
        z0: &dyn Fn(usize) -> f64,
        z1: &dyn Fn(usize) -> f64,
        log_loss: &dyn Fn(usize) -> f64,
        weight: &dyn Fn(usize) -> f64,
    ) -> Columns {
        let padded = n.div_ceil(8) * 8;
        let col = |f: &dyn Fn(usize) -> f64| -> Vec<f64> {
            (0..padded).map(|i| if i < n { f(i) } else { 0.0 }).collect()
        };
        Columns { z0: col(z0), z1: col(z1), log_loss: col(log_loss), weight: col(weight) }
    }
}

/// Coefficients of one evaluation: u_k = c_k + na_k·z_k (na = −α), u_E = `pe`.
#[derive(Debug, Clone, Copy)]
pub struct Coef {
    /// c_0.
    pub c0: f64,
    /// −α_0.
    pub na0: f64,
    /// c_1 (−∞ without a second term).
    pub c1: f64,
    /// −α_1 (0 without a second term).
    pub na1: f64,
    /// e = ln E (−∞ without E).
    pub pe: f64,
    /// Huber δ.
    pub delta: f64,
}

multiversion! {
    /// Σ w·H and the five gradient sums (∂c_0, Σ ψ t_0 z_0/S, ∂c_1, Σ ψ t_1 z_1/S, ∂e) by
    /// [`kernel_body`], compiled for `isa` (`crate::cpu`). The AVX-512 and AVX2 variants give
    /// identical bits (see [`vmath`](super::vmath)); the portable one does too where the build
    /// targets a CPU with FMA, and otherwise rounds a·b + c twice (a software `mul_add` would be
    /// ~20 times slower there).
    fn objective_sums(d: &Columns, c: &Coef) -> [f64; 6] = kernel_body, portable BaselineFma;
}

/// Observations per block of [`kernel_body`], and number of partial sums: observation i is
/// added to partial sum i mod `BLOCK`, in order of i, and the partial sums are added pairwise
/// at the end. Fixed, so the rounding of the sums does not depend on the vector width the
/// kernel was compiled for; a multiple of eight (the padding), so blocks are whole vectors.
const BLOCK: usize = 64;

/// Whether S is in range for the direct form, S ∈ [1e-200, 1e200] (module docs).
#[inline(always)]
fn direct_ok(s: f64) -> bool {
    (1e-200..=1e200).contains(&s)
}

/// The objective's sums over all observations (formulas: `PackedData`, in `objective.rs`).
///
/// Per block of [`BLOCK`] observations, a loop over the observations that LLVM vectorises:
/// straight-line code ([`exp`] and [`ln`] are inlined polynomials, no calls), and each
/// observation adds into its own partial sums, so nothing is reassociated. Observations whose
/// direct sum is out of range add 0 there and flag the block; the rare flagged blocks are then
/// revisited, scalar, adding those observations' max-shifted form to their partial sums (each
/// partial sum receives one observation per block, so the order of additions is unchanged).
#[inline(always)]
fn kernel_body<F: Fma>(d: &Columns, c: &Coef) -> [f64; 6] {
    let (exp, ln, fma) = (exp::<F>, ln::<F>, F::fma64);
    let ee = exp(c.pe);
    // Cache-line aligned: every vector add into a partial sum is then one aligned load/store.
    #[repr(align(64))]
    struct Partials([[f64; BLOCK]; 6]);
    let mut acc = Partials([[0.0f64; BLOCK]; 6]);
    let n = d.z0.len();
    for start in (0..n).step_by(BLOCK) {
        let len = BLOCK.min(n - start);
        let z0 = &d.z0[start..start + len];
        let z1 = &d.z1[start..start + len];
        let ll = &d.log_loss[start..start + len];
        let w = &d.weight[start..start + len];
        let [a0, a1, a2, a3, a4, a5] = &mut acc.0;
        let (a0, a1, a2, a3, a4, a5) =
            (&mut a0[..len], &mut a1[..len], &mut a2[..len], &mut a3[..len], &mut a4[..len], &mut a5[..len]);
        let mut redo = false;
        for j in 0..len {
            let e0 = exp(fma(c.na0, z0[j], c.c0));
            let e1 = exp(fma(c.na1, z1[j], c.c1));
            let s = e0 + e1 + ee;
            let ok = direct_ok(s);
            redo |= !ok;
            let t = point_terms(ln(s), s, [e0, e1, ee], z0[j], z1[j], ll[j], w[j], c.delta);
            let t = t.map(|x| if ok { x } else { 0.0 });
            a0[j] += t[0];
            a1[j] += t[1];
            a2[j] += t[2];
            a3[j] += t[3];
            a4[j] += t[4];
            a5[j] += t[5];
        }
        if !redo {
            continue;
        }
        for j in 0..len {
            let u = [fma(c.na0, z0[j], c.c0), fma(c.na1, z1[j], c.c1), c.pe];
            if direct_ok(exp(u[0]) + exp(u[1]) + ee) {
                continue;
            }
            // Max-shifted form. (No closures calling `exp` here: they would be compiled
            // without the kernel's target features, and `mul_add` would become a libm call.)
            let m = u[0].max(u[1]).max(u[2]);
            let e = [exp(u[0] - m), exp(u[1] - m), exp(u[2] - m)];
            let s = e[0] + e[1] + e[2];
            let t = point_terms(m + ln(s), s, e, z0[j], z1[j], ll[j], w[j], c.delta);
            a0[j] += t[0];
            a1[j] += t[1];
            a2[j] += t[2];
            a3[j] += t[3];
            a4[j] += t[4];
            a5[j] += t[5];
        }
    }
    let mut sums = [0.0; 6];
    for (s, a) in sums.iter_mut().zip(&acc.0) {
        *s = pairwise(a);
    }
    sums
}

/// Σ v in a fixed pairwise order: v[i] += v[i + h] for h = 32, 16, …, 1.
#[inline(always)]
fn pairwise(v: &[f64; BLOCK]) -> f64 {
    let mut v = *v;
    let mut h = BLOCK / 2;
    while h > 0 {
        for i in 0..h {
            v[i] += v[i + h];
        }
        h /= 2;
    }
    v[0]
}

/// One observation's contributions from log L̂ = `lse` = ln S (shifted or not) and the terms
/// `e` of S: [w·H(r), q·e_0, q·e_0·z_0, q·e_1, q·e_1·z_1, q·e_2] with r = lse − ln L and
/// q = w·ψ(r)/S.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn point_terms(lse: f64, s: f64, e: [f64; 3], z0: f64, z1: f64, ll: f64, w: f64, delta: f64) -> [f64; 6] {
    let r = lse - ll;
    let ra = r.abs();
    let quad = ra <= delta;
    let h = if quad { 0.5 * r * r } else { delta * (ra - 0.5 * delta) };
    let psi = if quad { r } else { delta.copysign(r) };
    let q = w * psi / s;
    let (q0, q1) = (q * e[0], q * e[1]);
    [w * h, q0, q0 * z0, q1, q1 * z1, q * e[2]]
}

/// The objective's sums for `c` over `d`: [Σ w·H, ∂c_0, Σ ψ t_0 z_0/S, ∂c_1, Σ ψ t_1 z_1/S, ∂e],
/// on the best instruction set this CPU has.
pub fn sums(d: &Columns, c: &Coef) -> [f64; 6] {
    objective_sums(Isa::detected(), d, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{HwFma, SoftFma};

    #[test]
    fn every_kernel_gives_the_same_bits() {
        // 4 + 70 observations: two blocks, the second partial, and padding.
        let mut z = Vec::new();
        let (mut ll, mut w) = (Vec::new(), Vec::new());
        for (i, (n, dd)) in [(1e5, 1e7), (3e6, 2e8), (2e7, 5e9), (1e6, 1e9)].iter().enumerate() {
            z.push([f64::ln(*n), f64::ln(*dd)]);
            ll.push((2.0 + 0.3 * i as f64).ln());
            w.push(1.0 + i as f64 * 0.5);
        }
        for i in 0..70 {
            let x = i as f64 / 7.0;
            z.push([f64::ln(1e4 * 10f64.powf(x * 0.4)), f64::ln(1e6 * 10f64.powf(4.0 - x * 0.3))]);
            ll.push((1.8 + 0.05 * (i % 11) as f64).ln());
            w.push(1.0 + (i % 3) as f64);
        }
        let packed = Columns::new(z.len(), &|i| z[i][0], &|i| z[i][1], &|i| ll[i], &|i| w[i]);
        let vector: Vec<Isa> = Isa::supported().into_iter().filter(|&i| i > Isa::Scalar).collect();
        // Direct form, max-shifted form in some observations, and in all of them.
        for (c0, na0, c1, na1, pe) in
            [(5.0, -0.4, 6.0, -0.3, 0.5), (470.0, -1.0, 6.0, -0.3, 0.5), (-900.0, -0.4, -700.0, -0.3, -800.0)]
        {
            let coef = Coef { c0, na0, c1, na1, pe, delta: 1e-3 };
            // The fused kernel body compiled without target features (libm `fma` calls):
            // the reference for every vectorised kernel on this machine.
            let want = kernel_body::<HwFma>(&packed, &coef);
            assert!(want.iter().all(|v| v.is_finite()), "{want:?}");
            for isa in &vector {
                assert_eq!(
                    objective_sums(*isa, &packed, &coef).map(f64::to_bits),
                    want.map(f64::to_bits),
                    "{isa:?}"
                );
            }
            let portable = kernel_body::<BaselineFma>(&packed, &coef);
            assert_eq!(
                objective_sums(Isa::Scalar, &packed, &coef).map(f64::to_bits),
                portable.map(f64::to_bits)
            );
            let unfused = kernel_body::<SoftFma>(&packed, &coef);
            for (u, w) in unfused.iter().zip(&want) {
                assert!((u - w).abs() <= 1e-12 * w.abs().max(1e-300), "{unfused:?} vs {want:?}");
            }
        }
    }
}
