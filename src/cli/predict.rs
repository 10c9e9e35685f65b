//! `scalinglab predict FIT.json`: its flags and their help, turned into the library's
//! [`PredictRequest`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::fit::{run_predict, PredictRequest};

/// Arguments of `scalinglab predict`.
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    /// fit.json written by `scalinglab fit`.
    #[arg(value_name = "FIT_JSON")]
    pub fit_json: PathBuf,
    /// Training compute C in FLOPs (C = 6ND): alone, the compute-optimal N, D and loss.
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub flops: Option<f64>,
    /// Model size N in parameters: with --tokens, its loss; with --flops, the over-training cost.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub params: Option<f64>,
    /// Training tokens D (with --params).
    #[arg(long, value_name = "D", allow_negative_numbers = true)]
    pub tokens: Option<f64>,
    /// Tokens to be served over the model's life (with --flops): the allocation minimising
    /// training + inference FLOPs (6ND + 2NT) at the compute-optimal model's loss.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub inference_tokens: Option<f64>,
    /// Which group of a `--group-by` fit to use (default: the first).
    #[arg(long, value_name = "VALUE")]
    pub group: Option<String>,
    /// Print one JSON object (predictions with intervals and verdicts, warnings) instead of lines.
    #[arg(long)]
    pub json: bool,
}

impl PredictArgs {
    /// The library's request for these flags.
    pub fn request(&self) -> PredictRequest {
        PredictRequest {
            fit_json: self.fit_json.clone(),
            flops: self.flops,
            params: self.params,
            tokens: self.tokens,
            inference_tokens: self.inference_tokens,
            group: self.group.clone(),
            json: self.json,
        }
    }
}

/// `scalinglab predict`.
pub fn run(a: &PredictArgs) -> Result<ExitCode> {
    run_predict(&a.request()).map(|_| ExitCode::SUCCESS)
}
