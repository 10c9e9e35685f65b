//! WSD branching: runs that differ only in their token budget share one warmup + stable
//! phase. The longest run of such a group trains once at constant LR and, at each shorter
//! run's cooldown start s_c, writes that run's checkpoint; the shorter run resumes there and
//! trains only its cooldown. Because batches are a pure function of (seed, step) and the WSD
//! LR before s_c is the same for every run of the group, the state handed over is bit-identical
//! to what the shorter run would have reached alone, and so are its results.

use crate::config::spec::{RunSpec, ScheduleKind};
use crate::train::schedule::Schedule;

use super::cell::GridRun;

/// The spec with everything that may differ inside a branching group removed.
fn group_key(s: &RunSpec) -> Option<String> {
    if s.schedule != ScheduleKind::Wsd {
        return None;
    }
    let mut m = s.to_map();
    for k in ["max_steps", "tokens", "tokens_per_param", "flops_budget", "eval_interval"] {
        m.remove(k);
    }
    Some(serde_json::Value::Object(m).to_string())
}

/// First cooldown step of a WSD run.
pub fn cooldown_start(s: &RunSpec) -> u64 {
    Schedule {
        kind: s.schedule,
        peak: s.learning_rate,
        min_fraction: s.min_lr_fraction,
        warmup: s.warmup_steps,
        total: s.max_steps,
        cooldown_fraction: s.cooldown_fraction,
    }
    .cooldown_start()
}

/// The longest run of `runs[i]`'s group, if that is another run (then `runs[i]` can branch
/// from it).
pub fn parent_of(runs: &[GridRun], i: usize) -> Option<usize> {
    let key = group_key(&runs[i].spec)?;
    let me = &runs[i].spec;
    runs.iter()
        .enumerate()
        .filter(|(_, r)| group_key(&r.spec).as_deref() == Some(key.as_str()))
        .max_by_key(|(j, r)| (r.spec.max_steps, std::cmp::Reverse(*j)))
        .map(|(j, _)| j)
        .filter(|j| *j != i && runs[*j].spec.max_steps > me.max_steps && cooldown_start(me) > 0)
}

/// Branch points the run `runs[i]` must write: (step, id) of every run whose parent it is.
pub fn branch_points(runs: &[GridRun], i: usize) -> Vec<(u64, String)> {
    (0..runs.len())
        .filter(|j| *j != i && parent_of(runs, *j) == Some(i))
        .map(|j| (cooldown_start(&runs[j].spec), runs[j].spec.id()))
        .collect()
}

/// Training FLOPs (6·N·D convention) that branching saves: the shared stable phases.
pub fn flops_saved(runs: &[GridRun]) -> f64 {
    (0..runs.len())
        .filter(|j| parent_of(runs, *j).is_some())
        .map(|j| {
            let s = &runs[j].spec;
            let tokens = cooldown_start(s) * (s.batch_size * s.model.block_size) as u64;
            crate::model::count::flops_per_token_6n(&s.model) * tokens as f64
        })
        .sum()
}
