//! Do Chinchilla's three approaches agree on a (N_opt ∝ C^a)? On real data they often do not —
//! Hoffmann et al. 2022 got 0.50, 0.49 and 0.46 (Table 2); on the Gemstones checkpoints
//! Approach 1 gives 0.50 and Approach 3 0.71 (McLeish et al. 2025) — and a fit that reports one
//! of them alone hides that. This module puts the three side by side with their intervals, gives
//! a verdict, and lists the known reasons that apply to the data at hand.
//!
//! Verdict, per pair with both a determined (an undetermined a is listed, never compared): the gap |a_i − a_j|, and whether the two 95%
//! intervals are disjoint ("beyond their intervals"). `disagree` when some pair is disjoint;
//! `agree` when every pair has intervals and all overlap; otherwise `no verdict` (an interval is
//! missing: Approach 3's needs `--bootstrap K`). Overlap of two 95% intervals is a lenient test
//! (two equal-width intervals overlap until the difference is ≈ 2.8 standard errors), so
//! `disagree` is a strong statement and `agree` a weak one.
//!
//! Known reasons, each listed only when the data show it: an IsoFLOP parabola fitted off-centre
//! (biased when the profile is asymmetric; Porian et al. 2024 use Akima interpolation), minima
//! at the edge of the sampled sizes, N or C counted differently from Approach 3's C ∝ N·D
//! (non-embedding N, Kaplan et al. 2020 vs Hoffmann et al.; exact FLOPs), and points taken
//! before the end of a run's schedule (intermediate cosine points, constant-LR checkpoints),
//! which sit above an annealed run's loss, more so at small D.

use serde::{Deserialize, Serialize};

use crate::fit::estimate::Estimate;
use crate::fit::input::a3_points::{A3Data, A3Points};
use crate::fit::input::data::{Cell, RunPoint};
use crate::fit::input::source::ParamsConvention;
use crate::fit::laws::allocation::{isoflop_groups, AllocationReport};
use crate::fit::lossless;
use crate::fmt::fmt_num;

/// One approach's a.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApproachA {
    /// `approach1`, `approach2` or `approach3`.
    pub approach: String,
    /// a of N_opt ∝ C^a (dimensionless).
    #[serde(with = "lossless")]
    pub a: f64,
    /// 95% interval, when the fit gave one.
    #[serde(with = "lossless::pair")]
    pub ci95: Option<[f64; 2]>,
    /// Whether that approach's a is determined (see its own verdict and reasons).
    pub determined: bool,
}

/// One pair of approaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairVerdict {
    /// The two approaches.
    pub pair: [String; 2],
    /// |a_i − a_j|.
    #[serde(with = "lossless")]
    pub gap: f64,
    /// Whether the 95% intervals are disjoint (`None`: an interval is missing).
    pub beyond_intervals: Option<bool>,
}

/// The three approaches' a side by side (module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// a per approach that produced one.
    pub estimates: Vec<ApproachA>,
    /// Every pair.
    pub pairs: Vec<PairVerdict>,
    /// `agree`, `disagree` or `no verdict`.
    pub verdict: String,
    /// One sentence: the verdict, by how much, beyond the intervals or not.
    pub summary: String,
    /// Known reasons for a disagreement that apply to these data.
    pub reasons: Vec<String>,
}

fn from_estimate(approach: &str, e: &Estimate) -> ApproachA {
    ApproachA { approach: approach.into(), a: e.value, ci95: e.ci95, determined: e.determined }
}

fn label(a: &str) -> String {
    a.replace("approach", "Approach ")
}

/// What the data say about the known reasons (module docs).
pub struct Context<'a> {
    /// The group's cells (for the IsoFLOP budgets' sampled ranges and C vs 6ND).
    pub cells: &'a [Cell],
    /// The group's points (for several checkpoints of one run).
    pub points: &'a [RunPoint],
    /// N convention.
    pub params: ParamsConvention,
    /// Approach 2's budget clustering gap, decades.
    pub isoflop_gap: f64,
    /// What Approach 3 was fitted on, when not the final points (`--a3-points`).
    pub a3_data: Option<&'a A3Data>,
}

/// The agreement section, when at least two approaches give a finite a: Approaches 1 and 2's
/// reports and Approach 3's derived a.
pub fn agreement(
    a1: Option<&AllocationReport>,
    a2: Option<&AllocationReport>,
    a3: Option<&Estimate>,
    ctx: &Context,
) -> Option<Agreement> {
    let mut est: Vec<ApproachA> = Vec::new();
    est.extend(a1.map(|r| from_estimate("approach1", &r.a)));
    est.extend(a2.map(|r| from_estimate("approach2", &r.a)));
    est.extend(a3.map(|e| from_estimate("approach3", e)));
    est.retain(|e| e.a.is_finite());
    if est.len() < 2 {
        return None;
    }
    // An undetermined a is shown but takes no part in the verdict (it is not an estimate).
    let mut pairs = Vec::new();
    let det: Vec<usize> = (0..est.len()).filter(|&i| est[i].determined).collect();
    for (k, &i) in det.iter().enumerate() {
        for &j in &det[k + 1..] {
            let beyond = match (est[i].ci95, est[j].ci95) {
                (Some([l1, h1]), Some([l2, h2])) => Some(h1 < l2 || h2 < l1),
                _ => None,
            };
            let pair = [est[i].approach.clone(), est[j].approach.clone()];
            pairs.push(PairVerdict { pair, gap: (est[i].a - est[j].a).abs(), beyond_intervals: beyond });
        }
    }
    let verdict = if pairs.iter().any(|p| p.beyond_intervals == Some(true)) {
        "disagree"
    } else if !pairs.is_empty() && pairs.iter().all(|p| p.beyond_intervals == Some(false)) {
        "agree"
    } else {
        "no verdict"
    };
    let summary = summary(verdict, &est, &pairs);
    Some(Agreement { reasons: reasons(a1, a2, ctx), estimates: est, pairs, verdict: verdict.into(), summary })
}

fn summary(verdict: &str, est: &[ApproachA], pairs: &[PairVerdict]) -> String {
    let Some(widest) = pairs.iter().max_by(|a, b| a.gap.total_cmp(&b.gap)) else {
        return "no verdict: fewer than two approaches determine a".into();
    };
    let (x, y) = (label(&widest.pair[0]), label(&widest.pair[1]));
    match verdict {
        "disagree" => {
            let bad: Vec<String> = pairs
                .iter()
                .filter(|p| p.beyond_intervals == Some(true))
                .map(|p| format!("{} vs {} by {:.3}", label(&p.pair[0]), label(&p.pair[1]), p.gap))
                .collect();
            format!("disagree: {}, beyond their 95% intervals", bad.join("; "))
        }
        "agree" => {
            format!("agree: the largest gap, {x} vs {y}, is {:.3}, inside their 95% intervals", widest.gap)
        }
        _ => {
            let missing: Vec<String> =
                est.iter().filter(|e| e.determined && e.ci95.is_none()).map(|e| label(&e.approach)).collect();
            format!(
                "no verdict: the largest gap, {x} vs {y}, is {:.3}, but {} has no interval{}",
                widest.gap,
                missing.join(" and "),
                if missing.iter().any(|m| m == "Approach 3") { " (rerun with --bootstrap K)" } else { "" }
            )
        }
    }
}

fn reasons(a1: Option<&AllocationReport>, a2: Option<&AllocationReport>, ctx: &Context) -> Vec<String> {
    // Reasons about an approach whose a is not determined explain nothing: it is not compared.
    let a1 = a1.filter(|r| r.a.determined);
    let a2 = a2.filter(|r| r.a.determined);
    let mut out = Vec::new();
    if let Some(r) = a2 {
        let off = off_centre_budgets(r, ctx);
        if off > 0 {
            out.push(format!(
                "IsoFLOP parabola bias: in {off} of {} budgets Approach 2's minimum lies outside the middle half of the \
                 sampled ln N range, where a parabola fitted to an asymmetric profile is pulled toward the side with more \
                 points (Porian et al. 2024 interpolate with Akima splines instead)",
                r.levels.len()
            ));
        }
    }
    for (name, r) in [("Approach 1", a1), ("Approach 2", a2)] {
        let Some(r) = r else { continue };
        let edge = r.levels.iter().filter(|l| l.at_edge).count();
        if edge > 0 {
            out.push(format!(
                "minima at the edge: {edge} of {} {name} levels have their optimum at the smallest or largest sampled size, \
                 so N_opt there is a bound, not an estimate",
                r.levels.len()
            ));
        }
    }
    if ctx.params == ParamsConvention::Nonembedding {
        out.push(
            "counting: N is non-embedding parameters (Kaplan et al. 2020), while Hoffmann et al. count all; with the \
             embedding share falling with N, a under one convention is not a under the other (most of Kaplan's 0.73 vs \
             Chinchilla's 0.50, Pearce & Song 2024)"
                .into(),
        );
    }
    let off6 = ctx.cells.iter().filter(|c| (c.c / (6.0 * c.n * c.d) - 1.0).abs() > 0.01).count();
    if off6 > 0 {
        let worst = ctx.cells.iter().map(|c| c.c / (6.0 * c.n * c.d)).fold(1.0f64, |m, r| {
            if (r - 1.0).abs() > (m - 1.0).abs() {
                r
            } else {
                m
            }
        });
        out.push(format!(
            "counting: C is not 6·N·D for {off6} of {} cells (up to {worst:.2}× it): Approaches 1 and 2 read N_opt against \
             this C, while Approach 3's a = β/(α+β) holds for C ∝ N·D",
            ctx.cells.len()
        ));
    }
    if let Some(r) = checkpoints(a1, ctx.points) {
        out.push(r);
    }
    out.extend(ctx.a3_data.and_then(a3_curve_points));
    out
}

/// The "points before the end of the schedule" reason for Approach 3 itself, when it was
/// fitted on curve points (`--a3-points curve:F` or `curve-annealing:F`).
fn a3_curve_points(d: &A3Data) -> Option<String> {
    let A3Points::Curve { annealing_only, .. } = d.policy else { return None };
    if d.before_end == 0 {
        return None;
    }
    let which = if annealing_only {
        "taken while the LR was decaying but before their run's end: they sit between the stable-phase loss and the \
         annealed law"
    } else {
        "taken before their run's end, un-annealed: they sit above the loss a run annealed at that length reaches"
    };
    Some(format!(
        "curve points before the end of the schedule: Approach 3 is fitted with --a3-points {}, and {} of its {} points \
         were {which}, more so at small D, which steepens its D term (larger β, hence larger a = β/(α+β))",
        d.policy.name(),
        d.before_end,
        d.points
    ))
}

/// Budgets whose Approach 2 minimum lies outside the middle half of their sampled ln N range.
fn off_centre_budgets(r: &AllocationReport, ctx: &Context) -> usize {
    let groups = isoflop_groups(ctx.cells, ctx.isoflop_gap);
    r.levels
        .iter()
        .filter(|l| {
            groups.iter().find(|g| (g.0 / l.c - 1.0).abs() < 1e-9).is_some_and(|(_, idx, _)| {
                let ln: Vec<f64> = idx.iter().map(|&i| ctx.cells[i].n.ln()).collect();
                let (lo, hi) =
                    ln.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                let pos = (l.n_opt.ln() - lo) / (hi - lo);
                hi > lo && !(0.25..=0.75).contains(&pos)
            })
        })
        .count()
}

/// The "points before the end of the schedule" reason, when the data have them.
fn checkpoints(a1: Option<&AllocationReport>, points: &[RunPoint]) -> Option<String> {
    let mut per_run: std::collections::BTreeMap<&str, usize> = Default::default();
    points.iter().filter_map(|p| p.run.as_deref()).for_each(|r| *per_run.entry(r).or_default() += 1);
    let multi = per_run.values().filter(|&&k| k > 1).count();
    let cosine = a1.is_some_and(|r| r.notes.iter().any(|n| n.contains("intermediate points")));
    if multi == 0 && !cosine {
        return None;
    }
    let what = if multi > 0 {
        format!(
            "{} of the points are checkpoints of {multi} runs taken before each run's end",
            points.iter().filter(|p| p.run.as_deref().is_some_and(|r| per_run[r] > 1)).count()
        )
    } else {
        "Approach 1 uses intermediate points of cosine runs".to_string()
    };
    Some(format!(
        "curve points before the end of the schedule: {what}; un-annealed points (constant LR, or a cosine not yet \
         decayed) sit above the loss a run annealed at that length reaches, more so at small D, so Approach 3 fitted to \
         them gets a steep D term (large β, hence large a = β/(α+β)) while Approach 1's envelope reads them as optima"
    ))
}

/// Lines for `fit`'s stdout and the report.
pub fn lines(a: &Agreement) -> Vec<String> {
    let mut out = vec![a
        .estimates
        .iter()
        .map(|e| {
            let iv = e.ci95.map(|[l, h]| format!(" [{}, {}]", fmt_num(l), fmt_num(h))).unwrap_or_default();
            let und = if e.determined { "" } else { " (not determined)" };
            format!("{} {}{iv}{und}", label(&e.approach), fmt_num(e.a))
        })
        .collect::<Vec<_>>()
        .join("; ")];
    out.push(a.summary.clone());
    out.extend(a.reasons.iter().map(|r| format!("known reason: {r}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::laws::allocation::OptimumPoint;

    fn alloc(method: &str, a: f64, ci: Option<[f64; 2]>, determined: bool) -> AllocationReport {
        let mut e = Estimate::sample(determined, ci, &[]);
        e.name = "a".into();
        e.value = a;
        let level = OptimumPoint { c: 1e18, n_opt: 1e8, d_opt: 1e9, loss: 3.0, points: 3, at_edge: true };
        AllocationReport { method: method.into(), notes: vec![], levels: vec![level], a: e.clone(), b: e }
    }

    fn ctx(points: &[RunPoint]) -> Context<'_> {
        Context { cells: &[], points, params: ParamsConvention::Total, isoflop_gap: 0.05, a3_data: None }
    }

    #[test]
    fn verdict_follows_the_intervals() {
        let none: &[RunPoint] = &[];
        // Overlapping intervals: agree, with the largest gap named.
        let (a1, a2) = (
            alloc("approach1", 0.50, Some([0.45, 0.55]), true),
            alloc("approach2", 0.53, Some([0.50, 0.56]), true),
        );
        let g = agreement(Some(&a1), Some(&a2), None, &ctx(none)).expect("two approaches");
        assert_eq!(g.verdict, "agree", "{}", g.summary);
        assert!(g.summary.contains("0.030") && g.summary.contains("inside"), "{}", g.summary);
        // Disjoint: disagree, by how much, beyond the intervals; the edge minimum is a reason.
        let a2 = alloc("approach2", 0.70, Some([0.66, 0.74]), true);
        let g = agreement(Some(&a1), Some(&a2), None, &ctx(none)).expect("two approaches");
        assert_eq!(g.verdict, "disagree");
        assert!(g.summary.contains("by 0.200, beyond their 95% intervals"), "{}", g.summary);
        assert!(g.reasons.iter().any(|r| r.starts_with("minima at the edge")), "{:?}", g.reasons);
        // A missing interval: no verdict, and which one is missing.
        let a2 = alloc("approach2", 0.70, None, true);
        let g = agreement(Some(&a1), Some(&a2), None, &ctx(none)).expect("two approaches");
        assert_eq!(g.verdict, "no verdict");
        assert!(g.summary.contains("Approach 2 has no interval"), "{}", g.summary);
        // An undetermined a is listed but never compared, and its reasons are not listed.
        let a2 = alloc("approach2", 1.9, Some([0.1, 3.0]), false);
        let g = agreement(Some(&a1), Some(&a2), None, &ctx(none)).expect("listed");
        assert!(g.pairs.is_empty() && g.verdict == "no verdict", "{g:?}");
        assert!(g.reasons.iter().all(|r| !r.contains("Approach 2 levels")), "{:?}", g.reasons);
        // One approach alone: no section.
        assert!(agreement(Some(&a1), None, None, &ctx(none)).is_none());
    }

    #[test]
    fn checkpoints_of_one_run_are_a_known_reason() {
        let p = |run: &str, d: f64| RunPoint {
            id: "x".into(),
            n: 1e8,
            d,
            c: 6e8 * d,
            loss: 3.0,
            seed: None,
            group: None,
            flops_budget: None,
            schedule: None,
            run: Some(run.into()),
            unique_tokens: None,
        };
        let pts = vec![p("a", 1e9), p("a", 2e9), p("b", 1e9)];
        let r = checkpoints(None, &pts).expect("two checkpoints of run a");
        assert!(r.contains("2 of the points are checkpoints of 1 runs"), "{r}");
        assert!(checkpoints(None, &pts[1..]).is_none());
    }
}
