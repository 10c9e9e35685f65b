//! The `fit.json` schema: everything `scalinglab fit` found, readable back by `predict` and
//! `report` ([`read_report`]). Losses are in nats/token, N in parameters, D in tokens, C in
//! training FLOPs; "log" means the natural logarithm.
//!
//! The document's own records are defined here; the records each stage produces (an
//! [`Estimate`], Approaches 1 and 2's [`AllocationReport`], the [`Design`] diagnostics, the
//! approaches' [`Agreement`], ...) are defined with the stage and re-exported here, so a
//! reader of fit.json needs this module alone.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::law::ChinchillaLaw;
use super::lossless;
use crate::error::input_err;

pub use super::estimate::Estimate;
pub use super::input::a3_points::{A3Data, A3Points};
pub use super::input::data::{CellNoise, Excluded, SeedNoise};
pub use super::input::source::{FlopsConvention, ParamsConvention};
pub use super::laws::allocation::{AllocationReport, CurvePoints, OptimumPoint};
pub use super::laws::constrained::ConstrainedReport;
pub use super::uncertainty::additivity::Additivity;
pub use super::uncertainty::agreement::{Agreement, ApproachA, PairVerdict};
pub use super::uncertainty::design::Design;

/// Version of [`FitReport`]; bump on incompatible changes. 2 (issue #18): the law's
/// coefficients are `E`, `A`, `B` (schema 1: `e`, `a`, `b`, where `a` clashed with the
/// allocation exponent `a` of the derived estimates), and a residual's value is named
/// `ln_predicted_minus_ln_observed` (schema 1: `log_residual`, same sign). Schema-1 files
/// still read ([`OLDEST_READABLE_SCHEMA`]).
pub const FIT_SCHEMA_VERSION: u32 = 2;

/// The oldest fit.json schema `predict` and `report` read.
pub const OLDEST_READABLE_SCHEMA: u32 = 1;

/// The whole output of `scalinglab fit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// [`FIT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Where the data came from.
    pub source: Source,
    /// Conventions and settings used.
    pub conventions: Conventions,
    /// Runs or rows left out of every fit, with reasons.
    pub excluded: Vec<Excluded>,
    /// One entry per group (one with `key: null` without `--group-by`).
    pub groups: Vec<GroupReport>,
    /// Warnings (also printed to stderr).
    pub warnings: Vec<String>,
}

/// Input of the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `results_dir` or `csv`.
    pub kind: String,
    /// The folder or file.
    pub path: String,
}

/// Conventions and settings (the switches of the command line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conventions {
    /// N = total or non-embedding parameters.
    pub params: ParamsConvention,
    /// C = 6ND or exact FLOPs (CSV input: the C column, else 6ND).
    pub flops: FlopsConvention,
    /// Loss used: `final_val_loss` (results dir) or the CSV `loss` column, nats/token.
    pub loss: String,
    /// Curve points used by Approach 1.
    pub curve_points: CurvePoints,
    /// Huber δ on log-loss residuals.
    #[serde(with = "lossless")]
    pub huber_delta: f64,
    /// L-BFGS starts of the Approach 3 fit.
    pub starts: usize,
    /// Bootstrap replicates requested (0 = none).
    pub bootstrap_reps: usize,
    /// RNG seed of the bootstrap.
    pub seed: u64,
    /// Largest-compute cells held out for the forecast check (0 = none).
    pub holdout_top: usize,
    /// Compute at which tokens-per-parameter is reported, FLOPs.
    #[serde(with = "lossless::opt")]
    pub reference_flops: Option<f64>,
    /// `--group-by` key.
    pub group_by: Option<String>,
    /// `--e-floor`: lower bound imposed on E, nats/token (absent: E unbounded).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lossless::opt")]
    pub e_floor: Option<f64>,
    /// `--allow-mixed`: runs of differing settings were pooled on request (absent: they agree).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_mixed: bool,
    /// `--a3-points`: the points Approach 3 is fitted on (absent: each run's final point).
    #[serde(default, skip_serializing_if = "A3Points::is_final")]
    pub a3_points: A3Points,
}

/// One observation with its fitted value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Residual {
    /// Parameters.
    #[serde(with = "lossless")]
    pub n: f64,
    /// Tokens.
    #[serde(with = "lossless")]
    pub d: f64,
    /// Training FLOPs (convention in `conventions.flops`).
    #[serde(with = "lossless")]
    pub c: f64,
    /// Observed loss (cell mean over seeds), nats/token.
    #[serde(with = "lossless")]
    pub loss: f64,
    /// Fitted loss, nats/token.
    #[serde(with = "lossless")]
    pub predicted: f64,
    /// ln(predicted) − ln(observed): positive where the law overshoots. JSON key
    /// `ln_predicted_minus_ln_observed` (schema 1: `log_residual`, the same quantity).
    #[serde(with = "lossless", rename = "ln_predicted_minus_ln_observed", alias = "log_residual")]
    pub log_residual: f64,
}

/// Goodness of fit on log loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitQuality {
    /// 1 − SS_res/SS_tot of log loss.
    #[serde(with = "lossless")]
    pub r2_log: f64,
    /// Root-mean-square log residual (≈ relative error).
    #[serde(with = "lossless")]
    pub rmse_log: f64,
    /// Points used.
    pub points: usize,
}

/// The bootstrap behind the intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapInfo {
    /// Replicates requested.
    pub reps: usize,
    /// Replicates whose refit converged (the others are dropped).
    pub converged: usize,
    /// What was resampled.
    pub resampling: String,
    /// Whether the intervals include seed-to-seed noise.
    pub includes_seed_noise: bool,
}

/// Approach 3 (Hoffmann et al. 2022 as corrected by Besiroglu et al. 2024).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approach3Report {
    /// `L = E + A/N^alpha + B/D^beta`.
    pub form: String,
    /// Point estimates.
    pub law: ChinchillaLaw,
    /// E, A, B, alpha, beta with intervals and verdicts.
    pub params: Vec<Estimate>,
    /// a, b, G, tokens_per_param at `conventions.reference_flops`, with verdicts.
    pub derived: Vec<Estimate>,
    /// Σ Huber objective at the optimum.
    #[serde(with = "lossless")]
    pub objective: f64,
    /// Starts tried.
    pub starts: usize,
    /// Starts that converged.
    pub converged_starts: usize,
    /// Fit quality on log loss.
    pub quality: FitQuality,
    /// Per-point residuals.
    pub residuals: Vec<Residual>,
    /// Bootstrap settings/outcome, when run.
    pub bootstrap: Option<BootstrapInfo>,
    /// Bootstrap refits (for `predict` intervals), when run.
    pub bootstrap_laws: Vec<ChinchillaLaw>,
    /// What the fit used, when not each run's final point (`--a3-points`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<A3Data>,
}

/// A Kaplan et al. (2020) power law.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerLawReport {
    /// `L(N)`, `L(D)`, `L(C)` or `L(N,D)`, with `+E` when the irreducible term is fitted.
    pub name: String,
    /// Formula, e.g. `L = (N_c/N)^alpha_N`.
    pub form: String,
    /// Which points were used (e.g. `largest D per N`).
    pub selection: String,
    /// Exponents, scales (N_c parameters, D_c tokens, C_c FLOPs) and E.
    pub params: Vec<Estimate>,
    /// The bootstrap refits' parameter values, each in `params` order (for the report's bands;
    /// absent without `--bootstrap`, and in files written before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_params: Vec<Vec<f64>>,
    /// Fit quality on log loss.
    pub quality: FitQuality,
    /// Per-point residuals.
    pub residuals: Vec<Residual>,
}

/// One held-out cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRun {
    /// Run ids of the cell.
    pub ids: Vec<String>,
    /// Parameters.
    #[serde(with = "lossless")]
    pub n: f64,
    /// Tokens.
    #[serde(with = "lossless")]
    pub d: f64,
    /// FLOPs.
    #[serde(with = "lossless")]
    pub c: f64,
    /// Observed loss (mean over seeds), nats/token.
    #[serde(with = "lossless")]
    pub actual: f64,
    /// Predicted by the fit on the other cells, nats/token.
    #[serde(with = "lossless")]
    pub predicted: f64,
    /// 100·(predicted − actual)/actual.
    #[serde(with = "lossless")]
    pub pct_error: f64,
    /// 95% prediction interval (bootstrap fits + seed noise), nats/token.
    #[serde(with = "lossless::pair")]
    pub interval: Option<[f64; 2]>,
    /// Whether `actual` is inside `interval`.
    pub inside: Option<bool>,
}

/// `--holdout-top K`: forecast check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutReport {
    /// Cells held out.
    pub k: usize,
    /// The held-out cells.
    pub runs: Vec<HoldoutRun>,
    /// Fraction of held-out cells inside their 95% interval.
    #[serde(with = "lossless::opt")]
    pub coverage: Option<f64>,
    /// What the intervals include.
    pub note: String,
}

/// Everything fitted for one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// `--group-by` key, if any.
    pub key: Option<String>,
    /// The group's value of that key.
    pub value: Option<String>,
    /// Runs in this group.
    pub runs: usize,
    /// Cells (distinct N, D) in this group.
    pub cells: usize,
    /// Design diagnostics (spans, collinearity).
    pub design: Design,
    /// Seed-to-seed noise when seeds are replicated.
    pub seed_noise: Option<SeedNoise>,
    /// What the intervals include (seed noise or not).
    pub interval_note: String,
    /// Approach 3.
    pub approach3: Option<Approach3Report>,
    /// Kaplan forms.
    pub kaplan: Vec<PowerLawReport>,
    /// Approach 1.
    pub approach1: Option<AllocationReport>,
    /// Approach 2.
    pub approach2: Option<AllocationReport>,
    /// Forecast check.
    pub holdout: Option<HoldoutReport>,
    /// Approaches 1, 2 and 3's a side by side with a verdict and the known reasons (absent in
    /// fit.json files written before issue #21, which still read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    /// The data-constrained law (Muennighoff et al. 2023), when runs repeat data (CSV `U`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_constrained: Option<ConstrainedReport>,
    /// Fits not run, and why.
    pub skipped: Vec<String>,
}

/// Reads a fit.json (input error when missing or not a fit.json).
pub fn read_report(path: &Path) -> Result<FitReport> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(input_err(format!(
                "{}: no such file; fix: run `scalinglab fit` first",
                path.display()
            )))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let report: FitReport = serde_json::from_str(&text).map_err(|e| {
        input_err(format!(
            "{}: not a scalinglab fit.json ({e}); fix: regenerate it with `scalinglab fit`",
            path.display()
        ))
    })?;
    let v = FIT_SCHEMA_VERSION;
    if !(OLDEST_READABLE_SCHEMA..=v).contains(&report.schema_version) {
        return Err(input_err(format!(
            "{}: schema_version {} but this scalinglab reads versions {} to {v}; fix: regenerate it with this \
             version's `scalinglab fit`",
            path.display(),
            report.schema_version,
            OLDEST_READABLE_SCHEMA
        )));
    }
    Ok(report)
}
