//! A bounds-checked f32 wrapper around the `gemm` crate (the kernel candle's CPU matmul uses),
//! so the fused ops can multiply strided views in place, accumulate into an existing output and
//! skip candle's zero-filled output buffers.
//!
//! **Determinism.** `gemm` reduces each output element over k in a fixed order that depends
//! on the shape only (its threads split the output, never k), so results are bit-identical
//! for any thread count; we pass candle's thread count, as candle's own matmul does.

use gemm::Parallelism;

/// A strided read-only matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major (rows, cols) matrix with row stride `cols`.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat { data, rs: cols, cs: 1 }
    }

    /// The transpose of the row-major (rows, cols) matrix `data`: a (cols, rows) view.
    pub fn rows_t(data: &'a [f32], cols: usize) -> Self {
        Mat { data, rs: 1, cs: cols }
    }

    fn fits(&self, r: usize, c: usize) -> bool {
        r == 0 || c == 0 || (r - 1) * self.rs + (c - 1) * self.cs < self.data.len()
    }
}

/// Threads for `gemm`: candle's setting (`RAYON_NUM_THREADS`, else all cores).
fn parallelism() -> Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

/// `dst (m × n, row stride dst_rs) = [dst +] a (m × k) · b (k × n)`; with `accumulate` false
/// the previous contents of `dst` are never read (it may hold anything).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    a: Mat,
    b: Mat,
) {
    matmul_with(m, n, k, dst, dst_rs, accumulate, a, b, parallelism())
}

/// [`matmul`] on the calling thread only (for small products inside a rayon task).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_st(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    a: Mat,
    b: Mat,
) {
    matmul_with(m, n, k, dst, dst_rs, accumulate, a, b, Parallelism::None)
}

#[allow(clippy::too_many_arguments)]
fn matmul_with(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    a: Mat,
    b: Mat,
    par: Parallelism,
) {
    assert!(a.fits(m, k) && b.fits(k, n), "matmul: operand views out of bounds");
    assert!(m == 0 || n == 0 || (m - 1) * dst_rs + n <= dst.len(), "matmul: output out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: every element the kernel reads or writes, (i·rs + j·cs) over the shapes above,
    // was checked to lie inside its slice; `dst` is borrowed mutably, so it aliases neither
    // operand.
    unsafe { gemm_raw(m, n, k, dst.as_mut_ptr(), dst_rs, accumulate, a, b, par) }
}

/// The one call into `gemm::gemm`: `dst (m × n, row stride dst_rs, column stride 1) = [dst +]
/// a · b` (alpha 1, beta 1, no conjugation).
///
/// # Safety
/// Every element the kernel touches — `a` and `b` over (m × k) and (k × n) through their strides,
/// `dst` over (m × n) — must lie inside its allocation, and `dst` must alias neither operand.
/// With `read_dst` false and k > 0 the kernel stores every destination element without reading
/// it, so `dst` may be uninitialised.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    read_dst: bool,
    a: Mat,
    b: Mat,
    par: Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        read_dst,
        a.data.as_ptr(),
        a.cs as isize,
        a.rs as isize,
        b.data.as_ptr(),
        b.cs as isize,
        b.rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        par,
    )
}

/// A fresh row-major (m × n) `a · b`, written by the kernel without a zero fill first (for the
/// (n_tokens × 4C) activations the fill costs as much memory traffic as a small matmul).
pub(crate) fn matmul_new(m: usize, n: usize, k: usize, a: Mat, b: Mat) -> Vec<f32> {
    let len = m * n;
    if k == 0 || len == 0 {
        return vec![0.0; len];
    }
    let mut v: Vec<f32> = Vec::with_capacity(len);
    assert!(a.fits(m, k) && b.fits(k, n), "matmul: operand views out of bounds");
    // SAFETY: bounds of `a` and `b` checked above; the destination is the vector's own
    // allocation of `len` = m·n floats (row stride n, column stride 1). With `read_dst` false
    // and k > 0, `gemm` stores every one of the m·n elements (dst = 1·(a·b)) and never reads
    // them, so all `len` elements are initialised before `set_len`.
    unsafe {
        gemm_raw(m, n, k, v.as_mut_ptr(), n, false, a, b, parallelism());
        v.set_len(len);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: Mat, b: Mat) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for l in 0..k {
                    c[i * n + j] += a.data[i * a.rs + l * a.cs] as f64 * b.data[l * b.rs + j * b.cs] as f64;
                }
            }
        }
        c
    }

    #[test]
    fn strided_and_accumulating() {
        let (m, n, k) = (7, 5, 9);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.25 - 1.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5 - 1.5).collect();
        for (am, bm) in [(Mat::rows(&a, k), Mat::rows(&b, n)), (Mat::rows_t(&a, m), Mat::rows_t(&b, k))] {
            let want = naive(m, n, k, am, bm);
            let mut c = vec![f32::NAN; m * n];
            matmul(m, n, k, &mut c, n, false, am, bm);
            assert_eq!(c, matmul_new(m, n, k, am, bm));
            for (x, y) in c.iter().zip(&want) {
                assert!((*x as f64 - y).abs() < 1e-4, "{x} vs {y}");
            }
            matmul(m, n, k, &mut c, n, true, am, bm);
            for (x, y) in c.iter().zip(&want) {
                assert!((*x as f64 - 2.0 * y).abs() < 1e-4, "{x} vs 2·{y}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn rejects_short_operands() {
        let a = vec![0.0f32; 5];
        let mut c = vec![0.0f32; 4];
        matmul(2, 2, 3, &mut c, 2, false, Mat::rows(&a, 3), Mat::rows(&a, 2));
    }
}

/// Throughput of the model's matmul shapes in each operand layout (the layouts the fused ops
/// pick are the ones measured fastest here). Run by hand:
/// `cargo test --release gemm_layouts -- --ignored --nocapture`.
#[cfg(test)]
mod layout_bench {
    use super::*;

    fn thread_cpu() -> f64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }

    #[test]
    #[ignore = "timing, run by hand with --ignored --nocapture"]
    fn gemm_layouts() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
        for (m, n, k) in [
            (64, 4096, 128),
            (128, 4096, 128),
            (256, 4096, 128),
            (256, 128, 4096),
            (4096, 128, 256),
            (128, 4096, 256),
            (256, 4096, 256),
            (256, 256, 4096),
            (4096, 256, 256),
            (4096, 256, 128),
        ] {
            let a = vec![0.5f32; m * k];
            let b = vec![0.25f32; k * n];
            let mut c = vec![0.0f32; m * n];
            let mut line = format!("{m:>5}x{n:>5}x{k:>5}:");
            for (name, am, bm) in [
                ("a b", Mat::rows(&a, k), Mat::rows(&b, n)),
                ("a bT", Mat::rows(&a, k), Mat::rows_t(&b, k)),
                ("aT b", Mat::rows_t(&a, m), Mat::rows(&b, n)),
                ("aT bT", Mat::rows_t(&a, m), Mat::rows_t(&b, k)),
            ] {
                let mut best = f64::INFINITY;
                for _ in 0..5 {
                    let t0 = thread_cpu();
                    matmul(m, n, k, &mut c, n, false, am, bm);
                    best = best.min(thread_cpu() - t0);
                }
                line += &format!("  {name} {:6.1}", 2.0 * (m * n * k) as f64 / best / 1e9);
            }
            println!("{line}  GFLOP/s (thread CPU time, best of 5)");
        }
    }
}
