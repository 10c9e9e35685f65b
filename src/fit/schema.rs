//! The `fit.json` schema: everything `scalinglab fit` found, readable back by `predict` and
//! `report`. Losses are in nats/token, N in parameters, D in tokens, C in training FLOPs;
//! "log" means the natural logarithm.

use serde::{Deserialize, Serialize};

use super::data::{Excluded, SeedNoise};
use super::ident::Design;
use super::law::ChinchillaLaw;
use super::source::{FlopsConvention, ParamsConvention};

/// JSON cannot hold NaN or ±∞ (serde_json writes them as `null`, which then fails to read
/// back as f64). Every float of fit.json goes through these helpers: finite values are plain
/// numbers, others the strings "NaN", "inf", "-inf"; reading also accepts `null` as NaN.
pub mod lossless {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
        Null(()),
    }

    fn decode(r: Repr) -> Result<f64, String> {
        match r {
            Repr::Num(x) => Ok(x),
            Repr::Null(()) => Ok(f64::NAN),
            Repr::Text(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                o => Err(format!("expected a number, \"NaN\", \"inf\" or \"-inf\", got {o:?}")),
            },
        }
    }

    /// Serialises one float.
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else if x.is_nan() {
            s.serialize_str("NaN")
        } else if *x > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    /// Reads one float.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        decode(Repr::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    /// The same for optional pairs (intervals).
    pub mod pair {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Serialize)]
        struct W(#[serde(with = "super")] f64);

        /// Serialises an optional [lo, hi].
        pub fn serialize<S: Serializer>(x: &Option<[f64; 2]>, s: S) -> Result<S::Ok, S::Error> {
            x.map(|[a, b]| [W(a), W(b)]).serialize(s)
        }

        /// Reads an optional [lo, hi].
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
            let v: Option<[super::Repr; 2]> = Option::deserialize(d)?;
            match v {
                None => Ok(None),
                Some([a, b]) => Ok(Some([
                    super::decode(a).map_err(serde::de::Error::custom)?,
                    super::decode(b).map_err(serde::de::Error::custom)?,
                ])),
            }
        }
    }

    /// The same for optional floats.
    pub mod opt {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Serialize)]
        struct W(#[serde(with = "super")] f64);

        /// Serialises an optional float.
        pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            x.map(W).serialize(s)
        }

        /// Reads an optional float (`null` is None).
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            let v: Option<super::Repr> = Option::deserialize(d)?;
            v.map(|r| super::decode(r).map_err(serde::de::Error::custom)).transpose()
        }
    }
}

/// Version of [`FitReport`]; bump on incompatible changes. 2 (issue #18): the law's
/// coefficients are `E`, `A`, `B` (schema 1: `e`, `a`, `b`, where `a` clashed with the
/// allocation exponent `a` of the derived estimates), and a residual's value is named
/// `ln_predicted_minus_ln_observed` (schema 1: `log_residual`, same sign). Schema-1 files
/// still read ([`OLDEST_READABLE_SCHEMA`]).
pub const FIT_SCHEMA_VERSION: u32 = 2;

/// The oldest fit.json schema `predict` and `report` read.
pub const OLDEST_READABLE_SCHEMA: u32 = 1;

/// Which training-curve points Approach 1 uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CurvePoints {
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
}

/// A fitted or derived quantity and whether the data determine it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Name (`alpha`, `E`, `a`, `tokens_per_param`, ...).
    pub name: String,
    /// Point estimate (unit in `unit`).
    #[serde(with = "lossless")]
    pub value: f64,
    /// Unit, e.g. `nats/token`, `dimensionless`.
    pub unit: String,
    /// 95% interval (bootstrap percentiles or a t interval; see `interval_method`).
    #[serde(with = "lossless::pair")]
    pub ci95: Option<[f64; 2]>,
    /// How `ci95` was obtained, e.g. `bootstrap percentile (200 reps)`.
    pub interval_method: Option<String>,
    /// False when the data do not pin it down; never quote it as a point estimate then.
    pub determined: bool,
    /// Why it is not determined (design, flat profile, wide interval), empty when it is.
    pub reasons: Vec<String>,
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

/// One compute level of Approach 1 or 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimumPoint {
    /// Compute, FLOPs.
    #[serde(with = "lossless")]
    pub c: f64,
    /// Loss-minimising parameters at this compute.
    #[serde(with = "lossless")]
    pub n_opt: f64,
    /// Tokens at the optimum, D = C/(6·N_opt).
    #[serde(with = "lossless")]
    pub d_opt: f64,
    /// Loss at the optimum, nats/token.
    #[serde(with = "lossless")]
    pub loss: f64,
    /// Runs/points behind this level.
    pub points: usize,
    /// True when the optimum is at (or beyond) the edge of the sampled N range.
    pub at_edge: bool,
}

/// Approach 1 or 2: N_opt ∝ C^a, D_opt ∝ C^b.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocationReport {
    /// `approach1` (training-curve envelope) or `approach2` (IsoFLOP parabolas).
    pub method: String,
    /// How levels were formed (budgets, bins, curve points).
    pub notes: Vec<String>,
    /// Optima per compute level.
    pub levels: Vec<OptimumPoint>,
    /// Exponent a of N_opt ∝ C^a.
    pub a: Estimate,
    /// Exponent b of D_opt ∝ C^b.
    pub b: Estimate,
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
    pub agreement: Option<super::agreement::Agreement>,
    /// The data-constrained law (Muennighoff et al. 2023), when runs repeat data (CSV `U`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_constrained: Option<super::constrained::ConstrainedReport>,
    /// Fits not run, and why.
    pub skipped: Vec<String>,
}

#[cfg(test)]
impl Estimate {
    /// A test estimate of α = 0.34 (shared by the summary and report tests).
    pub fn sample(determined: bool, ci95: Option<[f64; 2]>, reasons: &[&str]) -> Estimate {
        Estimate {
            name: "alpha".into(),
            value: 0.34,
            unit: "dimensionless".into(),
            ci95,
            interval_method: None,
            determined,
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod lossless_tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct T {
        #[serde(with = "super::lossless")]
        x: f64,
        #[serde(with = "super::lossless::pair")]
        ci: Option<[f64; 2]>,
        #[serde(with = "super::lossless::opt")]
        o: Option<f64>,
    }

    // Regression (found by the report work): a NaN bootstrap bound was written as `null` and
    // fit.json could not be read back, breaking `predict` and `report`.
    #[test]
    fn non_finite_floats_round_trip() {
        let t = T { x: f64::NAN, ci: Some([1.5, f64::INFINITY]), o: Some(f64::NEG_INFINITY) };
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, r#"{"x":"NaN","ci":[1.5,"inf"],"o":"-inf"}"#);
        let back: T = serde_json::from_str(&s).unwrap();
        assert!(
            back.x.is_nan() && back.ci == Some([1.5, f64::INFINITY]) && back.o == Some(f64::NEG_INFINITY)
        );
        let old: T = serde_json::from_str(r#"{"x":null,"ci":[5.7,null],"o":null}"#).unwrap();
        assert!(old.x.is_nan() && old.ci.unwrap()[1].is_nan() && old.o.is_none());
    }
}
