//! Branch-free `exp` and `ln` for the vectorised Huber objective (its inner loop is in
//! `kernel.rs`).
//!
//! Why: a 4,500-start Approach 3 fit evaluates the objective ~700,000 times, each with two
//! `exp` and one `ln` per observation. libm's scalar calls cannot be vectorised and were most
//! of the fit's time. These are straight-line code (no calls, tables or branches; the range
//! checks compile to selects), so once inlined into a loop over observations LLVM evaluates
//! them four (AVX2) or eight (AVX-512) lanes at a time.
//!
//! The `crate::cpu::Fma` policy `F` picks [`f64::mul_add`] (one rounding, `HwFma`; used where the CPU has
//! FMA) or a separate multiply and add (`SoftFma`, for CPUs without it, where `mul_add` would
//! be a slow libm call). Both are within 1 ulp of the correctly rounded result (tested against
//! std below). Whichever instruction set runs them, the same policy gives the same bits: LLVM
//! never fuses, contracts or reassociates floating-point operations on its own.
//!
//! * `exp(x)`: Cody & Waite (1980) reduction k = round(x/ln 2), r = x − k·ln2_hi − k·ln2_lo,
//!   with ln 2 split into a 32-bit head (k·ln2_hi exact for |k| < 2^20) and a tail, so
//!   |r| ≤ ln2/2 (+ rounding); then e^r by its Taylor series to degree 13, whose truncation
//!   error r¹⁴/14! < 4.2e-18 is below 0.04 ulp, evaluated as 1 + (r + r²·q(r)) so the large
//!   terms are added last (q by Estrin's scheme: 5 dependent operations instead of Horner's 11,
//!   so successive loop iterations overlap more); and e^x = e^r·2^k with 2^k written into the
//!   exponent field. Results for x ∈ [−707, 709] (k ∈ [−1020, 1023], so 2^k is a normal
//!   number); 0 below (e^−707 ≈ 1e-307), +∞ above, NaN for NaN.
//! * `ln(x)` for positive normal x: the fdlibm `e_log.c` algorithm (Sun Microsystems 1993).
//!   x = 2^k·m with m ∈ [√½, √2) read from the bit pattern, f = m − 1 (exact), s = f/(2+f),
//!   ln m = 2·atanh s = f − f²/2 + s·(f²/2 + R(s²)) with fdlibm's degree-7 minimax R
//!   (|error| < 2^−58.45), and ln x = k·ln2_hi − ((f²/2 − (s·(f²/2 + R) + k·ln2_lo)) − f).
//!   Zero, negative, subnormal, infinite and NaN inputs give unspecified values.

use crate::cpu::Fma;

/// 1.5·2^52: adding it to |y| < 2^51 rounds y to an integer held in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// ln 2 split so that k·LN2_HI is exact for |k| < 2^20 (fdlibm's `ln2_hi`, `ln2_lo`, by
/// their bit patterns).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// e^x (module docs: Cody–Waite reduction, degree-13 Taylor polynomial), branch-free.
#[inline(always)]
pub(crate) fn exp<F: Fma>(x: f64) -> f64 {
    let fma = F::fma64;
    // t = round(x·log2 e) + SHIFT; k = t − SHIFT, and the bits of t minus the bits of SHIFT
    // are k as a two's-complement integer.
    let t = fma(x, std::f64::consts::LOG2_E, SHIFT);
    let kf = t - SHIFT;
    let r = fma(-kf, LN2_HI, x);
    let r = fma(-kf, LN2_LO, r);
    // q(r) = Σ_{n=2}^{13} r^{n−2}/n! by Estrin's scheme; e^r = 1 + (r + r²·q).
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q01 = fma(C[1], r, C[0]);
    let q23 = fma(C[3], r, C[2]);
    let q45 = fma(C[5], r, C[4]);
    let q67 = fma(C[7], r, C[6]);
    let q89 = fma(C[9], r, C[8]);
    let q1011 = fma(C[11], r, C[10]);
    let q03 = fma(q23, r2, q01);
    let q47 = fma(q67, r2, q45);
    let q811 = fma(q1011, r2, q89);
    let q = fma(q811, r8, fma(q47, r4, q03));
    let p = 1.0 + fma(r2, q, r);
    // 2^k: k + 1023 in the exponent field; k ∈ [−1020, 1023] on the domain.
    let k = t.to_bits().wrapping_sub(SHIFT.to_bits());
    let y = p * f64::from_bits(k.wrapping_add(1023) << 52);
    let y = if x < -707.0 { 0.0 } else { y };
    if x > 709.0 {
        f64::INFINITY
    } else {
        y
    }
}

/// ln x for positive normal x (module docs: fdlibm's algorithm), branch-free.
#[inline(always)]
pub(crate) fn ln<F: Fma>(x: f64) -> f64 {
    let fma = F::fma64;
    const SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;
    // fdlibm's Lg1..Lg7, by their bit patterns.
    const LG: [f64; 7] = [
        f64::from_bits(0x3fe5_5555_5555_5593),
        f64::from_bits(0x3fd9_9999_9997_fa04),
        f64::from_bits(0x3fd2_4924_9422_9359),
        f64::from_bits(0x3fcc_71c5_1d8e_78af),
        f64::from_bits(0x3fc7_4664_96cb_03de),
        f64::from_bits(0x3fc3_9a09_d078_c69f),
        f64::from_bits(0x3fc2_f112_df3e_5244),
    ];
    // x = 2^k·m: k = floor(log2(x/√½)) from the bits, m = x·2^−k ∈ [√½, √2).
    let ix = x.to_bits();
    let k = ((ix.wrapping_sub(SQRT_HALF_BITS) as i64) >> 52) as u64;
    let m = f64::from_bits(ix.wrapping_sub(k << 52));
    // k as f64 without an int→float conversion: 1.5·2^52 + k is exact for |k| < 2^51.
    let dk = f64::from_bits(k.wrapping_add(SHIFT.to_bits())) - SHIFT;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * fma(w, fma(w, LG[5], LG[3]), LG[1]);
    let t2 = z * fma(w, fma(w, fma(w, LG[6], LG[4]), LG[2]), LG[0]);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{HwFma, SoftFma};
    use rand::{Rng, SeedableRng};

    /// Distance in units in the last place between two finite doubles of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    fn apply(xs: &[f64], f: fn(f64) -> f64) -> Vec<f64> {
        xs.iter().map(|&x| f(x)).collect()
    }

    /// Largest distance in ulps from std over `xs`, for both policies (fused, unfused).
    fn worst(xs: &[f64], fused: fn(f64) -> f64, unfused: fn(f64) -> f64, std: fn(f64) -> f64) -> [u64; 2] {
        [fused, unfused]
            .map(|f| xs.iter().zip(apply(xs, f)).map(|(x, y)| ulps(std(*x), y)).max().unwrap_or(0))
    }

    #[test]
    fn exp_is_within_one_ulp_of_std() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut xs: Vec<f64> = (0..200_000).map(|_| rng.gen_range(-707.0..709.0)).collect();
        xs.extend((0..200_000).map(|_| rng.gen_range(-1.0..1.0)));
        xs.extend((0..20_000).map(|_| rng.gen_range(-1e-8..1e-8)));
        // Halfway points of the reduction and the ends of the domain.
        xs.extend((-1020..=1022).map(|k| (k as f64 + 0.5) * std::f64::consts::LN_2));
        xs.extend([0.0, -0.0, -707.0, 709.0, 1e-300, -1e-300]);
        let w = worst(&xs, exp::<HwFma>, exp::<SoftFma>, f64::exp);
        assert!(w[0] <= 1 && w[1] <= 1, "worst exp error {w:?} ulp (fused, unfused)");
        assert_eq!((exp::<HwFma>(0.0), exp::<SoftFma>(0.0)), (1.0, 1.0));
    }

    #[test]
    fn exp_outside_its_domain() {
        let xs = [-708.0, -1e308, f64::NEG_INFINITY, 709.5, 1e308, f64::INFINITY, f64::NAN];
        for got in [apply(&xs, exp::<HwFma>), apply(&xs, exp::<SoftFma>)] {
            assert_eq!(&got[..3], &[0.0, 0.0, 0.0]);
            assert_eq!(&got[3..6], &[f64::INFINITY; 3]);
            assert!(got[6].is_nan());
        }
    }

    #[test]
    fn ln_is_within_one_ulp_of_std() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        // Log-uniform over the normal range, plus dense coverage near 1 (where ln is small)
        // and around the √½ / √2 reduction boundaries.
        let mut xs: Vec<f64> = (0..300_000).map(|_| rng.gen_range(-708.0f64..709.0).exp()).collect();
        xs.extend((0..100_000).map(|_| 1.0 + rng.gen_range(-0.3..0.4)));
        xs.extend((0..20_000).map(|_| 1.0 + rng.gen_range(-1e-10..1e-10)));
        xs.extend((0..20_000).map(|_| std::f64::consts::FRAC_1_SQRT_2 * (1.0 + rng.gen_range(-1e-6..1e-6))));
        xs.extend((0..20_000).map(|_| std::f64::consts::SQRT_2 * (1.0 + rng.gen_range(-1e-6..1e-6))));
        xs.extend([1.0, 2.0, 0.5, f64::MIN_POSITIVE, f64::MAX, 1e-200, 1e200]);
        let w = worst(&xs, ln::<HwFma>, ln::<SoftFma>, f64::ln);
        assert!(w[0] <= 1 && w[1] <= 1, "worst ln error {w:?} ulp (fused, unfused)");
        assert_eq!((ln::<HwFma>(1.0), ln::<SoftFma>(1.0)), (0.0, 0.0));
    }
}
