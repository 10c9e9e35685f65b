//! Tests of the fused transformer block: values and gradients against the composed ops,
//! bit-identity with the per-op path, finite differences, thread-count determinism.

use super::*;
use crate::model::fused::composed;
use crate::model::fused::testutil::*;
use candle_core::{DType, Device, Var};

/// x (B, T, C), then the 12 (or 6 without biases) parameters in packing order; the head
/// count is the length of the extra argument (the helpers take plain `fn`s).
fn parts(v: &[Tensor]) -> (Tensor, Vec<Tensor>, usize, usize, usize) {
    let (b, t, c) = v[0].dims3().unwrap();
    let h = v.last().unwrap().dim(0).unwrap();
    (v[0].reshape((b * t, c)).unwrap(), v[1..v.len() - 1].to_vec(), b, t, h)
}
fn with_params<R>(ps: &[Tensor], f: impl FnOnce(&BlockParams) -> R) -> R {
    let bias = ps.len() == 12;
    let pr = |i: usize| if bias { (&ps[2 * i], Some(&ps[2 * i + 1])) } else { (&ps[i], None) };
    let p = BlockParams {
        ln_1: pr(0),
        c_attn: pr(1),
        attn_proj: pr(2),
        ln_2: pr(3),
        c_fc: pr(4),
        mlp_proj: pr(5),
    };
    f(&p)
}
fn fused(v: &[Tensor]) -> Result<Tensor> {
    let (x, ps, b, t, h) = parts(v);
    with_params(&ps, |p| transformer_block(&x, p, b, t, h))
}
fn per_op(v: &[Tensor]) -> Result<Tensor> {
    let (x, ps, b, t, h) = parts(v);
    with_params(&ps, |p| unfused(&x, p, b, t, h))
}
/// Plain candle ops throughout (the composed form of every fused op).
fn reference(v: &[Tensor]) -> Result<Tensor> {
    let (x, ps, b, t, h) = parts(v);
    with_params(&ps, |p| {
        let h1 = composed::layer_norm(&x, p.ln_1.0, p.ln_1.1)?;
        let qkv = linear::composed(&h1, p.c_attn.0, p.c_attn.1)?;
        let a = attention::composed(&qkv, b, t, h)?;
        let x1 = (&x + linear::composed(&a, p.attn_proj.0, p.attn_proj.1)?)?;
        let h2 = composed::layer_norm(&x1, p.ln_2.0, p.ln_2.1)?;
        let u = composed::gelu(&linear::composed(&h2, p.c_fc.0, p.c_fc.1)?)?;
        &x1 + linear::composed(&u, p.mlp_proj.0, p.mlp_proj.1)?
    })
}
fn heads(h: usize) -> Tensor {
    Tensor::zeros(h, DType::F32, &Device::Cpu).unwrap()
}
/// x and random parameters (LayerNorm weights around 1) for B, T, H, hd.
fn vars(rng: &mut Rng, b: usize, t: usize, h: usize, hd: usize, bias: bool) -> Vec<Var> {
    let c = h * hd;
    let mut vs = vec![Var::from_tensor(&randn(rng, &[b, t, c], 1.0)).unwrap()];
    for (i, ((r, k), nb)) in shapes(c).into_iter().enumerate() {
        let scale = 1.0 / (k as f32).sqrt();
        let w = if r == 0 { (randn(rng, &[k], 0.2) + 1.0).unwrap() } else { randn(rng, &[r, k], scale) };
        vs.push(Var::from_tensor(&w).unwrap());
        if bias {
            let s = if i == 0 || i == 3 { 0.2 } else { 0.1 };
            vs.push(Var::from_tensor(&randn(rng, &[nb], s)).unwrap());
        }
    }
    vs
}

#[test]
fn matches_composed_values_and_grads() {
    let mut rng = rng(71);
    for (b, t, h, hd) in [(1, 1, 1, 1), (2, 5, 2, 3), (2, 17, 4, 8), (1, 64, 2, 16)] {
        for bias in [true, false] {
            let vs = vars(&mut rng, b, t, h, hd, bias);
            compare_with_composed_x(&mut rng, &vs, &[heads(h)], fused, reference, 1e-4, 1e-3);
        }
    }
}

/// The fused block gives exactly the numbers of the per-op path (same kernels, same order).
#[test]
fn bit_identical_to_per_op_path() {
    let mut rng = rng(72);
    for (b, t, h, hd, bias) in [(2, 17, 4, 8, true), (3, 32, 2, 16, false), (2, 128, 4, 32, true)] {
        let vs = vars(&mut rng, b, t, h, hd, bias);
        let extra = [heads(h)];
        let r = randn(&mut rng, &[b * t, h * hd], 1.0);
        // Twice: the second call runs on the buffers the first one returned (stale values).
        let (yf, gf) = output_and_grads(&vs, &extra, fused, &r);
        let (yf2, gf2) = output_and_grads(&vs, &extra, fused, &r);
        let (yp, gp) = output_and_grads(&vs, &extra, per_op, &r);
        let bits = |t: &Tensor| {
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        for (y, gs) in [(&yf, &gf), (&yf2, &gf2)] {
            assert_eq!(bits(y), bits(&yp), "forward differs");
            for (i, (f, p)) in gs.iter().zip(&gp).enumerate() {
                assert_eq!(bits(f), bits(p), "gradient of input {i} differs");
            }
        }
    }
}

#[test]
fn finite_differences() {
    let mut rng = rng(73);
    for bias in [true, false] {
        let vs = vars(&mut rng, 2, 3, 2, 2, bias);
        finite_difference_check_x(&mut rng, &vs, &[heads(2)], fused, 2e-3, 1e-2);
    }
}

#[test]
fn deterministic_across_threads() {
    let mut rng = rng(74);
    let vs = vars(&mut rng, 4, 33, 4, 8, true);
    check_deterministic_x(&mut rng, &vs, &[heads(4)], fused);
}

#[test]
fn rejects_mismatched_parameters() {
    let mut rng = rng(75);
    let vs = vars(&mut rng, 1, 4, 2, 4, true);
    let mut v: Vec<Tensor> = vs.iter().map(|v| v.as_tensor().clone()).collect();
    v.push(heads(2));
    v[3] = randn(&mut rng, &[8, 8], 0.1); // c_attn weight (3C, C) replaced by (C, C)
    let err = fused(&v).unwrap_err().to_string();
    assert!(err.contains("parameter pair 1"), "{err}");
}
