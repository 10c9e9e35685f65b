//! `scalinglab train CONFIG`: one run, resumable, result in the results store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use candle_core::Device;
use clap::Args;

use crate::config::load_config;
use crate::config::spec::{resolve_run, run_options};
use crate::error::input_err;
use crate::input_bail;
use crate::progress::{bars_enabled, run_bar};
use crate::results::{ResultsDir, RunStatus};
use crate::train::{train_run, RunContext};

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
}

/// Parses `cpu`, `cuda`, `cuda:i`, `auto`.
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if cfg!(feature = "cuda") {
                Ok(Device::new_cuda(0).unwrap_or(Device::Cpu))
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
            Device::new_cuda(i).map_err(|e| input_err(format!("--device {s}: CUDA is not usable here ({e})")))
        }
        s => input_bail!("--device {s}: unknown device; fix: use cpu, cuda, cuda:N or auto"),
    }
}

/// Runs `train`.
pub fn run(a: &TrainArgs) -> Result<ExitCode> {
    let device = parse_device(&a.device)?;
    let cfg = load_config(&a.config, &a.set)?;
    if cfg.raw.grid.is_some() {
        input_bail!(
            "{}: has a [grid]; fix: use `scalinglab sweep {}` for the whole grid, or `scalinglab run {} --index I` for one run",
            a.config.display(),
            a.config.display(),
            a.config.display()
        );
    }
    let cspec = crate::config::spec::corpus_spec(&cfg.raw, &a.config)?;
    let meta = crate::corpus::meta(&cspec)?;
    let spec = resolve_run(&cfg.raw, &a.config, &meta)?;
    let opts = run_options(&cfg.raw);
    let store = ResultsDir::new(PathBuf::from(&cfg.raw.results_dir).join(&cfg.raw.name));
    let id = spec.id();
    if store.run_path(&id).exists() {
        eprintln!("run {id} is already done: {} (nothing to train)", store.run_path(&id).display());
    }
    let corpus = crate::corpus::load(
        &spec.corpus,
        (spec.max_steps as usize * spec.batch_size + 1) * spec.model.block_size + 1,
        spec.final_eval_sequences.max(spec.eval_sequences) * (spec.model.block_size + 1),
    )?;
    crate::corpus::sampler::require_window("train", corpus.train.len(), spec.model.block_size)?;
    crate::corpus::sampler::require_window("validation", corpus.val.len(), spec.model.block_size)?;
    let pb = run_bar(spec.tokens, &id, bars_enabled(a.quiet));
    let ctx = RunContext {
        store: &store,
        sweep: &cfg.raw.name,
        index: None,
        device: &device,
        opts: &opts,
        stop_at: None,
    };
    let result = train_run(&spec, &corpus, &ctx, &mut |p| {
        pb.set_position(p.tokens);
        pb.set_message(format!("loss {:.4}  {:.0} tok/s", p.loss, p.tokens_per_s));
    })?;
    pb.finish_and_clear();
    if let Some(out) = &a.out {
        crate::results::write_json_atomic(out, &result)?;
    }
    store.write_runs_csv()?;
    let ln_v = (spec.model.vocab_size as f64).ln();
    println!("{}", serde_json::to_string(&result)?);
    eprintln!(
        "run {id}: status {} | params {} (non-embedding {}) | tokens {} | val loss {} nats/token (ln V = {ln_v:.3}{}) | {:.1} s, {:.0} tok/s",
        result.status.as_str(),
        result.params_total,
        result.params_nonembedding,
        result.tokens,
        result.final_val_loss.map(|l| format!("{l:.4}")).unwrap_or_else(|| "-".into()),
        result.corpus_entropy_floor.map(|f| format!(", floor {f:.3}")).unwrap_or_default(),
        result.wall_seconds,
        result.tokens_per_second,
    );
    Ok(if result.status == RunStatus::Ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
