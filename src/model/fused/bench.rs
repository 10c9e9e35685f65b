//! Speed of the fused ops against the composed forms, forward and forward + backward, on the
//! shapes of the naive trainer. Run single-threaded (the numbers in the docs were taken so):
//! `RAYON_NUM_THREADS=1 cargo test --release bench_fused -- --ignored --nocapture`.
//! Prints a table; asserts nothing about time.
//!
//! The unit-test binary allocates with mimalloc, like the trainer binary (`main.rs`): with
//! glibc malloc most of both columns is page faults from fresh multi-MB buffers, which says
//! more about the allocator than about the ops.

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};

use super::composed;
use super::testutil::{randn, rng};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Median wall time (ms) of `f` over `reps` runs after one warm-up.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

type Op = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

/// Prints median forward and forward + backward times of both versions, and the latter net of
/// the projection baseline (the same backward through x ⊙ r alone, which includes candle's
/// grad accumulation into x), i.e. the cost attributable to the op itself.
fn time_op(name: &str, vars: &[Var], extra: &[Tensor], fused: Op, reference: Op, reps: usize) {
    let args: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).chain(extra.iter().cloned()).collect();
    let r = randn(&mut rng(99), fused(&args).unwrap().dims(), 1.0);
    let fwd = |op: &Op| median_ms(reps, || drop(op(&args).unwrap()));
    let fwd_bwd = |op: &Op| {
        median_ms(reps, || {
            let loss = (op(&args).unwrap() * &r).unwrap().sum_all().unwrap();
            drop(loss.backward().unwrap());
        })
    };
    let (ff, cf) = (fwd(&fused), fwd(&reference));
    let (fb, cb) = (fwd_bwd(&fused), fwd_bwd(&reference));
    // Baseline: the same projection and accumulation with the op replaced by a copy of x.
    let base = if vars[0].dims() == r.dims() {
        median_ms(reps, || {
            let loss = (vars[0].as_tensor() * &r).unwrap().sum_all().unwrap();
            drop(loss.backward().unwrap());
        })
    } else {
        0.0
    };
    println!(
        "{name:<32} fwd {cf:7.2} → {ff:6.2} ms {:5.1}× | fwd+bwd {cb:7.2} → {fb:6.2} ms {:4.1}× | \
         net of {base:5.2} ms baseline {:4.1}×",
        cf / ff,
        cb / fb,
        (cb - base) / (fb - base)
    );
}

#[test]
#[ignore = "timing, run by hand with --ignored --nocapture"]
fn bench_fused() {
    let mut g = rng(7);
    let var = |g: &mut _, s: &[usize], scale| Var::from_tensor(&randn(g, s, scale)).unwrap();
    println!("ISA {:?}, rayon threads {}", super::Isa::detected(), rayon::current_num_threads());
    println!("(forward + backward of sum(op(x) ⊙ r); the projection costs the same in both columns)");

    let ln = [var(&mut g, &[4096, 128], 1.0), var(&mut g, &[128], 1.0), var(&mut g, &[128], 1.0)];
    time_op(
        "layer_norm (4096, 128)",
        &ln,
        &[],
        Box::new(|v| super::layer_norm(&v[0], &v[1], Some(&v[2]))),
        Box::new(|v| composed::layer_norm(&v[0], &v[1], Some(&v[2]))),
        21,
    );

    let x = [var(&mut g, &[4096, 512], 2.0)];
    time_op(
        "gelu (4096, 512)",
        &x,
        &[],
        Box::new(|v| super::gelu(&v[0])),
        Box::new(|v| composed::gelu(&v[0])),
        21,
    );

    let att = [var(&mut g, &[32, 4, 128, 128], 2.0)];
    let mask = composed::causal_mask(128, &Device::Cpu).unwrap();
    let m2 = mask.clone();
    time_op(
        "causal_softmax (32, 4, 128, 128)",
        &att,
        &[],
        Box::new(move |v| super::causal_softmax(&v[0], &mask)),
        Box::new(move |v| composed::causal_softmax(&v[0], &m2)),
        11,
    );
    let m3 = composed::causal_mask(128, &Device::Cpu).unwrap();
    time_op(
        "  scaled, vs (att·s) + composed",
        &att,
        &[],
        Box::new(|v| super::causal_softmax_scaled(&v[0], 0.25)),
        Box::new(move |v| composed::causal_softmax(&(&v[0] * 0.25)?, &m3)),
        11,
    );

    let logits = [var(&mut g, &[4096, 4096], 3.0)];
    let t: Vec<u32> = (0..4096u32).map(|i| (i * 2654435761u32) % 4096).collect();
    let t = Tensor::from_vec(t, 4096, &Device::Cpu).unwrap();
    assert_eq!(t.dtype(), DType::U32);
    time_op(
        "cross_entropy (4096, 4096)",
        &logits,
        &[t],
        Box::new(|v| super::cross_entropy(&v[0], &v[1])),
        Box::new(|v| composed::cross_entropy(&v[0], &v[1])),
        5,
    );
}
