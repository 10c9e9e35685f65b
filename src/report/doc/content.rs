//! Assembles the report's blocks in reading order: headline fit, figures, sweep, all fitted
//! parameters, held-out forecast, validity checklist.

use std::path::Path;

use crate::fit::schema::{FitReport, GroupReport};

use super::sections::{checklist, sweep_blocks};
use super::tables::{approach3_table, exponents_table, holdout_blocks, kaplan_table, levels_table, Column};
use super::Block;
use crate::report::sweep::SweepFacts;

fn describe(fit: &FitReport) -> String {
    let c = &fit.conventions;
    format!(
        "N = {} parameters, C = {} FLOPs, loss = {}, Approach 1 curve points: {}, {} bootstrap replicates, {} held out",
        c.params.name(),
        c.flops.name(),
        c.loss,
        c.curve_points.name(),
        c.bootstrap_reps,
        c.holdout_top
    ) + &c
        .e_floor
        .map(|f| format!(", E bounded below by {} nats/token (--e-floor)", crate::fmt::fmt_num(f)))
        .unwrap_or_default()
}

/// The fits shown side by side: per group of `fit`, its label (with several groups) and the
/// columns, the group under `fit`'s convention and, when it was fitted, under `alt`'s.
type Columns<'a> = Vec<(Option<String>, Vec<Column<'a>>)>;

/// A column title: `N = total (fit.json)`, or `N = nonembedding (fit.nonembedding.json)`.
fn title(f: &FitReport, primary: bool) -> String {
    let p = f.conventions.params.name();
    if primary {
        format!("N = {p} (fit.json)")
    } else {
        format!("N = {p} (fit.{p}.json)")
    }
}

fn columns<'a>(fit: &'a FitReport, alt: Result<&'a FitReport, &String>) -> Columns<'a> {
    let many = fit.groups.len() > 1;
    let mut columns = Vec::new();
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
    columns
}

/// A section over the groups' columns: the heading, then per group its label (with several
/// groups) and `body`.
fn per_columns(
    out: &mut Vec<Block>,
    heading: &str,
    columns: &Columns<'_>,
    body: impl Fn(&[Column<'_>]) -> Vec<Block>,
) {
    out.push(Block::Heading(2, heading.into()));
    for (label, cols) in columns {
        if let Some(l) = label {
            out.push(Block::Heading(3, l.clone()));
        }
        out.extend(body(cols));
    }
}

/// A section over the groups of the primary fit: the heading, then per group its
/// `KEY = VALUE` heading (with several groups) and `body`.
fn per_group(
    out: &mut Vec<Block>,
    heading: &str,
    fit: &FitReport,
    body: impl Fn(&GroupReport) -> Vec<Block>,
) {
    out.push(Block::Heading(2, heading.into()));
    for g in &fit.groups {
        if fit.groups.len() > 1 {
            out.push(Block::Heading(
                3,
                format!("{} = {}", g.key.clone().unwrap_or_default(), g.value.clone().unwrap_or_default()),
            ));
        }
        out.extend(body(g));
    }
}

/// The title and the sentence on the fit and its side-by-side convention.
fn headline(dir: &Path, fit: &FitReport, alt: Result<&FitReport, &String>, facts: &SweepFacts) -> Vec<Block> {
    let sweep = if facts.sweeps.is_empty() { "results".to_string() } else { facts.sweeps.join(", ") };
    vec![
        Block::Heading(1, format!("scalinglab report: {sweep}")),
        Block::Para(format!(
            "Results folder {}: {} runs. Fit: fit.json ({}).{}",
            dir.display(),
            facts.runs,
            describe(fit),
            match alt {
                Ok(a) => format!(
                    " The same fit with N = {} parameters is in fit.{}.json, shown side by side.",
                    a.conventions.params.name(),
                    a.conventions.params.name()
                ),
                Err(why) => format!(" The fit under the other parameter convention failed: {why}."),
            }
        )),
    ]
}

/// The allocation exponents against the published values, then the primary fit's compute
/// levels of Approaches 1 and 2.
fn allocation_blocks(fit: &FitReport, cols: &[Column<'_>]) -> Vec<Block> {
    let mut out = exponents_table(cols);
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
    out
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
    let mut out = headline(dir, fit, alt, facts);
    let columns = columns(fit, alt);
    per_columns(&mut out, "Approach 3: L(N, D) = E + A/N^α + B/D^β", &columns, |cols| {
        approach3_table(cols, &facts.entropy_floors)
    });
    out.push(Block::Heading(2, "Figures".into()));
    out.extend(figs);
    if !skipped.is_empty() {
        out.push(Block::List(skipped));
    }
    out.push(Block::Heading(2, "Sweep".into()));
    out.extend(sweep_blocks(facts));
    out.extend(super::hyper::tune_law_blocks(dir));
    per_columns(&mut out, "Compute-optimal allocation: N_opt ∝ C^a, D_opt ∝ C^b", &columns, |cols| {
        allocation_blocks(fit, cols)
    });
    per_columns(&mut out, "Approach agreement on a", &columns, |cols| agreement_blocks(cols[0].1));
    per_columns(&mut out, "Kaplan et al. (2020) forms", &columns, kaplan_table);
    per_group(&mut out, "Held-out forecast", fit, holdout_blocks);
    per_group(&mut out, "Validity checklist", fit, |g| {
        let mut b = checklist(facts, fit, g);
        if !g.skipped.is_empty() {
            b.push(Block::List(g.skipped.iter().map(|s| format!("fit skipped {s}")).collect()));
        }
        b
    });
    out
}

/// Approaches 1, 2 and 3's a side by side, the verdict and the known reasons that apply
/// ([`crate::fit::uncertainty::agreement`]).
fn agreement_blocks(g: Option<&GroupReport>) -> Vec<Block> {
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
