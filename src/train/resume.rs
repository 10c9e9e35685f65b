//! What the training loop saves and restores around `checkpoint`'s files: the resume at a
//! run's start, the five checkpoint triggers, and the WSD branch hand-off.
//!
//! A checkpoint holds the state after `step` steps: the parameters, AdamW's moments and t,
//! the loop's accumulators (`TrainState`), and the length of the curve it had written, so a
//! resumed run cuts its curve back to that length and continues bit-identically.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result};

use super::checkpoint::{self, CheckpointPaths, TrainState};
use super::context::RunContext;
use super::trainer::Trainer;
use crate::results::{write_atomic, ResultsDir};

/// The first `lines` lines of the curve at `path` (empty when it cannot be read).
fn curve_prefix(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().take(lines).map(|l| format!("{l}\n")).collect()
}

/// The loop state run `id` starts from: its checkpoint's, restored into `tr` (parameters,
/// AdamW moments and t) with the curve cut back to what the checkpoint had seen; without a
/// checkpoint, step 0 and an empty curve.
pub(super) fn restore(
    ckpt: &CheckpointPaths,
    id: &str,
    tr: &mut Trainer,
    curve_path: &Path,
) -> Result<TrainState> {
    if ckpt.exists() {
        let l = checkpoint::load(ckpt, id, &tr.names(), &tr.shapes)?;
        tr.set_params(&l.params)?;
        tr.opt.m = l.m;
        tr.opt.v = l.v;
        tr.opt.t = l.state.opt_t;
        write_atomic(curve_path, curve_prefix(curve_path, l.state.curve_lines).as_bytes())?;
        return Ok(l.state);
    }
    if let Some(d) = curve_path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        write_atomic(curve_path, b"")?;
    }
    Ok(TrainState::new(id))
}

/// Which checkpoints are due after `step` steps (none at the last step: the result follows).
pub(super) struct Triggers<'a> {
    /// Every `checkpoint_interval` steps.
    by_steps: bool,
    /// `checkpoint_seconds` since the last checkpoint.
    by_time: bool,
    /// `stop_at` reached (tests): save, then stop.
    stopping: bool,
    /// Ctrl-C: save, then stop with `Interrupted`.
    pub interrupted: bool,
    /// Shorter WSD runs whose cooldown starts here (`sweep::branch`).
    pub branches: Vec<&'a str>,
}

impl<'a> Triggers<'a> {
    /// The triggers after `step` of `max_steps` steps, the last checkpoint written at
    /// `last_ckpt`.
    pub fn at(ctx: &'a RunContext, step: u64, max_steps: u64, last_ckpt: Instant) -> Self {
        let o = ctx.opts;
        let by_steps = o.checkpoint_interval > 0 && step.is_multiple_of(o.checkpoint_interval);
        let by_time = o.checkpoint_seconds > 0.0 && last_ckpt.elapsed().as_secs_f64() >= o.checkpoint_seconds;
        let stopping = Some(step) == ctx.stop_at;
        let interrupted = ctx.interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
        let branches = ctx.branches.iter().filter(|b| b.0 == step).map(|b| b.1.as_str()).collect();
        let before_end = step < max_steps;
        Triggers {
            by_steps: by_steps && before_end,
            by_time: by_time && before_end,
            stopping: stopping && before_end,
            interrupted: interrupted && before_end,
            branches: if before_end { branches } else { vec![] },
        }
    }

    /// This run's own checkpoint is due.
    pub fn own(&self) -> bool {
        self.by_steps || self.by_time || self.stopping || self.interrupted
    }

    /// Anything is to be saved.
    pub fn any(&self) -> bool {
        self.own() || !self.branches.is_empty()
    }
}

/// Writes `tr` and `state` as the checkpoint `ckpt`.
pub(super) fn save(ckpt: &CheckpointPaths, tr: &Trainer, state: &TrainState) -> Result<()> {
    checkpoint::save(ckpt, &tr.names(), &tr.shapes, &tr.params()?, &tr.opt.m, &tr.opt.v, state.clone())
}

/// WSD branching: hands the shorter run `short` this run's state at its cooldown start, as
/// that run's own checkpoint (and the curve so far), so it resumes there and trains only its
/// cooldown. Skipped when the short run already has a result, a lock or a checkpoint.
pub(super) fn save_branch(
    store: &ResultsDir,
    short: &str,
    curve_path: &Path,
    tr: &Trainer,
    state: &TrainState,
) -> Result<()> {
    let paths = CheckpointPaths::new(store.checkpoint_path(short));
    if store.run_path(short).exists() || store.lock_path(short).exists() || paths.exists() {
        return Ok(());
    }
    write_atomic(&store.curve_path(short), curve_prefix(curve_path, state.curve_lines).as_bytes())?;
    save(&paths, tr, &TrainState { id: short.to_string(), ..state.clone() })
}
