//! `scalinglab fit`: its flags, their help and defaults, turned into the library's
//! [`FitRequest`]. The choices are clap value enums here, each mapped onto the library's own
//! enum, so `fit` never depends on clap (issue #20).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::fit::input::source::{FlopsConvention, ParamsConvention};
use crate::fit::laws::allocation::ISOFLOP_GAP;
use crate::fit::laws::approach3::Starts;
use crate::fit::schema::{A3Points, CurvePoints};
use crate::fit::{run_fit, FitRequest};

/// Starting grid for Approach 3 (command-line names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartsArg {
    /// 4,500 starts (Besiroglu et al. 2024).
    Full,
    /// 108 starts (quick look).
    Coarse,
}

impl From<StartsArg> for Starts {
    fn from(a: StartsArg) -> Starts {
        match a {
            StartsArg::Full => Starts::Full,
            StartsArg::Coarse => Starts::Coarse,
        }
    }
}

/// Which parameter count is N (`--params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ParamsArg {
    /// All trainable parameters, `RunResult.params_total` (Hoffmann et al. 2022).
    Total,
    /// Without embeddings, `RunResult.params_nonembedding` (Kaplan et al. 2020).
    Nonembedding,
}

impl From<ParamsArg> for ParamsConvention {
    fn from(a: ParamsArg) -> ParamsConvention {
        match a {
            ParamsArg::Total => ParamsConvention::Total,
            ParamsArg::Nonembedding => ParamsConvention::Nonembedding,
        }
    }
}

/// Which FLOP count is C (`--flops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlopsArg {
    /// C = 6·N_total·D, `RunResult.flops_6nd` (Kaplan et al. 2020; Hoffmann et al. 2022).
    #[value(name = "6nd")]
    SixNd,
    /// Exact forward+backward count, `RunResult.flops_exact`.
    Exact,
}

impl From<FlopsArg> for FlopsConvention {
    fn from(a: FlopsArg) -> FlopsConvention {
        match a {
            FlopsArg::SixNd => FlopsConvention::SixNd,
            FlopsArg::Exact => FlopsConvention::Exact,
        }
    }
}

/// Which training-curve points Approach 1 uses (`--curve-points`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CurvePointsArg {
    /// `constant` and `cosine` runs: every curve point (as Chinchilla's Approach 1, with the
    /// caveat that an intermediate cosine point is *not* a shorter run's compute-optimal point:
    /// its LR has not decayed, so it overstates that run's loss); `wsd` runs and runs with no
    /// recorded schedule: only the final point (before the cool-down a WSD run sits at peak LR).
    Auto,
    /// Every curve point of every run (Chinchilla's Approach 1 as published).
    All,
    /// Only each run's final point (no schedule caveat; needs runs of several lengths per size).
    Final,
}

impl From<CurvePointsArg> for CurvePoints {
    fn from(a: CurvePointsArg) -> CurvePoints {
        match a {
            CurvePointsArg::Auto => CurvePoints::Auto,
            CurvePointsArg::All => CurvePoints::All,
            CurvePointsArg::Final => CurvePoints::Final,
        }
    }
}

/// `--a3-points` (for `fit` and `report`): the library's parser, so the names and the error
/// messages (what is wrong, and the fix) are the library's.
pub fn parse_a3_points(s: &str) -> std::result::Result<A3Points, String> {
    A3Points::parse(s)
}

/// Arguments of `scalinglab fit`.
#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    /// Results folder of a sweep (runs/*.json, curves/*.jsonl); runs with status ok are used.
    #[arg(value_name = "RESULTS_DIR", required_unless_present = "csv", conflicts_with = "csv")]
    pub results_dir: Option<PathBuf>,
    /// Read points from a CSV with columns N,D,loss or N,C,loss (optional group, seed, flops_budget).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Where to write fit.json (default: RESULTS_DIR/fit.json, or ./fit.json with --csv).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Parameter count used as N: total (Chinchilla) or nonembedding (Kaplan).
    #[arg(long, value_name = "CONV", value_enum, default_value = "total")]
    pub params: ParamsArg,
    /// FLOP count used as C: 6nd (6·N·D) or exact (forward+backward count).
    #[arg(long, value_name = "CONV", value_enum, default_value = "6nd")]
    pub flops: FlopsArg,
    /// Fit each value of this spec key separately and show the exponents side by side.
    #[arg(long, value_name = "KEY")]
    pub group_by: Option<String>,
    /// Training-curve points for Approach 1: auto (all for cosine/constant, final for wsd), all, final.
    #[arg(long, value_name = "WHICH", value_enum, default_value = "auto")]
    pub curve_points: CurvePointsArg,
    /// Points Approach 3 is fitted on: final (each run's final loss), annealed (the final points of
    /// runs whose LR decays: cosine, wsd), curve[:F] (also every evaluation at ≥ F of its run's
    /// tokens, F default 0.5; the bootstrap then resamples whole runs) or curve-annealing[:F] (only
    /// the evaluations where the LR was already decaying: no WSD stable phase, no warmup). Curve
    /// points come from the periodic eval, on fewer validation windows, so they are noisier.
    #[arg(long, value_name = "POINTS", default_value = "final", value_parser = parse_a3_points)]
    pub a3_points: A3Points,
    /// Bootstrap replicates for 95% intervals (0 = none; 200 is a good choice).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub bootstrap: usize,
    /// Bootstrap: also resample seeds within each drawn cell (two-stage; conservative). By
    /// default whole cells are resampled and carry seed noise through their means.
    #[arg(long)]
    pub resample_seeds: bool,
    /// Seed of the bootstrap RNG.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub seed: u64,
    /// Hold out the K largest-compute cells and check the forecast of each.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub holdout_top: usize,
    /// Also fit every Kaplan form with an irreducible term E.
    #[arg(long)]
    pub kaplan_e: bool,
    /// Compute at which to report tokens per parameter, FLOPs (default: the largest C in the data).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub reference_flops: Option<f64>,
    /// Approach 3 starting grid: full (4,500 starts) or coarse (108).
    #[arg(long, value_name = "GRID", value_enum, default_value = "full")]
    pub starts: StartsArg,
    /// Run every start on every row. By default, with more than 1,024 rows the start grids run
    /// on 512 evenly strided rows and the best points are polished on all rows (linear time).
    #[arg(long)]
    pub all_rows: bool,
    /// Approach 2 without flops_budget: a gap over this many decades of C starts a new budget.
    #[arg(long, value_name = "DECADES", default_value_t = ISOFLOP_GAP, allow_negative_numbers = true)]
    pub isoflop_gap: f64,
    /// Fit even when every run shares one N or one D (the report then says what is undetermined).
    #[arg(long)]
    pub allow_degenerate: bool,
    /// Pool runs whose settings differ in more than sizes, budgets and seeds (corpus, context,
    /// schedule, ...). By default that is an error naming the keys; `--group-by KEY` fits each
    /// value of KEY separately instead.
    #[arg(long)]
    pub allow_mixed: bool,
    /// Replace an existing fit.json even when it was made with more (bootstrap replicates,
    /// hold-out, another convention or E bound); by default that is refused.
    #[arg(long)]
    pub overwrite: bool,
    /// Lower bound on E in every fit with an irreducible term, nats/token: a number, or `runs`
    /// for the corpus entropy floor the runs recorded (synthetic corpora). No model can go
    /// below that floor, so neither can E; bounding it narrows α and β when E is poorly
    /// determined. Off by default.
    #[arg(long, value_name = "NATS|runs")]
    pub e_floor: Option<String>,
}

impl FitArgs {
    /// The library's request for these flags.
    pub fn request(&self) -> FitRequest {
        FitRequest {
            results_dir: self.results_dir.clone(),
            csv: self.csv.clone(),
            out: self.out.clone(),
            params: self.params.into(),
            flops: self.flops.into(),
            group_by: self.group_by.clone(),
            curve_points: self.curve_points.into(),
            bootstrap: self.bootstrap,
            resample_seeds: self.resample_seeds,
            seed: self.seed,
            holdout_top: self.holdout_top,
            kaplan_e: self.kaplan_e,
            reference_flops: self.reference_flops,
            starts: self.starts.into(),
            all_rows: self.all_rows,
            isoflop_gap: self.isoflop_gap,
            allow_degenerate: self.allow_degenerate,
            allow_mixed: self.allow_mixed,
            overwrite: self.overwrite,
            e_floor: self.e_floor.clone(),
            a3_points: self.a3_points,
        }
    }
}

/// `scalinglab fit`.
pub fn run(a: &FitArgs) -> Result<ExitCode> {
    run_fit(&a.request()).map(|_| ExitCode::SUCCESS)
}
