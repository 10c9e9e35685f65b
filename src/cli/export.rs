//! `scalinglab export MODEL --hf DIR`: a Hugging Face GPT-2 folder (`infer::hf`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A model file, `results/NAME/models/ID.safetensors` (`.safetensors` may be left out).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Output folder for `GPT2LMHeadModel.from_pretrained` / `AutoTokenizer.from_pretrained`.
    #[arg(long, value_name = "DIR")]
    pub hf: PathBuf,
    /// The model's tokenizer.json, when it is no longer where the run saw it.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
}

/// Runs `export`.
pub fn run(a: &ExportArgs) -> Result<ExitCode> {
    let m = crate::train::keep::load(&a.model)?;
    let wrote = crate::infer::hf::export(&m, &a.hf, a.tokenizer.as_deref())?;
    println!("{}: {}", a.hf.display(), wrote.join(", "));
    if m.tokenizer.is_none() {
        eprintln!(
            "note: model {} was trained on the synthetic corpus: no tokenizer files (token ids in, ids out)",
            m.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
