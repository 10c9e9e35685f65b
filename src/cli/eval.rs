//! `scalinglab eval MODEL --corpus DIR|synthetic`: a kept model's loss on a corpus.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::infer::eval::{evaluate, EvalCorpus, EvalOptions};

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A model file, `results/NAME/models/ID.safetensors` (`.safetensors` may be left out).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// A prepared corpus folder with the model's tokenizer, or `synthetic` (the model's own
    /// synthetic world). Default: the corpus the model was trained on.
    #[arg(long, value_name = "DIR|synthetic")]
    pub corpus: Option<String>,
    /// Split to score: val or train.
    #[arg(long, value_name = "SPLIT", default_value = "val")]
    pub split: String,
    /// Windows of block_size tokens, spread evenly (default: the run's final-eval windows).
    #[arg(long, value_name = "N")]
    pub sequences: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `eval`.
pub fn run(a: &EvalArgs) -> Result<ExitCode> {
    let m = crate::train::keep::load(&a.model)?;
    let corpus = match a.corpus.as_deref() {
        Some("synthetic") => EvalCorpus::Synthetic,
        Some(d) => EvalCorpus::Prepared(d.into()),
        None => match &m.spec.corpus {
            crate::config::spec::CorpusSpec::Synthetic { .. } => EvalCorpus::Synthetic,
            crate::config::spec::CorpusSpec::Prepared { path } => EvalCorpus::Prepared(path.into()),
        },
    };
    let r = evaluate(&m, &EvalOptions { corpus, split: a.split.clone(), sequences: a.sequences })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("model    {} (run {})", r.model, r.run_id);
    println!("corpus   {} ({} split, {} windows, {} tokens)", r.corpus, r.split, r.windows, r.tokens);
    match r.bits_per_byte {
        Some(b) => println!("loss     {:.6} nats/token, {b:.6} bits/byte", r.loss),
        None => println!("loss     {:.6} nats/token", r.loss),
    }
    if let Some(f) = r.recorded_final_val_loss {
        let note = if !r.same_windows_as_run {
            "other windows or data"
        } else if f == r.loss {
            "same windows: equal"
        } else {
            "same windows: DIFFERENT"
        };
        println!("run      final_val_loss {f:.6} ({note})");
    }
    Ok(ExitCode::SUCCESS)
}
