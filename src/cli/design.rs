//! `scalinglab design --flops C`: propose a grid that can identify the fitted exponents.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::error::input_err;
use crate::sweep::design::{design, to_toml, DesignRequest};

/// Arguments of `design`.
#[derive(Debug, Args)]
pub struct DesignArgs {
    /// Total training FLOPs to spend (6·N·D).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub flops: f64,
    /// An IsoFLOP design (Approach 2) instead of sizes × tokens per parameter.
    #[arg(long)]
    pub isoflop: bool,
    /// Fixed aspect ratio n_embd / n_layer (a clean N axis).
    #[arg(long, value_name = "R", default_value_t = 32)]
    pub aspect: usize,
    /// Width per attention head.
    #[arg(long, value_name = "HD", default_value_t = 16)]
    pub head_dim: usize,
    /// Number of model sizes.
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub sizes: usize,
    /// Token (or compute) budgets per size.
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub budgets: usize,
    /// Seeds per cell (replicates carry run-to-run noise into the intervals).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seeds: usize,
    /// Vocabulary size (512 for the synthetic default).
    #[arg(long, value_name = "V", default_value_t = 512)]
    pub vocab_size: usize,
    /// Context length.
    #[arg(long, value_name = "T", default_value_t = 64)]
    pub block_size: usize,
    /// A prepared corpus folder (default: the synthetic corpus).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<String>,
    /// Sweep name.
    #[arg(long, default_value = "designed")]
    pub name: String,
}

/// Runs `design`: prints the proposed config (TOML) on stdout.
pub fn run(a: &DesignArgs) -> Result<ExitCode> {
    if !(a.flops.is_finite() && a.flops > 0.0) || a.seeds == 0 || a.aspect == 0 || a.head_dim == 0 {
        return Err(input_err("--flops, --seeds, --aspect and --head-dim must be positive"));
    }
    let r = DesignRequest {
        flops: a.flops,
        isoflop: a.isoflop,
        aspect: a.aspect,
        head_dim: a.head_dim,
        sizes: a.sizes,
        budgets: a.budgets,
        seeds: a.seeds,
        vocab_size: a.vocab_size,
        block_size: a.block_size,
    };
    let d = design(&r).map_err(|e| {
        input_err(format!(
            "design: {e}; fix: raise --flops, lower --sizes/--budgets/--seeds, or a smaller --aspect"
        ))
    })?;
    print!("{}", to_toml(&r, &d, &a.name, a.corpus.as_deref()));
    Ok(ExitCode::SUCCESS)
}
