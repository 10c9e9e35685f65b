//! Fits everything for one group of runs and assembles its [`GroupReport`]: Approach 3 with
//! intervals and identifiability verdicts, the Kaplan laws, Approaches 1 and 2, and the
//! hold-out forecast check.

use anyhow::Result;

use super::agreement::{agreement, Context};
use super::allocation::{approach1, approach2, curve_samples, CurveSample};
use super::approach3::{fit_approach3, Approach3Fit, Approach3Options};
use super::bootstrap::{bootstrap_approach3, bootstrap_with, interval95, BootstrapOptions};
use super::data::{cell_obs, make_cells, seed_noise, Cell, RunPoint};
use super::holdout::holdout;
use super::ident::{design, flat_profiles, interval_reason, Design};
use super::kaplan::{fit_kaplan, KaplanForm};
use super::law::ChinchillaLaw;
use super::model::LogData;
use super::schema::{
    Approach3Report, BootstrapInfo, CurvePoints, Estimate, FitQuality, GroupReport, PowerLawReport, Residual,
};
use super::source::{ParamsConvention, RunCurve};
use super::stats::r2;

/// Settings for [`fit_group`].
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Approach 3 starts, Huber δ, tolerances.
    pub a3: Approach3Options,
    /// Bootstrap replicates (0 = none) and seed.
    pub bootstrap: BootstrapOptions,
    /// Also fit every Kaplan law with an irreducible term E.
    pub kaplan_e: bool,
    /// Approach 1 curve-point policy.
    pub curve_points: CurvePoints,
    /// Approach 2 budget clustering gap, decades of C.
    pub isoflop_gap: f64,
    /// Cells held out for the forecast check.
    pub holdout_top: usize,
    /// Compute for tokens-per-parameter, FLOPs (default: the largest C in the group).
    pub reference_flops: Option<f64>,
    /// N convention of the points (named in the approach-agreement reasons).
    pub params: ParamsConvention,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            a3: Approach3Options::default(),
            bootstrap: BootstrapOptions { reps: 0, seed: 0, within_cell: false },
            kaplan_e: false,
            curve_points: CurvePoints::Auto,
            isoflop_gap: 0.05,
            holdout_top: 0,
            reference_flops: None,
            params: ParamsConvention::Total,
        }
    }
}

/// Builds an [`Estimate`]: design reasons, an optional extra reason (flat profile) and the
/// bootstrap interval rule.
pub fn estimate(
    name: &str,
    value: f64,
    unit: &str,
    samples: Option<&[f64]>,
    log_scale: bool,
    mut reasons: Vec<String>,
) -> Estimate {
    let ci = samples.filter(|s| s.len() >= 2).map(interval95);
    if let Some(ci) = ci {
        reasons.extend(interval_reason(value, ci, log_scale));
    }
    if !value.is_finite() {
        reasons.push("the estimate is not finite".into());
    }
    Estimate {
        name: name.into(),
        value,
        unit: unit.into(),
        ci95: ci,
        interval_method: samples.map(|s| format!("bootstrap percentile ({} converged reps)", s.len())),
        determined: reasons.is_empty(),
        reasons,
    }
}

fn quality(obs: &[f64], pred: &[f64]) -> FitQuality {
    let lo: Vec<f64> = obs.iter().map(|v| v.ln()).collect();
    let lp: Vec<f64> = pred.iter().map(|v| v.ln()).collect();
    let mse = lo.iter().zip(&lp).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / lo.len().max(1) as f64;
    FitQuality { r2_log: r2(&lo, &lp), rmse_log: mse.sqrt(), points: obs.len() }
}

fn residuals(cells: &[Cell], pred: impl Fn(&Cell) -> f64) -> Vec<Residual> {
    cells
        .iter()
        .map(|c| {
            let p = pred(c);
            Residual {
                n: c.n,
                d: c.d,
                c: c.c,
                loss: c.mean(),
                predicted: p,
                log_residual: p.ln() - c.mean().ln(),
            }
        })
        .collect()
}

/// Approach 3 report: fit, bootstrap, verdicts.
pub fn approach3_report(
    cells: &[Cell],
    des: &Design,
    opts: &PipelineOptions,
    c_ref: f64,
) -> Result<(Approach3Report, Approach3Fit)> {
    let obs = cell_obs(cells);
    let fit = fit_approach3(&obs, &opts.a3)?;
    let data = LogData::from_obs(&obs);
    let boot: Vec<ChinchillaLaw> = if opts.bootstrap.reps > 0 {
        bootstrap_approach3(cells, &fit, &opts.a3.fit, &opts.bootstrap)
    } else {
        Vec::new()
    };
    let profiles = flat_profiles(&data, &fit, &opts.a3.fit);
    let have = !boot.is_empty();
    let col = |f: &dyn Fn(&ChinchillaLaw) -> f64| -> Vec<f64> { boot.iter().map(f).collect() };
    // Every Approach 3 quantity also rests on the law's additivity in N and D.
    let add = des.additivity_reason();
    let (mut nr, mut dr, mut all) = (des.n_reasons(), des.d_reasons(), des.all_reasons());
    for r in [&mut nr, &mut dr, &mut all] {
        r.extend(add.clone());
    }
    let with = |mut v: Vec<String>, extra: &Option<String>| {
        v.extend(extra.clone());
        v
    };
    let law = fit.law;
    let s = |v: &Vec<f64>| if have { Some(v.clone()) } else { None };
    let (se, sa, sb, sal, sbe) =
        (col(&|l| l.e), col(&|l| l.a), col(&|l| l.b), col(&|l| l.alpha), col(&|l| l.beta));
    let alpha_flat = &profiles[0];
    let beta_flat = &profiles[1];
    let params = vec![
        estimate("E", law.e, "nats/token", s(&se).as_deref(), false, with(all.clone(), &profiles[2])),
        estimate(
            "A",
            law.a,
            "nats/token·parameters^alpha",
            s(&sa).as_deref(),
            true,
            with(nr.clone(), alpha_flat),
        ),
        estimate("B", law.b, "nats/token·tokens^beta", s(&sb).as_deref(), true, with(dr.clone(), beta_flat)),
        estimate(
            "alpha",
            law.alpha,
            "dimensionless",
            s(&sal).as_deref(),
            false,
            with(nr.clone(), alpha_flat),
        ),
        estimate("beta", law.beta, "dimensionless", s(&sbe).as_deref(), false, with(dr.clone(), beta_flat)),
    ];
    let mut both = all.clone();
    both.extend(alpha_flat.clone());
    both.extend(beta_flat.clone());
    let derived = vec![
        estimate(
            "a",
            law.exponent_a(),
            "dimensionless",
            s(&col(&|l| l.exponent_a())).as_deref(),
            false,
            both.clone(),
        ),
        estimate(
            "b",
            law.exponent_b(),
            "dimensionless",
            s(&col(&|l| l.exponent_b())).as_deref(),
            false,
            both.clone(),
        ),
        estimate("G", law.g(), "parameters/(FLOPs/6)^a", s(&col(&|l| l.g())).as_deref(), true, both.clone()),
        estimate(
            "tokens_per_param",
            law.tokens_per_param(c_ref),
            &format!("tokens/parameter at C = {c_ref:.3e} FLOPs"),
            s(&col(&|l| l.tokens_per_param(c_ref))).as_deref(),
            true,
            both,
        ),
    ];
    let res = residuals(cells, |c| law.loss(c.n, c.d));
    let obs_l: Vec<f64> = res.iter().map(|r| r.loss).collect();
    let pred_l: Vec<f64> = res.iter().map(|r| r.predicted).collect();
    let multi_seed = cells.iter().any(|c| c.losses.len() > 1);
    let report = Approach3Report {
        form: "L = E + A/N^alpha + B/D^beta".into(),
        law,
        params,
        derived,
        objective: fit.objective,
        starts: fit.starts,
        converged_starts: fit.converged_starts,
        quality: quality(&obs_l, &pred_l),
        residuals: res,
        bootstrap: (opts.bootstrap.reps > 0).then(|| BootstrapInfo {
            reps: opts.bootstrap.reps,
            converged: boot.len(),
            resampling: if multi_seed && opts.bootstrap.within_cell {
                "cells with replacement, then seeds within each cell with replacement"
            } else {
                "whole cells (all their seeds) with replacement"
            }
            .into(),
            includes_seed_noise: multi_seed,
        }),
        bootstrap_laws: boot,
    };
    Ok((report, fit))
}

/// Kaplan laws (each with and, if asked, without E), with bootstrap intervals when asked.
pub fn kaplan_reports(
    cells: &[Cell],
    des: &Design,
    opts: &PipelineOptions,
) -> (Vec<PowerLawReport>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let es: &[bool] = if opts.kaplan_e { &[false, true] } else { &[false] };
    for form in [KaplanForm::N, KaplanForm::D, KaplanForm::C, KaplanForm::Joint] {
        for &with_e in es {
            let label = format!("{}{}", form.name(), if with_e { "+E" } else { "" });
            let Some(fit) = fit_kaplan(form, with_e, cells, &opts.a3.fit) else {
                skipped.push(format!("Kaplan {label}: too few points for its parameters"));
                continue;
            };
            let boot: Vec<Vec<f64>> = if opts.bootstrap.reps > 0 {
                let o = super::multistart::FitOptions { parallel: false, ..opts.a3.fit };
                bootstrap_with(cells, &opts.bootstrap, |cs| {
                    fit_kaplan(form, with_e, cs, &o).map(|f| f.params.iter().map(|p| p.1).collect())
                })
            } else {
                Vec::new()
            };
            let base = match form {
                KaplanForm::N => des.n_reasons(),
                KaplanForm::D => des.d_reasons(),
                KaplanForm::C => Vec::new(),
                KaplanForm::Joint => des.all_reasons(),
            };
            let used: Vec<Cell> = fit.used.iter().map(|&i| cells[i].clone()).collect();
            let mut extra = Vec::new();
            if form == KaplanForm::C {
                let cs: Vec<f64> = used.iter().map(|c| c.c).collect();
                let span =
                    cs.iter().cloned().fold(0.0, f64::max) / cs.iter().cloned().fold(f64::INFINITY, f64::min);
                if span < 10.0 {
                    extra.push(format!("compute frontier spans under a decade ({span:.1}×)"));
                }
            }
            let params = fit
                .params
                .iter()
                .enumerate()
                .map(|(j, (name, v, unit))| {
                    let samples: Vec<f64> = boot.iter().map(|b| b[j]).collect();
                    let mut reasons = base.clone();
                    reasons.extend(extra.clone());
                    let log_scale = name.ends_with("_c");
                    estimate(
                        name,
                        *v,
                        unit,
                        (!samples.is_empty()).then_some(samples.as_slice()),
                        log_scale,
                        reasons,
                    )
                })
                .collect();
            let res = residuals(&used, |c| fit.predict(c));
            let obs_l: Vec<f64> = res.iter().map(|r| r.loss).collect();
            let pred_l: Vec<f64> = res.iter().map(|r| r.predicted).collect();
            out.push(PowerLawReport {
                name: label,
                form: form.formula(with_e),
                selection: fit.selection.clone(),
                params,
                bootstrap_params: boot,
                quality: quality(&obs_l, &pred_l),
                residuals: res,
            });
        }
    }
    (out, skipped)
}

/// Fits one group. `curves` are the group's training curves (may be empty).
pub fn fit_group(
    key: Option<&str>,
    value: Option<&str>,
    points: &[RunPoint],
    curves: &[RunCurve],
    opts: &PipelineOptions,
    warnings: &mut Vec<String>,
) -> Result<GroupReport> {
    let cells = make_cells(points);
    let des = design(&cells);
    let noise = seed_noise(&cells);
    let interval_note = match &noise {
        Some(n) => format!(
            "seeds replicated in {} cells (pooled run-to-run SD {:.4} nats): fits use cell means and the bootstrap \
             resamples whole cells with their seeds, so intervals include seed noise",
            n.cells.len(),
            n.pooled_sd
        ),
        None => "one seed per cell: intervals exclude seed-to-seed noise (it cannot be separated from lack of fit)".into(),
    };
    let c_ref = opts.reference_flops.unwrap_or_else(|| cells.iter().map(|c| c.c).fold(0.0, f64::max));
    let mut skipped = Vec::new();
    let (a3, _) = approach3_report(&cells, &des, opts, c_ref)?;
    let (kaplan, ks) = kaplan_reports(&cells, &des, opts);
    skipped.extend(ks);
    let (samples, notes) = if curves.is_empty() {
        // Rows naming their run (CSV `run`) are checkpoints of that run's curve.
        let mut runs: std::collections::BTreeMap<&str, usize> = Default::default();
        let s: Vec<CurveSample> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let next = points.len() + runs.len();
                let run = p.run.as_deref().map_or(i, |r| *runs.entry(r).or_insert(next));
                CurveSample { run, c: p.c, n: p.n, d: p.d, loss: p.loss }
            })
            .collect();
        let note = if runs.is_empty() {
            "no training curves: each run's final point only".to_string()
        } else {
            format!("no training curves: the CSV's rows as checkpoints of {} runs (column `run`)", runs.len())
        };
        (s, vec![note])
    } else {
        curve_samples(curves, opts.curve_points)
    };
    let a1 = approach1(&samples, notes);
    let a1 = (!a1.levels.is_empty()).then_some(a1);
    if a1.is_none() {
        skipped.push("Approach 1: no compute level has points from two runs".into());
    }
    let a2 = approach2(&cells, opts.isoflop_gap, warnings);
    let a2 = (!a2.levels.is_empty()).then_some(a2);
    if a2.is_none() {
        skipped.push("Approach 2: no compute budget has 3 sizes".into());
    }
    let ctx = Context { cells: &cells, points, params: opts.params, isoflop_gap: opts.isoflop_gap };
    let agree = agreement(a1.as_ref(), a2.as_ref(), Some(&a3), &ctx);
    let hold = if opts.holdout_top > 0 {
        Some(holdout(&cells, opts.holdout_top, opts, noise.as_ref())?)
    } else {
        None
    };
    Ok(GroupReport {
        key: key.map(str::to_string),
        value: value.map(str::to_string),
        runs: points.len(),
        cells: cells.len(),
        design: des,
        seed_noise: noise,
        interval_note,
        approach3: Some(a3),
        kaplan,
        approach1: a1,
        approach2: a2,
        holdout: hold,
        agreement: agree,
        data_constrained: super::constrained::constrained_report(points, &opts.a3.fit)?,
        skipped,
    })
}
