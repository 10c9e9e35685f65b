//! Resolving one run: a typed config and its corpus's metadata → a validated [`RunSpec`]
//! (shape, steps, warmup, the peak LR after the width rule), each key checked in a fixed order
//! so a config with a mistake always gets the same error. The budget D is the config's
//! `train.tokens`, or sized from the model by a grid's token axis ([`resolve_sized`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::raw::{KeepModel, RawConfig, RawTrain};
use super::spec::{CorpusMeta, CorpusSpec, RunOptions, RunSpec, ScheduleKind};
use crate::error::input_err;
use crate::input_bail;
use crate::model::{GptConfig, InitScheme};

/// Builds the corpus spec of a raw config (no data is read).
pub fn corpus_spec(raw: &RawConfig, path: &Path) -> Result<CorpusSpec> {
    match raw.corpus.source.as_str() {
        "synthetic" => Ok(CorpusSpec::Synthetic {
            seed: raw.corpus.seed,
            options: serde_json::to_value(raw.corpus.synthetic.clone().unwrap_or_default())
                .context("synthetic options")?,
        }),
        "prepared" => match &raw.corpus.path {
            Some(p) => Ok(CorpusSpec::Prepared { path: p.clone() }),
            None => input_bail!(
                "{}: [corpus] source = \"prepared\" needs `path`; fix: set corpus.path to a folder \
                 written by `scalinglab corpus prepare`",
                path.display()
            ),
        },
        other => input_bail!(
            "{}: [corpus] source = \"{other}\" is unknown; fix: use \"synthetic\" or \"prepared\"",
            path.display()
        ),
    }
}

/// A token budget D as a function of the resolved model (a grid's `tokens_per_param` and
/// `flops` axes).
pub type TokensOf = dyn Fn(&GptConfig) -> f64;

/// Resolves and validates one run from a typed config and its corpus metadata.
pub fn resolve_run(raw: &RawConfig, path: &Path, corpus: &CorpusMeta) -> Result<RunSpec> {
    resolve(raw, path, corpus, None)
}

/// [`resolve_run`] with the budget D sized from the resolved model by `tokens_of` (a grid's
/// `tokens_per_param` or `flops` axis) instead of `train.tokens`. Every other key is checked
/// first, with `train.tokens` when it is a valid budget and else a stand-in of 1e12 tokens
/// (the model must be valid before its N can size anything); then D.
pub fn resolve_sized(
    raw: &RawConfig,
    path: &Path,
    corpus: &CorpusMeta,
    tokens_of: &TokensOf,
) -> Result<RunSpec> {
    resolve(raw, path, corpus, Some(tokens_of))
}

/// The keys checked after the budget, resolved.
struct Optimizer {
    learning_rate: f64,
    lr_base_width: usize,
    schedule: ScheduleKind,
    corpus: CorpusSpec,
    eval_sequences: usize,
    final_eval_sequences: usize,
}

fn resolve(
    raw: &RawConfig,
    path: &Path,
    corpus: &CorpusMeta,
    tokens_of: Option<&TokensOf>,
) -> Result<RunSpec> {
    let f = path.display().to_string();
    let t = &raw.train;
    let model = model_of(raw, &f, corpus)?;
    let batch_size = positive(&f, "train", "batch_size", t.batch_size)?;
    let block_size = model.block_size;
    let (tokens, opt) = match tokens_of {
        None => {
            check_tokens(&f, t.tokens, batch_size, block_size)?;
            (t.tokens, optimizer(raw, &f, path, model.n_embd)?)
        }
        Some(tokens_of) => {
            let opt = optimizer(raw, &f, path, model.n_embd);
            if check_tokens(&f, t.tokens, batch_size, block_size).is_err() || opt.is_err() {
                check_tokens(&f, 1e12, batch_size, block_size)?;
            }
            let opt = opt?;
            let d = tokens_of(&model);
            check_tokens(&f, d, batch_size, block_size)?;
            (d, opt)
        }
    };
    let per_step = (batch_size * block_size) as f64;
    let max_steps = (tokens / per_step).round().max(1.0) as u64;
    // Warmup: `warmup_tokens`, or by default (negative) N_total tokens — longer for bigger
    // models, as their early updates are the most unstable — capped at 5% of a cosine run.
    // WSD runs are not capped by their own length, so runs that differ only in tokens share
    // their warmup and stable phase (sweep branching); they stop at the cooldown start.
    let n_total = crate::model::count::params_total(&model) as f64;
    let warmup_tokens = if t.warmup_tokens < 0.0 { n_total } else { t.warmup_tokens };
    let mut warmup_steps = (warmup_tokens / per_step).round() as u64;
    if opt.schedule == ScheduleKind::Wsd {
        warmup_steps = warmup_steps.min(max_steps.saturating_sub(1));
    } else {
        warmup_steps = warmup_steps.min(max_steps / 20);
    }
    let eval_interval = if t.eval_interval > 0 { t.eval_interval as u64 } else { (max_steps / 20).max(1) };
    Ok(RunSpec {
        model,
        corpus: opt.corpus,
        corpus_id: corpus.id.clone(),
        max_steps,
        tokens: max_steps * per_step as u64,
        batch_size,
        learning_rate: opt.learning_rate,
        lr_rule: t.lr_rule.clone(),
        lr_base_width: opt.lr_base_width,
        schedule: opt.schedule,
        min_lr_fraction: t.min_lr_fraction,
        warmup_steps,
        cooldown_fraction: t.cooldown_fraction,
        weight_decay: t.weight_decay,
        beta1: t.beta1,
        beta2: t.beta2,
        eps: t.eps,
        grad_clip: t.grad_clip,
        seed: t.seed,
        eval_interval,
        eval_sequences: opt.eval_sequences,
        final_eval_sequences: opt.final_eval_sequences,
        divergence_factor: t.divergence_factor,
        flops_budget: None,
        tokens_per_param: None,
        tuned: None,
    })
}

/// `[sec] k = v` as a count, which must be at least 1.
fn positive(f: &str, sec: &str, k: &str, v: i64) -> Result<usize> {
    if v <= 0 {
        input_bail!("{f}: [{sec}] {k} = {v} must be positive; fix: set {sec}.{k} to at least 1");
    }
    Ok(v as usize)
}

/// The model of `[model]` with the corpus's vocabulary, validated.
fn model_of(raw: &RawConfig, f: &str, corpus: &CorpusMeta) -> Result<GptConfig> {
    let m = &raw.model;
    let n_embd = positive(f, "model", "n_embd", m.n_embd)?;
    let n_layer = positive(f, "model", "n_layer", m.n_layer)?;
    let block_size = positive(f, "model", "block_size", m.block_size)?;
    let n_head = if m.n_head == 0 {
        let hd = positive(f, "model", "head_dim", m.head_dim)?;
        if n_embd % hd != 0 {
            input_bail!("{f}: [model] head_dim = {hd} does not divide n_embd = {n_embd}; fix: set model.n_head or a head_dim that divides n_embd");
        }
        n_embd / hd
    } else {
        positive(f, "model", "n_head", m.n_head)?
    };
    let model = GptConfig {
        vocab_size: corpus.vocab_size,
        block_size,
        n_layer,
        n_head,
        n_embd,
        tie_embeddings: m.tie_embeddings,
        bias: m.bias,
        init: InitScheme::parse(&m.init).ok_or_else(|| {
            input_err(format!(
                "{f}: [model] init = \"{}\" is not a known initialisation; fix: use {}",
                m.init,
                InitScheme::NAMES
            ))
        })?,
    };
    model.validate().map_err(|e| input_err(format!("{f}: [model] {e}")))?;
    Ok(model)
}

/// A budget of `tokens` must be positive and at least one batch.
fn check_tokens(f: &str, tokens: f64, batch_size: usize, block_size: usize) -> Result<()> {
    let per_step = (batch_size * block_size) as f64;
    if !(tokens.is_finite() && tokens > 0.0) {
        input_bail!("{f}: [train] tokens = {tokens} must be positive; fix: set train.tokens, e.g. 1e6");
    }
    if tokens < per_step {
        input_bail!(
            "{f}: [train] tokens = {tokens} is below one batch ({batch_size} sequences × {block_size} tokens = {per_step}); \
             fix: raise train.tokens or lower train.batch_size"
        );
    }
    Ok(())
}

/// The `[train]` keys after the budget (and the corpus, and the eval sizes), in their order.
fn optimizer(raw: &RawConfig, f: &str, path: &Path, n_embd: usize) -> Result<Optimizer> {
    let t = &raw.train;
    check_ranges(t, f)?;
    let schedule = match t.schedule.as_str() {
        "cosine" => ScheduleKind::Cosine,
        "wsd" => ScheduleKind::Wsd,
        "constant" => ScheduleKind::Constant,
        s => input_bail!(
            "{f}: [train] schedule = \"{s}\" is unknown; fix: use \"cosine\", \"wsd\" or \"constant\""
        ),
    };
    let base = positive(f, "train", "lr_base_width", t.lr_base_width)?;
    let learning_rate = match t.lr_rule.as_str() {
        "none" => t.learning_rate,
        "sqrt" => t.learning_rate * (base as f64 / n_embd as f64).sqrt(),
        "inverse" => t.learning_rate * base as f64 / n_embd as f64,
        r => input_bail!(
            "{f}: [train] lr_rule = \"{r}\" is unknown; fix: use \"none\", \"sqrt\" or \"inverse\""
        ),
    };
    Ok(Optimizer {
        learning_rate,
        lr_base_width: base,
        schedule,
        corpus: corpus_spec(raw, path)?,
        eval_sequences: positive(f, "train", "eval_sequences", t.eval_sequences)?,
        final_eval_sequences: positive(f, "train", "final_eval_sequences", t.final_eval_sequences)?,
    })
}

/// The optimizer's numbers: positive, in [0, 1), non-negative, in (0, 1].
fn check_ranges(t: &RawTrain, f: &str) -> Result<()> {
    let positive_f =
        [("learning_rate", t.learning_rate), ("divergence_factor", t.divergence_factor), ("eps", t.eps)];
    for (k, v) in positive_f {
        if !(v.is_finite() && v > 0.0) {
            input_bail!("{f}: [train] {k} = {v} must be positive; fix: set train.{k} to a positive number");
        }
    }
    for (k, v) in [("beta1", t.beta1), ("beta2", t.beta2), ("min_lr_fraction", t.min_lr_fraction)] {
        let ok = (0.0..1.0).contains(&v) || (k == "min_lr_fraction" && v == 1.0);
        if !ok {
            input_bail!("{f}: [train] {k} = {v} must be in [0, 1); fix: e.g. beta1 = 0.9, beta2 = 0.95, min_lr_fraction = 0.1");
        }
    }
    for (k, v) in [("weight_decay", t.weight_decay), ("grad_clip", t.grad_clip)] {
        if !(v.is_finite() && v >= 0.0) {
            input_bail!("{f}: [train] {k} = {v} must be ≥ 0; fix: set train.{k} to 0 or more");
        }
    }
    if !(t.cooldown_fraction > 0.0 && t.cooldown_fraction <= 1.0) {
        input_bail!(
            "{f}: [train] cooldown_fraction = {} must be in (0, 1]; fix: e.g. 0.2",
            t.cooldown_fraction
        );
    }
    Ok(())
}

/// Execution options of a raw config.
pub fn run_options(raw: &RawConfig) -> RunOptions {
    RunOptions {
        checkpoint_interval: raw.train.checkpoint_interval.max(0) as u64,
        checkpoint_seconds: raw.train.checkpoint_seconds.max(0.0),
        keep_model: raw.train.keep_model == KeepModel::Final,
        tensorboard: (!raw.train.tensorboard.is_empty()).then(|| PathBuf::from(&raw.train.tensorboard)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_config;

    fn write(s: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(&p, s).unwrap();
        (d, p)
    }

    fn meta() -> CorpusMeta {
        CorpusMeta { vocab_size: 100, id: "x".into(), train_tokens: None }
    }

    #[test]
    fn head_must_divide_width() {
        let (_d, p) = write("name = \"a\"\n[model]\nn_embd = 64\nn_head = 6\n");
        let c = load_config(&p, &[]).unwrap();
        let e = resolve_run(&c.raw, &p, &meta()).unwrap_err().to_string();
        assert!(e.contains("n_head = 6 does not divide n_embd = 64"), "{e}");
    }

    #[test]
    fn init_is_checked_and_changes_the_id_only_when_not_gpt2() {
        let (_d, p) = write("name = \"a\"\n");
        let plain = resolve_run(&load_config(&p, &[]).unwrap().raw, &p, &meta()).unwrap();
        let (_d2, p2) = write("name = \"a\"\n[model]\ninit = \"gpt2\"\n");
        assert_eq!(resolve_run(&load_config(&p2, &[]).unwrap().raw, &p2, &meta()).unwrap().id(), plain.id());
        let fan = load_config(&p, &["model.init=fan_in".into()]).unwrap();
        let fan = resolve_run(&fan.raw, &p, &meta()).unwrap();
        assert_eq!(fan.model.init, crate::model::InitScheme::FanIn);
        assert_ne!(fan.id(), plain.id());
        let (_d3, p3) = write("name = \"a\"\n[model]\ninit = \"xavier\"\n");
        let e = resolve_run(&load_config(&p3, &[]).unwrap().raw, &p3, &meta()).unwrap_err();
        assert!(crate::error::is_input_error(&e), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("[model] init = \"xavier\"") && e.contains("fan_in") && e.contains("c.toml"),
            "{e}"
        );
    }

    #[test]
    fn id_is_stable_and_sensitive() {
        let (_d, p) = write("name = \"a\"\n");
        let c = load_config(&p, &[]).unwrap();
        let a = resolve_run(&c.raw, &p, &meta()).unwrap();
        assert_eq!(a.id(), resolve_run(&c.raw, &p, &meta()).unwrap().id());
        let c2 = load_config(&p, &["seed=1".into()]).unwrap();
        assert_ne!(a.id(), resolve_run(&c2.raw, &p, &meta()).unwrap().id());
        assert_eq!(a.id().len(), 16);
    }

    #[test]
    fn tokens_below_one_batch() {
        let (_d, p) = write("name = \"a\"\n[train]\ntokens = 10\n");
        let c = load_config(&p, &[]).unwrap();
        let e = resolve_run(&c.raw, &p, &meta()).unwrap_err().to_string();
        assert!(e.contains("below one batch"), "{e}");
    }

    /// A sized budget resolves as "resolve for N (at 1e12 tokens if the config's own budget
    /// fails), then again at D" did: the same spec, and the same error for every mistake.
    #[test]
    fn sized_budget_matches_resolving_twice() {
        let (_d, p) = write("name = \"a\"\n[train]\nbatch_size = 4\n");
        let c = load_config(&p, &[]).unwrap();
        let twice = |raw: &RawConfig, d_of: &TokensOf| -> Result<RunSpec> {
            let probe = resolve_run(raw, &p, &meta()).or_else(|_| {
                let mut r = raw.clone();
                r.train.tokens = 1e12;
                resolve_run(&r, &p, &meta())
            })?;
            let mut r = raw.clone();
            r.train.tokens = d_of(&probe.model);
            resolve_run(&r, &p, &meta())
        };
        type Mutation = (&'static str, fn(&mut RawConfig));
        let mutations: [Mutation; 9] = [
            ("valid", |_| {}),
            ("tokens", |r| r.train.tokens = 1.0),
            ("nan tokens", |r| r.train.tokens = f64::NAN),
            ("lr", |r| r.train.learning_rate = -1.0),
            ("lr and tokens", |r| (r.train.learning_rate, r.train.tokens) = (-1.0, 1.0)),
            ("width", |r| r.model.n_embd = 0),
            ("batch", |r| r.train.batch_size = 0),
            ("huge batch", |r| r.train.batch_size = 1 << 40),
            ("huge batch and lr", |r| (r.train.batch_size, r.train.learning_rate) = (1 << 40, -1.0)),
        ];
        let sizes: [(&str, &TokensOf); 3] = [
            ("ratio", &|m| 20.0 * crate::model::count::params_total(m) as f64),
            ("tiny", &|_| 3.0),
            ("flops", &|m| 1e12 / (6.0 * crate::model::count::params_total(m) as f64)),
        ];
        for (what, mutate) in mutations {
            for (how, d_of) in sizes {
                let mut raw = c.raw.clone();
                mutate(&mut raw);
                let old = twice(&raw, d_of).map(|s| s.id()).map_err(|e| e.to_string());
                let new = resolve_sized(&raw, &p, &meta(), d_of).map(|s| s.id()).map_err(|e| e.to_string());
                assert_eq!(new, old, "{what}, {how}");
            }
        }
    }
}
