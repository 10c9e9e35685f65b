//! One training run: AdamW with decoupled decay, LR schedules, clipping, periodic eval,
//! checkpoint/resume, divergence detection. Deterministic on CPU: same spec ⇒ same numbers.

pub mod checkpoint;
mod context;
pub mod keep;
pub mod optim;
mod record;
mod resume;
pub mod run;
pub mod schedule;
pub mod tensorboard;
pub mod trainer;

pub use record::{cpu_threads, device_name};
pub use run::{train_run, Progress, RunContext};
pub use trainer::{eval_loss, Trainer};
