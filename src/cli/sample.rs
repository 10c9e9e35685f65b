//! `scalinglab sample MODEL`: text (or token ids) from a kept model, streamed to stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::error::input_err;
use crate::infer::sample::{sample, SampleOptions};

/// Arguments of `sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A model file, `results/NAME/models/ID.safetensors` (`.safetensors` may be left out).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Text to continue (text models). Default: start of a document (<|endoftext|>).
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Token ids to continue, space- or comma-separated (any model; synthetic default: 0, BOS).
    #[arg(long, value_name = "IDS", conflicts_with = "prompt")]
    pub prompt_ids: Option<String>,
    /// New tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub tokens: usize,
    /// Softmax temperature (0 = greedy).
    #[arg(long, value_name = "T", default_value_t = 0.8, allow_negative_numbers = true)]
    pub temperature: f64,
    /// Sample from the K most likely tokens only (0 = all).
    #[arg(long, value_name = "K", default_value_t = 40)]
    pub top_k: usize,
    /// Sampling seed: the same seed gives the same text.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// The model's tokenizer.json, when it is no longer where the run saw it.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
}

/// Parses "1 2 3" or "1,2,3".
pub fn parse_ids(s: &str) -> Result<Vec<u32>> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<u32>().map_err(|_| {
                input_err(format!("--prompt-ids: `{x}` is not a token id; fix: give ids like \"0 17 42\""))
            })
        })
        .collect()
}

/// Runs `sample`.
pub fn run(a: &SampleArgs) -> Result<ExitCode> {
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        return Err(input_err(format!(
            "--temperature {}: must be 0 (greedy) or positive; fix: e.g. --temperature 0.8",
            a.temperature
        )));
    }
    let m = crate::train::keep::load(&a.model)?;
    let tok = crate::infer::tokenizer(&m, a.tokenizer.as_deref())?;
    let opts = SampleOptions {
        prompt: a.prompt.clone(),
        prompt_ids: a.prompt_ids.as_deref().map(parse_ids).transpose()?,
        tokens: a.tokens,
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    sample(&m, tok.as_ref(), &opts, &mut out)?;
    Ok(ExitCode::SUCCESS)
}
