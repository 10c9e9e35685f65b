//! `scalinglab run CONFIG --index I`: one run of a grid — what a sweep child and a Slurm
//! array task execute.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::train::{parse_device, report_outcome};
use crate::config::load_config;
use crate::input_bail;
use crate::progress::bars_enabled;
use crate::sweep::grid::expand;
use crate::sweep::runner::{install_ctrlc, run_one};
use crate::sweep::store::{store_of, tune_store};
use crate::sweep::tune::expand_tune;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML) with a [grid].
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Run index in the expanded grid (see `scalinglab plan CONFIG`).
    #[arg(long, value_name = "I")]
    pub index: usize,
    /// Run tuning run I of the config's [tune] section instead (results in RESULTS/tune/).
    #[arg(long)]
    pub tune: bool,
    /// Override a config key (the same --set as the sweep used).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// cpu, cuda[:i] (needs a build with --features cuda), or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub device: String,
    /// Also write the run-result JSON here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Train even when the pre-flight estimate says the run exceeds this machine's available
    /// memory or a week (README, "Pre-flight").
    #[arg(long)]
    pub force: bool,
    /// Exit with this code instead of 0 when the run was already done (the sweep executor
    /// uses it to count what it really trained).
    #[arg(long, hide = true, value_name = "CODE")]
    pub done_exit_code: Option<u8>,
}

/// Runs `run`. Exit codes: 0 ok or already done, 1 diverged/failed, 2 bad input, 3 the run
/// is locked by another live process.
pub fn run(a: &RunArgs) -> Result<ExitCode> {
    let device = parse_device(&a.device)?;
    let cfg = load_config(&a.config, &a.set)?;
    let (runs, store) =
        if a.tune { (expand_tune(&cfg)?, tune_store(&cfg)) } else { (expand(&cfg)?, store_of(&cfg)) };
    if a.index >= runs.len() {
        input_bail!(
            "--index {}: the {} of {} has {} runs (0..{}); fix: see `scalinglab plan {}`",
            a.index,
            if a.tune { "[tune] section" } else { "grid" },
            a.config.display(),
            runs.len(),
            runs.len() - 1,
            a.config.display()
        );
    }
    install_ctrlc();
    report_outcome(
        run_one(&cfg, &store, &runs, a.index, &device, bars_enabled(a.quiet), a.force)?,
        a.out.as_ref(),
        a.done_exit_code,
    )
}
