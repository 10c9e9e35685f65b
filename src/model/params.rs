//! The GPT's parameters as one typed struct (llm.c's `ParameterTensors`), generic over what
//! each tensor slot holds: the model's `Var`s, f32 slices for the fused CPU path, their
//! gradients, initialisation specs, a model file's values.
//!
//! Shapes (C = n_embd, V = vocab_size, T = block_size, L = n_layer; every bias is absent when
//! the model has none, `lm_head` when it is tied to `wte`):
//!
//! | field | GPT-2 name | weight | bias |
//! |---|---|---|---|
//! | `wte` | `wte.weight` | (V, C) | |
//! | `wpe` | `wpe.weight` | (T, C) | |
//! | `h[i].ln_1` | `h.{i}.ln_1` | (C,) | (C,) |
//! | `h[i].c_attn` | `h.{i}.attn.c_attn` | (3C, C) | (3C,) |
//! | `h[i].attn_proj` | `h.{i}.attn.c_proj` | (C, C) | (C,) |
//! | `h[i].ln_2` | `h.{i}.ln_2` | (C,) | (C,) |
//! | `h[i].c_fc` | `h.{i}.mlp.c_fc` | (4C, C) | (4C,) |
//! | `h[i].mlp_proj` | `h.{i}.mlp.c_proj` | (C, 4C) | (C,) |
//! | `ln_f` | `ln_f` | (C,) | (C,) |
//! | `lm_head` | `lm_head.weight` | (V, C) | |
//!
//! Linear weights are (out, in), as PyTorch's `nn.Linear` stores them. The GPT-2 names are
//! spelled here once ([`ParameterTensors::named`]); everything that lists the parameters
//! (checkpoints, model files, `export --hf`, the optimizer's state, the initialiser's random
//! stream) goes through `named()`, whose **canonical order is the names sorted** (so `h.10`
//! comes before `h.2`): the order every checkpoint and model file has used.

use super::config::GptConfig;

/// A (weight, bias) pair of a Linear or a LayerNorm; the bias is `None` without biases.
pub type Pair<T> = (T, Option<T>);

/// The parameters of one transformer block (nanoGPT's `Block`), in packing order (see
/// `fused::block`): ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockTensors<T> {
    /// `ln_1`: (C,), (C,).
    pub ln_1: Pair<T>,
    /// `attn.c_attn`: (3C, C), (3C,).
    pub c_attn: Pair<T>,
    /// `attn.c_proj`: (C, C), (C,).
    pub attn_proj: Pair<T>,
    /// `ln_2`: (C,), (C,).
    pub ln_2: Pair<T>,
    /// `mlp.c_fc`: (4C, C), (4C,).
    pub c_fc: Pair<T>,
    /// `mlp.c_proj`: (C, 4C), (C,).
    pub mlp_proj: Pair<T>,
}

/// GPT-2 name prefixes of a block's pairs, in packing order (block `i` adds `h.{i}.`).
const BLOCK_PREFIXES: [&str; 6] = ["ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"];

impl<T> BlockTensors<T> {
    /// The block from its pairs in packing order.
    pub fn from_pairs(pairs: [Pair<T>; 6]) -> Self {
        let [ln_1, c_attn, attn_proj, ln_2, c_fc, mlp_proj] = pairs;
        BlockTensors { ln_1, c_attn, attn_proj, ln_2, c_fc, mlp_proj }
    }

    /// The pairs in packing order, by value.
    pub fn into_pairs(self) -> [Pair<T>; 6] {
        [self.ln_1, self.c_attn, self.attn_proj, self.ln_2, self.c_fc, self.mlp_proj]
    }

    /// The pairs, mutably, in packing order.
    pub fn pairs_mut(&mut self) -> [&mut Pair<T>; 6] {
        [
            &mut self.ln_1,
            &mut self.c_attn,
            &mut self.attn_proj,
            &mut self.ln_2,
            &mut self.c_fc,
            &mut self.mlp_proj,
        ]
    }

    /// The four Linears' weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj), mutably.
    pub fn linear_weights_mut(&mut self) -> [&mut T; 4] {
        [&mut self.c_attn.0, &mut self.attn_proj.0, &mut self.c_fc.0, &mut self.mlp_proj.0]
    }

    /// The block with `f` applied to every tensor.
    pub fn map<'a, U>(&'a self, mut f: impl FnMut(&'a T) -> U) -> BlockTensors<U> {
        let pairs = [&self.ln_1, &self.c_attn, &self.attn_proj, &self.ln_2, &self.c_fc, &self.mlp_proj];
        BlockTensors::from_pairs(pairs.map(|(w, b)| (f(w), b.as_ref().map(&mut f))))
    }
}

impl<T: Copy> BlockTensors<T> {
    /// The pairs in packing order.
    pub fn pairs(&self) -> [Pair<T>; 6] {
        [self.ln_1, self.c_attn, self.attn_proj, self.ln_2, self.c_fc, self.mlp_proj]
    }
}

/// Every parameter of the GPT (module docs for names and shapes).
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterTensors<T> {
    /// Token embedding (V, C).
    pub wte: T,
    /// Position embedding (T, C).
    pub wpe: T,
    /// The blocks, `h.0` to `h.{L-1}`.
    pub h: Vec<BlockTensors<T>>,
    /// Final LayerNorm: (C,), (C,).
    pub ln_f: Pair<T>,
    /// LM head (V, C), when it is not tied to `wte`.
    pub lm_head: Option<T>,
}

/// Where a tensor sits in [`ParameterTensors`]; [`Slot::name`] spells its GPT-2 name.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Block index, for a block's tensors.
    block: Option<usize>,
    /// Module name, e.g. `wte` or `attn.c_attn`.
    module: &'static str,
    /// The bias of the pair (else the weight).
    bias: bool,
}

impl Slot {
    fn name(self) -> String {
        let part = if self.bias { "bias" } else { "weight" };
        match self.block {
            Some(i) => format!("h.{i}.{}.{part}", self.module),
            None => format!("{}.{part}", self.module),
        }
    }
}

/// `f(slot, tensor)` on every tensor, in field order (not canonical order): the one place that
/// knows where each field sits.
fn walk<T, U>(p: ParameterTensors<T>, mut f: impl FnMut(Slot, T) -> U) -> ParameterTensors<U> {
    let mut pair = |block: Option<usize>, module: &'static str, (w, b): Pair<T>| {
        let w = f(Slot { block, module, bias: false }, w);
        (w, b.map(|b| f(Slot { block, module, bias: true }, b)))
    };
    let wte = pair(None, "wte", (p.wte, None)).0;
    let wpe = pair(None, "wpe", (p.wpe, None)).0;
    let h = (p.h.into_iter().enumerate())
        .map(|(i, blk)| {
            let mut modules = BLOCK_PREFIXES.into_iter();
            let mut next = |pr| pair(Some(i), modules.next().expect("six modules"), pr);
            BlockTensors::from_pairs(blk.into_pairs().map(&mut next))
        })
        .collect();
    let ln_f = pair(None, "ln_f", p.ln_f);
    let lm_head = p.lm_head.map(|w| pair(None, "lm_head", (w, None)).0);
    ParameterTensors { wte, wpe, h, ln_f, lm_head }
}

impl ParameterTensors<()> {
    /// The slots a model of shape `cfg` has (biases iff `cfg.bias`, `lm_head` iff untied).
    pub fn layout(cfg: &GptConfig) -> Self {
        let pair = || ((), cfg.bias.then_some(()));
        ParameterTensors {
            wte: (),
            wpe: (),
            h: (0..cfg.n_layer).map(|_| BlockTensors::from_pairs(std::array::from_fn(|_| pair()))).collect(),
            ln_f: pair(),
            lm_head: (!cfg.tie_embeddings).then_some(()),
        }
    }
}

impl<T> ParameterTensors<T> {
    /// The struct of references to the tensors.
    pub fn as_refs(&self) -> ParameterTensors<&T> {
        self.map(|t| t)
    }

    /// The struct with `f` applied to every tensor (by reference, in field order).
    pub fn map<'a, U>(&'a self, mut f: impl FnMut(&'a T) -> U) -> ParameterTensors<U> {
        ParameterTensors {
            wte: f(&self.wte),
            wpe: f(&self.wpe),
            h: self.h.iter().map(|b| b.map(&mut f)).collect(),
            ln_f: (f(&self.ln_f.0), self.ln_f.1.as_ref().map(&mut f)),
            lm_head: self.lm_head.as_ref().map(&mut f),
        }
    }

    /// [`ParameterTensors::map`] where `f` may fail: `None` when it does for any tensor.
    pub fn try_map<'a, U>(&'a self, mut f: impl FnMut(&'a T) -> Option<U>) -> Option<ParameterTensors<U>> {
        let mut ok = true;
        let all = self.map(|t| {
            let u = f(t);
            ok &= u.is_some();
            u
        });
        ok.then(|| all.into_map(|u| u.expect("every tensor mapped")))
    }

    /// The struct with `f` applied to every tensor (by value, in field order).
    pub fn into_map<U>(self, mut f: impl FnMut(T) -> U) -> ParameterTensors<U> {
        walk(self, |_, t| f(t))
    }

    /// The struct with `f(GPT-2 name, tensor)` applied to every tensor (in field order).
    pub fn map_named<U>(self, mut f: impl FnMut(String, T) -> U) -> ParameterTensors<U> {
        walk(self, |s, t| f(s.name(), t))
    }

    /// Every (weight, bias) pair, mutably: each block's six, then `ln_f`.
    pub fn pairs_mut(&mut self) -> impl Iterator<Item = &mut Pair<T>> {
        self.h.iter_mut().flat_map(|b| b.pairs_mut()).chain(std::iter::once(&mut self.ln_f))
    }

    /// (GPT-2 name, tensor) of every parameter, in canonical (sorted name) order.
    pub fn named(&self) -> impl Iterator<Item = (String, &T)> {
        sorted_by_name(self.as_refs())
    }

    /// The tensors in canonical (sorted name) order.
    pub fn into_canonical(self) -> Vec<T> {
        sorted_by_name(self).map(|(_, t)| t).collect()
    }

    /// The struct of a model of shape `cfg` from its tensors in canonical order (as
    /// [`ParameterTensors::into_canonical`] gives them); `None` when their count is not the
    /// model's.
    pub fn from_canonical(cfg: &GptConfig, values: Vec<T>) -> Option<Self> {
        // Each slot's field-order index, visited in canonical order.
        let mut k = 0;
        let index = ParameterTensors::layout(cfg).into_map(|()| {
            k += 1;
            k - 1
        });
        if values.len() != k {
            return None;
        }
        let mut slots: Vec<Option<T>> = (0..k).map(|_| None).collect();
        for ((_, &i), v) in index.named().zip(values) {
            slots[i] = Some(v);
        }
        Some(index.into_map(|i| slots[i].take().expect("each slot filled once")))
    }
}

/// (name, tensor) of every tensor, sorted by name.
fn sorted_by_name<T>(p: ParameterTensors<T>) -> impl Iterator<Item = (String, T)> {
    let mut v = Vec::new();
    walk(p, |s, t| v.push((s.name(), t)));
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n_layer: usize, tie: bool, bias: bool) -> GptConfig {
        GptConfig { n_layer, tie_embeddings: tie, bias, ..GptConfig::tiny() }
    }

    #[test]
    fn names_sorted_and_complete() {
        let names: Vec<String> =
            ParameterTensors::layout(&cfg(11, false, true)).named().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 2 + 11 * 12 + 2 + 1);
        assert_eq!(&names[..2], ["h.0.attn.c_attn.bias", "h.0.attn.c_attn.weight"]);
        // Sorted as strings: h.10 before h.2; lm_head, ln_f, wpe, wte last.
        assert_eq!(names[12], "h.1.attn.c_attn.bias");
        assert_eq!(names[24], "h.10.attn.c_attn.bias");
        assert_eq!(
            &names[names.len() - 5..],
            ["lm_head.weight", "ln_f.bias", "ln_f.weight", "wpe.weight", "wte.weight"]
        );
        let tied: Vec<String> =
            ParameterTensors::layout(&cfg(2, true, false)).named().map(|(n, _)| n).collect();
        assert_eq!(tied.len(), 2 + 2 * 6 + 1);
        assert!(tied.iter().all(|n| n.ends_with(".weight") && n != "lm_head.weight"));
    }

    #[test]
    fn canonical_round_trip() {
        for (tie, bias) in [(true, true), (false, true), (true, false), (false, false)] {
            let c = cfg(12, tie, bias);
            let named = ParameterTensors::layout(&c).map_named(|n, ()| n);
            let canonical = named.clone().into_canonical();
            let sorted: Vec<String> = named.named().map(|(n, _)| n).collect();
            assert_eq!(canonical, sorted);
            let back = ParameterTensors::from_canonical(&c, canonical).unwrap();
            assert_eq!(back, named);
            assert_eq!(back.h[10].attn_proj.0, "h.10.attn.c_proj.weight");
            assert!(ParameterTensors::<u8>::from_canonical(&c, vec![0; 3]).is_none());
        }
    }
}
