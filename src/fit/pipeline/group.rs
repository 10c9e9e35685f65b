//! Fits everything for one group of runs and assembles its [`GroupReport`]: Approach 3 with
//! intervals and identifiability verdicts and the Kaplan laws ([`super::estimates`]),
//! Approaches 1 and 2 and their agreement, the data-constrained law, and the hold-out forecast
//! check.

use anyhow::Result;

use super::estimates::{approach3_report, approach3_report_runs, kaplan_reports};
use crate::fit::forecast::holdout::holdout;
use crate::fit::input::a3_points::{annealed_points, checkpoint_sample, curve_sample, A3Points};
use crate::fit::input::data::{make_cells, seed_noise, Cell, RunPoint, SeedNoise};
use crate::fit::input::source::{ParamsConvention, RunCurve};
use crate::fit::laws::allocation::{
    approach1, approach2, curve_samples, AllocationReport, CurvePoints, CurveSample, ISOFLOP_GAP,
};
use crate::fit::laws::approach3::Approach3Options;
use crate::fit::laws::constrained::constrained_report;
use crate::fit::schema::{Approach3Report, GroupReport};
use crate::fit::uncertainty::agreement::{agreement, Context};
use crate::fit::uncertainty::bootstrap::BootstrapOptions;
use crate::fit::uncertainty::design::{design, Design};

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
    /// The points Approach 3 is fitted on (`--a3-points`).
    pub a3_points: A3Points,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            a3: Approach3Options::default(),
            bootstrap: BootstrapOptions { reps: 0, seed: 0, within_cell: false },
            kaplan_e: false,
            curve_points: CurvePoints::Auto,
            isoflop_gap: ISOFLOP_GAP,
            holdout_top: 0,
            reference_flops: None,
            params: ParamsConvention::Total,
            a3_points: A3Points::Final,
        }
    }
}

/// What the intervals of a group include, given its seed noise (and, when Approach 3 was
/// fitted on curve points, that its bootstrap resampled runs).
fn interval_note(noise: Option<&SeedNoise>, a3: &Approach3Report) -> String {
    let note = match noise {
        Some(n) => format!(
            "seeds replicated in {} cells (pooled run-to-run SD {:.4} nats): fits use cell means and the bootstrap \
             resamples whole cells with their seeds, so intervals include seed noise",
            n.cells.len(),
            n.pooled_sd
        ),
        None => "one seed per cell: intervals exclude seed-to-seed noise (it cannot be separated from lack of fit)".into(),
    };
    match &a3.data {
        Some(d) if d.bootstrap_unit == "runs" => format!(
            "{note}; Approach 3, fitted on curve points, resamples whole runs (each with all its points) instead"
        ),
        _ => note,
    }
}

/// Approach 3 on the points `opts.a3_points` asks for: the group's cells (final points, the
/// default), the cells of the runs that anneal, or the runs' curve points with the bootstrap
/// over whole runs. The design and the interval note are the final points' either way.
fn approach3_of(
    cells: &[Cell],
    des: &Design,
    points: &[RunPoint],
    curves: &[RunCurve],
    opts: &PipelineOptions,
    c_ref: f64,
) -> Result<Approach3Report> {
    let (a3, boot) = (&opts.a3, &opts.bootstrap);
    Ok(match opts.a3_points {
        A3Points::Final => approach3_report(cells, des, a3, boot, c_ref)?.0,
        A3Points::Annealed => {
            let (kept, data) = annealed_points(points)?;
            let cs = make_cells(&kept);
            let mut r = approach3_report(&cs, &design(&cs), a3, boot, c_ref)?.0;
            r.data = Some(data);
            r
        }
        // A CSV's checkpoints (column `run`) stand in for training curves.
        A3Points::Curve { from, .. } if curves.is_empty() && points.iter().any(|p| p.run.is_some()) => {
            approach3_report_runs(&checkpoint_sample(points, from), a3, boot, c_ref)?.0
        }
        A3Points::Curve { from, annealing_only } => {
            approach3_report_runs(&curve_sample(points, curves, from, annealing_only)?, a3, boot, c_ref)?.0
        }
    })
}

/// Approach 1's samples without training curves: each point is a sample, and rows naming
/// their run (CSV `run`) are checkpoints of that run's curve.
fn points_as_samples(points: &[RunPoint]) -> (Vec<CurveSample>, Vec<String>) {
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
}

/// Approaches 1 and 2, each `None` (with a note in `skipped`) when no compute level has the
/// points it needs; Approach 2's edge minima are added to `warnings`.
fn allocations(
    cells: &[Cell],
    points: &[RunPoint],
    curves: &[RunCurve],
    opts: &PipelineOptions,
    skipped: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> (Option<AllocationReport>, Option<AllocationReport>) {
    let (samples, notes) =
        if curves.is_empty() { points_as_samples(points) } else { curve_samples(curves, opts.curve_points) };
    let a1 = approach1(&samples, notes);
    let a1 = (!a1.levels.is_empty()).then_some(a1);
    if a1.is_none() {
        skipped.push("Approach 1: no compute level has points from two runs".into());
    }
    let a2 = approach2(cells, opts.isoflop_gap, warnings);
    let a2 = (!a2.levels.is_empty()).then_some(a2);
    if a2.is_none() {
        skipped.push("Approach 2: no compute budget has 3 sizes".into());
    }
    (a1, a2)
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
    let c_ref = opts.reference_flops.unwrap_or_else(|| cells.iter().map(|c| c.c).fold(0.0, f64::max));
    let a3 = approach3_of(&cells, &des, points, curves, opts, c_ref)?;
    let (kaplan, mut skipped) = kaplan_reports(&cells, &des, &opts.a3.fit, &opts.bootstrap, opts.kaplan_e);
    let (a1, a2) = allocations(&cells, points, curves, opts, &mut skipped, warnings);
    let ctx = Context {
        cells: &cells,
        points,
        params: opts.params,
        isoflop_gap: opts.isoflop_gap,
        a3_data: a3.data.as_ref(),
    };
    let a3_a = a3.derived.iter().find(|e| e.name == "a");
    let agree = agreement(a1.as_ref(), a2.as_ref(), a3_a, &ctx);
    let hold = if opts.holdout_top > 0 {
        Some(holdout(&cells, opts.holdout_top, &opts.a3, &opts.bootstrap, noise.as_ref())?)
    } else {
        None
    };
    Ok(GroupReport {
        key: key.map(str::to_string),
        value: value.map(str::to_string),
        runs: points.len(),
        cells: cells.len(),
        design: des,
        interval_note: interval_note(noise.as_ref(), &a3),
        seed_noise: noise,
        approach3: Some(a3),
        kaplan,
        approach1: a1,
        approach2: a2,
        holdout: hold,
        agreement: agree,
        data_constrained: constrained_report(points, &opts.a3.fit)?,
        skipped,
    })
}
