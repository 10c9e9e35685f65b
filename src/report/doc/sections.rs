//! The sweep summary and the validity checklist of the report.

use crate::fit::schema::{FitReport, GroupReport};
use crate::fmt::fmt_num;

use super::Block;
use crate::report::sweep::{Epochs, SweepFacts, HYPER_KEYS, MAX_EPOCHS};

fn hours(s: f64) -> String {
    if s >= 3600.0 {
        format!("{} s ({:.2} h)", fmt_num(s), s / 3600.0)
    } else {
        format!("{} s", fmt_num(s))
    }
}

/// Grid, run counts, compute, wall time, hardware and versions.
pub fn sweep_blocks(f: &SweepFacts) -> Vec<Block> {
    let status: Vec<String> = f.by_status.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let versions: Vec<String> = f
        .versions
        .iter()
        .map(|(k, v)| format!("{k} {}", v.iter().cloned().collect::<Vec<_>>().join(" / ")))
        .collect();
    let devices: Vec<String> = f.devices.iter().map(|(k, v)| format!("{k} ({v} runs)")).collect();
    let mut items = vec![
        format!("sweep: {}", if f.sweeps.is_empty() { "—".into() } else { f.sweeps.join(", ") }),
        format!("runs: {} ({})", f.runs, status.join(", ")),
        format!(
            "training compute, all runs: {} FLOPs (6ND), {} FLOPs (exact count)",
            fmt_num(f.flops_6nd),
            fmt_num(f.flops_exact)
        ),
        format!(
            "training wall time, summed over runs (a WSD branch's shared phase counted once): {}",
            hours(f.wall_seconds)
        ),
        format!(
            "devices the runs used: {}",
            if devices.is_empty() { "—".into() } else { devices.join("; ") }
        ),
        format!(
            "versions recorded by the runs: {}",
            if versions.is_empty() { "none".into() } else { versions.join("; ") }
        ),
    ];
    if !f.entropy_floors.is_empty() {
        let fl: Vec<String> = f.entropy_floors.iter().map(|x| fmt_num(*x)).collect();
        items.push(format!("corpus entropy floor: {} nats/token (no model can go below it)", fl.join(", ")));
    }
    let mut out = vec![Block::List(items)];
    if f.grid.is_empty() {
        out.push(Block::Para("Grid: every run has the same spec.".into()));
    } else {
        let rows = f
            .grid
            .iter()
            .map(|(k, v)| {
                let shown = if v.len() > 12 {
                    format!("{} … {} ({} values)", v[..6].join(", "), v[v.len() - 2..].join(", "), v.len())
                } else {
                    v.join(", ")
                };
                vec![k.clone(), shown]
            })
            .collect();
        out.push(Block::Para(
            "Spec keys that differ between runs (the grid axes, and settings derived from them):".into(),
        ));
        out.push(Block::Table(vec!["spec key".into(), "values".into()], rows));
    }
    out
}

/// One checklist item: passed (`Some(true)`), failed (`Some(false)`) or for information.
type Item = (Option<bool>, String);

/// Validity checklist for one group (plus sweep-wide items): epochs, edge minima, exclusions,
/// undetermined quantities, seed noise, stale fit.json, the per-size hyperparameter rules.
pub fn checklist(f: &SweepFacts, fit: &FitReport, g: &GroupReport) -> Vec<Block> {
    let mut items = epoch_items(f);
    items.extend(edge_items(g));
    items.push(exclusion_item(fit));
    items.extend(entropy_floor_item(f, g));
    items.push(undetermined_item(g));
    items.push((
        None,
        match &g.seed_noise {
            Some(n) => format!(
                "seed noise: pooled run-to-run SD {} nats/token ({} relative) over {} replicated cells",
                fmt_num(n.pooled_sd),
                fmt_num(n.pooled_sd_log),
                n.cells.len()
            ),
            None => "seed noise: one seed per cell, so run-to-run noise is not measured and the intervals exclude it".into(),
        },
    ));
    let accounted = fit.groups.iter().map(|g| g.runs).sum::<usize>() + fit.excluded.len();
    items.push((
        Some(accounted == f.runs),
        format!(
            "fit.json accounts for {accounted} runs (used or excluded); the folder has {}{}",
            f.runs,
            if accounted == f.runs { "" } else { ": fit.json is stale, rerun the report with --refit" }
        ),
    ));
    for w in &fit.warnings {
        items.push((Some(false), format!("fit warning: {w}")));
    }
    let mut out = vec![Block::Checklist(items)];
    out.extend(hyperparameters(f));
    out
}

/// How often the runs repeat their corpus (and for which runs that is unknown).
fn epoch_items(f: &SweepFacts) -> Vec<Item> {
    let mut items = Vec::new();
    let over = f.over_epochs();
    let fresh = f.epochs.iter().filter(|(_, e)| *e == Epochs::Fresh).count();
    let unknown: Vec<&str> = f
        .epochs
        .iter()
        .filter_map(|(_, e)| match e {
            Epochs::Unknown(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    if over.is_empty() {
        let mut t = format!("no run repeats its corpus more than {MAX_EPOCHS} times");
        if fresh > 0 {
            t.push_str(&format!(" ({fresh} runs read a fresh synthetic stream)"));
        }
        items.push((Some(unknown.is_empty()), t));
    } else {
        let list: Vec<String> = over.iter().map(|(id, e)| format!("{id} ({e:.1} epochs)")).collect();
        items.push((
            Some(false),
            format!(
                "{} runs repeat their corpus more than {MAX_EPOCHS} times, so their loss shows overfitting, not scaling: {}",
                over.len(),
                list.join(", ")
            ),
        ));
    }
    let known: Vec<f64> = f.epochs.iter().filter_map(|(_, e)| e.known()).collect();
    if !known.is_empty() {
        let (lo, hi) =
            known.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let under = known.iter().filter(|&&x| x <= 1.0).count();
        items.push((
            Some(true),
            format!(
                "epochs per run (D / the corpus's training tokens; runs.csv `epochs`): {}–{}; {under} of {} runs under one epoch",
                fmt_num(lo),
                fmt_num(hi),
                known.len()
            ),
        ));
    }
    if !unknown.is_empty() {
        items.push((Some(false), format!("epochs unknown for {} runs: {}", unknown.len(), unknown[0])));
    }
    items
}

/// Approaches 1 and 2's compute levels whose optimum is at the edge of the sampled sizes.
fn edge_items(g: &GroupReport) -> Vec<Item> {
    let mut items = Vec::new();
    for (name, r) in [("Approach 1", &g.approach1), ("Approach 2", &g.approach2)] {
        if let Some(r) = r {
            let edge = r.levels.iter().filter(|l| l.at_edge).count();
            items.push((
                Some(edge == 0),
                format!(
                    "{name}: {edge} of {} compute levels have their optimum at the edge of the sampled sizes",
                    r.levels.len()
                ),
            ));
        }
    }
    items
}

/// The runs left out of every fit.
fn exclusion_item(fit: &FitReport) -> Item {
    if fit.excluded.is_empty() {
        return (Some(true), "no run excluded from the fit".into());
    }
    let list: Vec<String> = fit.excluded.iter().map(|e| format!("{} ({})", e.id, e.reason)).collect();
    (None, format!("{} runs excluded from every fit: {}", fit.excluded.len(), list.join("; ")))
}

/// The fitted E against the corpus entropy floor, when the runs record one. The generator's
/// floor is a proven lower bound on any model's loss, so a fitted E below it means the law
/// extrapolates wrongly (SYNTHETIC.md, "Knowing the floor").
fn entropy_floor_item(f: &SweepFacts, g: &GroupReport) -> Option<Item> {
    let e = g.approach3.as_ref().and_then(|a| a.params.iter().find(|p| p.name == "E"))?;
    let floor = f.entropy_floors.iter().copied().reduce(f64::max)?;
    let ci =
        e.ci95.map(|[lo, hi]| format!(" (95% interval {}–{})", fmt_num(lo), fmt_num(hi))).unwrap_or_default();
    Some(match (e.determined, e.value >= floor) {
        (true, true) => (
            Some(true),
            format!(
                "fitted E = {}{ci} is at or above the corpus entropy floor {} nats/token (by {})",
                fmt_num(e.value),
                fmt_num(floor),
                fmt_num(e.value - floor)
            ),
        ),
        (true, false) => (
            Some(false),
            format!(
                "fitted E = {}{ci} is below the corpus entropy floor {}: no model can reach it, so the law \
                 extrapolates wrongly",
                fmt_num(e.value),
                fmt_num(floor)
            ),
        ),
        (false, _) => (
            None,
            format!(
                "E is not determined{ci}, so it cannot be checked against the corpus entropy floor {}",
                fmt_num(floor)
            ),
        ),
    })
}

/// Every quantity of Approaches 1, 2 and 3 the data do not determine.
fn undetermined_item(g: &GroupReport) -> Item {
    let mut undetermined = Vec::new();
    if let Some(a3) = &g.approach3 {
        undetermined.extend(
            a3.params
                .iter()
                .chain(&a3.derived)
                .filter(|e| !e.determined)
                .map(|e| format!("Approach 3 {}", e.name)),
        );
    }
    for (name, r) in [("Approach 1", &g.approach1), ("Approach 2", &g.approach2)] {
        if let Some(r) = r {
            undetermined
                .extend([&r.a, &r.b].iter().filter(|e| !e.determined).map(|e| format!("{name} {}", e.name)));
        }
    }
    (
        Some(undetermined.is_empty()),
        if undetermined.is_empty() {
            "every fitted quantity is determined by the data".into()
        } else {
            format!("not determined by the data (see the tables for why): {}", undetermined.join(", "))
        },
    )
}

/// The spec values per model size (learning rate rule, tuning).
fn hyperparameters(f: &SweepFacts) -> Vec<Block> {
    let mut head = vec!["N (parameters, total)".to_string(), "n_embd × n_layer".into(), "runs".into()];
    head.extend(HYPER_KEYS.iter().map(|s| s.to_string()));
    let rows = f
        .sizes
        .iter()
        .map(|s| {
            let mut r = vec![s.params_total.to_string(), s.shape.clone(), s.runs.to_string()];
            r.extend(s.values.iter().cloned());
            r
        })
        .collect();
    vec![
        Block::Para(
            "Hyperparameters per model size (spec values; lr_rule scales learning_rate with width from lr_base_width; tuned: where a [tune]d sweep's learning rate came from, see tune.json):".into(),
        ),
        Block::Table(head, rows),
    ]
}
