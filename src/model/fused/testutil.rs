//! Shared test helpers: seeded random tensors, tolerant comparison, gradient comparison with
//! the composed reference, central finite differences and the thread-count determinism check.

use candle_core::{Device, Result, Tensor, Var};
use rand::{Rng as _, SeedableRng};

pub(crate) type Rng = rand_chacha::ChaCha8Rng;

/// A seeded generator.
pub(crate) fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// N(0, scale²) f32 tensor of `shape` (Box–Muller).
pub(crate) fn randn(rng: &mut Rng, shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let (u1, u2): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.gen());
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32 * scale
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Asserts |a − b| ≤ atol·max(1, ‖b‖∞) + rtol·|b| elementwise (same shape required).
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, atol: f32, rtol: f32, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let (a, b) = (values(a), values(b));
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let mut worst = (0.0f32, 0usize);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let excess = (x - y).abs() - (atol * scale + rtol * y.abs());
        if excess > worst.0 || excess.is_nan() {
            worst = (excess, i);
        }
    }
    let i = worst.1;
    assert!(
        worst.0 <= 0.0,
        "{what}: element {i}: {} vs {} (scale {scale}, atol {atol}, rtol {rtol})",
        a[i],
        b[i]
    );
}

type OpFn = fn(&[Tensor]) -> Result<Tensor>;

fn args(vars: &[Var], extra: &[Tensor]) -> Vec<Tensor> {
    vars.iter().map(|v| v.as_tensor().clone()).chain(extra.iter().cloned()).collect()
}

/// The output and the gradient of sum(op(args) ⊙ r) for every var (panics on a missing one:
/// a silently cut gradient path is exactly the failure this module exists to avoid).
pub(crate) fn output_and_grads(
    vars: &[Var],
    extra: &[Tensor],
    op: OpFn,
    r: &Tensor,
) -> (Tensor, Vec<Tensor>) {
    let y = op(&args(vars, extra)).unwrap();
    let loss = (&y * r).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let gs = vars
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("no gradient for input {i}"));
            assert_eq!(g.dims(), v.dims(), "gradient shape of input {i}");
            g.clone()
        })
        .collect();
    (y, gs)
}

/// Values within `vtol` and gradients of a random projection within `gtol` of the composed
/// reference, and every gradient non-zero.
pub(crate) fn compare_with_composed_x(
    rng: &mut Rng,
    vars: &[Var],
    extra: &[Tensor],
    fused: OpFn,
    composed: OpFn,
    vtol: f32,
    gtol: f32,
) {
    let yc = composed(&args(vars, extra)).unwrap();
    let r = randn(rng, yc.dims(), 1.0);
    let (yf, gf) = output_and_grads(vars, extra, fused, &r);
    let (_, gc) = output_and_grads(vars, extra, composed, &r);
    assert_close(&yf, &yc, vtol, vtol, "forward");
    for (i, (f, c)) in gf.iter().zip(&gc).enumerate() {
        assert_close(f, c, gtol, gtol, &format!("gradient of input {i} {:?}", vars[i].dims()));
        // A live path: non-zero wherever the reference is (a constant output, e.g. LayerNorm
        // over C = 1 or the softmax of a single score, legitimately has a zero gradient).
        let live = |t: &Tensor| values(t).iter().any(|&v| v != 0.0);
        assert_eq!(live(f), live(c), "gradient of input {i}: fused all-zero {}", !live(f));
    }
}

/// [`compare_with_composed_x`] without non-differentiable extra arguments.
pub(crate) fn compare_with_composed(
    rng: &mut Rng,
    vars: &[Var],
    fused: OpFn,
    composed: OpFn,
    vtol: f32,
    gtol: f32,
) {
    compare_with_composed_x(rng, vars, &[], fused, composed, vtol, gtol)
}

/// Central differences of L = Σ op(args) ⊙ r, accumulated in f64 from the f32 outputs, with
/// each input element perturbed by ±1e-3 (the step actually taken in f32 is the denominator),
/// against the analytic gradients of the op.
pub(crate) fn finite_difference_check_x(
    rng: &mut Rng,
    vars: &[Var],
    extra: &[Tensor],
    op: OpFn,
    atol: f64,
    rtol: f64,
) {
    const H: f32 = 1e-3;
    let y0 = op(&args(vars, extra)).unwrap();
    let r = randn(rng, y0.dims(), 1.0);
    let rv = values(&r);
    let (_, grads) = output_and_grads(vars, extra, op, &r);
    let loss = |ts: &[Tensor]| -> f64 {
        values(&op(ts).unwrap()).iter().zip(&rv).map(|(&y, &r)| y as f64 * r as f64).sum()
    };
    for (k, var) in vars.iter().enumerate() {
        let base = values(var.as_tensor());
        let an = values(&grads[k]);
        let scale = an.iter().fold(1.0f64, |m, v| m.max(v.abs() as f64));
        for e in 0..base.len() {
            let at = |x: f32| {
                let mut v = base.clone();
                v[e] = x;
                let mut ts = args(vars, extra);
                ts[k] = Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap();
                loss(&ts)
            };
            let (xp, xm) = (base[e] + H, base[e] - H);
            let fd = (at(xp) - at(xm)) / (xp as f64 - xm as f64);
            let a = an[e] as f64;
            assert!(
                (fd - a).abs() <= atol * scale + rtol * a.abs(),
                "input {k} element {e}: finite difference {fd} vs analytic {a}"
            );
        }
    }
}

/// [`finite_difference_check_x`] without extra arguments.
pub(crate) fn finite_difference_check(rng: &mut Rng, vars: &[Var], op: OpFn, atol: f64, rtol: f64) {
    finite_difference_check_x(rng, vars, &[], op, atol, rtol)
}

/// Output and gradients bit-identical across two calls and across 1, 2 and 3 rayon threads.
pub(crate) fn check_deterministic_x(rng: &mut Rng, vars: &[Var], extra: &[Tensor], op: OpFn) {
    let y0 = op(&args(vars, extra)).unwrap();
    let r = randn(rng, y0.dims(), 1.0);
    let bits = |t: &Tensor| values(t).iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let (y, gs) = output_and_grads(vars, extra, op, &r);
            std::iter::once(&y).chain(&gs).map(bits).collect::<Vec<_>>()
        })
    };
    let reference = run(1);
    assert_eq!(reference, run(1), "two single-threaded runs differ");
    for threads in [2, 3] {
        assert_eq!(reference, run(threads), "{threads} threads differ from 1");
    }
}

/// [`check_deterministic_x`] without extra arguments.
pub(crate) fn check_deterministic(rng: &mut Rng, vars: &[Var], op: OpFn) {
    check_deterministic_x(rng, vars, &[], op)
}
