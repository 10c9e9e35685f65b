//! Chinchilla Approaches 1 and 2 (Hoffmann et al. 2022): compute-optimal N_opt(C), D_opt(C)
//! read off the data, then N_opt ∝ C^a and D_opt ∝ C^b fitted by least squares on log–log
//! axes (95% t intervals on the slopes).
//!
//! * **Approach 1** (training-curve envelope): every usable curve point is a (C, N, loss)
//!   sample with C = (FLOPs per token)·(tokens so far). Points are binned into log-spaced
//!   compute levels (8 per decade); in each level with at least two runs, the lowest-loss point
//!   gives N_opt (that run's N) and D_opt (its tokens so far). Which points are usable depends on
//!   the schedule ([`CurvePoints`]).
//! * **Approach 2** (IsoFLOP profiles): runs are grouped by budget — exactly by the spec key
//!   `flops_budget` when every run has one, else by clustering log C (a gap over 0.05 decades
//!   starts a new budget). Per budget, loss = c0 + c1·x + c2·x² in x = ln N; N_opt = e^{−c1/(2c2)},
//!   D_opt = C/(6·N_opt). A minimum at or beyond the edge of a budget's sampled N range is
//!   flagged (and warned about): it is an extrapolation.

use serde::{Deserialize, Serialize};

use crate::fit::estimate::Estimate;
use crate::fit::input::data::Cell;
use crate::fit::input::source::RunCurve;
use crate::fit::lossless;
use crate::fit::stats::{ols, quadratic};
use crate::fmt::fmt_num;

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

/// Approach 2's default gap between budgets without `flops_budget`: a gap in log10 C over this
/// many decades starts a new budget (`fit --isoflop-gap`).
pub const ISOFLOP_GAP: f64 = 0.05;

impl CurvePoints {
    /// The name on the command line and in fit.json: `auto`, `all` or `final`.
    pub fn name(self) -> &'static str {
        match self {
            CurvePoints::Auto => "auto",
            CurvePoints::All => "all",
            CurvePoints::Final => "final",
        }
    }
}

/// One (C, N, D, loss) sample of a training curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurveSample {
    /// Index of the run it came from.
    pub run: usize,
    /// Compute so far, FLOPs.
    pub c: f64,
    /// Parameters.
    pub n: f64,
    /// Tokens so far.
    pub d: f64,
    /// Validation loss, nats/token.
    pub loss: f64,
}

/// Curve samples of the runs under the schedule policy, plus notes on what was used.
pub fn curve_samples(curves: &[RunCurve], policy: CurvePoints) -> (Vec<CurveSample>, Vec<String>) {
    let mut out = Vec::new();
    let mut cosine = 0;
    for (ri, rc) in curves.iter().enumerate() {
        let sched = rc.schedule.as_deref().unwrap_or("unknown");
        let all = match policy {
            CurvePoints::All => true,
            CurvePoints::Final => false,
            CurvePoints::Auto => matches!(sched, "cosine" | "constant"),
        };
        if all && sched == "cosine" {
            cosine += 1;
        }
        let pts: Vec<&(f64, f64)> =
            if all { rc.points.iter().collect() } else { rc.points.last().into_iter().collect() };
        for &&(t, l) in &pts {
            out.push(CurveSample { run: ri, c: rc.flops_per_token * t, n: rc.n, d: t, loss: l });
        }
    }
    let mut notes =
        vec![format!("curve points: {policy:?} (wsd/unknown schedules: final point only under auto)")];
    if cosine > 0 {
        notes.push(format!(
            "{cosine} cosine runs contribute intermediate points: those are not compute-optimal points of a shorter run \
             (the LR has not decayed), so the envelope overstates loss at low compute; use --curve-points final to exclude them"
        ));
    }
    (out, notes)
}

/// Estimate of an allocation exponent from a log–log fit of `y` on ln C.
fn exponent(name: &str, lnc: &[f64], lny: &[f64]) -> Estimate {
    let mut reasons = Vec::new();
    let fit = ols(lnc, lny);
    let span = (lnc.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - lnc.iter().cloned().fold(f64::INFINITY, f64::min))
    .exp();
    if lnc.len() < 3 {
        reasons.push(format!("only {} compute levels (need at least 3)", lnc.len()));
    } else if span < 10.0 {
        reasons.push(format!("compute range under a decade (C spans {span:.1}×)"));
    }
    let (value, ci) = match fit {
        Some(f) => (f.slope, f.slope_ci95()),
        None => (f64::NAN, None),
    };
    if let Some([lo, hi]) = ci {
        if hi - lo > value.abs() {
            reasons.push(format!("95% interval {} – {} is wider than the value", fmt_num(lo), fmt_num(hi)));
        }
    } else {
        reasons.push("no interval (fewer than 3 levels)".into());
    }
    Estimate {
        name: name.into(),
        value,
        unit: "dimensionless".into(),
        ci95: ci,
        interval_method: ci.map(|_| "t interval on the log-log slope".to_string()),
        determined: reasons.is_empty(),
        reasons,
    }
}

fn report(method: &str, notes: Vec<String>, levels: Vec<OptimumPoint>) -> AllocationReport {
    let lnc: Vec<f64> = levels.iter().map(|l| l.c.ln()).collect();
    let lnn: Vec<f64> = levels.iter().map(|l| l.n_opt.ln()).collect();
    let lnd: Vec<f64> = levels.iter().map(|l| l.d_opt.ln()).collect();
    AllocationReport {
        method: method.into(),
        notes,
        a: exponent("a", &lnc, &lnn),
        b: exponent("b", &lnc, &lnd),
        levels,
    }
}

/// Approach 1 from curve samples (or final points as samples when there are no curves).
pub fn approach1(samples: &[CurveSample], mut notes: Vec<String>) -> AllocationReport {
    let n_min = samples.iter().map(|s| s.n).fold(f64::INFINITY, f64::min);
    let n_max = samples.iter().map(|s| s.n).fold(0.0, f64::max);
    let mut bins: std::collections::BTreeMap<i64, Vec<&CurveSample>> = Default::default();
    for s in samples {
        bins.entry((s.c.log10() * 8.0).floor() as i64).or_default().push(s);
    }
    let mut levels = Vec::new();
    for group in bins.values() {
        let mut runs: Vec<usize> = group.iter().map(|s| s.run).collect();
        runs.sort_unstable();
        runs.dedup();
        if runs.len() < 2 {
            continue;
        }
        let Some(best) = group.iter().min_by(|a, b| a.loss.total_cmp(&b.loss)) else { continue };
        let at_edge = (best.n / n_min - 1.0).abs() < 1e-9 || (best.n / n_max - 1.0).abs() < 1e-9;
        levels.push(OptimumPoint {
            c: best.c,
            n_opt: best.n,
            d_opt: best.d,
            loss: best.loss,
            points: group.len(),
            at_edge,
        });
    }
    notes.push(
        "levels: 1/8-decade compute bins with at least two runs; N_opt = size of the lowest-loss point"
            .into(),
    );
    let edge = levels.iter().filter(|l| l.at_edge).count();
    if edge > 0 {
        notes.push(format!(
            "{edge} levels are won by the smallest or largest size: the envelope is pinned to the grid there"
        ));
    }
    report("approach1", notes, levels)
}

/// IsoFLOP budgets: (budget FLOPs, cell indices, exact?).
pub fn isoflop_groups(cells: &[Cell], gap_decades: f64) -> Vec<(f64, Vec<usize>, bool)> {
    // Cells planned at a budget (`flops_budget`) are grouped exactly by it; when only some cells
    // have one (a tokens grid with IsoFLOP branches, `[grid] tokens` + `flops`), those alone make
    // the profiles: the others were not placed on any budget.
    if cells.iter().any(|c| c.flops_budget.is_some()) {
        let mut map: std::collections::BTreeMap<i64, (f64, Vec<usize>)> = Default::default();
        for (i, c) in cells.iter().enumerate() {
            let Some(b) = c.flops_budget else { continue };
            map.entry((b.ln() * 1e6).round() as i64).or_insert((b, Vec::new())).1.push(i);
        }
        return map.into_values().map(|(b, v)| (b, v, true)).collect();
    }
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| cells[a].c.total_cmp(&cells[b].c));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for i in order {
        let l = cells[i].c.log10();
        if l - last > gap_decades || groups.is_empty() {
            groups.push(Vec::new());
        }
        last = l;
        if let Some(g) = groups.last_mut() {
            g.push(i);
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let c = (g.iter().map(|&i| cells[i].c.ln()).sum::<f64>() / g.len() as f64).exp();
            (c, g, false)
        })
        .collect()
}

/// Approach 2 on cells; `warnings` receives one line per edge minimum.
pub fn approach2(cells: &[Cell], gap_decades: f64, warnings: &mut Vec<String>) -> AllocationReport {
    let groups = isoflop_groups(cells, gap_decades);
    let exact = groups.first().is_some_and(|g| g.2);
    let mut notes = vec![if exact {
        let planned = cells.iter().filter(|c| c.flops_budget.is_some()).count();
        if planned < cells.len() {
            format!(
                "budgets: exact, from the spec key flops_budget ({planned} of {} cells; the others have none)",
                cells.len()
            )
        } else {
            "budgets: exact, from the spec key flops_budget".to_string()
        }
    } else {
        format!(
            "budgets: clusters of log10 C separated by more than {gap_decades} decades (no flops_budget key)"
        )
    }];
    let mut levels = Vec::new();
    for (c, idx, _) in groups {
        let xs: Vec<f64> = idx.iter().map(|&i| cells[i].n.ln()).collect();
        let ys: Vec<f64> = idx.iter().map(|&i| cells[i].mean()).collect();
        let mut distinct = xs.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        if distinct.len() < 3 {
            notes.push(format!(
                "budget {}: {} distinct sizes, need 3 for a parabola; skipped",
                fmt_num(c),
                distinct.len()
            ));
            continue;
        }
        let Some(q) = quadratic(&xs, &ys) else { continue };
        if q[2].partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            notes.push(format!("budget {}: loss is not convex in log N (no minimum); skipped", fmt_num(c)));
            continue;
        }
        let x_opt = -q[1] / (2.0 * q[2]);
        let (xmin, xmax) = (distinct[0], distinct[distinct.len() - 1]);
        let argmin = xs.iter().zip(&ys).min_by(|a, b| a.1.total_cmp(b.1)).map(|p| *p.0).unwrap_or(x_opt);
        let at_edge = x_opt <= xmin || x_opt >= xmax || argmin <= xmin || argmin >= xmax;
        let n_opt = x_opt.exp();
        if at_edge {
            warnings.push(format!(
                "approach 2: budget {} FLOPs has its minimum at N = {} at the edge of the sampled sizes {}–{}; \
                 extend the size range for this budget",
                fmt_num(c),
                fmt_num(n_opt),
                fmt_num(xmin.exp()),
                fmt_num(xmax.exp())
            ));
        }
        let loss = q[0] + q[1] * x_opt + q[2] * x_opt * x_opt;
        levels.push(OptimumPoint { c, n_opt, d_opt: c / (6.0 * n_opt), loss, points: idx.len(), at_edge });
    }
    report("approach2", notes, levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::input::data::make_cells;
    use crate::fit::input::synth::isoflop_points;
    use crate::fit::law::ChinchillaLaw;

    const LAW: ChinchillaLaw = ChinchillaLaw { e: 1.69, a: 406.4, b: 410.7, alpha: 0.34, beta: 0.28 };

    #[test]
    fn approach2_recovers_a_on_noiseless_isoflops() {
        let budgets: Vec<f64> = (0..5).map(|i| 1e17 * 10f64.powi(i)).collect();
        // Centre each profile off the true optimum by a varying factor so the test can fail.
        let pts = isoflop_points(&LAW, &budgets, 9, 0.8, |c| LAW.n_opt(c) * (1.0 + 0.3 * (c.log10() % 2.0)));
        let cells = make_cells(&pts);
        let mut w = Vec::new();
        let r = approach2(&cells, 0.05, &mut w);
        assert_eq!(r.levels.len(), 5);
        assert!((r.a.value - LAW.exponent_a()).abs() < 0.02, "a = {} vs {}", r.a.value, LAW.exponent_a());
        assert!((r.a.value + r.b.value - 1.0).abs() < 1e-9);
        assert!(r.a.determined, "{:?}", r.a.reasons);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn edge_minimum_warns() {
        let budgets = [1e18, 1e19, 1e20];
        let pts = isoflop_points(&LAW, &budgets, 5, 0.5, |c| LAW.n_opt(c) * 10.0);
        let mut w = Vec::new();
        let r = approach2(&make_cells(&pts), 0.05, &mut w);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(r.levels.iter().all(|l| l.at_edge));
    }

    #[test]
    fn binning_without_budgets_matches_exact_budgets() {
        let budgets = [1e18, 1e19, 1e20];
        let mut pts = isoflop_points(&LAW, &budgets, 5, 0.5, |c| LAW.n_opt(c));
        for p in &mut pts {
            p.flops_budget = None;
        }
        let g = isoflop_groups(&make_cells(&pts), 0.05);
        assert_eq!(g.len(), 3);
        assert!(g.iter().all(|(c, v, exact)| v.len() == 5
            && !exact
            && budgets.iter().any(|b| (c / b - 1.0).abs() < 1e-6)));
    }

    #[test]
    fn planned_budgets_alone_make_the_profiles_when_other_cells_have_none() {
        // A tokens grid (no budget) plus IsoFLOP branches (`[grid] tokens` + `flops`): only the
        // planned cells form profiles, grouped exactly, however close the others' C lie.
        let budgets = [1e18, 1e19, 1e20];
        let mut pts = isoflop_points(&LAW, &budgets, 5, 0.5, |c| LAW.n_opt(c));
        let grid: Vec<_> = isoflop_points(&LAW, &[1e18, 1e19], 4, 0.7, |c| LAW.n_opt(c) * 3.0)
            .into_iter()
            .map(|mut p| {
                p.flops_budget = None;
                p.id = format!("grid-{}", p.id);
                p
            })
            .collect();
        pts.extend(grid);
        let cells = make_cells(&pts);
        let g = isoflop_groups(&cells, 0.05);
        assert_eq!(g.len(), 3);
        assert!(g.iter().all(|(_, v, exact)| *exact && v.len() == 5), "{g:?}");
        assert!(g.iter().flat_map(|(_, v, _)| v).all(|&i| cells[i].flops_budget.is_some()));
        let mut w = Vec::new();
        let r = approach2(&cells, 0.05, &mut w);
        assert!(r.notes[0].contains("15 of 23 cells"), "{:?}", r.notes);
        assert!((r.a.value - LAW.exponent_a()).abs() < 0.02, "a = {}", r.a.value);
    }

    #[test]
    fn approach1_envelope_on_constant_lr_curves() {
        // Curves from the law itself (constant LR: every point valid) for sizes 1e6..1e10.
        let curves: Vec<RunCurve> = (0..17)
            .map(|i| {
                let n = 1e6 * 10f64.powf(0.25 * i as f64);
                let pts =
                    (0..60).map(|k| 1e8 * 10f64.powf(k as f64 * 0.1)).map(|t| (t, LAW.loss(n, t))).collect();
                RunCurve {
                    id: format!("r{i}"),
                    n,
                    flops_per_token: 6.0 * n,
                    schedule: Some("constant".into()),
                    points: pts,
                    group: None,
                    annealing_from: None,
                }
            })
            .collect();
        let (s, notes) = curve_samples(&curves, CurvePoints::Auto);
        assert_eq!(s.len(), 17 * 60);
        let r = approach1(&s, notes);
        // Interior levels only (the edges are pinned to the grid).
        let inner: Vec<&OptimumPoint> = r.levels.iter().filter(|l| !l.at_edge).collect();
        let lnc: Vec<f64> = inner.iter().map(|l| l.c.ln()).collect();
        let lnn: Vec<f64> = inner.iter().map(|l| l.n_opt.ln()).collect();
        let slope = ols(&lnc, &lnn).expect("fit").slope;
        // Quantised to a 1/4-decade size grid, so allow 0.05.
        assert!((slope - LAW.exponent_a()).abs() < 0.05, "slope {slope} vs {}", LAW.exponent_a());
    }

    #[test]
    fn wsd_uses_final_points_only() {
        let rc = RunCurve {
            id: "x".into(),
            n: 1e6,
            flops_per_token: 6e6,
            schedule: Some("wsd".into()),
            points: vec![(1e8, 4.0), (2e8, 3.0)],
            group: None,
            annealing_from: None,
        };
        let (s, _) = curve_samples(std::slice::from_ref(&rc), CurvePoints::Auto);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].loss, 3.0);
        let (s, _) = curve_samples(&[rc], CurvePoints::All);
        assert_eq!(s.len(), 2);
    }
}
