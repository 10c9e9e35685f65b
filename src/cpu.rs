//! Run-time CPU dispatch, shared by the f32 training kernels (`model::fused`, `train::optim`)
//! and the f64 objective of the scaling-law fits (`fit::solve::kernel`): which instruction set
//! this CPU has ([`Isa`]), the fused multiply-add policies (`Fma`), and `multiversion!`,
//! which compiles one generic kernel for AVX-512, AVX2 and portable code and runs the best
//! variant the CPU supports.
//!
//! **How the kernels vectorise.** A kernel is a generic `#[inline(always)]` function over plain
//! slices, written branch-free (compares become selects) so that LLVM's loop vectoriser turns
//! it into packed code. `multiversion!` compiles it inside a
//! `#[target_feature(enable = "avx512f,…,fma")]` wrapper (zmm code), inside an `avx2,fma`
//! wrapper (ymm code) and as portable code; the variant is picked at run time from
//! `is_x86_feature_detected!`. No intrinsics are needed, so the only `unsafe` is the call into a
//! `#[target_feature]` function after the feature check.
//!
//! **Determinism.** LLVM never fuses, contracts or reassociates floating-point operations on
//! its own, so a kernel whose reductions have a fixed order gives the same bits under every
//! instruction set that uses the same `Fma` policy (the kernels' tests check this).
//!
//! Why one module: `fit` and `model::fused` each had their own AVX-512/AVX2 detection (issue
//! #20); now both ask [`Isa::detected`].

use std::sync::OnceLock;

/// Instruction sets the kernels are compiled for, in increasing order of capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Portable code (whatever the compile target allows, SSE2 on x86-64).
    Scalar,
    /// AVX2 + FMA: 8 f32 or 4 f64 lanes.
    Avx2,
    /// AVX-512 F/VL/DQ/BW + FMA: 16 f32 or 8 f64 lanes.
    Avx512,
}

impl Isa {
    /// The best instruction set this CPU supports (detected once, then cached).
    pub fn detected() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                let v3 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
                let v4 = v3
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512bw");
                if v4 {
                    return Isa::Avx512;
                }
                if v3 {
                    return Isa::Avx2;
                }
            }
            Isa::Scalar
        })
    }

    /// Every instruction set this CPU can run, weakest first (for cross-checking kernels).
    pub fn supported() -> Vec<Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= Isa::detected()).collect()
    }
}

/// Fused multiply-add policy of a kernel variant: `a * b + c` with one rounding or two.
pub(crate) trait Fma {
    /// `a * b + c` in f32.
    fn fma(a: f32, b: f32, c: f32) -> f32;
    /// `a * b + c` in f64.
    fn fma64(a: f64, b: f64, c: f64) -> f64;
}

/// One rounding, compiled to `vfmadd` inside the `fma` target-feature wrappers.
pub(crate) struct HwFma;

impl Fma for HwFma {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn fma64(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
}

/// Two roundings: the portable variant of the training kernels (a software `fmaf` call
/// without the `fma` feature would be far slower than two roundings).
pub(crate) struct SoftFma;

impl Fma for SoftFma {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn fma64(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
}

/// Whether the build's baseline CPU has fused multiply-add (always on AArch64).
const BASELINE_FMA: bool = cfg!(any(target_feature = "fma", target_arch = "aarch64"));

/// One rounding where the build's baseline CPU has FMA (always on AArch64), else two: the
/// portable variant of the fit objective, which then matches the vector variants' bits wherever
/// the hardware allows it cheaply.
pub(crate) struct BaselineFma;

impl Fma for BaselineFma {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        if BASELINE_FMA {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }
    #[inline(always)]
    fn fma64(a: f64, b: f64, c: f64) -> f64 {
        if BASELINE_FMA {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }
}

/// Defines `fn $name(isa: Isa, args…)` that runs the generic kernel `$imp::<F: Fma>(args…)`
/// compiled for the requested instruction set, capped at what the CPU supports: `HwFma` in the
/// AVX-512 and AVX2 variants, [`SoftFma`] in the portable one unless `, portable POLICY` names
/// another. `$imp` must be `#[inline(always)]` (as must everything it calls): otherwise LLVM may
/// keep one out-of-line copy compiled without the target features, and `mul_add` there becomes
/// a libm `fma` call.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $imp:ident;) => {
        $crate::cpu::multiversion! {
            $(#[$meta])* $vis fn $name($($arg: $ty),*) $(-> $ret)? = $imp, portable $crate::cpu::SoftFma;
        }
    };
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $imp:ident, portable $port:ty;) => {
        $(#[$meta])*
        $vis fn $name(isa: $crate::cpu::Isa, $($arg: $ty),*) $(-> $ret)? {
            #[allow(unused_imports)]
            use $crate::cpu::{HwFma, Isa};
            // Never run code for a richer ISA than the CPU has, whatever the caller asked.
            let isa = isa.min(Isa::detected());
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? {
                    $imp::<HwFma>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? {
                    $imp::<HwFma>($($arg),*)
                }
                match isa {
                    // SAFETY: `isa` is capped at `Isa::detected()`, which returns `Avx512` only
                    // after `is_x86_feature_detected!` confirmed every feature `v4` enables.
                    Isa::Avx512 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above, `Avx2` is only reachable when avx2 and fma were detected.
                    Isa::Avx2 => return unsafe { v3($($arg),*) },
                    Isa::Scalar => {}
                }
            }
            $imp::<$port>($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_as_documented() {
        // 1 + 2^-30 squared is 1 + 2^-29 + 2^-60: the 2^-60 term survives only a fused
        // multiply-add of (a·a − 1).
        let a = 1.0 + 2f64.powi(-30);
        let fused = HwFma::fma64(a, a, -1.0);
        let split = SoftFma::fma64(a, a, -1.0);
        assert_eq!(fused, 2f64.powi(-29) + 2f64.powi(-60));
        assert_eq!(split, 2f64.powi(-29));
        assert_eq!(BaselineFma::fma64(a, a, -1.0), if BASELINE_FMA { fused } else { split });
        assert_eq!(Isa::supported().last().copied(), Some(Isa::detected()));
    }
}
