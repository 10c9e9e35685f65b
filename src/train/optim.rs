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
//! The moments live in plain `Vec<f32>`s, so the checkpoint stores them exactly.

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
        let c = self.cfg;
        let t = self.t as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        let step = (lr / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        let (b1, b2, eps) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32);
        let decay_mul = if decay { 1.0 - (lr * c.weight_decay) as f32 } else { 1.0 };
        let (m, v) = (&mut self.m[i], &mut self.v[i]);
        for j in 0..p.len() {
            let gj = g[j];
            m[j] = b1 * m[j] + (1.0 - b1) * gj;
            v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
            let denom = v[j].sqrt() / bc2_sqrt + eps;
            p[j] = p[j] * decay_mul - step * m[j] / denom;
        }
    }

    /// Advances t (bias corrections use the new t).
    pub fn begin_step(&mut self) {
        self.t += 1;
    }
}

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
