//! `scalinglab report RESULTS_DIR`: its flags and their help, turned into the library's
//! [`ReportOptions`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::fit::{parse_a3_points, StartsArg};
use crate::fit::schema::A3Points;
use crate::report::{run_report, ReportOptions};

/// Arguments of `scalinglab report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Results folder of a sweep (runs/*.json, curves/*.jsonl, fit.json if already fitted).
    #[arg(value_name = "RESULTS_DIR")]
    pub results_dir: PathBuf,
    /// Where to write the figures, report.md and report.html (default: RESULTS_DIR).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run the fit again even when RESULTS_DIR/fit.json exists (it is overwritten).
    #[arg(long)]
    pub refit: bool,
    /// When fitting: bootstrap replicates for the 95% intervals (0 = none) [default: 200].
    /// Given with an existing fit.json made otherwise, the report fits again.
    #[arg(long, value_name = "K")]
    pub bootstrap: Option<usize>,
    /// When fitting: hold out the K largest-compute cells and check their forecast [default: 0].
    #[arg(long, value_name = "K")]
    pub holdout_top: Option<usize>,
    /// When fitting: Approach 3 starting grid, full (4,500 starts) or coarse (108) [default: full].
    #[arg(long, value_name = "GRID", value_enum)]
    pub starts: Option<StartsArg>,
    /// When fitting: seed of the bootstrap RNG [default: 0].
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// When fitting: lower bound on E, nats/token or `runs` (see `scalinglab fit --e-floor`).
    #[arg(long, value_name = "NATS|runs")]
    pub e_floor: Option<String>,
    /// When fitting: the points Approach 3 is fitted on, final, annealed, curve[:F] or
    /// curve-annealing[:F] (see `scalinglab fit --a3-points`) [default: final]. Given with an
    /// existing fit.json made otherwise, the report fits again.
    #[arg(long, value_name = "POINTS", value_parser = parse_a3_points)]
    pub a3_points: Option<A3Points>,
}

impl ReportArgs {
    /// The library's options for these flags.
    pub fn options(&self) -> ReportOptions {
        ReportOptions {
            results_dir: self.results_dir.clone(),
            out: self.out.clone(),
            refit: self.refit,
            bootstrap: self.bootstrap,
            holdout_top: self.holdout_top,
            starts: self.starts.map(Into::into),
            seed: self.seed,
            e_floor: self.e_floor.clone(),
            a3_points: self.a3_points,
        }
    }
}

/// `scalinglab report`.
pub fn run(a: &ReportArgs) -> Result<ExitCode> {
    run_report(&a.options()).map(|_| ExitCode::SUCCESS)
}
