//! Which points Approach 3 is fitted on (`fit --a3-points`): each run's final point (the
//! default), the final points of the runs whose schedule anneals, or every recorded evaluation
//! past a fraction F of its run, optionally only where the learning rate was already decaying.
//!
//! **Why curve points.** Choshen, Zhang & Andreas ("A Hitchhiker's Guide to Scaling Law
//! Estimation", ICML 2025, arXiv 2410.11840) estimated over 1,000 laws from 485 published
//! models and found that fitting to intermediate checkpoints of training runs, not just their
//! final losses, substantially improves accuracy. Their code drops checkpoints before 10¹⁰
//! tokens and compares cut-offs at fractions 0.1 to 0.99 of training (IBM/ColPret,
//! `experiments/minimal_cut.py`). F = 0.5 ([`DEFAULT_FROM`]) is this crate's default for toy
//! runs of 10⁵–10⁷ tokens, not a number from that paper.
//!
//! **Why the schedule matters.** L(N, D) describes a run annealed at D tokens. A point taken at
//! D_t < D of a longer run was not: in the stable phase of a WSD run the LR is at its peak and
//! the loss sits above the annealed law until the cooldown (Hägele et al. 2024), and a cosine
//! run is only part-way down. `curve-annealing:F` keeps only points whose weights have seen a
//! decayed LR: after step W + 1 of a cosine run (`lr_at(W)` is still the peak), after the
//! cooldown start s_c of a WSD run (`lr_at(s_c)` is the first below the peak, so the weights at
//! step s have seen it when s > s_c); constant-LR runs never anneal and are left out. Those
//! points are annealing, not annealed: they still sit between the stable phase and the law.
//! `annealed` keeps the end of every annealing schedule, which in a sweep is each run's final
//! point (a WSD sweep's shorter budgets are separate runs that branched off at their cooldown
//! start), so on cosine and WSD sweeps it is the default's data exactly.
//!
//! **How curve points are fitted.** Each point is one observation (N, D_t, L) of weight 1 (seeds
//! are not averaged); the bootstrap resamples whole runs with all their points
//! (`uncertainty::bootstrap::resample_runs`), since the points of one run share its errors. A
//! run's final point is its final validation loss (`final_eval_sequences` windows); earlier
//! points are the periodic eval's (the first `eval_sequences` windows: fewer, so noisier, and
//! another sample of text), and the mean and SD of (periodic − final) at each run's last step
//! are recorded so that offset is visible. Points that several runs' curves share (a WSD branch
//! starts from a copy of its parent's curve) are used once, with the longest run.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::data::RunPoint;
use super::source::RunCurve;
use crate::fit::lossless;
use crate::fmt::fmt_num;
use crate::input_bail;

/// F of `curve` and `curve-annealing` when none is given: points from half-way through a run.
pub const DEFAULT_FROM: f64 = 0.5;

/// Which points Approach 3 is fitted on (module docs). Written in fit.json as its name.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum A3Points {
    /// Each run's final validation loss, seed replicates averaged into cells (the default).
    #[default]
    Final,
    /// The final points of the runs whose schedule anneals (cosine, wsd), as cells.
    Annealed,
    /// Every evaluation at tokens ≥ `from`·D of its run plus the final point, each an
    /// observation; with `annealing_only`, only evaluations after the LR began to decay.
    Curve {
        /// F: fraction of the run's tokens D before which its evaluations are not used.
        from: f64,
        /// Leave out evaluations before the LR decays (WSD stable phase, warmup, constant LR).
        annealing_only: bool,
    },
}

impl A3Points {
    /// True for the default.
    pub fn is_final(&self) -> bool {
        *self == A3Points::Final
    }

    /// The name on the command line and in fit.json: `final`, `annealed`, `curve:F` or
    /// `curve-annealing:F`.
    pub fn name(&self) -> String {
        match self {
            A3Points::Final => "final".into(),
            A3Points::Annealed => "annealed".into(),
            A3Points::Curve { from, annealing_only: false } => format!("curve:{from}"),
            A3Points::Curve { from, annealing_only: true } => format!("curve-annealing:{from}"),
        }
    }

    /// Reads a name ([`A3Points::name`]; `curve` and `curve-annealing` without `:F` take
    /// [`DEFAULT_FROM`]). `Err` says what is wrong and how to fix it.
    pub fn parse(s: &str) -> std::result::Result<A3Points, String> {
        let (head, frac) = match s.split_once(':') {
            Some((h, f)) => (h, Some(f)),
            None => (s, None),
        };
        let annealing_only = match head {
            "final" | "annealed" => {
                if let Some(f) = frac {
                    return Err(format!(
                        "`{head}` takes no fraction (got `{s}`); fix: `{head}`, or `curve:{f}` for the curve points past \
                         that fraction of each run"
                    ));
                }
                return Ok(if head == "final" { A3Points::Final } else { A3Points::Annealed });
            }
            "curve" => false,
            "curve-annealing" => true,
            _ => {
                return Err(format!(
                    "`{s}` is not one of final (the default), annealed, curve[:F], curve-annealing[:F]; fix: e.g. \
                     curve:0.5"
                ))
            }
        };
        let from = match frac.map(str::trim) {
            None => DEFAULT_FROM,
            Some("") => return Err(format!("`{s}` has no fraction after the colon; fix: e.g. `{head}:0.5`")),
            Some(f) => match f.parse::<f64>() {
                Ok(x) if (0.0..=1.0).contains(&x) => x,
                Ok(x) => {
                    return Err(format!(
                        "F = {x} in `{s}` is outside [0, 1] (F is the fraction of each run's tokens from which its \
                         evaluations are used); fix: e.g. `{head}:0.5`"
                    ))
                }
                Err(_) => {
                    return Err(format!(
                        "`{f}` in `{s}` is not a number; fix: a fraction of each run in [0, 1], e.g. `{head}:0.5`"
                    ))
                }
            },
        };
        Ok(A3Points::Curve { from, annealing_only })
    }
}

impl Serialize for A3Points {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for A3Points {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<A3Points, D::Error> {
        A3Points::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What Approach 3 was fitted on, when not the default (fit.json `approach3.data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct A3Data {
    /// The choice (`--a3-points`).
    pub policy: A3Points,
    /// Runs that contributed points.
    pub runs: usize,
    /// Observations fitted (curve points: one per point; otherwise one per cell of seeds).
    pub points: usize,
    /// Of the points, how many were taken before their run's end (periodic evaluations).
    pub before_end: usize,
    /// What the bootstrap resamples: `runs` (curve points) or `cells`.
    pub bootstrap_unit: String,
    /// Periodic eval minus final eval at each run's last step, nats/token: [mean, SD] over
    /// `periodic_runs` runs (absent without curves).
    #[serde(with = "lossless::pair")]
    pub periodic_minus_final: Option<[f64; 2]>,
    /// Runs behind `periodic_minus_final`.
    pub periodic_runs: usize,
    /// What was left out or merged, and why.
    pub notes: Vec<String>,
}

impl A3Data {
    /// Lines for `fit`'s stdout and the report.
    pub fn lines(&self) -> Vec<String> {
        let unit = if self.bootstrap_unit == "runs" {
            "the bootstrap resamples whole runs with all their points"
        } else {
            "the bootstrap resamples cells as for final points"
        };
        let mut out = vec![format!(
            "points (--a3-points {}): {} observations from {} runs, {} of them taken before their run's end; {unit}",
            self.policy.name(),
            self.points,
            self.runs,
            self.before_end
        )];
        if let Some([m, sd]) = self.periodic_minus_final {
            out.push(format!(
                "curve points are periodic evaluations on fewer validation windows than the final one, so noisier: at \
                 the last step of {} runs periodic − final = {}{} nats/token on average (SD {})",
                self.periodic_runs,
                if m >= 0.0 { "+" } else { "" },
                fmt_num(m),
                fmt_num(sd)
            ));
        }
        out.extend(self.notes.iter().cloned());
        out
    }
}

/// Curve points as Approach 3's observations, with the runs they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RunsSample {
    /// Every point: `id` and `run` its run's id, `d` the tokens at that evaluation, `c` the
    /// FLOPs so far, `loss` its validation loss.
    pub points: Vec<RunPoint>,
    /// Indices into `points`, one list per run: the units the bootstrap resamples.
    pub runs: Vec<Vec<usize>>,
    /// What was used.
    pub data: A3Data,
}

/// Cosine and WSD decay the LR to its end; constant (and an unrecorded schedule) does not.
fn anneals(schedule: Option<&str>) -> bool {
    matches!(schedule, Some("cosine" | "wsd"))
}

/// The runs that never anneal, split off `points`, and a note naming them by schedule.
fn annealing_runs<'a>(points: &'a [RunPoint], what: &str) -> Result<(Vec<&'a RunPoint>, Vec<String>)> {
    let (keep, left): (Vec<&RunPoint>, Vec<&RunPoint>) =
        points.iter().partition(|p| anneals(p.schedule.as_deref()));
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    left.iter().for_each(|p| *by.entry(p.schedule.as_deref().unwrap_or("none recorded")).or_default() += 1);
    let named: Vec<String> = by.iter().map(|(s, k)| format!("{s}: {k}")).collect();
    if keep.is_empty() {
        input_bail!(
            "--a3-points {what}: no run's schedule anneals ({}); only cosine and wsd runs decay their LR; fix: \
             --a3-points final, or curve:F for every evaluation past F",
            named.join(", ")
        );
    }
    let notes = if left.is_empty() {
        Vec::new()
    } else {
        vec![format!("left out {} runs whose LR never decays ({})", left.len(), named.join(", "))]
    };
    Ok((keep, notes))
}

/// `annealed`: the final points of the runs whose schedule anneals (used as cells).
pub fn annealed_points(points: &[RunPoint]) -> Result<(Vec<RunPoint>, A3Data)> {
    let (keep, notes) = annealing_runs(points, "annealed")?;
    let cells = super::data::make_cells(&keep.iter().map(|p| (*p).clone()).collect::<Vec<_>>()).len();
    let data = A3Data {
        policy: A3Points::Annealed,
        runs: keep.len(),
        points: cells,
        before_end: 0,
        bootstrap_unit: "cells".into(),
        periodic_minus_final: None,
        periodic_runs: 0,
        notes,
    };
    Ok((keep.into_iter().cloned().collect(), data))
}

/// One curve point of run `p` at `t` tokens with loss `loss`.
fn curve_point(p: &RunPoint, t: f64, loss: f64) -> RunPoint {
    RunPoint {
        d: t,
        c: p.c / p.d * t,
        loss,
        flops_budget: None,
        run: Some(p.id.clone()),
        unique_tokens: None,
        ..p.clone()
    }
}

/// Why curve points of the sample were not used (counted while selecting them).
#[derive(Default)]
struct Dropped {
    /// Before the LR began to decay (`curve-annealing`).
    not_annealing: usize,
    /// Already used with a longer run.
    shared: usize,
    /// Runs with no curve.
    no_curve: usize,
    /// (periodic − final) at runs' last steps.
    periodic: Vec<f64>,
}

impl Dropped {
    /// Whether a point past F is used: it must be `eligible` (annealing, when only annealing
    /// points are asked for; else it is counted as left out) and not already used with a
    /// longer run (`seen`, keyed by N, tokens and loss).
    fn keep(&mut self, eligible: bool, seen: &mut HashSet<[u64; 3]>, key: [f64; 3]) -> bool {
        if !eligible {
            self.not_annealing += 1;
            return false;
        }
        if !seen.insert(key.map(f64::to_bits)) {
            self.shared += 1;
            return false;
        }
        true
    }
}

/// `curve:F` (`annealing_only` false) or `curve-annealing:F`: the runs' evaluations at tokens
/// ≥ F·D (and, with `annealing_only`, past the LR's decay start) and their final points.
pub fn curve_sample(
    points: &[RunPoint],
    curves: &[RunCurve],
    from: f64,
    annealing_only: bool,
) -> Result<RunsSample> {
    let policy = A3Points::Curve { from, annealing_only };
    let (mut order, mut notes) = if annealing_only {
        annealing_runs(points, &policy.name())?
    } else {
        (points.iter().collect(), Vec::new())
    };
    // Longest run first: a point shared with a WSD branch stays with the run that trained it.
    order.sort_by(|a, b| b.d.total_cmp(&a.d).then(a.n.total_cmp(&b.n)).then(a.id.cmp(&b.id)));
    let by_id: HashMap<&str, &RunCurve> = curves.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut seen: HashSet<[u64; 3]> = HashSet::new();
    let (mut out, mut runs, mut dropped) = (Vec::new(), Vec::new(), Dropped::default());
    for p in order {
        let mut idx = Vec::new();
        match by_id.get(p.id.as_str()) {
            Some(rc) => {
                for &(t, loss) in &rc.points {
                    if t >= p.d * (1.0 - 1e-9) {
                        dropped.periodic.push(loss - p.loss);
                        continue;
                    }
                    let annealing = rc.annealing_from.is_some_and(|a| t > a);
                    if t >= from * p.d
                        && dropped.keep(annealing || !annealing_only, &mut seen, [p.n, t, loss])
                    {
                        idx.push(out.len());
                        out.push(curve_point(p, t, loss));
                    }
                }
            }
            None => dropped.no_curve += 1,
        }
        idx.push(out.len());
        out.push(RunPoint { run: Some(p.id.clone()), ..p.clone() });
        runs.push(idx);
    }
    notes.extend(dropped_notes(&dropped));
    let data = A3Data {
        policy,
        runs: runs.len(),
        points: out.len(),
        before_end: out.len() - runs.len(),
        bootstrap_unit: "runs".into(),
        periodic_minus_final: mean_sd(&dropped.periodic),
        periodic_runs: dropped.periodic.len(),
        notes,
    };
    Ok(RunsSample { points: out, runs, data })
}

/// Mean and sample SD (n − 1; 0 for one value); `None` for none.
fn mean_sd(v: &[f64]) -> Option<[f64; 2]> {
    if v.is_empty() {
        return None;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let ss = v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    Some([m, if v.len() > 1 { (ss / (v.len() - 1) as f64).sqrt() } else { 0.0 }])
}

fn dropped_notes(d: &Dropped) -> Vec<String> {
    let mut notes = Vec::new();
    if d.not_annealing > 0 {
        notes.push(format!(
            "left out {} evaluations taken before the LR began to decay (WSD stable phase, cosine warmup): they sit \
             above the annealed law",
            d.not_annealing
        ));
    }
    if d.shared > 0 {
        notes.push(format!(
            "{} evaluations appear in several runs' curves (a WSD run branched off a longer one starts with a copy of \
             its curve): each is used once, with the longest run",
            d.shared
        ));
    }
    if d.no_curve > 0 {
        notes.push(format!(
            "{} runs have no training curve (curves/ID.jsonl): their final point only",
            d.no_curve
        ));
    }
    notes
}

/// `curve:F` on CSV rows whose `run` column names the run each row is a checkpoint of: a run's
/// rows at D ≥ F·D_run (D_run its largest D, taken as its end), each an observation, the
/// bootstrap over runs. A row without a run is a run of one point. A CSV has no schedules, so
/// only the plain curve choice applies, and no separate final eval.
pub fn checkpoint_sample(points: &[RunPoint], from: f64) -> RunsSample {
    let mut by_run: BTreeMap<(bool, &str), Vec<&RunPoint>> = BTreeMap::new();
    for p in points {
        let key = match &p.run {
            Some(r) => (true, r.as_str()),
            None => (false, p.id.as_str()),
        };
        by_run.entry(key).or_default().push(p);
    }
    let (mut out, mut runs, mut before_end) = (Vec::new(), Vec::new(), 0);
    for rows in by_run.values_mut() {
        rows.sort_by(|a, b| a.d.total_cmp(&b.d));
        let d_run = rows.last().map_or(0.0, |p| p.d);
        let kept: Vec<&RunPoint> = rows.iter().copied().filter(|p| p.d >= from * d_run).collect();
        before_end += kept.iter().filter(|p| p.d < d_run).count();
        runs.push((out.len()..out.len() + kept.len()).collect());
        out.extend(kept.into_iter().cloned());
    }
    let data = A3Data {
        policy: A3Points::Curve { from, annealing_only: false },
        runs: runs.len(),
        points: out.len(),
        before_end,
        bootstrap_unit: "runs".into(),
        periodic_minus_final: None,
        periodic_runs: 0,
        notes: vec![format!(
            "CSV rows as checkpoints of {} runs (column `run`); each run's largest D stands for its end",
            runs.len()
        )],
    };
    RunsSample { points: out, runs, data }
}
