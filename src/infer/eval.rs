//! `scalinglab eval`: a kept model's loss on a corpus, in nats per token and bits per byte
//! (bits/byte = loss / ln 2 / bytes_per_token of that split), so models can be compared across
//! data sets (loss-to-loss) as long as the tokenizer is the same: a corpus whose tokenizer
//! differs from the model's (by sha256) is refused, never evaluated.
//!
//! Windows: by default the run's own final-evaluation windows (`train::run`: the first
//! `final_eval_sequences` of `val_starts(len, T, max(final_eval_sequences, eval_sequences))`,
//! in chunks of `batch_size`), so `eval` on the run's own validation split gives its
//! `final_val_loss` bit for bit. `sequences` picks another number of windows, spread evenly.

use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::Device;
use serde::Serialize;

use crate::config::spec::CorpusSpec;
use crate::corpus::load::load_prepared;
use crate::corpus::sampler::{require_window, val_starts};
use crate::corpus::{SYNTH_TRAIN_STREAM, SYNTH_VAL_STREAM};
use crate::error::input_err;
use crate::model::Gpt;
use crate::train::keep::{KeptModel, TokenizerRef};
use crate::train::trainer::eval_loss;

/// Which corpus to evaluate on.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalCorpus {
    /// A folder written by `corpus prepare`.
    Prepared(PathBuf),
    /// The synthetic world the model was trained on (its spec's seed and options).
    Synthetic,
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Corpus.
    pub corpus: EvalCorpus,
    /// `val` or `train`.
    pub split: String,
    /// Windows (default: the run's `final_eval_sequences`, its own windows).
    pub sequences: Option<usize>,
}

/// One evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Model file.
    pub model: String,
    /// Its run id.
    pub run_id: String,
    /// Corpus folder, or `synthetic`.
    pub corpus: String,
    /// Split.
    pub split: String,
    /// Windows of `block_size` tokens.
    pub windows: usize,
    /// Tokens scored (windows × block_size).
    pub tokens: usize,
    /// Mean cross-entropy, nats per token.
    pub loss: f64,
    /// Bits per byte (text corpora).
    pub bits_per_byte: Option<f64>,
    /// The run's recorded `final_val_loss`.
    pub recorded_final_val_loss: Option<f64>,
    /// True when these are the run's own final-evaluation windows (same corpus, split and
    /// window count), where `loss` must equal `recorded_final_val_loss`.
    pub same_windows_as_run: bool,
}

fn refuse_tokenizer(
    m: &KeptModel,
    dir: &Path,
    have: &TokenizerRef,
    want: Option<&TokenizerRef>,
) -> anyhow::Error {
    let what = match want {
        Some(w) => format!(
            "model {} was trained with the {} tokenizer {} (vocab {}, sha256 {})",
            m.path.display(),
            w.kind,
            w.path,
            w.vocab_size,
            &w.sha256[..12.min(w.sha256.len())]
        ),
        None => format!("model {} was trained on the synthetic corpus (no tokenizer)", m.path.display()),
    };
    input_err(format!(
        "{}: its {} tokenizer (vocab {}, sha256 {}) is not the model's: {what}; losses under different \
         tokenizers do not compare; fix: evaluate on a corpus prepared with the model's tokenizer \
         (`corpus prepare --tokenizer-from` the model's corpus; every `--tokenizer byte` corpus shares one){}",
        dir.display(),
        have.kind,
        have.vocab_size,
        &have.sha256[..12.min(have.sha256.len())],
        if want.is_none() { ", or use --corpus synthetic" } else { "" }
    ))
}

/// The tokens to score: a split of a prepared corpus (`val` or train), or of the model's
/// synthetic world generated long enough for `windows` windows.
struct Scored {
    tokens: Vec<u32>,
    /// Bytes per token of that split (text corpora).
    bytes_per_token: Option<f64>,
    /// Corpus folder, or `synthetic`.
    name: String,
    /// The run's own validation split (its windows can be the run's).
    own: bool,
}

/// The tokens model `m` is scored on (see [`Scored`]); a prepared corpus with another
/// tokenizer is refused.
fn scored_tokens(m: &KeptModel, corpus: &EvalCorpus, val: bool, windows: usize) -> Result<Scored> {
    let (spec, t) = (&m.spec, m.file.cfg.block_size);
    Ok(match corpus {
        EvalCorpus::Synthetic => {
            let CorpusSpec::Synthetic { seed, options } = &spec.corpus else {
                return Err(input_err(format!(
                    "--corpus synthetic: model {} was trained on a prepared text corpus; fix: pass --corpus \
                     with a folder prepared with its tokenizer",
                    m.path.display()
                )));
            };
            let world = crate::corpus::synthetic::SyntheticCorpus::new(
                &crate::corpus::synthetic_config(options)?,
                *seed,
            )
            .map_err(|e| input_err(format!("[corpus.synthetic]: {e}")))?;
            // The validation stream is generated to the length the run generated it (so its
            // windows are the run's); a longer stream starts the same (a prefix property).
            let len = windows * (t + 1);
            let stream = if val { SYNTH_VAL_STREAM } else { SYNTH_TRAIN_STREAM };
            Scored {
                tokens: world.generate(stream, len),
                bytes_per_token: None,
                name: "synthetic".into(),
                own: val,
            }
        }
        EvalCorpus::Prepared(dir) => {
            let c = load_prepared(dir)?;
            let have = TokenizerRef::of_corpus(dir, &c.manifest);
            match &m.tokenizer {
                Some(w) if w.sha256 == have.sha256 && w.vocab_size == have.vocab_size => {}
                want => return Err(refuse_tokenizer(m, dir, &have, want.as_ref())),
            }
            let own =
                matches!(&spec.corpus, CorpusSpec::Prepared { .. }) && c.corpus_id() == spec.corpus_id && val;
            let data = if val { c.val } else { c.train };
            let bpt = data.bytes_per_token();
            Scored { tokens: data.tokens, bytes_per_token: Some(bpt), name: dir.display().to_string(), own }
        }
    })
}

/// Evaluates a kept model (module docs).
pub fn evaluate(m: &KeptModel, opts: &EvalOptions) -> Result<EvalReport> {
    let spec = &m.spec;
    let t = m.file.cfg.block_size;
    let run_windows = spec.final_eval_sequences.max(spec.eval_sequences);
    let n = opts.sequences.unwrap_or(spec.final_eval_sequences);
    if n == 0 {
        return Err(input_err("--sequences 0: nothing to evaluate; fix: use at least 1"));
    }
    let val = match opts.split.as_str() {
        "val" => true,
        "train" => false,
        s => return Err(input_err(format!("--split {s}: unknown split; fix: use val or train"))),
    };
    let Scored { tokens, bytes_per_token, name, own } =
        scored_tokens(m, &opts.corpus, val, run_windows.max(n))?;
    require_window(&opts.split, tokens.len(), t)?;
    let same = own && n == spec.final_eval_sequences;
    let starts: Vec<usize> = if same {
        let v = val_starts(tokens.len(), t, run_windows);
        v[..spec.final_eval_sequences.min(v.len())].to_vec()
    } else {
        val_starts(tokens.len(), t, n)
    };
    let device = Device::Cpu;
    let gpt = Gpt::from_values(&m.file.cfg, m.file.values.clone(), &device)?;
    let loss = eval_loss(&gpt, &tokens, &starts, spec.batch_size, &device)?;
    Ok(EvalReport {
        model: m.path.display().to_string(),
        run_id: m.run_id.clone(),
        corpus: name,
        split: opts.split.clone(),
        windows: starts.len(),
        tokens: starts.len() * t,
        loss,
        bits_per_byte: bytes_per_token.map(|b| loss / std::f64::consts::LN_2 / b),
        recorded_final_val_loss: m.final_val_loss,
        same_windows_as_run: same,
    })
}
