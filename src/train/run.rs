//! The training loop, in nanoGPT's fixed order: set lr → forward/backward → clip → step →
//! log → eval → checkpoint → stop.
//!
//! Evaluation: the periodic eval uses the first `eval_sequences` of the fixed validation
//! windows; the final validation loss uses `final_eval_sequences` windows (default 256 ×
//! block_size tokens, e.g. 16,384 tokens at T = 64) spread evenly over the held-out stream.
//! `final_train_loss` is the mean training loss of the last max(1, min(50, S/10)) steps.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{CpuStorage, DType, Device, Storage, Tensor};

use super::checkpoint::{self, CheckpointPaths, TrainState};
use super::optim::{clip_coef, AdamW, AdamWConfig};
use super::schedule::Schedule;
use crate::config::spec::{RunOptions, RunSpec};
use crate::corpus::sampler::{batch_starts, fill_batch, val_starts};
use crate::corpus::Corpus;
use crate::model::{count, Gpt};
use crate::results::{write_atomic, CurvePoint, ResultsDir, RunResult, RunStatus, SCHEMA_VERSION};

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

/// The model plus optimizer state: one call of [`Trainer::step`] is one optimizer step
/// (forward, backward, clip, AdamW). `bench` times exactly this.
pub struct Trainer {
    /// The model (its `Var`s hold the current parameters, updated in place by AdamW).
    pub model: Gpt,
    /// AdamW state.
    pub opt: AdamW,
    /// Parameter shapes, sorted name order.
    pub shapes: Vec<Vec<usize>>,
}

/// Runs `f` on the f32 values of a CPU tensor where they lie (a host copy otherwise).
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (s, l) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) = (&*s, l.contiguous_offsets()) {
            return Ok(f(&v[a..b]));
        }
    }
    Ok(f(&t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?))
}

impl Trainer {
    /// A fresh model (seeded init) and zeroed optimizer.
    pub fn new(cfg: &crate::model::GptConfig, seed: u64, adam: AdamWConfig, device: &Device) -> Result<Self> {
        let model = Gpt::new(cfg, seed, device)?;
        let shapes: Vec<Vec<usize>> = model.specs.iter().map(|s| s.shape.clone()).collect();
        let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        Ok(Trainer { opt: AdamW::new(adam, &sizes), shapes, model })
    }

    /// Parameter names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.model.specs.iter().map(|s| s.name.clone()).collect()
    }

    /// Copies of the current parameters (sorted name order), e.g. for a checkpoint.
    pub fn params(&self) -> Result<Vec<Vec<f32>>> {
        Ok(self.model.values()?)
    }

    /// Writes `params` (sorted name order, flat) into the model's `Var`s.
    pub fn set_params(&mut self, params: &[Vec<f32>]) -> Result<()> {
        let vars = self.model.vars();
        if params.len() != vars.len() {
            anyhow::bail!("{} parameter tensors for a model with {}", params.len(), vars.len());
        }
        for (var, (p, s)) in vars.into_iter().zip(params.iter().zip(&self.shapes)) {
            var.set(&Tensor::from_slice(p, s.as_slice(), var.device())?)?;
        }
        Ok(())
    }

    /// The loss and every parameter's gradient (in `vars` order) through candle's autograd.
    fn loss_and_grads_autograd(&self, x: &Tensor, y: &Tensor) -> Result<(f32, Vec<Tensor>)> {
        let loss = self.model.loss(x, y)?;
        let loss_v = loss.to_scalar::<f32>()?;
        let gs = loss.backward()?;
        drop(loss);
        let mut grads = Vec::with_capacity(self.shapes.len());
        for (var, shape) in self.model.vars().into_iter().zip(&self.shapes) {
            grads.push(match gs.get(var.as_tensor()) {
                Some(g) => g.contiguous()?,
                // A parameter the loss does not reach: a zero gradient (its moments still decay).
                None => Tensor::zeros(shape.as_slice(), DType::F32, var.device())?,
            });
        }
        Ok((loss_v, grads))
    }

    /// One optimizer step on inputs `x` and targets `y` (both (B, T) u32); returns the loss
    /// before the update. `clip` ≤ 0 disables clipping.
    ///
    /// The gradients are read where backprop left them (global norm in f64, in parameter
    /// order), and on the CPU AdamW updates each parameter's storage in place
    /// ([`AdamW::in_place`]); other devices go through host copies.
    pub fn step(&mut self, x: &Tensor, y: &Tensor, lr: f64, clip: f64) -> Result<f32> {
        let (loss_v, grads) = match self.model.loss_and_grads(x, y)? {
            // The CPU path without candle's autograd (same numbers, see `Gpt::loss_and_grads`).
            Some(lg) => lg,
            None => self.loss_and_grads_autograd(x, y)?,
        };
        let mut sq = 0.0f64;
        for g in &grads {
            with_f32(g, |v| v.iter().for_each(|&x| sq += (x as f64) * (x as f64)))?;
        }
        let coef = clip_coef(sq.sqrt(), clip);
        self.opt.begin_step();
        for (i, (g, var)) in grads.iter().zip(self.model.vars()).enumerate() {
            let decay = self.model.specs[i].decay;
            if var.device().is_cpu() && var.dtype() == DType::F32 {
                var.as_tensor().inplace_op2(g, &self.opt.in_place(i, coef, lr, decay))?;
            } else {
                let mut p = var.as_tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                with_f32(g, |gv| self.opt.update_scaled(i, &mut p, gv, coef, lr, decay))?;
                let t = Tensor::from_vec(p, var.shape(), var.device())?.to_dtype(var.dtype())?;
                var.set(&t)?;
            }
        }
        Ok(loss_v)
    }
}

/// Mean cross-entropy (nats/token) of the model on validation windows, in chunks of `batch`.
pub fn eval_loss(
    model: &Gpt,
    tokens: &[u32],
    starts: &[usize],
    batch: usize,
    device: &Device,
) -> Result<f64> {
    let t = model.cfg.block_size;
    let mut total = 0.0f64;
    for chunk in starts.chunks(batch.max(1)) {
        let (x, y) = fill_batch(tokens, chunk, t);
        let x = Tensor::from_vec(x, (chunk.len(), t), device)?;
        let y = Tensor::from_vec(y, (chunk.len(), t), device)?;
        let l = model.eval_loss(&x, &y)?.to_scalar::<f32>()? as f64;
        total += l * chunk.len() as f64;
    }
    Ok(total / starts.len() as f64)
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

/// Trains (or resumes) one run and writes its result and curve. Returns the result; a run
/// whose result already exists is not retrained (the existing record is returned).
pub fn train_run(
    spec: &RunSpec,
    corpus: &Corpus,
    ctx: &RunContext,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<RunResult> {
    let id = spec.id();
    let store = ctx.store;
    let result_path = store.run_path(&id);
    if result_path.exists() {
        let text = std::fs::read_to_string(&result_path)?;
        return serde_json::from_str(&text).with_context(|| format!("reading {}", result_path.display()));
    }
    let device = ctx.device;
    let cfg = &spec.model;
    let adam =
        AdamWConfig { beta1: spec.beta1, beta2: spec.beta2, eps: spec.eps, weight_decay: spec.weight_decay };
    let mut tr = Trainer::new(cfg, spec.seed, adam, device)?;
    let names = tr.names();
    let shapes = tr.shapes.clone();
    let sched = Schedule {
        kind: spec.schedule,
        peak: spec.learning_rate,
        min_fraction: spec.min_lr_fraction,
        warmup: spec.warmup_steps,
        total: spec.max_steps,
        cooldown_fraction: spec.cooldown_fraction,
    };
    let ckpt = CheckpointPaths::new(store.checkpoint_path(&id));
    let curve_path = store.curve_path(&id);
    let mut state = TrainState {
        id: id.clone(),
        step: 0,
        opt_t: 0,
        wall_seconds_bits: 0f64.to_bits(),
        loss_acc_bits: 0f64.to_bits(),
        loss_acc_n: 0,
        recent_losses: vec![],
        curve_lines: 0,
        model_file: String::new(),
        optim_file: String::new(),
        model_sha256: String::new(),
        optim_sha256: String::new(),
    };
    if ckpt.exists() {
        let l = checkpoint::load(&ckpt, &id, &names, &shapes)?;
        state = l.state;
        tr.set_params(&l.params)?;
        tr.opt.m = l.m;
        tr.opt.v = l.v;
        tr.opt.t = state.opt_t;
        // Cut the curve back to what the checkpoint had seen.
        let text = std::fs::read_to_string(&curve_path).unwrap_or_default();
        let kept: String = text.lines().take(state.curve_lines).map(|l| format!("{l}\n")).collect();
        write_atomic(&curve_path, kept.as_bytes())?;
    } else if let Some(d) = curve_path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        write_atomic(&curve_path, b"")?;
    }
    let mut tb = match &ctx.opts.tensorboard {
        Some(dir) => {
            let folder = format!("{}x{}x{}-{id}", cfg.n_embd, cfg.n_layer, cfg.n_head);
            Some(super::tensorboard::EventWriter::create(dir, &folder, state.step)?)
        }
        None => None,
    };
    let mut curve = OpenOptions::new()
        .append(true)
        .open(&curve_path)
        .with_context(|| format!("opening {}", curve_path.display()))?;

    let t = cfg.block_size;
    let b = spec.batch_size;
    let vstarts = val_starts(corpus.val.len(), t, spec.final_eval_sequences.max(spec.eval_sequences));
    let eval_starts: Vec<usize> = vstarts.iter().copied().take(spec.eval_sequences).collect();
    let recent_n = (spec.max_steps / 10).clamp(1, 50) as usize;
    let diverge_at = spec.divergence_factor * (cfg.vocab_size as f64).ln();
    let mut wall = f64::from_bits(state.wall_seconds_bits);
    let mut loss_acc = f64::from_bits(state.loss_acc_bits);
    let seg_start = Instant::now();
    let seg_step0 = state.step;
    let mut last_ckpt = Instant::now();
    let mut status = RunStatus::Ok;
    let mut reason = None;
    let mut step = state.step;
    let end = ctx.stop_at.unwrap_or(spec.max_steps).min(spec.max_steps);
    while step < end {
        let t0 = Instant::now();
        let lr = sched.lr_at(step);
        let starts = batch_starts(corpus.mode, corpus.train.len(), t, b, spec.seed, step);
        let (x, y) = fill_batch(&corpus.train, &starts, t);
        let x = Tensor::from_vec(x, (b, t), device)?;
        let y = Tensor::from_vec(y, (b, t), device)?;
        let loss_v = tr.step(&x, &y, lr, spec.grad_clip)?;
        if !loss_v.is_finite() || loss_v as f64 > diverge_at {
            status = RunStatus::Diverged;
            reason = Some(format!(
                "train loss {loss_v} at step {step} (NaN/Inf or above {:.1} = {} × ln {})",
                diverge_at, spec.divergence_factor, cfg.vocab_size
            ));
            break;
        }
        step += 1;
        let dt = t0.elapsed().as_secs_f64();
        wall += dt;
        if let Some(w) = &mut tb {
            let tps = (b * t) as f64 / dt.max(1e-9);
            w.scalars(step, &[("train/loss", loss_v as f64), ("train/lr", lr), ("train/tokens_per_s", tps)])?;
        }
        loss_acc += loss_v as f64;
        state.loss_acc_n += 1;
        state.recent_losses.push(loss_v);
        while state.recent_losses.len() > recent_n {
            state.recent_losses.remove(0);
        }
        if step.is_multiple_of(spec.eval_interval) || step == spec.max_steps {
            let val = eval_loss(&tr.model, &corpus.val, &eval_starts, b, device)?;
            let p = CurvePoint {
                step,
                tokens: step * (b * t) as u64,
                lr,
                train_loss: loss_acc / state.loss_acc_n as f64,
                val_loss: Some(val),
                seconds: wall,
            };
            writeln!(curve, "{}", serde_json::to_string(&p)?)?;
            curve.flush()?;
            if let Some(w) = &mut tb {
                w.scalars(step, &[("val/loss", val), ("train/loss_mean", p.train_loss)])?;
                w.flush()?;
            }
            state.curve_lines += 1;
            loss_acc = 0.0;
            state.loss_acc_n = 0;
        }
        let seg_tokens = (step - seg_step0) * (b * t) as u64;
        on_progress(&Progress {
            step,
            total: spec.max_steps,
            tokens: step * (b * t) as u64,
            loss: loss_v as f64,
            tokens_per_s: seg_tokens as f64 / seg_start.elapsed().as_secs_f64().max(1e-9),
        });
        let by_steps = ctx.opts.checkpoint_interval > 0 && step.is_multiple_of(ctx.opts.checkpoint_interval);
        let by_time = ctx.opts.checkpoint_seconds > 0.0
            && last_ckpt.elapsed().as_secs_f64() >= ctx.opts.checkpoint_seconds;
        let stopping = Some(step) == ctx.stop_at && step < spec.max_steps;
        let interrupted = ctx.interrupt.is_some_and(|f| f.load(Ordering::SeqCst));
        let branch_here: Vec<&String> = ctx.branches.iter().filter(|b| b.0 == step).map(|b| &b.1).collect();
        if (by_steps || by_time || stopping || interrupted || !branch_here.is_empty())
            && step < spec.max_steps
        {
            state.step = step;
            state.opt_t = tr.opt.t;
            state.wall_seconds_bits = wall.to_bits();
            state.loss_acc_bits = loss_acc.to_bits();
            if by_steps || by_time || stopping || interrupted {
                checkpoint::save(&ckpt, &names, &shapes, &tr.params()?, &tr.opt.m, &tr.opt.v, state.clone())?;
                last_ckpt = Instant::now();
            }
            for short in branch_here {
                save_branch(store, short, &curve_path, &names, &shapes, &tr, &state)?;
            }
        }
        if interrupted && step < spec.max_steps {
            return Err(anyhow::Error::new(Interrupted(id)));
        }
    }
    if step < spec.max_steps && status == RunStatus::Ok {
        // Stopped early on request (stop_at): the checkpoint holds the state; no result yet.
        anyhow::bail!("run {id} stopped at step {step} of {} (checkpoint saved)", spec.max_steps);
    }
    let final_val = if status == RunStatus::Ok {
        Some(eval_loss(
            &tr.model,
            &corpus.val,
            &vstarts[..spec.final_eval_sequences.min(vstarts.len())],
            b,
            device,
        )?)
    } else {
        None
    };
    let final_train = if state.recent_losses.is_empty() {
        None
    } else {
        Some(state.recent_losses.iter().map(|x| *x as f64).sum::<f64>() / state.recent_losses.len() as f64)
    };
    let tokens = step * (b * t) as u64;
    let result = RunResult {
        schema_version: SCHEMA_VERSION,
        id: id.clone(),
        sweep: ctx.sweep.to_string(),
        index: ctx.index,
        spec: spec.to_map(),
        params_total: count::params_total(cfg),
        params_nonembedding: count::params_nonembedding(cfg),
        tokens,
        flops_6nd: count::flops_per_token_6n(cfg) * tokens as f64,
        flops_exact: count::flops_per_token_exact(cfg) * tokens as f64,
        final_train_loss: final_train,
        final_val_loss: final_val,
        val_bits_per_byte: match (final_val, corpus.bytes_per_token) {
            (Some(l), Some(bpt)) => Some(l / std::f64::consts::LN_2 / bpt),
            _ => None,
        },
        corpus_entropy_floor: corpus.entropy_floor,
        status,
        reason,
        wall_seconds: wall,
        tokens_per_second: if wall > 0.0 { tokens as f64 / wall } else { 0.0 },
        device: device_name(device),
        threads: cpu_threads(),
        versions: versions(),
        resumed_from_step: seg_step0,
    };
    // The weights first, then the result: a result on disk means its model is there too.
    if ctx.opts.keep_model && status == RunStatus::Ok {
        super::keep::save_final(&store.model_path(&id), spec, &tr.params()?, &result)?;
    }
    crate::results::write_json_atomic(&result_path, &result)?;
    ckpt.remove();
    Ok(result)
}

/// WSD branching: hands the shorter run `short` this run's state at its cooldown start, as
/// that run's own checkpoint (and the curve so far), so it resumes there and trains only its
/// cooldown. Skipped when the short run already has a result, a lock or a checkpoint.
fn save_branch(
    store: &ResultsDir,
    short: &str,
    curve_path: &std::path::Path,
    names: &[String],
    shapes: &[Vec<usize>],
    tr: &Trainer,
    state: &TrainState,
) -> Result<()> {
    let paths = CheckpointPaths::new(store.checkpoint_path(short));
    if store.run_path(short).exists() || store.lock_path(short).exists() || paths.exists() {
        return Ok(());
    }
    let curve = std::fs::read_to_string(curve_path).unwrap_or_default();
    let kept: String = curve.lines().take(state.curve_lines).map(|l| format!("{l}\n")).collect();
    write_atomic(&store.curve_path(short), kept.as_bytes())?;
    let st = TrainState { id: short.to_string(), ..state.clone() };
    checkpoint::save(&paths, names, shapes, &tr.params()?, &tr.opt.m, &tr.opt.v, st)
}

/// "cpu" or "cuda:i".
pub fn device_name(d: &Device) -> String {
    match d.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GptConfig;

    #[test]
    fn one_batch_overfits() {
        let cfg = GptConfig::tiny();
        let adam = AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.0 };
        let mut tr = Trainer::new(&cfg, 0, adam, &Device::Cpu).unwrap();
        let x: Vec<u32> = (0..64).map(|i| (i * 13 % 64) as u32).collect();
        let y: Vec<u32> = (0..64).map(|i| (i * 29 % 64) as u32).collect();
        let x = Tensor::from_vec(x, (4, 16), &Device::Cpu).unwrap();
        let y = Tensor::from_vec(y, (4, 16), &Device::Cpu).unwrap();
        let first = tr.step(&x, &y, 1e-2, 1.0).unwrap();
        let mut last = first;
        for _ in 0..300 {
            last = tr.step(&x, &y, 1e-2, 1.0).unwrap();
        }
        assert!(first > 3.5, "initial loss {first}");
        assert!(last < 0.1, "one batch did not overfit: loss {last} after 300 steps");
    }
}
