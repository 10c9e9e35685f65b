//! One training run: AdamW with decoupled decay, LR schedules, clipping, periodic eval,
//! checkpoint/resume, divergence detection. Deterministic on CPU: same spec ⇒ same numbers.

pub mod checkpoint;
pub mod keep;
pub mod optim;
pub mod run;
pub mod schedule;
pub mod tensorboard;

pub use run::{train_run, Progress, RunContext};
