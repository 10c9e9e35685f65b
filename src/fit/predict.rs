//! `scalinglab predict FIT.json`: use a fitted Approach 3 law (Hoffmann et al. 2022) to
//! allocate compute, predict loss, price over-training, and allocate for inference (Sardana et
//! al. 2023). Intervals are 95% percentiles over the bootstrap fits stored in fit.json.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::bootstrap::interval95;
use super::ident::fmt_num;
use super::law::ChinchillaLaw;
use super::schema::{Approach3Report, FitReport};
use crate::error::input_err;

/// Arguments of `scalinglab predict`.
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    /// fit.json written by `scalinglab fit`.
    #[arg(value_name = "FIT_JSON")]
    pub fit_json: PathBuf,
    /// Training compute C in FLOPs (C = 6ND): alone, the compute-optimal N, D and loss.
    #[arg(long, value_name = "C")]
    pub flops: Option<f64>,
    /// Model size N in parameters: with --tokens, its loss; with --flops, the over-training cost.
    #[arg(long, value_name = "N")]
    pub params: Option<f64>,
    /// Training tokens D (with --params).
    #[arg(long, value_name = "D")]
    pub tokens: Option<f64>,
    /// Tokens to be served over the model's life (with --flops): the allocation minimising
    /// training + inference FLOPs (6ND + 2NT) at the compute-optimal model's loss.
    #[arg(long, value_name = "T")]
    pub inference_tokens: Option<f64>,
    /// Which group of a `--group-by` fit to use (default: the first).
    #[arg(long, value_name = "VALUE")]
    pub group: Option<String>,
}

/// A predicted quantity with its bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicted {
    /// What it is.
    pub name: String,
    /// Point estimate from the fitted law.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// 95% interval over bootstrap fits, when fit.json has them.
    pub ci95: Option<[f64; 2]>,
}

/// What to predict (validated combinations of the flags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Query {
    /// Compute-optimal N, D, loss at C FLOPs.
    Optimal {
        /// Training FLOPs C.
        flops: f64,
    },
    /// Loss of N parameters trained on D tokens.
    Loss {
        /// Parameters N.
        params: f64,
        /// Training tokens D.
        tokens: f64,
    },
    /// N parameters at C FLOPs vs the compute-optimal model.
    Overtrain {
        /// Parameters N.
        params: f64,
        /// Training FLOPs C.
        flops: f64,
    },
    /// Training+inference-optimal allocation at the compute-optimal loss of C FLOPs.
    Inference {
        /// Training FLOPs C of the reference compute-optimal model.
        flops: f64,
        /// Tokens served over the model's life T.
        inference_tokens: f64,
    },
}

impl Query {
    /// Validates the flag combination; input error with the accepted forms otherwise.
    pub fn from_args(a: &PredictArgs) -> Result<Query> {
        for (name, v) in [
            ("--flops", a.flops),
            ("--params", a.params),
            ("--tokens", a.tokens),
            ("--inference-tokens", a.inference_tokens),
        ] {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 || (v == 0.0 && name != "--inference-tokens") {
                    return Err(input_err(format!("{name} {v}: must be a positive finite number")));
                }
            }
        }
        Ok(match (a.flops, a.params, a.tokens, a.inference_tokens) {
            (Some(c), None, None, None) => Query::Optimal { flops: c },
            (None, Some(n), Some(d), None) => Query::Loss { params: n, tokens: d },
            (Some(c), Some(n), None, None) => Query::Overtrain { params: n, flops: c },
            (Some(c), None, None, Some(t)) => Query::Inference { flops: c, inference_tokens: t },
            _ => {
                return Err(input_err(
                    "predict: use one of --flops C | --params N --tokens D | --params N --flops C | --flops C --inference-tokens T",
                ))
            }
        })
    }
}

fn eval(law: &ChinchillaLaw, q: Query) -> Option<Vec<(String, f64, String)>> {
    let s = |n: &str, v: f64, u: &str| (n.to_string(), v, u.to_string());
    Some(match q {
        Query::Optimal { flops } => vec![
            s("N_opt", law.n_opt(flops), "parameters"),
            s("D_opt", law.d_opt(flops), "tokens"),
            s("tokens_per_param", law.tokens_per_param(flops), "tokens/parameter"),
            s("loss", law.loss_opt(flops), "nats/token"),
        ],
        Query::Loss { params, tokens } => vec![s("loss", law.loss(params, tokens), "nats/token")],
        Query::Overtrain { params, flops } => {
            let d = flops / (6.0 * params);
            let loss = law.loss(params, d);
            let c_star = law.flops_for_loss(loss)?;
            vec![
                s("tokens", d, "tokens"),
                s("loss", loss, "nats/token"),
                s("loss_compute_optimal", law.loss_opt(flops), "nats/token"),
                s("loss_gap", loss - law.loss_opt(flops), "nats/token"),
                s("compute_optimal_flops_same_loss", c_star, "FLOPs"),
                s("extra_compute", 100.0 * (flops / c_star - 1.0), "% of the compute-optimal cost"),
            ]
        }
        Query::Inference { flops, inference_tokens } => {
            let target = law.loss_opt(flops);
            let (n, d, total) = law.inference_optimal(target, inference_tokens)?;
            let chin_total = flops + 2.0 * law.n_opt(flops) * inference_tokens;
            vec![
                s("target_loss", target, "nats/token"),
                s("N", n, "parameters"),
                s("D", d, "tokens"),
                s("training_flops", 6.0 * n * d, "FLOPs"),
                s("total_flops", total, "FLOPs (training + 2·N·T inference)"),
                s("compute_optimal_total_flops", chin_total, "FLOPs (Chinchilla-optimal model, same T)"),
                s("saving", 100.0 * (1.0 - total / chin_total), "% of the compute-optimal total"),
            ]
        }
    })
}

/// Predicts `q` from an Approach 3 report, with bootstrap intervals when available.
pub fn predict(a3: &Approach3Report, q: Query) -> Result<Vec<Predicted>> {
    if !a3.law.is_valid() {
        return Err(input_err(format!(
            "the fitted law {:?} has a non-positive parameter; allocation is undefined",
            a3.law
        )));
    }
    let base = eval(&a3.law, q).ok_or_else(|| {
        input_err("the requested loss is not reachable under the fitted law (at or below E)")
    })?;
    let boots: Vec<Vec<(String, f64, String)>> =
        a3.bootstrap_laws.iter().filter(|l| l.is_valid()).filter_map(|l| eval(l, q)).collect();
    Ok(base
        .into_iter()
        .enumerate()
        .map(|(j, (name, value, unit))| {
            let samples: Vec<f64> = boots.iter().map(|b| b[j].1).filter(|v| v.is_finite()).collect();
            Predicted { name, value, unit, ci95: (samples.len() >= 2).then(|| interval95(&samples)) }
        })
        .collect())
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
    let v = super::schema::FIT_SCHEMA_VERSION;
    if report.schema_version != v {
        return Err(input_err(format!(
            "{}: schema_version {} but this scalinglab reads version {v}; fix: regenerate it with this \
             version's `scalinglab fit`",
            path.display(),
            report.schema_version
        )));
    }
    Ok(report)
}

/// `scalinglab predict`: prints one line per quantity on stdout.
pub fn run_predict(args: &PredictArgs) -> Result<()> {
    let q = Query::from_args(args)?;
    let report = read_report(&args.fit_json)?;
    let group = match &args.group {
        Some(v) => {
            report.groups.iter().find(|g| g.value.as_deref() == Some(v.as_str())).ok_or_else(|| {
                let have: Vec<String> = report.groups.iter().filter_map(|g| g.value.clone()).collect();
                input_err(format!(
                    "--group {v}: not in {}; fix: use one of: {}",
                    args.fit_json.display(),
                    have.join(", ")
                ))
            })?
        }
        None => report
            .groups
            .first()
            .ok_or_else(|| input_err(format!("{}: no fitted groups", args.fit_json.display())))?,
    };
    let a3 = group
        .approach3
        .as_ref()
        .ok_or_else(|| input_err(format!("{}: no Approach 3 fit", args.fit_json.display())))?;
    let undetermined: Vec<&str> =
        a3.params.iter().chain(&a3.derived).filter(|e| !e.determined).map(|e| e.name.as_str()).collect();
    if !undetermined.is_empty() {
        eprintln!(
            "warning: the fit does not determine {}; predictions depend on them",
            undetermined.join(", ")
        );
    }
    if a3.bootstrap_laws.is_empty() {
        eprintln!(
            "note: no bootstrap fits in {}; run `scalinglab fit --bootstrap K` for intervals",
            args.fit_json.display()
        );
    }
    for p in predict(a3, q)? {
        let ci = p
            .ci95
            .map(|[lo, hi]| format!("  (95% interval {} – {})", fmt_num(lo), fmt_num(hi)))
            .unwrap_or_default();
        println!("{:<32} {:>12} {}{ci}", p.name, fmt_num(p.value), p.unit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a3(boot: Vec<ChinchillaLaw>) -> Approach3Report {
        let law = ChinchillaLaw { e: 1.69, a: 406.4, b: 410.7, alpha: 0.34, beta: 0.28 };
        Approach3Report {
            form: String::new(),
            law,
            params: vec![],
            derived: vec![],
            objective: 0.0,
            starts: 0,
            converged_starts: 0,
            quality: super::super::schema::FitQuality { r2_log: 1.0, rmse_log: 0.0, points: 0 },
            residuals: vec![],
            bootstrap: None,
            bootstrap_laws: boot,
        }
    }

    #[test]
    fn optimal_matches_the_law_and_intervals_bracket() {
        let boot: Vec<ChinchillaLaw> =
            (0..20).map(|i| ChinchillaLaw { alpha: 0.32 + 0.002 * i as f64, ..a3(vec![]).law }).collect();
        let r = predict(&a3(boot), Query::Optimal { flops: 5.76e23 }).expect("predict");
        let law = a3(vec![]).law;
        assert_eq!(r[0].value, law.n_opt(5.76e23));
        let [lo, hi] = r[0].ci95.expect("bootstrap");
        assert!(lo < hi);
    }

    #[test]
    fn overtraining_costs_extra_compute() {
        let law = a3(vec![]).law;
        let c = 1e22;
        let r =
            predict(&a3(vec![]), Query::Overtrain { params: law.n_opt(c) / 4.0, flops: c }).expect("predict");
        let extra = r.iter().find(|p| p.name == "extra_compute").expect("row").value;
        assert!(extra > 0.0, "{extra}");
        let at_opt =
            predict(&a3(vec![]), Query::Overtrain { params: law.n_opt(c), flops: c }).expect("predict");
        let e0 = at_opt.iter().find(|p| p.name == "extra_compute").expect("row").value;
        assert!(e0.abs() < 1e-6, "{e0}");
    }

    #[test]
    fn flag_combinations() {
        let base = PredictArgs {
            fit_json: "x".into(),
            flops: None,
            params: None,
            tokens: None,
            inference_tokens: None,
            group: None,
        };
        assert!(Query::from_args(&base).is_err());
        let a = PredictArgs { flops: Some(1e20), ..base.clone() };
        assert_eq!(Query::from_args(&a).expect("ok"), Query::Optimal { flops: 1e20 });
        let a = PredictArgs { flops: Some(-1.0), ..base.clone() };
        assert!(crate::error::is_input_error(&Query::from_args(&a).expect_err("negative")));
        let a = PredictArgs { params: Some(1e9), tokens: Some(2e10), ..base };
        assert_eq!(Query::from_args(&a).expect("ok"), Query::Loss { params: 1e9, tokens: 2e10 });
    }
}
