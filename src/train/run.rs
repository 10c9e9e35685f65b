//! The training loop of one run, in nanoGPT's order: set lr → eval/checkpoint → stop → step
//! (forward, backward, clip, AdamW: `trainer`) → log. The evaluation and checkpoint of the
//! state after step s come at the top of the next pass, so the stop test follows them: the
//! last step is evaluated, and a Ctrl-C checkpoints, before the loop ends.
//!
//! Evaluation: the periodic eval (every `eval_interval` steps and after the last) uses the
//! first `eval_sequences` of the fixed validation windows; the final validation loss uses
//! `final_eval_sequences` windows (default 256 × block_size tokens, e.g. 16,384 tokens at
//! T = 64) spread evenly over the held-out stream. `final_train_loss` is the mean training
//! loss of the last max(1, min(50, S/10)) steps. A training loss that is NaN/Inf or above
//! `divergence_factor` × ln V stops the run as diverged.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Tensor;

use super::checkpoint::{CheckpointPaths, TrainState};
pub use super::context::{Interrupted, Progress, RunContext};
use super::optim::AdamWConfig;
use super::record::{run_result, Outcome};
use super::resume::{self, Triggers};
use super::schedule::Schedule;
use super::tensorboard::EventWriter;
use super::trainer::{eval_loss, Trainer};
use crate::config::spec::RunSpec;
use crate::corpus::sampler::{batch_starts, fill_batch, val_starts};
use crate::corpus::Corpus;
use crate::results::{CurvePoint, RunResult, RunStatus};

/// Trains (or resumes) one run and writes its result and curve. Returns the result; a run
/// whose result already exists is not retrained (the existing record is returned).
pub fn train_run(
    spec: &RunSpec,
    corpus: &Corpus,
    ctx: &RunContext,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<RunResult> {
    let result_path = ctx.store.run_path(&spec.id());
    if result_path.exists() {
        let text = std::fs::read_to_string(&result_path)?;
        return serde_json::from_str(&text).with_context(|| format!("reading {}", result_path.display()));
    }
    let mut run = Run::start(spec, corpus, ctx)?;
    let end = ctx.stop_at.unwrap_or(spec.max_steps).min(spec.max_steps);
    let mut diverged = None;
    loop {
        // Set lr.
        let lr = run.sched.lr_at(run.state.step);
        // Eval/checkpoint the state after `step` steps (after a Ctrl-C: save, then `Interrupted`).
        if run.state.step > run.seg_step0 {
            run.eval_if_due()?;
            run.checkpoint_if_due()?;
        }
        // Stop.
        if run.state.step >= end {
            break;
        }
        // Step: forward, backward, clip, AdamW.
        let t0 = Instant::now();
        let loss = run.train_step(lr)?;
        if let Some(why) = run.divergence(loss) {
            diverged = Some(why);
            break;
        }
        // Log.
        run.log(lr, loss, t0.elapsed().as_secs_f64(), on_progress)?;
    }
    run.finish(diverged, &result_path)
}

/// One run in progress: the trainer, the loop's state, and the files it writes.
struct Run<'a> {
    spec: &'a RunSpec,
    corpus: &'a Corpus,
    ctx: &'a RunContext<'a>,
    tr: Trainer,
    sched: Schedule,
    /// The loop state a checkpoint stores; `state.step` is the number of steps done.
    state: TrainState,
    /// Training wall seconds so far.
    wall: f64,
    /// Sum of the train losses since the last curve point (their count: `state.loss_acc_n`).
    loss_acc: f64,
    /// The learning rate of the last step (the curve point's `lr`).
    last_lr: f64,
    /// Validation windows: the first `eval_sequences` for the periodic eval, the first
    /// `final_eval_sequences` for the final one.
    val_windows: Vec<usize>,
    ckpt: CheckpointPaths,
    last_ckpt: Instant,
    curve_path: PathBuf,
    curve: File,
    tb: Option<EventWriter>,
    /// This segment (since the start or the resume): when and at which step it began.
    seg_start: Instant,
    seg_step0: u64,
}

impl<'a> Run<'a> {
    /// A fresh model and optimizer, or the run's checkpoint restored; the curve and the
    /// TensorBoard writer opened.
    fn start(spec: &'a RunSpec, corpus: &'a Corpus, ctx: &'a RunContext<'a>) -> Result<Self> {
        let (id, cfg) = (spec.id(), &spec.model);
        let adam = AdamWConfig {
            beta1: spec.beta1,
            beta2: spec.beta2,
            eps: spec.eps,
            weight_decay: spec.weight_decay,
        };
        let mut tr = Trainer::new(cfg, spec.seed, adam, ctx.device)?;
        let ckpt = CheckpointPaths::new(ctx.store.checkpoint_path(&id));
        let curve_path = ctx.store.curve_path(&id);
        let state = resume::restore(&ckpt, &id, &mut tr, &curve_path)?;
        let tb = match &ctx.opts.tensorboard {
            Some(dir) => {
                let folder = format!("{}x{}x{}-{id}", cfg.n_embd, cfg.n_layer, cfg.n_head);
                Some(EventWriter::create(dir, &folder, state.step)?)
            }
            None => None,
        };
        let curve = OpenOptions::new()
            .append(true)
            .open(&curve_path)
            .with_context(|| format!("opening {}", curve_path.display()))?;
        let n_val = spec.final_eval_sequences.max(spec.eval_sequences);
        Ok(Run {
            spec,
            corpus,
            ctx,
            tr,
            sched: Schedule::of(spec),
            wall: f64::from_bits(state.wall_seconds_bits),
            loss_acc: f64::from_bits(state.loss_acc_bits),
            last_lr: 0.0,
            val_windows: val_starts(corpus.val.len(), cfg.block_size, n_val),
            ckpt,
            last_ckpt: Instant::now(),
            curve_path,
            curve,
            tb,
            seg_start: Instant::now(),
            seg_step0: state.step,
            state,
        })
    }

    /// Tokens per step, batch_size × block_size.
    fn batch_tokens(&self) -> u64 {
        (self.spec.batch_size * self.spec.model.block_size) as u64
    }

    /// One optimizer step at learning rate `lr` on the batch of step `state.step`; its loss.
    fn train_step(&mut self, lr: f64) -> Result<f32> {
        let (t, b, device) = (self.spec.model.block_size, self.spec.batch_size, self.ctx.device);
        let train = &self.corpus.train;
        let starts = batch_starts(self.corpus.mode, train.len(), t, b, self.spec.seed, self.state.step);
        let (x, y) = fill_batch(train, &starts, t);
        let x = Tensor::from_vec(x, (b, t), device)?;
        let y = Tensor::from_vec(y, (b, t), device)?;
        self.tr.step(&x, &y, lr, self.spec.grad_clip)
    }

    /// Why the run diverged at this loss (NaN/Inf or above `divergence_factor` × ln V), if it did.
    fn divergence(&self, loss: f32) -> Option<String> {
        let (f, vocab) = (self.spec.divergence_factor, self.spec.model.vocab_size);
        let diverge_at = f * (vocab as f64).ln();
        (!loss.is_finite() || loss as f64 > diverge_at).then(|| {
            format!(
                "train loss {loss} at step {} (NaN/Inf or above {diverge_at:.1} = {f} × ln {vocab})",
                self.state.step
            )
        })
    }

    /// Counts the step just taken (`dt` seconds, loss `loss` at rate `lr`): wall time, the
    /// TensorBoard scalars, the loss accumulators, the progress callback.
    fn log(&mut self, lr: f64, loss: f32, dt: f64, on_progress: &mut dyn FnMut(&Progress)) -> Result<()> {
        let bt = self.batch_tokens();
        let st = &mut self.state;
        st.step += 1;
        self.wall += dt;
        self.last_lr = lr;
        if let Some(w) = &mut self.tb {
            let tps = bt as f64 / dt.max(1e-9);
            w.scalars(
                st.step,
                &[("train/loss", loss as f64), ("train/lr", lr), ("train/tokens_per_s", tps)],
            )?;
        }
        self.loss_acc += loss as f64;
        st.loss_acc_n += 1;
        st.recent_losses.push(loss);
        let recent_n = (self.spec.max_steps / 10).clamp(1, 50) as usize;
        while st.recent_losses.len() > recent_n {
            st.recent_losses.remove(0);
        }
        let seg_tokens = (st.step - self.seg_step0) * bt;
        on_progress(&Progress {
            step: st.step,
            total: self.spec.max_steps,
            tokens: st.step * bt,
            loss: loss as f64,
            tokens_per_s: seg_tokens as f64 / self.seg_start.elapsed().as_secs_f64().max(1e-9),
        });
        Ok(())
    }

    /// Mean loss of the model on the first `n` validation windows.
    fn val_loss(&self, n: usize) -> Result<f64> {
        let windows = &self.val_windows[..n.min(self.val_windows.len())];
        eval_loss(&self.tr.model, &self.corpus.val, windows, self.spec.batch_size, self.ctx.device)
    }

    /// Every `eval_interval` steps and after the last: the validation loss and the mean train
    /// loss since the last point, as a curve point (and TensorBoard scalars).
    fn eval_if_due(&mut self) -> Result<()> {
        let step = self.state.step;
        if !(step.is_multiple_of(self.spec.eval_interval) || step == self.spec.max_steps) {
            return Ok(());
        }
        let val = self.val_loss(self.spec.eval_sequences)?;
        let p = CurvePoint {
            step,
            tokens: step * self.batch_tokens(),
            lr: self.last_lr,
            train_loss: self.loss_acc / self.state.loss_acc_n as f64,
            val_loss: Some(val),
            seconds: self.wall,
        };
        writeln!(self.curve, "{}", serde_json::to_string(&p)?)?;
        self.curve.flush()?;
        if let Some(w) = &mut self.tb {
            w.scalars(step, &[("val/loss", val), ("train/loss_mean", p.train_loss)])?;
            w.flush()?;
        }
        self.state.curve_lines += 1;
        self.loss_acc = 0.0;
        self.state.loss_acc_n = 0;
        Ok(())
    }

    /// Checkpoints the state where a trigger says so (`resume::Triggers`), hands it to the
    /// shorter WSD runs that branch here, and stops with [`Interrupted`] after a Ctrl-C.
    fn checkpoint_if_due(&mut self) -> Result<()> {
        let due = Triggers::at(self.ctx, self.state.step, self.spec.max_steps, self.last_ckpt);
        if !due.any() {
            return Ok(());
        }
        self.state.opt_t = self.tr.opt.t;
        self.state.wall_seconds_bits = self.wall.to_bits();
        self.state.loss_acc_bits = self.loss_acc.to_bits();
        if due.own() {
            resume::save(&self.ckpt, &self.tr, &self.state)?;
            self.last_ckpt = Instant::now();
        }
        for short in &due.branches {
            resume::save_branch(self.ctx.store, short, &self.curve_path, &self.tr, &self.state)?;
        }
        if due.interrupted {
            return Err(anyhow::Error::new(Interrupted(self.state.id.clone())));
        }
        Ok(())
    }

    /// After the loop: an error when it stopped early on request (`stop_at`; the checkpoint
    /// holds the state), else the final evaluation and the result, written after the kept
    /// model (a result on disk means its model is there too); the checkpoint is removed.
    fn finish(self, diverged: Option<String>, result_path: &Path) -> Result<RunResult> {
        let (spec, step) = (self.spec, self.state.step);
        let status = if diverged.is_some() { RunStatus::Diverged } else { RunStatus::Ok };
        if step < spec.max_steps && status == RunStatus::Ok {
            anyhow::bail!(
                "run {} stopped at step {step} of {} (checkpoint saved)",
                self.state.id,
                spec.max_steps
            );
        }
        let final_val_loss =
            if status == RunStatus::Ok { Some(self.val_loss(spec.final_eval_sequences)?) } else { None };
        let recent = &self.state.recent_losses;
        let final_train_loss =
            (!recent.is_empty()).then(|| recent.iter().map(|x| *x as f64).sum::<f64>() / recent.len() as f64);
        let outcome = Outcome {
            status,
            reason: diverged,
            steps: step,
            wall_seconds: self.wall,
            resumed_from_step: self.seg_step0,
            final_train_loss,
            final_val_loss,
        };
        let result = run_result(spec, self.corpus, self.ctx, outcome);
        if self.ctx.opts.keep_model && status == RunStatus::Ok {
            super::keep::save_final(
                &self.ctx.store.model_path(&result.id),
                spec,
                &self.tr.params()?,
                &result,
            )?;
        }
        crate::results::write_json_atomic(result_path, &result)?;
        self.ckpt.remove();
        Ok(result)
    }
}
