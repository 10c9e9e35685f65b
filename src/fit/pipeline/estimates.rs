//! One law's fit turned into reported estimates: Approach 3 and the Kaplan laws fitted on a
//! group's cells, bootstrapped, and every parameter and derived quantity given its 95%
//! interval and the reasons (design, flat profile, additivity, interval width) that leave it
//! undetermined.

use anyhow::Result;

use crate::fit::estimate::{estimate, Estimate};
use crate::fit::input::a3_points::RunsSample;
use crate::fit::input::data::{cell_obs, make_cells, Cell, Obs, RunPoint};
use crate::fit::law::ChinchillaLaw;
use crate::fit::laws::approach3::{fit_approach3, Approach3Fit, Approach3Options};
use crate::fit::laws::kaplan::{fit_kaplan, KaplanFit, KaplanForm};
use crate::fit::schema::{Approach3Report, BootstrapInfo, FitQuality, PowerLawReport, Residual};
use crate::fit::solve::multistart::FitOptions;
use crate::fit::solve::objective::LogData;
use crate::fit::stats::r2;
use crate::fit::uncertainty::bootstrap::{
    bootstrap_approach3, bootstrap_runs_approach3, bootstrap_with, BootstrapOptions,
};
use crate::fit::uncertainty::design::{design, Design};
use crate::fit::uncertainty::profile::flat_profiles;

fn quality(obs: &[f64], pred: &[f64]) -> FitQuality {
    let lo: Vec<f64> = obs.iter().map(|v| v.ln()).collect();
    let lp: Vec<f64> = pred.iter().map(|v| v.ln()).collect();
    let mse = lo.iter().zip(&lp).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / lo.len().max(1) as f64;
    FitQuality { r2_log: r2(&lo, &lp), rmse_log: mse.sqrt(), points: obs.len() }
}

/// Fit quality on log loss of the observed against the fitted losses of `res`.
fn quality_of(res: &[Residual]) -> FitQuality {
    let obs_l: Vec<f64> = res.iter().map(|r| r.loss).collect();
    let pred_l: Vec<f64> = res.iter().map(|r| r.predicted).collect();
    quality(&obs_l, &pred_l)
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

/// Approach 3 report: the fit with `a3`, its bootstrap with `boot` (none without replicates),
/// and the verdicts; tokens per parameter at `c_ref` FLOPs.
pub fn approach3_report(
    cells: &[Cell],
    des: &Design,
    a3: &Approach3Options,
    boot: &BootstrapOptions,
    c_ref: f64,
) -> Result<(Approach3Report, Approach3Fit)> {
    let obs = cell_obs(cells);
    let fit = fit_approach3(&obs, a3)?;
    let laws: Vec<ChinchillaLaw> =
        if boot.reps > 0 { bootstrap_approach3(cells, &fit, &a3.fit, boot) } else { Vec::new() };
    let info = bootstrap_info(cells, boot, laws.len());
    let report = assemble(&obs, cells, des, a3, c_ref, &fit, (laws, info));
    Ok((report, fit))
}

/// Approach 3 report on training-curve points (`fit --a3-points curve:F`): every point an
/// observation, the bootstrap over whole runs, the verdicts from the design of the points'
/// cells; tokens per parameter at `c_ref` FLOPs.
pub fn approach3_report_runs(
    sample: &RunsSample,
    a3: &Approach3Options,
    boot: &BootstrapOptions,
    c_ref: f64,
) -> Result<(Approach3Report, Approach3Fit)> {
    let obs: Vec<Obs> = sample.points.iter().map(|p| Obs::new(p.n, p.d, p.loss)).collect();
    let cells = make_cells(&sample.points);
    let fit = fit_approach3(&obs, a3)?;
    let runs: Vec<Vec<Obs>> = sample.runs.iter().map(|r| r.iter().map(|&i| obs[i]).collect()).collect();
    let laws: Vec<ChinchillaLaw> =
        if boot.reps > 0 { bootstrap_runs_approach3(&runs, &fit, &a3.fit, boot) } else { Vec::new() };
    // Seeds are replicated when two runs end at the same (N, D).
    let finals: Vec<RunPoint> =
        sample.runs.iter().filter_map(|r| r.last().map(|&i| sample.points[i].clone())).collect();
    let info = (boot.reps > 0).then(|| BootstrapInfo {
        reps: boot.reps,
        converged: laws.len(),
        resampling: "whole runs (all their curve points) with replacement".into(),
        includes_seed_noise: make_cells(&finals).iter().any(|c| c.losses.len() > 1),
    });
    let mut report = assemble(&obs, &cells, &design(&cells), a3, c_ref, &fit, (laws, info));
    report.data = Some(sample.data.clone());
    Ok((report, fit))
}

/// The report of a fitted law `fit` on observations `obs` (grouped as `cells` for the
/// residuals) with its bootstrap: the refits and what was resampled.
fn assemble(
    obs: &[Obs],
    cells: &[Cell],
    des: &Design,
    a3: &Approach3Options,
    c_ref: f64,
    fit: &Approach3Fit,
    (laws, bootstrap): (Vec<ChinchillaLaw>, Option<BootstrapInfo>),
) -> Approach3Report {
    let profiles = flat_profiles(&LogData::from_obs(obs), fit, &a3.fit);
    let (params, derived) = approach3_estimates(&fit.law, &laws, des, &profiles, c_ref);
    let res = residuals(cells, |c| fit.law.loss(c.n, c.d));
    Approach3Report {
        form: "L = E + A/N^alpha + B/D^beta".into(),
        law: fit.law,
        params,
        derived,
        objective: fit.objective,
        starts: fit.starts,
        converged_starts: fit.converged_starts,
        quality: quality_of(&res),
        residuals: res,
        bootstrap,
        bootstrap_laws: laws,
        data: None,
    }
}

/// E, A, B, α, β and the derived a, b, G and tokens per parameter at `c_ref`, each with the
/// bootstrap laws' values as its samples and the reasons that apply to it: the design reasons
/// of its term (N for A and α, D for B and β, both for E and the derived quantities), the law's
/// additivity, and the flat profiles (`[α, β, E]`) that move it.
fn approach3_estimates(
    law: &ChinchillaLaw,
    boot: &[ChinchillaLaw],
    des: &Design,
    profiles: &[Option<String>; 3],
    c_ref: f64,
) -> (Vec<Estimate>, Vec<Estimate>) {
    // Every Approach 3 quantity also rests on the law's additivity in N and D.
    let add = des.additivity_reason();
    let [alpha_flat, beta_flat, e_flat] = profiles;
    let reasons = |base: Vec<String>, flat: &[&Option<String>]| {
        let mut v = base;
        v.extend(add.clone());
        for f in flat {
            v.extend((*f).clone());
        }
        v
    };
    let n = reasons(des.n_reasons(), &[alpha_flat]);
    let d = reasons(des.d_reasons(), &[beta_flat]);
    let e = reasons(des.all_reasons(), &[e_flat]);
    let both = reasons(des.all_reasons(), &[alpha_flat, beta_flat]);
    let one = |name: &str, unit: &str, f: &dyn Fn(&ChinchillaLaw) -> f64, log_scale: bool, why: &[String]| {
        let samples: Option<Vec<f64>> = (!boot.is_empty()).then(|| boot.iter().map(f).collect());
        estimate(name, f(law), unit, samples.as_deref(), log_scale, why.to_vec())
    };
    let params = vec![
        one("E", "nats/token", &|l| l.e, false, &e),
        one("A", "nats/token·parameters^alpha", &|l| l.a, true, &n),
        one("B", "nats/token·tokens^beta", &|l| l.b, true, &d),
        one("alpha", "dimensionless", &|l| l.alpha, false, &n),
        one("beta", "dimensionless", &|l| l.beta, false, &d),
    ];
    let derived = vec![
        one("a", "dimensionless", &|l| l.exponent_a(), false, &both),
        one("b", "dimensionless", &|l| l.exponent_b(), false, &both),
        one("G", "parameters/(FLOPs/6)^a", &|l| l.g(), true, &both),
        one(
            "tokens_per_param",
            &format!("tokens/parameter at C = {c_ref:.3e} FLOPs"),
            &|l| l.tokens_per_param(c_ref),
            true,
            &both,
        ),
    ];
    (params, derived)
}

/// What the bootstrap behind the intervals did (`None` without replicates).
fn bootstrap_info(cells: &[Cell], boot: &BootstrapOptions, converged: usize) -> Option<BootstrapInfo> {
    let multi_seed = cells.iter().any(|c| c.losses.len() > 1);
    (boot.reps > 0).then(|| BootstrapInfo {
        reps: boot.reps,
        converged,
        resampling: if multi_seed && boot.within_cell {
            "cells with replacement, then seeds within each cell with replacement"
        } else {
            "whole cells (all their seeds) with replacement"
        }
        .into(),
        includes_seed_noise: multi_seed,
    })
}

/// Kaplan laws (each without E and, with `kaplan_e`, also with E) fitted with `fit`, with
/// bootstrap intervals from `boot` when it has replicates; and a note per law not fitted.
pub fn kaplan_reports(
    cells: &[Cell],
    des: &Design,
    fit: &FitOptions,
    boot: &BootstrapOptions,
    kaplan_e: bool,
) -> (Vec<PowerLawReport>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let es: &[bool] = if kaplan_e { &[false, true] } else { &[false] };
    for form in [KaplanForm::N, KaplanForm::D, KaplanForm::C, KaplanForm::Joint] {
        for &with_e in es {
            let label = format!("{}{}", form.name(), if with_e { "+E" } else { "" });
            let Some(k) = fit_kaplan(form, with_e, cells, fit) else {
                skipped.push(format!("Kaplan {label}: too few points for its parameters"));
                continue;
            };
            let samples: Vec<Vec<f64>> = if boot.reps > 0 {
                let o = FitOptions { parallel: false, ..*fit };
                bootstrap_with(cells, boot, |cs| {
                    fit_kaplan(form, with_e, cs, &o).map(|f| f.params.iter().map(|p| p.1).collect())
                })
            } else {
                Vec::new()
            };
            out.push(kaplan_report(cells, des, &k, label, samples));
        }
    }
    (out, skipped)
}

/// One Kaplan law's report: its parameters with the design reasons of its variable (and, for
/// L(C), a compute frontier under a decade), bootstrap `samples` (one vector per replicate, in
/// parameter order) and residuals on the cells it used.
fn kaplan_report(
    cells: &[Cell],
    des: &Design,
    k: &KaplanFit,
    label: String,
    samples: Vec<Vec<f64>>,
) -> PowerLawReport {
    let base = match k.form {
        KaplanForm::N => des.n_reasons(),
        KaplanForm::D => des.d_reasons(),
        KaplanForm::C => Vec::new(),
        KaplanForm::Joint => des.all_reasons(),
    };
    let used: Vec<Cell> = k.used.iter().map(|&i| cells[i].clone()).collect();
    let mut extra = Vec::new();
    if k.form == KaplanForm::C {
        let cs: Vec<f64> = used.iter().map(|c| c.c).collect();
        let span = cs.iter().cloned().fold(0.0, f64::max) / cs.iter().cloned().fold(f64::INFINITY, f64::min);
        if span < 10.0 {
            extra.push(format!("compute frontier spans under a decade ({span:.1}×)"));
        }
    }
    let params = k
        .params
        .iter()
        .enumerate()
        .map(|(j, (name, v, unit))| {
            let column: Vec<f64> = samples.iter().map(|b| b[j]).collect();
            let mut reasons = base.clone();
            reasons.extend(extra.clone());
            let log_scale = name.ends_with("_c");
            estimate(name, *v, unit, (!column.is_empty()).then_some(column.as_slice()), log_scale, reasons)
        })
        .collect();
    let res = residuals(&used, |c| k.predict(c));
    PowerLawReport {
        name: label,
        form: k.form.formula(k.with_e),
        selection: k.selection.clone(),
        params,
        bootstrap_params: samples,
        quality: quality_of(&res),
        residuals: res,
    }
}
