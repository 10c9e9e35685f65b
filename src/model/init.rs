//! Seeded GPT-2 initialisation.
//!
//! candle's CPU RNG cannot be seeded (`Device::Cpu.set_seed` errors) and `VarMap` is a
//! `HashMap`, so we draw every value from a ChaCha8 stream seeded by the run's seed, visiting
//! tensors in sorted name order. Same seed ⇒ bit-identical weights on every machine.
//!
//! GPT-2 / nanoGPT (`GPT._init_weights`): every weight matrix and embedding ~ N(0, σ²), the
//! residual projections (`attn.c_proj`, `mlp.c_proj`) ~ N(0, σ²/(2·n_layer)) (GPT-2 paper
//! §2.3), biases 0, LayerNorm weight 1 and bias 0; σ = 0.02 (GPT-2) or 1/√n_embd
//! (`[model] init = "fan_in"`, [`InitScheme`](super::config::InitScheme)).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::GptConfig;
use super::params::{BlockTensors, ParameterTensors};

/// How one tensor is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// N(0, std²).
    Normal(f64),
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
}

/// One parameter: GPT-2 name, shape, initialiser, and whether AdamW decays it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// GPT-2 / nanoGPT name, e.g. `h.0.attn.c_attn.weight`.
    pub name: String,
    /// Shape, PyTorch convention (`Linear.weight` is (out, in)).
    pub shape: Vec<usize>,
    /// Initialiser.
    pub init: Init,
    /// Weight decay applies (matrices only; not biases, LayerNorm or embeddings, as nanoGPT's
    /// `configure_optimizers` for biases/LN; we also exempt embeddings, as is common).
    pub decay: bool,
}

/// Every parameter's spec, as the typed struct: the GPT-2 initialisation table.
pub fn specs(cfg: &GptConfig) -> ParameterTensors<ParamSpec> {
    let (v, c) = (cfg.vocab_size, cfg.n_embd);
    let std = cfg.init.base_std(c);
    let proj_std = std / (2.0 * cfg.n_layer as f64).sqrt();
    let norm = || ((vec![c], Init::Ones, false), cfg.bias.then(|| (vec![c], Init::Zeros, false)));
    let linear = |out: usize, inp: usize, s: f64| {
        ((vec![out, inp], Init::Normal(s), true), cfg.bias.then(|| (vec![out], Init::Zeros, false)))
    };
    let table = ParameterTensors {
        wte: (vec![v, c], Init::Normal(std), false),
        wpe: (vec![cfg.block_size, c], Init::Normal(std), false),
        h: (0..cfg.n_layer)
            .map(|_| BlockTensors {
                ln_1: norm(),
                c_attn: linear(3 * c, c, std),
                attn_proj: linear(c, c, proj_std),
                ln_2: norm(),
                c_fc: linear(4 * c, c, std),
                mlp_proj: linear(c, 4 * c, proj_std),
            })
            .collect(),
        ln_f: norm(),
        lm_head: (!cfg.tie_embeddings).then(|| (vec![v, c], Init::Normal(std), true)),
    };
    table.map_named(|name, (shape, init, decay)| ParamSpec { name, shape, init, decay })
}

/// Every parameter of the model, in canonical (sorted name) order.
pub fn param_specs(cfg: &GptConfig) -> Vec<ParamSpec> {
    specs(cfg).into_canonical()
}

/// Draws the initial values of every parameter (in `param_specs` order) from one seeded stream.
pub fn init_values(specs: &[ParamSpec], seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    specs
        .iter()
        .map(|s| {
            let n: usize = s.shape.iter().product();
            match s.init {
                Init::Zeros => vec![0.0; n],
                Init::Ones => vec![1.0; n],
                Init::Normal(std) => (0..n).map(|_| (std * standard_normal(&mut rng)) as f32).collect(),
            }
        })
        .collect()
}

/// One N(0,1) draw by the Box–Muller transform (no `rand_distr` dependency; deterministic).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1], so ln is finite
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::count;

    #[test]
    fn spec_sizes_sum_to_the_count_formula() {
        for (tie, bias) in [(true, true), (false, true), (true, false), (false, false)] {
            for (c, l, h) in [(32, 1, 2), (64, 3, 4), (48, 2, 3)] {
                let cfg = GptConfig {
                    vocab_size: 97,
                    block_size: 33,
                    n_layer: l,
                    n_head: h,
                    n_embd: c,
                    tie_embeddings: tie,
                    bias,
                    init: Default::default(),
                };
                let n: usize = param_specs(&cfg).iter().map(|s| s.shape.iter().product::<usize>()).sum();
                assert_eq!(n as u64, count::params_total(&cfg), "{cfg:?}");
            }
        }
    }

    /// The list `param_specs` built before the typed struct (issue #20): the same names,
    /// shapes, initialisers and decay flags in the same order, so checkpoints, model files and
    /// the seeded initial weights stay as they were.
    fn former_param_specs(cfg: &GptConfig) -> Vec<ParamSpec> {
        let c = cfg.n_embd;
        let std = 0.02;
        let proj_std = 0.02 / (2.0 * cfg.n_layer as f64).sqrt();
        let mut v = Vec::new();
        let mut push = |name: String, shape: Vec<usize>, init: Init, decay: bool| {
            v.push(ParamSpec { name, shape, init, decay });
        };
        push("wte.weight".into(), vec![cfg.vocab_size, c], Init::Normal(std), false);
        push("wpe.weight".into(), vec![cfg.block_size, c], Init::Normal(std), false);
        let mut lns = vec!["ln_f".to_string()];
        let mut linears = Vec::new();
        for i in 0..cfg.n_layer {
            lns.push(format!("h.{i}.ln_1"));
            lns.push(format!("h.{i}.ln_2"));
            linears.push((format!("h.{i}.attn.c_attn"), 3 * c, c, std));
            linears.push((format!("h.{i}.attn.c_proj"), c, c, proj_std));
            linears.push((format!("h.{i}.mlp.c_fc"), 4 * c, c, std));
            linears.push((format!("h.{i}.mlp.c_proj"), c, 4 * c, proj_std));
        }
        for p in lns {
            push(format!("{p}.weight"), vec![c], Init::Ones, false);
            if cfg.bias {
                push(format!("{p}.bias"), vec![c], Init::Zeros, false);
            }
        }
        for (p, out, inp, s) in linears {
            push(format!("{p}.weight"), vec![out, inp], Init::Normal(s), true);
            if cfg.bias {
                push(format!("{p}.bias"), vec![out], Init::Zeros, false);
            }
        }
        if !cfg.tie_embeddings {
            push("lm_head.weight".into(), vec![cfg.vocab_size, c], Init::Normal(std), true);
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    #[test]
    fn typed_table_matches_the_former_list() {
        for (tie, bias) in [(true, true), (false, true), (true, false), (false, false)] {
            for l in [1, 2, 11] {
                let cfg = GptConfig { n_layer: l, tie_embeddings: tie, bias, ..GptConfig::tiny() };
                assert_eq!(param_specs(&cfg), former_param_specs(&cfg), "{cfg:?}");
                let canonical = ParameterTensors::from_canonical(&cfg, param_specs(&cfg)).unwrap();
                assert_eq!(canonical, specs(&cfg));
            }
        }
    }

    #[test]
    fn init_is_seeded() {
        let specs = param_specs(&GptConfig::tiny());
        assert_eq!(init_values(&specs, 7), init_values(&specs, 7));
        assert_ne!(init_values(&specs, 7), init_values(&specs, 8));
        // N(0, 0.02): the sample std of wte is near 0.02.
        let v = &init_values(&specs, 1)[specs.iter().position(|s| s.name == "wte.weight").unwrap()];
        let var = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((var.sqrt() - 0.02).abs() < 0.002, "std {}", var.sqrt());
    }

    /// `init = "fan_in"`: σ = 1/√n_embd for every matrix and embedding, σ/√(2·n_layer) for the
    /// two residual projections; biases and LayerNorms as GPT-2. The default stays GPT-2's 0.02.
    #[test]
    fn fan_in_init_scales_with_width() {
        use crate::model::InitScheme;
        for (c, l) in [(16, 2), (64, 3)] {
            let cfg = GptConfig { n_embd: c, n_layer: l, init: InitScheme::FanIn, ..GptConfig::tiny() };
            let (sigma, gpt2) =
                (1.0 / (c as f64).sqrt(), GptConfig { n_embd: c, n_layer: l, ..GptConfig::tiny() });
            for (s, g) in param_specs(&cfg).iter().zip(param_specs(&gpt2)) {
                let proj = s.name.ends_with("c_proj.weight");
                match (s.init, g.init) {
                    (Init::Normal(a), Init::Normal(b)) => {
                        let want = if proj { sigma / (2.0 * l as f64).sqrt() } else { sigma };
                        assert!((a - want).abs() < 1e-15, "{}: {a} vs {want}", s.name);
                        let want_gpt2 = if proj { 0.02 / (2.0 * l as f64).sqrt() } else { 0.02 };
                        assert!((b - want_gpt2).abs() < 1e-15, "{}: {b}", s.name);
                    }
                    (a, b) => assert_eq!(a, b, "{}", s.name),
                }
            }
            let specs = param_specs(&cfg);
            let v =
                &init_values(&specs, 3)[specs.iter().position(|s| s.name == "h.0.mlp.c_fc.weight").unwrap()];
            let sd = (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            assert!((sd / sigma - 1.0).abs() < 0.1, "sample sd {sd} vs {sigma}");
        }
    }

    /// A spec leaves the GPT-2 default out (so run ids made before `init` existed stay), and
    /// records `fan_in`; the names parse back.
    #[test]
    fn init_scheme_in_the_spec_only_when_not_gpt2() {
        use crate::model::InitScheme;
        let plain = serde_json::to_string(&GptConfig::tiny()).unwrap();
        assert!(!plain.contains("init"), "{plain}");
        let fan = serde_json::to_string(&GptConfig { init: InitScheme::FanIn, ..GptConfig::tiny() }).unwrap();
        assert!(fan.contains("\"init\":\"fan_in\""), "{fan}");
        let back: GptConfig = serde_json::from_str(&plain).unwrap();
        assert_eq!(back.init, InitScheme::Gpt2);
        assert_eq!(InitScheme::parse("fan_in"), Some(InitScheme::FanIn));
        assert_eq!(InitScheme::parse("gpt2"), Some(InitScheme::Gpt2));
        assert_eq!(InitScheme::parse("xavier"), None);
    }
}
