//! `scalinglab train CONFIG`: one run, resumable, result in the results store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use candle_core::Device;
use clap::Args;

use crate::config::load_config;
use crate::error::input_err;
use crate::input_bail;
use crate::progress::bars_enabled;
use crate::results::RunStatus;
use crate::sweep::grid::expand;
use crate::sweep::runner::{install_ctrlc, run_one, store_of, RunOutcome};
/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Config file (TOML).
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Override a config key, e.g. --set n_embd=128 --set train.learning_rate=1e-3.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Also write the run-result JSON here (the results store copy is always written).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// cpu, cuda[:i] (needs a build with --features cuda), or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub device: String,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Train even when the pre-flight estimate says the run exceeds this machine's available
    /// memory or a week (README, "Pre-flight").
    #[arg(long)]
    pub force: bool,
    /// Write TensorBoard event files under DIR, one subfolder per run (`tensorboard --logdir
    /// DIR` shows them live); the same as `--set train.tensorboard=DIR`.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
}

/// Parses `cpu`, `cuda`, `cuda:i`, `auto`.
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if cfg!(feature = "cuda") {
                match Device::new_cuda(0) {
                    Ok(d) => Ok(d),
                    Err(e) => {
                        eprintln!(
                            "--device auto: CUDA is not usable here ({}); using the CPU",
                            without_backtrace(e)
                        );
                        Ok(Device::Cpu)
                    }
                }
            } else {
                Ok(Device::Cpu)
            }
        }
        s if s == "cuda" || s.starts_with("cuda:") => {
            let i: usize = match s.strip_prefix("cuda:") {
                Some(n) => {
                    n.parse().map_err(|_| input_err(format!("--device {s}: expected cuda:N, e.g. cuda:0")))?
                }
                None => 0,
            };
            if !cfg!(feature = "cuda") {
                input_bail!(
                    "--device {s}: this binary was built without the `cuda` feature; fix: build it with \
                     `cargo build --release --features cuda` (README, \"Running on a GPU\"), or use --device cpu"
                );
            }
            Device::new_cuda(i).map_err(|e| {
                input_err(format!(
                    "--device {s}: CUDA is not usable here ({}); fix: check the NVIDIA driver (R580+) and the CUDA 13 \
                     libraries (README, \"Running on a GPU\"), or use --device cpu",
                    without_backtrace(e)
                ))
            })
        }
        s => input_bail!("--device {s}: unknown device; fix: use cpu, cuda, cuda:N or auto"),
    }
}

/// candle appends a captured backtrace to its errors when RUST_BACKTRACE is set; keep only the cause,
/// so a missing GPU is a one-line error.
fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        e => e,
    }
}

/// Prints a finished run's one-line summary on stderr and its JSON on stdout; exit code
/// 0 for ok, 1 for diverged/failed.
pub fn report_outcome(outcome: RunOutcome, out: Option<&PathBuf>, done_code: Option<u8>) -> Result<ExitCode> {
    let mut already = false;
    let result = match outcome {
        RunOutcome::Locked(info) => {
            eprintln!("run is being trained by pid {} on {}; nothing to do here", info.pid, info.host);
            return Ok(ExitCode::from(3));
        }
        RunOutcome::AlreadyDone(r) => {
            eprintln!("run {} is already done (status {}); nothing to train", r.id, r.status.as_str());
            already = true;
            r
        }
        RunOutcome::Trained(r) => r,
    };
    if let Some(out) = out {
        crate::results::write_json_atomic(out, &result)?;
    }
    println!("{}", serde_json::to_string(&result)?);
    let vocab = result.spec.get("vocab_size").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    eprintln!(
        "run {}: status {} | params {} (non-embedding {}) | tokens {} | val loss {} nats/token (ln V = {:.3}{}) | {:.1} s, {:.0} tok/s",
        result.id,
        result.status.as_str(),
        result.params_total,
        result.params_nonembedding,
        result.tokens,
        result.final_val_loss.map(|l| format!("{l:.4}")).unwrap_or_else(|| "-".into()),
        vocab.ln(),
        result.corpus_entropy_floor.map(|f| format!(", floor {f:.3}")).unwrap_or_default(),
        result.wall_seconds,
        result.tokens_per_second,
    );
    if let Some(r) = &result.reason {
        eprintln!("reason: {r}");
    }
    Ok(match (already, done_code) {
        (true, Some(c)) => ExitCode::from(c),
        _ if result.status == RunStatus::Ok => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Runs `train`.
pub fn run(a: &TrainArgs) -> Result<ExitCode> {
    let device = parse_device(&a.device)?;
    let mut cfg = load_config(&a.config, &with_tensorboard(&a.set, a.tensorboard.as_deref()))?;
    // The whole config is validated, [grid] and [tune] included, though one run uses neither:
    // a typo there must not pass silently only to fail at `sweep` (issue #19).
    if cfg.raw.tune.is_some() {
        crate::sweep::tune::expand_tune(&cfg)?;
    }
    if cfg.raw.grid.is_some() {
        crate::sweep::grid::expand_with(&cfg, true)?;
    }
    if cfg.raw.tune.take().is_some() {
        cfg.table.remove("tune");
    }
    if cfg.raw.grid.take().is_some() {
        cfg.table.remove("grid");
        eprintln!(
            "{}: training one model from the base [model]/[train] values; [grid] is ignored \
             (use `scalinglab sweep` for the grid, or `scalinglab run --index I` for one of its runs)",
            a.config.display()
        );
    }
    let runs = expand(&cfg)?;
    install_ctrlc();
    let store = store_of(&cfg);
    let outcome = run_one(&cfg, &store, &runs, 0, &device, bars_enabled(a.quiet), a.force)?;
    report_outcome(outcome, a.out.as_ref(), None)
}

/// `--set` overrides plus `train.tensorboard=DIR` for `--tensorboard DIR` (a set, so sweep
/// children and Slurm tasks get it with the other overrides).
pub fn with_tensorboard(sets: &[String], dir: Option<&std::path::Path>) -> Vec<String> {
    let mut v = sets.to_vec();
    if let Some(d) = dir {
        v.push(format!("train.tensorboard={:?}", d.display().to_string()));
    }
    v
}
