//! GPT as in nanoGPT's `model.py`: token + learned position embeddings, pre-LayerNorm blocks
//! of causal multi-head attention and a 4× GELU MLP, a final LayerNorm, and an LM head tied to
//! the token embedding or not. Parameter names follow GPT-2 (`wte`, `h.{i}.attn.c_attn`, ...),
//! so checkpoints line up with nanoGPT.
//!
//! Shapes: B = batch, T = sequence length (≤ block_size), C = n_embd, H = n_head,
//! hd = C / H, V = vocab_size.

use candle_core::{CpuStorage, DType, Device, Result, Storage, Tensor, Var};

use super::config::GptConfig;
use super::fused::whole;
use super::init::{init_values, param_specs, ParamSpec};
use super::ops;
use super::params::ParameterTensors;

/// The model: its config and its parameters (candle `Var`s).
pub struct Gpt {
    /// Shape.
    pub cfg: GptConfig,
    /// Parameter specs in canonical (sorted name) order, the order of [`Gpt::vars`].
    pub specs: Vec<ParamSpec>,
    /// The trainable parameters.
    pub params: ParameterTensors<Var>,
}

impl Gpt {
    /// A freshly initialised model (GPT-2 init from `seed`, see `init`).
    pub fn new(cfg: &GptConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::from_values(cfg, init_values(&param_specs(cfg), seed), device)
    }

    /// A model with the given parameters (canonical order, flat, as [`Gpt::values`] returns
    /// them), e.g. read from a model file; shapes are checked.
    pub fn from_values(cfg: &GptConfig, values: Vec<Vec<f32>>, device: &Device) -> Result<Self> {
        let specs = param_specs(cfg);
        if specs.len() != values.len() {
            candle_core::bail!("{} parameter tensors for a model with {}", values.len(), specs.len());
        }
        let vars = specs
            .iter()
            .zip(values)
            .map(|(s, v)| Var::from_vec(v, s.shape.clone(), device))
            .collect::<Result<Vec<_>>>()?;
        let params = ParameterTensors::from_canonical(cfg, vars).expect("param_specs lists every slot");
        Ok(Gpt { cfg: cfg.clone(), specs, params })
    }

    /// The trainable parameters in canonical (sorted name) order, the order of `specs`, of
    /// the optimizer's state and of checkpoints.
    pub fn vars(&self) -> Vec<&Var> {
        self.params.named().map(|(_, v)| v).collect()
    }

    /// Errors when a sequence of length `t` does not fit the position embedding.
    fn check_len(&self, t: usize) -> Result<()> {
        if t > self.cfg.block_size {
            candle_core::bail!("sequence length {t} exceeds block_size {}", self.cfg.block_size);
        }
        Ok(())
    }

    /// The final hidden states ln_f(x) (B·T, C) for token ids `idx` (B, T) u32.
    fn hidden(&self, idx: &Tensor) -> Result<Tensor> {
        let (b, t) = idx.dims2()?;
        self.check_len(t)?;
        let p = &self.params;
        let tok = p.wte.embedding(&idx.flatten_all()?)?; // (B·T, C)
        let pos = p.wpe.narrow(0, 0, t)?; // (T, C)
        let mut x =
            tok.reshape((b, t, self.cfg.n_embd))?.broadcast_add(&pos)?.reshape((b * t, self.cfg.n_embd))?;
        for block in &p.h {
            // x + attn(ln_1(x)), then + mlp(ln_2(·)): one fused op per block (`transformer_block`).
            x = ops::transformer_block(&x, &block.map(|v| v.as_tensor()), b, t, self.cfg.n_head)?;
        }
        ops::layer_norm(&x, &p.ln_f.0, p.ln_f.1.as_ref().map(|v| v.as_tensor()))
    }

    /// The LM head: `lm_head` when untied, else `wte`.
    fn head(&self) -> &Tensor {
        self.params.lm_head.as_ref().unwrap_or(&self.params.wte).as_tensor()
    }

    /// Logits (B·T, V) for token ids `idx` (B, T) u32.
    pub fn forward(&self, idx: &Tensor) -> Result<Tensor> {
        ops::linear(&self.hidden(idx)?, self.head(), None)
    }

    /// Mean cross-entropy (nats/token) of next-token prediction: idx (B, T), targets (B, T).
    /// Differentiable; the LM head and the loss are one fused op that never materialises the
    /// (B·T, V) logits (`linear_cross_entropy`).
    pub fn loss(&self, idx: &Tensor, targets: &Tensor) -> Result<Tensor> {
        ops::linear_cross_entropy(&self.hidden(idx)?, self.head(), &targets.flatten_all()?, true)
    }

    /// [`Gpt::loss`] and the gradient of every parameter (in [`Gpt::vars`] order) in one call,
    /// on the CPU without candle's autograd (`fused::whole`, bit-identical to `loss` followed
    /// by `backward`). `None` where that path does not apply (another device or dtype, or
    /// parameters not contiguous): the caller then uses `loss` + `backward`.
    pub fn loss_and_grads(&self, idx: &Tensor, targets: &Tensor) -> Result<Option<(f32, Vec<Tensor>)>> {
        let (b, t) = idx.dims2()?;
        self.check_len(t)?;
        if targets.dims() != [b, t] {
            candle_core::bail!("targets {:?} do not match ids {:?}", targets.shape(), idx.shape());
        }
        if !idx.device().is_cpu() || !targets.device().is_cpu() || idx.dtype() != DType::U32 {
            return Ok(None);
        }
        let (v, c) = (self.cfg.vocab_size, self.cfg.n_embd);
        let ids = idx.flatten_all()?.to_vec1::<u32>()?;
        let tg: Vec<usize> = targets
            .flatten_all()?
            .to_dtype(DType::U32)?
            .to_vec1::<u32>()?
            .iter()
            .map(|&x| x as usize)
            .collect();
        if let Some(bad) = ids.iter().map(|&x| x as usize).chain(tg.iter().copied()).find(|&x| x >= v) {
            candle_core::bail!("token id {bad} out of range for vocab_size {v}");
        }
        let guards = self.params.map(|v| v.as_tensor().storage_and_layout());
        let slices = guards.try_map(|(g, l)| match (&**g, l.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(d)), Some((a, e))) => Some(&d[a..e]),
            _ => None,
        });
        let Some(slices) = slices else { return Ok(None) };
        let dims = whole::Dims { b, t, c, n_head: self.cfg.n_head, vocab: v, bias: self.cfg.bias };
        let (loss, grads) = whole::loss_and_grads(&dims, &slices, &ids, &tg);
        drop(slices);
        drop(guards);
        // Each gradient as a tensor of its parameter's shape, in `vars` order.
        let grads = grads
            .into_canonical()
            .into_iter()
            .zip(&self.specs)
            .map(|(d, s)| Tensor::from_vec(d, s.shape.as_slice(), &Device::Cpu))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((loss, grads)))
    }

    /// [`Gpt::loss`] for evaluation: the same value, no gradient with respect to the LM head
    /// (the fused head skips its backward products, two thirds of its cost).
    pub fn eval_loss(&self, idx: &Tensor, targets: &Tensor) -> Result<Tensor> {
        ops::linear_cross_entropy(&self.hidden(idx)?, self.head(), &targets.flatten_all()?, false)
    }

    /// Number of scalar parameters actually held (tests compare with `count::params_total`).
    pub fn n_params(&self) -> usize {
        self.vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Copies every parameter out as f32 vectors (canonical order).
    pub fn values(&self) -> Result<Vec<Vec<f32>>> {
        self.vars()
            .iter()
            .map(|v| v.as_tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::count;

    fn ids(v: &[u32], b: usize, t: usize) -> Tensor {
        Tensor::from_slice(v, (b, t), &Device::Cpu).unwrap()
    }

    #[test]
    fn param_count_matches_tensors() {
        for tie in [true, false] {
            let cfg = GptConfig { tie_embeddings: tie, ..GptConfig::tiny() };
            let m = Gpt::new(&cfg, 0, &Device::Cpu).unwrap();
            assert_eq!(m.n_params() as u64, count::params_total(&cfg));
        }
    }

    #[test]
    fn causal() {
        // Changing token t+1 leaves the logits at positions ≤ t unchanged.
        let cfg = GptConfig::tiny();
        let m = Gpt::new(&cfg, 1, &Device::Cpu).unwrap();
        let a: Vec<u32> = (0..16).map(|i| (i * 7 % 64) as u32).collect();
        let mut b = a.clone();
        b[9] = (b[9] + 5) % 64;
        let la = m.forward(&ids(&a, 1, 16)).unwrap().to_vec2::<f32>().unwrap();
        let lb = m.forward(&ids(&b, 1, 16)).unwrap().to_vec2::<f32>().unwrap();
        for t in 0..9 {
            assert_eq!(la[t], lb[t], "position {t} changed");
        }
        assert_ne!(la[9], lb[9]);
    }

    #[test]
    fn loss_at_init_is_ln_vocab() {
        let cfg = GptConfig { vocab_size: 512, ..GptConfig::tiny() };
        let m = Gpt::new(&cfg, 2, &Device::Cpu).unwrap();
        let x: Vec<u32> = (0..64).map(|i| (i * 37 % 512) as u32).collect();
        let y: Vec<u32> = (0..64).map(|i| (i * 91 % 512) as u32).collect();
        let l = m.loss(&ids(&x, 4, 16), &ids(&y, 4, 16)).unwrap().to_scalar::<f32>().unwrap() as f64;
        assert!((l - 512f64.ln()).abs() < 0.1, "loss at init {l} vs ln V {}", 512f64.ln());
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        for tie in [true, false] {
            let cfg = GptConfig { tie_embeddings: tie, ..GptConfig::tiny() };
            let m = Gpt::new(&cfg, 3, &Device::Cpu).unwrap();
            // Use every position and many tokens so each embedding row in use gets gradient.
            let x: Vec<u32> = (0..64).map(|i| (i * 5 % 64) as u32).collect();
            let y: Vec<u32> = (0..64).map(|i| (i * 3 % 64) as u32).collect();
            let loss = m.loss(&ids(&x, 4, 16), &ids(&y, 4, 16)).unwrap();
            let g = loss.backward().unwrap();
            for (s, v) in m.specs.iter().zip(m.vars()) {
                let gr = g.get(v.as_tensor()).unwrap_or_else(|| panic!("no gradient for {}", s.name));
                let n = gr.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(n > 0.0, "zero gradient for {}", s.name);
            }
        }
    }

    /// The CPU path without autograd gives the same loss and the same gradient bits as
    /// `loss` + `backward`, with and without tied embeddings and biases, for T < block_size
    /// (wpe rows past T get zero gradient) and repeated token ids (wte rows summed in order).
    #[test]
    fn loss_and_grads_match_autograd_bit_for_bit() {
        for (tie, bias) in [(true, true), (false, true), (true, false), (false, false)] {
            let cfg = GptConfig { tie_embeddings: tie, bias, ..GptConfig::tiny() };
            let m = Gpt::new(&cfg, 4, &Device::Cpu).unwrap();
            let (b, t) = (3, 13);
            let x: Vec<u32> = (0..b * t).map(|i| (i * 7 % 23) as u32).collect();
            let y: Vec<u32> = (0..b * t).map(|i| (i * 11 % 64) as u32).collect();
            let (x, y) = (ids(&x, b, t), ids(&y, b, t));
            let loss = m.loss(&x, &y).unwrap();
            let gs = loss.backward().unwrap();
            let (l, grads) = m.loss_and_grads(&x, &y).unwrap().expect("the CPU path applies");
            assert_eq!(
                l.to_bits(),
                loss.to_scalar::<f32>().unwrap().to_bits(),
                "loss, tie {tie} bias {bias}"
            );
            for ((s, v), g) in m.specs.iter().zip(m.vars()).zip(&grads) {
                let want = gs.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let got = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                assert_eq!(g.dims(), v.dims(), "{}", s.name);
                let same = want
                    .iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0));
                assert!(same, "gradient of {} differs (tie {tie}, bias {bias})", s.name);
            }
        }
    }
}
