//! One optimizer step of the GPT ([`Trainer::step`]: forward, backward, clip, AdamW), and the
//! model's mean loss over validation windows ([`eval_loss`]). The loop around them is `run`;
//! `bench` times `Trainer::step` alone.

use anyhow::Result;
use candle_core::{CpuStorage, DType, Device, Storage, Tensor};

use super::optim::{clip_coef, AdamW, AdamWConfig};
use crate::corpus::sampler::fill_batch;
use crate::model::Gpt;

/// The model plus optimizer state: one call of [`Trainer::step`] is one optimizer step
/// (forward, backward, clip, AdamW). `bench` times exactly this.
pub struct Trainer {
    /// The model (its `Var`s hold the current parameters, updated in place by AdamW).
    pub model: Gpt,
    /// AdamW state.
    pub opt: AdamW,
    /// Parameter shapes, in canonical (sorted name) order.
    pub shapes: Vec<Vec<usize>>,
}

/// Runs `f` on the f32 values of a CPU tensor where they lie (a host copy otherwise).
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (s, l) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) = (&*s, l.contiguous_offsets()) {
            return Ok(f(&v[a..b]));
        }
    }
    Ok(f(&t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?))
}

impl Trainer {
    /// A fresh model (seeded init) and zeroed optimizer.
    pub fn new(cfg: &crate::model::GptConfig, seed: u64, adam: AdamWConfig, device: &Device) -> Result<Self> {
        let model = Gpt::new(cfg, seed, device)?;
        let shapes: Vec<Vec<usize>> = model.specs.iter().map(|s| s.shape.clone()).collect();
        let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        Ok(Trainer { opt: AdamW::new(adam, &sizes), shapes, model })
    }

    /// Parameter names, in canonical (sorted) order.
    pub fn names(&self) -> Vec<String> {
        self.model.specs.iter().map(|s| s.name.clone()).collect()
    }

    /// Copies of the current parameters (canonical order), e.g. for a checkpoint.
    pub fn params(&self) -> Result<Vec<Vec<f32>>> {
        Ok(self.model.values()?)
    }

    /// Writes `params` (canonical order, flat) into the model's `Var`s.
    pub fn set_params(&mut self, params: &[Vec<f32>]) -> Result<()> {
        let vars = self.model.vars();
        if params.len() != vars.len() {
            anyhow::bail!("{} parameter tensors for a model with {}", params.len(), vars.len());
        }
        for (var, (p, s)) in vars.into_iter().zip(params.iter().zip(&self.shapes)) {
            var.set(&Tensor::from_slice(p, s.as_slice(), var.device())?)?;
        }
        Ok(())
    }

    /// The loss and every parameter's gradient (in `vars` order) through candle's autograd.
    fn loss_and_grads_autograd(&self, x: &Tensor, y: &Tensor) -> Result<(f32, Vec<Tensor>)> {
        let loss = self.model.loss(x, y)?;
        let loss_v = loss.to_scalar::<f32>()?;
        let gs = loss.backward()?;
        drop(loss);
        let mut grads = Vec::with_capacity(self.shapes.len());
        for (var, shape) in self.model.vars().into_iter().zip(&self.shapes) {
            grads.push(match gs.get(var.as_tensor()) {
                Some(g) => g.contiguous()?,
                // A parameter the loss does not reach: a zero gradient (its moments still decay).
                None => Tensor::zeros(shape.as_slice(), DType::F32, var.device())?,
            });
        }
        Ok((loss_v, grads))
    }

    /// One optimizer step on inputs `x` and targets `y` (both (B, T) u32); returns the loss
    /// before the update. `clip` ≤ 0 disables clipping.
    ///
    /// The gradients are read where backprop left them (global norm in f64, in parameter
    /// order), and on the CPU AdamW updates each parameter's storage in place
    /// ([`AdamW::in_place`]); other devices go through host copies.
    pub fn step(&mut self, x: &Tensor, y: &Tensor, lr: f64, clip: f64) -> Result<f32> {
        let (loss_v, grads) = match self.model.loss_and_grads(x, y)? {
            // The CPU path without candle's autograd (same numbers, see `Gpt::loss_and_grads`).
            Some(lg) => lg,
            None => self.loss_and_grads_autograd(x, y)?,
        };
        let mut sq = 0.0f64;
        for g in &grads {
            with_f32(g, |v| v.iter().for_each(|&x| sq += (x as f64) * (x as f64)))?;
        }
        let coef = clip_coef(sq.sqrt(), clip);
        self.opt.begin_step();
        for (i, (g, var)) in grads.iter().zip(self.model.vars()).enumerate() {
            let decay = self.model.specs[i].decay;
            if var.device().is_cpu() && var.dtype() == DType::F32 {
                var.as_tensor().inplace_op2(g, &self.opt.in_place(i, coef, lr, decay))?;
            } else {
                let mut p = var.as_tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                with_f32(g, |gv| self.opt.update_scaled(i, &mut p, gv, coef, lr, decay))?;
                let t = Tensor::from_vec(p, var.shape(), var.device())?.to_dtype(var.dtype())?;
                var.set(&t)?;
            }
        }
        Ok(loss_v)
    }
}

/// Mean cross-entropy (nats/token) of the model on validation windows, in chunks of `batch`.
pub fn eval_loss(
    model: &Gpt,
    tokens: &[u32],
    starts: &[usize],
    batch: usize,
    device: &Device,
) -> Result<f64> {
    let t = model.cfg.block_size;
    let mut total = 0.0f64;
    for chunk in starts.chunks(batch.max(1)) {
        let (x, y) = fill_batch(tokens, chunk, t);
        let x = Tensor::from_vec(x, (chunk.len(), t), device)?;
        let y = Tensor::from_vec(y, (chunk.len(), t), device)?;
        let l = model.eval_loss(&x, &y)?.to_scalar::<f32>()? as f64;
        total += l * chunk.len() as f64;
    }
    Ok(total / starts.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GptConfig;

    #[test]
    fn one_batch_overfits() {
        let cfg = GptConfig::tiny();
        let adam = AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0 };
        let mut tr = Trainer::new(&cfg, 0, adam, &Device::Cpu).unwrap();
        let x: Vec<u32> = (0..64).map(|i| (i * 13 % 64) as u32).collect();
        let y: Vec<u32> = (0..64).map(|i| (i * 29 % 64) as u32).collect();
        let x = Tensor::from_vec(x, (4, 16), &Device::Cpu).unwrap();
        let y = Tensor::from_vec(y, (4, 16), &Device::Cpu).unwrap();
        let first = tr.step(&x, &y, 1e-2, 1.0).unwrap();
        let mut last = first;
        for _ in 0..300 {
            last = tr.step(&x, &y, 1e-2, 1.0).unwrap();
        }
        assert!(first > 3.5, "initial loss {first}");
        assert!(last < 0.1, "one batch did not overfit: loss {last} after 300 steps");
    }
}
