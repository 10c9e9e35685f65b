//! Assembles the report's blocks in reading order: headline fit, figures, sweep, all fitted
//! parameters, held-out forecast, validity checklist.

use std::path::Path;

use crate::fit::schema::FitReport;

use super::doc::Block;
use super::families::params_name;
use super::sections::{checklist, sweep_blocks};
use super::sweep::SweepFacts;
use super::tables::{approach3_table, exponents_table, holdout_blocks, kaplan_table, levels_table, Column};

/// The command-line name of a convention (its serde name).
fn name(v: serde_json::Result<serde_json::Value>) -> String {
    v.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn describe(fit: &FitReport) -> String {
    let c = &fit.conventions;
    format!(
        "N = {} parameters, C = {} FLOPs, loss = {}, Approach 1 curve points: {}, {} bootstrap replicates, {} held out",
        params_name(c.params),
        name(serde_json::to_value(c.flops)),
        c.loss,
        name(serde_json::to_value(c.curve_points)),
        c.bootstrap_reps,
        c.holdout_top
    ) + &c
        .e_floor
        .map(|f| format!(", E bounded below by {} nats/token (--e-floor)", crate::fmt::fmt_num(f)))
        .unwrap_or_default()
}

/// Every block of the report. `alt` is the fit under the other parameter convention, or why
/// it is missing; `figs` the drawn figures, `skipped` a note per figure not drawn.
pub fn blocks(
    dir: &Path,
    fit: &FitReport,
    alt: Result<&FitReport, &String>,
    facts: &SweepFacts,
    figs: Vec<Block>,
    skipped: Vec<String>,
) -> Vec<Block> {
    let sweep = if facts.sweeps.is_empty() { "results".to_string() } else { facts.sweeps.join(", ") };
    let mut out = vec![
        Block::Heading(1, format!("scalinglab report: {sweep}")),
        Block::Para(format!(
            "Results folder {}: {} runs. Fit: fit.json ({}).{}",
            dir.display(),
            facts.runs,
            describe(fit),
            match alt {
                Ok(a) => format!(
                    " The same fit with N = {} parameters is in fit.{}.json, shown side by side.",
                    params_name(a.conventions.params),
                    params_name(a.conventions.params)
                ),
                Err(why) => format!(" The fit under the other parameter convention failed: {why}."),
            }
        )),
    ];
    let title = |f: &FitReport, primary: bool| {
        let p = params_name(f.conventions.params);
        if primary {
            format!("N = {p} (fit.json)")
        } else {
            format!("N = {p} (fit.{p}.json)")
        }
    };
    let many = fit.groups.len() > 1;
    let mut columns: Vec<(Option<String>, Vec<Column<'_>>)> = Vec::new();
    for g in &fit.groups {
        let mut cols: Vec<Column<'_>> = vec![(title(fit, true), Some(g))];
        if let Ok(a) = alt {
            cols.push((title(a, false), a.groups.iter().find(|o| o.value == g.value)));
        }
        let label = match (&g.key, &g.value) {
            (Some(k), Some(v)) if many => Some(format!("{k} = {v}")),
            _ => None,
        };
        columns.push((label, cols));
    }
    out.push(Block::Heading(2, "Approach 3: L(N, D) = E + A/N^α + B/D^β".into()));
    for (label, cols) in &columns {
        if let Some(l) = label {
            out.push(Block::Heading(3, l.clone()));
        }
        out.extend(approach3_table(cols, &facts.entropy_floors));
    }
    out.push(Block::Heading(2, "Figures".into()));
    out.extend(figs);
    if !skipped.is_empty() {
        out.push(Block::List(skipped));
    }
    out.push(Block::Heading(2, "Sweep".into()));
    out.extend(sweep_blocks(facts));
    out.push(Block::Heading(2, "Compute-optimal allocation: N_opt ∝ C^a, D_opt ∝ C^b".into()));
    for (label, cols) in &columns {
        if let Some(l) = label {
            out.push(Block::Heading(3, l.clone()));
        }
        out.extend(exponents_table(cols));
        let g = cols[0].1;
        for (name, r) in [
            ("Approach 1 compute levels", g.and_then(|g| g.approach1.as_ref())),
            ("Approach 2 IsoFLOP minima", g.and_then(|g| g.approach2.as_ref())),
        ] {
            if let Some(r) = r {
                out.push(Block::Para(format!("{name} ({}):", title(fit, true))));
                out.extend(levels_table(r));
            }
        }
    }
    out.push(Block::Heading(2, "Approach agreement on a".into()));
    for (label, cols) in &columns {
        if let Some(l) = label {
            out.push(Block::Heading(3, l.clone()));
        }
        out.extend(agreement_blocks(cols[0].1));
    }
    out.push(Block::Heading(2, "Kaplan et al. (2020) forms".into()));
    for (label, cols) in &columns {
        if let Some(l) = label {
            out.push(Block::Heading(3, l.clone()));
        }
        out.extend(kaplan_table(cols));
    }
    out.push(Block::Heading(2, "Held-out forecast".into()));
    for g in &fit.groups {
        if many {
            out.push(Block::Heading(
                3,
                format!("{} = {}", g.key.clone().unwrap_or_default(), g.value.clone().unwrap_or_default()),
            ));
        }
        out.extend(holdout_blocks(g));
    }
    out.push(Block::Heading(2, "Validity checklist".into()));
    for g in &fit.groups {
        if many {
            out.push(Block::Heading(
                3,
                format!("{} = {}", g.key.clone().unwrap_or_default(), g.value.clone().unwrap_or_default()),
            ));
        }
        out.extend(checklist(facts, fit, g));
        let skipped: Vec<String> = g.skipped.clone();
        if !skipped.is_empty() {
            out.push(Block::List(skipped.into_iter().map(|s| format!("fit skipped {s}")).collect()));
        }
    }
    out
}

/// Approaches 1, 2 and 3's a side by side, the verdict and the known reasons that apply
/// ([`crate::fit::uncertainty::agreement`]).
fn agreement_blocks(g: Option<&crate::fit::schema::GroupReport>) -> Vec<Block> {
    use crate::fmt::fmt_num;
    let Some(a) = g.and_then(|g| g.agreement.as_ref()) else {
        return vec![Block::Para(
            "Not in fit.json (fewer than two approaches gave a, or the file predates this section: rerun `scalinglab fit`)."
                .into(),
        )];
    };
    let rows = a
        .estimates
        .iter()
        .map(|e| {
            vec![
                e.approach.replace("approach", "Approach "),
                fmt_num(e.a),
                e.ci95
                    .map(|[l, h]| format!("{} – {}", fmt_num(l), fmt_num(h)))
                    .unwrap_or_else(|| "none".into()),
                if e.determined { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    let mut out = vec![
        Block::Table(vec!["approach".into(), "a".into(), "95% interval".into(), "determined".into()], rows),
        Block::Para(format!("Verdict: {}.", a.summary)),
    ];
    if !a.reasons.is_empty() {
        out.push(Block::Para("Known reasons that apply to these data:".into()));
        out.push(Block::List(a.reasons.clone()));
    }
    out
}
