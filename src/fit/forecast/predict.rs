//! `scalinglab predict FIT.json`: use a fitted Approach 3 law (Hoffmann et al. 2022) to
//! allocate compute, predict loss, price over-training, and allocate for inference (Sardana et
//! al. 2023). Intervals are 95% percentiles over the bootstrap fits stored in fit.json.

use std::path::PathBuf;

use anyhow::Result;

use crate::error::input_err;
use crate::fit::estimate::interval_reason;
use crate::fit::law::ChinchillaLaw;
use crate::fit::schema::{read_report, Approach3Report};
use crate::fit::stats::interval95;
use crate::fmt::fmt_num;

/// What `scalinglab predict` is asked (the command line's flags as plain values; `cli::predict`
/// parses them). [`Query::from_request`] checks which combination it is.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    /// fit.json written by `scalinglab fit`.
    pub fit_json: PathBuf,
    /// Training compute C in FLOPs (C = 6ND).
    pub flops: Option<f64>,
    /// Model size N in parameters.
    pub params: Option<f64>,
    /// Training tokens D.
    pub tokens: Option<f64>,
    /// Tokens served over the model's life T.
    pub inference_tokens: Option<f64>,
    /// Which group of a `--group-by` fit to use (default: the first).
    pub group: Option<String>,
    /// Print one JSON object instead of lines.
    pub json: bool,
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
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
    pub fn from_request(a: &PredictRequest) -> Result<Query> {
        for (name, v) in [
            ("--flops", a.flops),
            ("--params", a.params),
            ("--tokens", a.tokens),
            ("--inference-tokens", a.inference_tokens),
        ] {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 || (v == 0.0 && name != "--inference-tokens") {
                    return Err(input_err(format!(
                        "{name} {v}: must be a positive finite number; fix: e.g. {name} 1e18"
                    )));
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
        let l = &a3.law;
        return Err(input_err(format!(
            "the fitted law (E = {}, A = {}, B = {}, α = {}, β = {}) has a non-positive parameter, so \
             the allocation is undefined; fix: refit with more runs or `--e-floor`, or use --params N --tokens D",
            fmt_num(l.e),
            fmt_num(l.a),
            fmt_num(l.b),
            fmt_num(l.alpha),
            fmt_num(l.beta)
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

/// `scalinglab predict`: prints one line per quantity on stdout.
pub fn run_predict(args: &PredictRequest) -> Result<()> {
    let q = Query::from_request(args)?;
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
    let mut warnings = Vec::new();
    if !undetermined.is_empty() {
        warnings.push(format!(
            "the fit does not determine {}; predictions depend on them",
            undetermined.join(", ")
        ));
    }
    let mut notes = Vec::new();
    if a3.bootstrap_laws.is_empty() {
        notes.push(format!(
            "no bootstrap fits in {}; run `scalinglab fit --bootstrap K` for intervals",
            args.fit_json.display()
        ));
    }
    warnings.extend(extrapolation(a3, q));
    let preds = predict(a3, q)?;
    if args.json {
        let items: Vec<serde_json::Value> = preds.iter().map(json_item).collect();
        let j = serde_json::json!({
            "fit": args.fit_json, "group": group.value, "query": q,
            "predictions": items, "warnings": warnings, "notes": notes,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    for p in &preds {
        println!("{}", line(p));
    }
    Ok(())
}

/// Whether a prediction's interval leaves it undetermined (the rule [`line`] prints by).
fn verdict(p: &Predicted) -> Option<String> {
    let log_scale = p.value > 0.0 && !p.unit.starts_with('%') && !p.unit.starts_with("nats");
    p.ci95.and_then(|ci| interval_reason(p.value, ci, log_scale))
}

/// One prediction for `--json`: name, value, unit, 95% interval, determined and why not.
fn json_item(p: &Predicted) -> serde_json::Value {
    let why = verdict(p);
    serde_json::json!({
        "name": p.name, "value": p.value, "unit": p.unit, "ci95": p.ci95,
        "determined": why.is_none(), "reason": why,
    })
}

/// One output line. A quantity whose bootstrap interval is too wide (a positive scale such as
/// N, D, FLOPs or tokens per parameter spanning more than a decade; a loss or percentage
/// wider than its own value: `estimate::interval_reason`) is printed as "not determined" with its
/// interval, never as a bare number (issue #24).
pub fn line(p: &Predicted) -> String {
    let Some([lo, hi]) = p.ci95 else {
        return format!("{:<32} {:>12} {}", p.name, fmt_num(p.value), p.unit);
    };
    match verdict(p) {
        Some(why) => format!("{:<32} {:>12} {} ({why})", p.name, "not determined", p.unit),
        None => {
            format!(
                "{:<32} {:>12} {}  (95% interval {} – {})",
                p.name,
                fmt_num(p.value),
                p.unit,
                fmt_num(lo),
                fmt_num(hi)
            )
        }
    }
}

/// Warnings for a query beyond the fitted runs: how many times past the largest fitted N, D
/// or compute (6ND of the largest fitted point) it asks, for anything over 2× (the hold-out
/// checks forecasts only as far as the held-out runs reach).
pub fn extrapolation(a3: &Approach3Report, q: Query) -> Vec<String> {
    let max = |f: fn(&crate::fit::schema::Residual) -> f64| a3.residuals.iter().map(f).fold(0.0, f64::max);
    let (n_max, d_max, c_max) = (max(|r| r.n), max(|r| r.d), max(|r| r.c));
    if c_max <= 0.0 {
        return vec![];
    }
    let (n, d, c) = match q {
        Query::Optimal { flops } | Query::Inference { flops, .. } => {
            (a3.law.n_opt(flops), a3.law.d_opt(flops), flops)
        }
        Query::Loss { params, tokens } => (params, tokens, 6.0 * params * tokens),
        Query::Overtrain { params, flops } => (params, flops / (6.0 * params), flops),
    };
    let mut out = vec![];
    for (what, v, top, unit) in
        [("compute", c, c_max, "FLOPs"), ("N", n, n_max, "parameters"), ("D", d, d_max, "tokens")]
    {
        if v.is_finite() && v > 2.0 * top {
            out.push(format!(
                "extrapolating {}× past the largest fitted run's {what} ({} {unit}); the fit's \
                 hold-out checks forecasts only as far as its held-out runs reach",
                fmt_num(v / top),
                fmt_num(top)
            ));
        }
    }
    out
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
            quality: crate::fit::schema::FitQuality { r2_log: 1.0, rmse_log: 0.0, points: 0 },
            residuals: vec![],
            bootstrap: None,
            bootstrap_laws: boot,
            data: None,
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
    fn a_decade_wide_interval_is_not_printed_as_a_number() {
        let p = |value, ci95, unit: &str| Predicted { name: "N_opt".into(), value, unit: unit.into(), ci95 };
        let wide = line(&p(1.2e6, Some([3.0e4, 9.0e8]), "parameters"));
        assert!(wide.contains("not determined") && wide.contains("spans more than a decade"), "{wide}");
        assert!(!wide.contains("1.200e6"), "{wide}");
        let narrow = line(&p(1.2e6, Some([1.0e6, 1.5e6]), "parameters"));
        assert!(!narrow.contains("not determined") && narrow.contains("95% interval"), "{narrow}");
        // A loss is judged on a linear scale: 2.0 with 1.9–2.1 is determined.
        let loss = line(&p(2.0, Some([1.9, 2.1]), "nats/token"));
        assert!(!loss.contains("not determined"), "{loss}");
        let pct = line(&p(5.0, Some([-20.0, 40.0]), "% of the compute-optimal cost"));
        assert!(pct.contains("not determined"), "{pct}");
    }

    #[test]
    fn an_invalid_law_is_named_in_words_not_as_a_rust_struct() {
        let mut r = a3(vec![]);
        r.law.alpha = -0.1;
        let e = predict(&r, Query::Optimal { flops: 1e20 }).expect_err("invalid law");
        let msg = format!("{e:#}");
        assert!(msg.contains("α = -0.1") && msg.contains("fix:"), "{msg}");
        assert!(!msg.contains("ChinchillaLaw") && !msg.contains('{'), "{msg}");
    }

    #[test]
    fn warns_when_it_extrapolates_past_the_largest_run() {
        let mut r = a3(vec![]);
        let point = |n: f64, d: f64| crate::fit::schema::Residual {
            n,
            d,
            c: 6.0 * n * d,
            loss: 3.0,
            predicted: 3.0,
            log_residual: 0.0,
        };
        r.residuals = vec![point(1e5, 1e6), point(3e5, 8e6)];
        let c_max = 6.0 * 3e5 * 8e6;
        assert!(extrapolation(&r, Query::Loss { params: 2e5, tokens: 4e6 }).is_empty());
        let w = extrapolation(&r, Query::Optimal { flops: 69.0 * c_max });
        assert!(
            w.iter().any(|x| x.starts_with("extrapolating 69× past the largest fitted run's compute")),
            "{w:?}"
        );
        let w = extrapolation(&r, Query::Loss { params: 3e6, tokens: 1e6 });
        assert!(w.iter().any(|x| x.contains("10× past the largest fitted run's N")), "{w:?}");
    }

    #[test]
    fn flag_combinations() {
        let base = PredictRequest {
            fit_json: "x".into(),
            flops: None,
            params: None,
            tokens: None,
            inference_tokens: None,
            group: None,
            json: false,
        };
        assert!(Query::from_request(&base).is_err());
        let a = PredictRequest { flops: Some(1e20), ..base.clone() };
        assert_eq!(Query::from_request(&a).expect("ok"), Query::Optimal { flops: 1e20 });
        let a = PredictRequest { flops: Some(-1.0), ..base.clone() };
        assert!(crate::error::is_input_error(&Query::from_request(&a).expect_err("negative")));
        let a = PredictRequest { params: Some(1e9), tokens: Some(2e10), ..base };
        assert_eq!(Query::from_request(&a).expect("ok"), Query::Loss { params: 1e9, tokens: 2e10 });
    }
}
