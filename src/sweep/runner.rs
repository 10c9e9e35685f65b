//! One run of a config, as `scalinglab run CONFIG --index I` (and `train`) executes it:
//! take the run's lock, load its tokens, write branch checkpoints for shorter WSD runs, train
//! or resume, write the result. A Slurm array task and a local sweep child run exactly this.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use candle_core::Device;

use super::cell::GridRun;
use super::lock::{acquire, LockInfo};
pub use super::store::{progress_path, store_of};
use crate::config::resolve::run_options;
use crate::config::LoadedConfig;
use crate::corpus::sampler::require_window;
use crate::progress::run_bar;
use crate::results::{write_atomic, ResultsDir, RunResult};
use crate::train::{train_run, RunContext};

/// Set by the signal handler; the training loop checkpoints and stops when it sees it.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler of SIGINT (Ctrl-C), SIGTERM (Slurm's time limit, `scancel`,
/// `timeout`, docker, systemd) and SIGHUP (a closed terminal), once per process (ctrlc's
/// `termination` feature). All three mean the same: checkpoint the running step and exit 130,
/// so a resumed run continues bit-identically. (130, not 143 for SIGTERM: one code for
/// "interrupted, checkpoints kept" whatever sent the signal.)
pub fn install_ctrlc() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// How a `run` ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// Trained now (status inside: ok, diverged).
    Trained(Box<RunResult>),
    /// Its result already existed; nothing was trained.
    AlreadyDone(Box<RunResult>),
    /// Another live process holds its lock.
    Locked(LockInfo),
}

/// Trains run `index` of `runs` into `store` (see the module doc).
pub fn run_one(
    cfg: &LoadedConfig,
    store: &ResultsDir,
    runs: &[GridRun],
    index: usize,
    device: &Device,
    bar: bool,
    force: bool,
) -> Result<RunOutcome> {
    let run = &runs[index];
    let spec = &run.spec;
    let id = spec.id();
    if let Some(r) = store.finished(&id)? {
        return Ok(RunOutcome::AlreadyDone(Box::new(r)));
    }
    // Before the corpus stream or the model is allocated (issue #19).
    let threads = std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let needs =
        super::preflight::needs(spec, super::preflight::corpus_tokens(spec), threads, device.is_cuda());
    super::preflight::check(&id, &needs, super::preflight::mem_available(), device.is_cuda(), force)?;
    let _lock = match acquire(&store.lock_path(&id))? {
        Ok(g) => g,
        Err(info) => return Ok(RunOutcome::Locked(info)),
    };
    if let Some(r) = store.finished(&id)? {
        return Ok(RunOutcome::AlreadyDone(Box::new(r)));
    }
    let t = spec.model.block_size;
    let corpus = crate::corpus::load(
        &spec.corpus,
        (spec.max_steps as usize * spec.batch_size + 1) * t + 1,
        spec.final_eval_sequences.max(spec.eval_sequences) * (t + 1),
    )?;
    require_window("train", corpus.train.len(), t)?;
    require_window("validation", corpus.val.len(), t)?;
    let branches = super::branch::branch_points(runs, index);
    let opts = run_options(&cfg.raw);
    let pb = run_bar(spec.tokens, &id, bar);
    let ppath = progress_path(store, &id);
    let mut last_write = Instant::now();
    let ctx = RunContext {
        store,
        sweep: &cfg.raw.name,
        index: cfg.raw.grid.as_ref().map(|_| index),
        device,
        opts: &opts,
        stop_at: None,
        interrupt: Some(&INTERRUPTED),
        branches: &branches,
    };
    let result = train_run(spec, &corpus, &ctx, &mut |p| {
        pb.set_position(p.tokens);
        pb.set_message(format!("loss {:.4}  {:.0} tok/s", p.loss, p.tokens_per_s));
        if last_write.elapsed().as_secs_f64() > 0.5 {
            let j = serde_json::json!({"tokens": p.tokens, "loss": p.loss, "tokens_per_s": p.tokens_per_s});
            let _ = write_atomic(&ppath, j.to_string().as_bytes());
            last_write = Instant::now();
        }
    });
    let _ = std::fs::remove_file(&ppath);
    pb.finish_and_clear();
    let result = result?;
    store.write_runs_csv()?;
    Ok(RunOutcome::Trained(Box::new(result)))
}
