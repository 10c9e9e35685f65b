//! GPT as in nanoGPT's `model.py`: token + learned position embeddings, pre-LayerNorm blocks
//! of causal multi-head attention and a 4× GELU MLP, a final LayerNorm, and an LM head tied to
//! the token embedding or not. Parameter names follow GPT-2 (`wte`, `h.{i}.attn.c_attn`, ...),
//! so checkpoints line up with nanoGPT.
//!
//! Shapes: B = batch, T = sequence length (≤ block_size), C = n_embd, H = n_head,
//! hd = C / H, V = vocab_size.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Result, Tensor, Var};

use super::config::GptConfig;
use super::init::{init_values, param_specs, ParamSpec};
use super::ops;

/// The model: its config and its parameters (candle `Var`s, sorted by name).
pub struct Gpt {
    /// Shape.
    pub cfg: GptConfig,
    /// Parameter specs in sorted name order (same order as `vars`).
    pub specs: Vec<ParamSpec>,
    /// Trainable parameters in sorted name order.
    pub vars: Vec<Var>,
    index: BTreeMap<String, usize>,
}

impl Gpt {
    /// A freshly initialised model (GPT-2 init from `seed`, see `init`).
    pub fn new(cfg: &GptConfig, seed: u64, device: &Device) -> Result<Self> {
        let specs = param_specs(cfg);
        let values = init_values(&specs, seed);
        let vars = specs
            .iter()
            .zip(values)
            .map(|(s, v)| Var::from_vec(v, s.shape.clone(), device))
            .collect::<Result<Vec<_>>>()?;
        let index = specs.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
        Ok(Gpt { cfg: cfg.clone(), specs, vars, index })
    }

    /// The parameter tensor named `name` (GPT-2 naming).
    pub fn param(&self, name: &str) -> &Tensor {
        let i =
            self.index.get(name).unwrap_or_else(|| panic!("no parameter named {name}: a bug in param_specs"));
        self.vars[*i].as_tensor()
    }

    fn param_opt(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|i| self.vars[*i].as_tensor())
    }

    fn layer_norm(&self, x: &Tensor, p: &str) -> Result<Tensor> {
        ops::layer_norm(x, self.param(&format!("{p}.weight")), self.param_opt(&format!("{p}.bias")))
    }

    /// (weight, bias) of the Linear or LayerNorm named `p`.
    fn pair(&self, p: &str) -> (&Tensor, Option<&Tensor>) {
        (self.param(&format!("{p}.weight")), self.param_opt(&format!("{p}.bias")))
    }

    /// The parameters of block `i` (`h.{i}.ln_1`, `h.{i}.attn.c_attn`, ...).
    fn block_params(&self, i: usize) -> ops::BlockParams<'_> {
        ops::BlockParams {
            ln_1: self.pair(&format!("h.{i}.ln_1")),
            c_attn: self.pair(&format!("h.{i}.attn.c_attn")),
            attn_proj: self.pair(&format!("h.{i}.attn.c_proj")),
            ln_2: self.pair(&format!("h.{i}.ln_2")),
            c_fc: self.pair(&format!("h.{i}.mlp.c_fc")),
            mlp_proj: self.pair(&format!("h.{i}.mlp.c_proj")),
        }
    }

    /// The final hidden states ln_f(x) (B·T, C) for token ids `idx` (B, T) u32.
    fn hidden(&self, idx: &Tensor) -> Result<Tensor> {
        let (b, t) = idx.dims2()?;
        if t > self.cfg.block_size {
            candle_core::bail!("sequence length {t} exceeds block_size {}", self.cfg.block_size);
        }
        let wte = self.param("wte.weight");
        let tok = wte.embedding(&idx.flatten_all()?)?; // (B·T, C)
        let pos = self.param("wpe.weight").narrow(0, 0, t)?; // (T, C)
        let mut x =
            tok.reshape((b, t, self.cfg.n_embd))?.broadcast_add(&pos)?.reshape((b * t, self.cfg.n_embd))?;
        for i in 0..self.cfg.n_layer {
            // x + attn(ln_1(x)), then + mlp(ln_2(·)): one fused op per block (`transformer_block`).
            x = ops::transformer_block(&x, &self.block_params(i), b, t, self.cfg.n_head)?;
        }
        self.layer_norm(&x, "ln_f")
    }

    fn head(&self) -> &Tensor {
        self.param(if self.cfg.tie_embeddings { "wte.weight" } else { "lm_head.weight" })
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

    /// [`Gpt::loss`] for evaluation: the same value, no gradient with respect to the LM head
    /// (the fused head skips its backward products, two thirds of its cost).
    pub fn eval_loss(&self, idx: &Tensor, targets: &Tensor) -> Result<Tensor> {
        ops::linear_cross_entropy(&self.hidden(idx)?, self.head(), &targets.flatten_all()?, false)
    }

    /// Number of scalar parameters actually held (tests compare with `count::params_total`).
    pub fn n_params(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    /// Copies every parameter out as f32 vectors (sorted name order).
    pub fn values(&self) -> Result<Vec<Vec<f32>>> {
        self.vars
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
            for (s, v) in m.specs.iter().zip(&m.vars) {
                let gr = g.get(v.as_tensor()).unwrap_or_else(|| panic!("no gradient for {}", s.name));
                let n = gr.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(n > 0.0, "zero gradient for {}", s.name);
            }
        }
    }
}
