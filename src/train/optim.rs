//! AdamW with decoupled weight decay (Loshchilov & Hutter 2019), as PyTorch's `torch.optim.AdamW`,
//! over flat f32 buffers, plus global-norm gradient clipping.
//!
//! candle's `AdamW` decays every variable; nanoGPT decays only matrices (`configure_optimizers`),
//! so the decay flag is per parameter here. For each parameter p with gradient g at step t ≥ 1:
//!
//! ```text
//! p ← p − lr·wd·p                 (decay params only)
//! m ← β1·m + (1−β1)·g
//! v ← β2·v + (1−β2)·g²
//! p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)
//! ```
//!
//! The moments live in plain `Vec<f32>`s, so the checkpoint stores them exactly. On the CPU
//! the trainer runs the update in place on the parameters' own storage (`AdamWInPlace`, a
//! candle in-place op), reading the gradients where backprop left them: no copies per step.

use candle_core::{bail, CpuStorage, InplaceOp2, Layout};

use crate::model::fused::{multiversion, Fma, Isa};

/// AdamW hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

/// Optimizer state: step count and first/second moments per parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW {
    /// Hyperparameters.
    pub cfg: AdamWConfig,
    /// Updates done so far (t).
    pub t: u64,
    /// First moments, one buffer per parameter.
    pub m: Vec<Vec<f32>>,
    /// Second moments.
    pub v: Vec<Vec<f32>>,
}

impl AdamW {
    /// Zero moments for parameters of the given sizes.
    pub fn new(cfg: AdamWConfig, sizes: &[usize]) -> Self {
        AdamW {
            cfg,
            t: 0,
            m: sizes.iter().map(|n| vec![0.0; *n]).collect(),
            v: sizes.iter().map(|n| vec![0.0; *n]).collect(),
        }
    }

    /// One update of parameter `i` in place. Call [`AdamW::begin_step`] once per step first.
    pub fn update(&mut self, i: usize, p: &mut [f32], g: &[f32], lr: f64, decay: bool) {
        self.update_scaled(i, p, g, 1.0, lr, decay)
    }

    /// [`AdamW::update`] with the gradient multiplied by `gscale` first (the clipping
    /// coefficient), element by element as the update reads it: the same f32 products as
    /// scaling the gradient buffer beforehand, without writing it.
    pub fn update_scaled(&mut self, i: usize, p: &mut [f32], g: &[f32], gscale: f32, lr: f64, decay: bool) {
        let k = self.consts(lr, decay);
        let (m, v) = (&mut self.m[i], &mut self.v[i]);
        assert!(p.len() == g.len() && p.len() == m.len() && p.len() == v.len(), "AdamW: buffer sizes differ");
        adamw_kernel(Isa::detected(), p, g, m, v, gscale, k);
    }

    fn consts(&self, lr: f64, decay: bool) -> Consts {
        let c = self.cfg;
        let t = self.t as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        Consts {
            step: (lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            b1: c.beta1 as f32,
            b2: c.beta2 as f32,
            eps: c.eps as f32,
            decay_mul: if decay { 1.0 - (lr * c.weight_decay) as f32 } else { 1.0 },
        }
    }

    /// Advances t (bias corrections use the new t).
    pub fn begin_step(&mut self) {
        self.t += 1;
    }
}

/// The per-step constants of the update, in f32.
#[derive(Clone, Copy)]
struct Consts {
    step: f32,
    bc2_sqrt: f32,
    b1: f32,
    b2: f32,
    eps: f32,
    decay_mul: f32,
}

/// The update over flat buffers, one pass. Vectorised without a reduction and without FMA
/// contraction (`F` is unused: Rust never fuses `a * b + c`), so every lane computes exactly
/// the scalar formula: bit-identical to the original loop on any ISA.
#[inline(always)]
fn adamw_k<F: Fma>(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], gscale: f32, k: Consts) {
    for (((pj, &gj), mj), vj) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let gj = gj * gscale;
        *mj = k.b1 * *mj + (1.0 - k.b1) * gj;
        *vj = k.b2 * *vj + (1.0 - k.b2) * gj * gj;
        let denom = vj.sqrt() / k.bc2_sqrt + k.eps;
        *pj = *pj * k.decay_mul - k.step * *mj / denom;
    }
}
multiversion! { fn adamw_kernel(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], gscale: f32, k: Consts) = adamw_k; }

/// Global L2 norm of all gradients (accumulated in f64).
pub fn global_norm(grads: &[Vec<f32>]) -> f64 {
    grads.iter().flat_map(|g| g.iter()).map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt()
}

/// Scale factor for clipping to `max_norm` (PyTorch `clip_grad_norm_`: max_norm/(norm+1e-6), ≤ 1).
pub fn clip_coef(norm: f64, max_norm: f64) -> f32 {
    if max_norm <= 0.0 {
        return 1.0;
    }
    (max_norm / (norm + 1e-6)).min(1.0) as f32
}

/// One parameter's AdamW update as a candle in-place op over (parameter, gradient): the
/// parameter's storage is updated where it lies, the moments are this parameter's buffers.
pub struct AdamWInPlace<'a> {
    opt: std::sync::Mutex<(&'a mut [f32], &'a mut [f32])>,
    gscale: f32,
    k: Consts,
}

impl AdamW {
    /// The in-place op updating parameter `i` (call [`AdamW::begin_step`] once per step
    /// first); apply it with `param.inplace_op2(&grad, &op)`.
    pub fn in_place(&mut self, i: usize, gscale: f32, lr: f64, decay: bool) -> AdamWInPlace<'_> {
        let k = self.consts(lr, decay);
        AdamWInPlace { opt: std::sync::Mutex::new((&mut self.m[i], &mut self.v[i])), gscale, k }
    }
}

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => bail!("adamw: expected a contiguous f32 tensor"),
    }
}

impl InplaceOp2 for AdamWInPlace<'_> {
    fn name(&self) -> &'static str {
        "adamw-in-place"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let g = contiguous_f32(s2, l2)?;
        let (CpuStorage::F32(pv), Some((a, b))) = (s1, l1.contiguous_offsets()) else {
            bail!("adamw: expected a contiguous f32 parameter")
        };
        let p = &mut pv[a..b];
        let mut guard = self.opt.lock().unwrap_or_else(|e| e.into_inner());
        let (m, v) = &mut *guard;
        if p.len() != g.len() || p.len() != m.len() || p.len() != v.len() {
            bail!("adamw: parameter, gradient and moments differ in size");
        }
        adamw_kernel(Isa::detected(), p, g, m, v, self.gscale, self.k);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr() {
        // After one step with bias correction, m̂ = g and v̂ = g², so Δp = −lr·g/(|g|+ε) ≈ −lr·sign(g).
        let cfg = AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0 };
        let mut o = AdamW::new(cfg, &[2]);
        let mut p = vec![1.0f32, -1.0];
        o.begin_step();
        o.update(0, &mut p, &[0.5, -2.0], 0.1, true);
        assert!((p[0] - 0.9).abs() < 1e-6 && (p[1] + 0.9).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn decay_only_where_asked() {
        let cfg = AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.5 };
        let mut o = AdamW::new(cfg, &[1, 1]);
        let (mut a, mut b) = (vec![1.0f32], vec![1.0f32]);
        o.begin_step();
        o.update(0, &mut a, &[0.0], 0.1, true);
        o.update(1, &mut b, &[0.0], 0.1, false);
        assert!((a[0] - 0.95).abs() < 1e-7);
        assert_eq!(b[0], 1.0);
    }

    #[test]
    fn clipping() {
        assert_eq!(clip_coef(0.5, 1.0), 1.0);
        assert!((clip_coef(4.0, 1.0) - 0.25).abs() < 1e-6);
        assert_eq!(global_norm(&[vec![3.0], vec![4.0]]), 5.0);
    }
}
