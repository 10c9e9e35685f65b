//! What a training run is given and what it reports back: where and how it executes
//! ([`RunContext`]), its progress for a bar ([`Progress`]), and the error of a run stopped by
//! Ctrl-C ([`Interrupted`]).

use std::sync::atomic::AtomicBool;

use candle_core::Device;

use crate::config::spec::RunOptions;
use crate::results::ResultsDir;

/// Progress of a run, for a bar.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Steps done.
    pub step: u64,
    /// Total steps.
    pub total: u64,
    /// Tokens done.
    pub tokens: u64,
    /// Last train loss.
    pub loss: f64,
    /// Tokens per second this segment.
    pub tokens_per_s: f64,
}

/// Where and how a run executes.
pub struct RunContext<'a> {
    /// Results store.
    pub store: &'a ResultsDir,
    /// Sweep name.
    pub sweep: &'a str,
    /// Index in the grid.
    pub index: Option<usize>,
    /// Device.
    pub device: &'a Device,
    /// Checkpoint cadence.
    pub opts: &'a RunOptions,
    /// Stop after this step (for tests: save a checkpoint there and return an error).
    pub stop_at: Option<u64>,
    /// Set by a Ctrl-C handler: save a checkpoint and stop with [`Interrupted`].
    pub interrupt: Option<&'a AtomicBool>,
    /// WSD branching: (step, run id) — after `step` steps, write a checkpoint for the shorter
    /// run `id` whose cooldown starts there (see `sweep::branch`).
    pub branches: &'a [(u64, String)],
}

/// The run was interrupted (Ctrl-C); its checkpoint is saved.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} interrupted; checkpoint saved (re-run the same command to resume)", self.0)
    }
}

impl std::error::Error for Interrupted {}
