//! A finished run's result record (`results::RunResult`): what the loop measured, plus the
//! counts (`model::count`), the corpus's figures, and where and with what the run was trained.
//!
//! `val_bits_per_byte` = final_val_loss / ln 2 / bytes_per_token of the validation split.

use std::collections::BTreeMap;

use candle_core::Device;

use super::context::RunContext;
use crate::config::spec::RunSpec;
use crate::corpus::Corpus;
use crate::model::count;
use crate::results::{RunResult, RunStatus, SCHEMA_VERSION};

/// How a run's loop ended.
pub(super) struct Outcome {
    /// `ok` or `diverged`.
    pub status: RunStatus,
    /// Why it diverged.
    pub reason: Option<String>,
    /// Steps done (each of batch_size × block_size tokens).
    pub steps: u64,
    /// Training wall seconds, all segments.
    pub wall_seconds: f64,
    /// Step this segment resumed from (0: not resumed).
    pub resumed_from_step: u64,
    /// Mean training loss of the last steps.
    pub final_train_loss: Option<f64>,
    /// Loss on the final validation windows (runs that did not diverge).
    pub final_val_loss: Option<f64>,
}

/// The result record of run `spec` that ended as `o`.
pub(super) fn run_result(spec: &RunSpec, corpus: &Corpus, ctx: &RunContext, o: Outcome) -> RunResult {
    let cfg = &spec.model;
    let tokens = o.steps * (spec.batch_size * cfg.block_size) as u64;
    let wall = o.wall_seconds;
    RunResult {
        schema_version: SCHEMA_VERSION,
        id: spec.id(),
        sweep: ctx.sweep.to_string(),
        index: ctx.index,
        spec: spec.to_map(),
        params_total: count::params_total(cfg),
        params_nonembedding: count::params_nonembedding(cfg),
        tokens,
        flops_6nd: count::flops_per_token_6n(cfg) * tokens as f64,
        flops_exact: count::flops_per_token_exact(cfg) * tokens as f64,
        final_train_loss: o.final_train_loss,
        final_val_loss: o.final_val_loss,
        val_bits_per_byte: match (o.final_val_loss, corpus.bytes_per_token) {
            (Some(l), Some(bpt)) => Some(l / std::f64::consts::LN_2 / bpt),
            _ => None,
        },
        corpus_entropy_floor: corpus.entropy_floor,
        status: o.status,
        reason: o.reason,
        wall_seconds: wall,
        tokens_per_second: if wall > 0.0 { tokens as f64 / wall } else { 0.0 },
        device: device_name(ctx.device),
        threads: cpu_threads(),
        versions: versions(),
        resumed_from_step: o.resumed_from_step,
    }
}

fn versions() -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("scalinglab".into(), env!("CARGO_PKG_VERSION").into());
    v.insert("candle".into(), crate::CANDLE_VERSION.into());
    if let Some(c) = option_env!("SCALINGLAB_GIT_COMMIT") {
        v.insert("git_commit".into(), c.into());
    }
    v
}

/// Threads the CPU backend uses (candle reads RAYON_NUM_THREADS).
pub fn cpu_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// "cpu" or "cuda:i".
pub fn device_name(d: &Device) -> String {
    match d.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}
