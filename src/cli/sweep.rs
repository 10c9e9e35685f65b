//! `scalinglab sweep CONFIG`: train every pending run of the grid, several at once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::config::{load_config, LoadedConfig};
use crate::input_bail;
use crate::progress::bars_enabled;
use crate::sweep::executor::{run_sweep, SweepOptions};
use crate::sweep::grid::expand_tuned;
use crate::sweep::preflight::check_all;
use crate::sweep::runner::install_ctrlc;
use crate::sweep::store::{choice_path, store_of, tune_store};
use crate::sweep::tune::{self, Tuning};

/// Arguments of `sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Config file (TOML) with a [grid].
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Runs at once (default: one per core for runs this small).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Threads per run (default: 1; candle's CPU matmul threads).
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Override a config key for every run, e.g. --set results_dir=/tmp/r.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// cpu, cuda[:i] (needs a build with --features cuda), or auto.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub device: String,
    /// Move `failed` results aside (runs/failed/) and run those again.
    #[arg(long)]
    pub retry_failed: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Train even the runs the pre-flight estimate says exceed this machine's available memory
    /// or a week (README, "Pre-flight").
    #[arg(long)]
    pub force: bool,
    /// Write TensorBoard event files under DIR, one subfolder per run (`tensorboard --logdir
    /// DIR` shows them live); the same as `--set train.tensorboard=DIR`.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Runs `sweep`. Exit code 0 when every run is ok, 1 when some failed or diverged, 130 when
/// interrupted.
pub fn run(a: &SweepArgs) -> Result<ExitCode> {
    super::train::parse_device(&a.device)?;
    let sets = super::train::with_tensorboard(&a.set, a.tensorboard.as_deref());
    let a = &SweepArgs { set: sets, tensorboard: None, ..a.clone() };
    let cfg = load_config(&a.config, &a.set)?;
    let store = store_of(&cfg);
    let threads = a.threads.unwrap_or(1);
    if threads == 0 || a.jobs == Some(0) {
        input_bail!("--jobs and --threads must be at least 1; fix: e.g. --jobs 2 --threads 1");
    }
    let jobs = a.jobs.unwrap_or_else(|| (cores() / threads).max(1));
    install_ctrlc();
    let o = SweepOptions {
        config: a.config.clone(),
        sets: a.set.clone(),
        jobs,
        threads,
        device: a.device.clone(),
        bars: bars_enabled(a.quiet),
        lines: !a.quiet && !bars_enabled(a.quiet),
        retry_failed: a.retry_failed,
        tune: false,
        force: a.force,
    };
    let gpu = a.device.starts_with("cuda");
    // Phase 1: [tune] — its runs, then the choice every main-grid run is built from.
    let tuning = match run_tuning(a, &cfg, &o, gpu)? {
        Tuned::Done(t) => t,
        Tuned::Stop(code) => return Ok(code),
    };
    let runs = expand_tuned(&cfg, tuning.as_deref())?;
    check_all(&runs, &store, jobs, threads, gpu, a.force)?;
    eprintln!(
        "sweep {}: {} runs in {} ({} at a time, {} thread(s) each)",
        cfg.raw.name,
        runs.len(),
        store.root.display(),
        jobs,
        threads
    );
    let s = run_sweep(&cfg.raw.name, &store, &runs, &o)?;
    if s.already_done == s.total {
        eprintln!(
            "all {} runs are already done; nothing to train ({})",
            s.total,
            store.root.join("runs.csv").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "sweep {}: {} trained ok, {} diverged, {} failed, {} already done, {} running elsewhere — {:.1} s",
        cfg.raw.name, s.ok, s.diverged, s.failed, s.already_done, s.locked_elsewhere, s.wall_seconds
    );
    eprintln!("results: {}", store.root.join("runs.csv").display());
    if s.interrupted {
        let sets: String = a.set.iter().map(|x| format!(" --set {x}")).collect();
        eprintln!(
            "interrupted: checkpoints are kept; resume with `scalinglab sweep {}{sets}`",
            a.config.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(if s.failed + s.diverged > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// How the `[tune]` phase ended.
enum Tuned {
    /// Finished (None: the config has no `[tune]`): the main grid goes on.
    Done(Option<Box<Tuning>>),
    /// The main grid cannot start (interrupted, or tuning runs still training elsewhere).
    Stop(ExitCode),
}

/// The `[tune]` phase: trains the tuning runs, then reads and writes their choice.
fn run_tuning(a: &SweepArgs, cfg: &LoadedConfig, o: &SweepOptions, gpu: bool) -> Result<Tuned> {
    let Some(spec) = tune::parse(cfg)? else { return Ok(Tuned::Done(None)) };
    let runs = tune::tune_runs(cfg, &spec)?;
    let store = tune_store(cfg);
    check_all(&runs, &store, o.jobs, o.threads, gpu, a.force)?;
    eprintln!(
        "tune {}: {} tuning runs in {} ({} at a time)",
        cfg.raw.name,
        runs.len(),
        store.root.display(),
        o.jobs
    );
    let s = run_sweep(&cfg.raw.name, &store, &runs, &SweepOptions { tune: true, ..o.clone() })?;
    if s.interrupted {
        eprintln!(
            "interrupted during [tune]: checkpoints are kept; resume with `scalinglab sweep {}`",
            a.config.display()
        );
        return Ok(Tuned::Stop(ExitCode::from(130)));
    }
    let Some(c) = tune::load_choice(cfg, &spec, &runs, &store)? else {
        eprintln!(
            "tune {}: {} tuning run(s) are running elsewhere; the main grid waits for them — run \
             `scalinglab sweep {}` again when they finish",
            cfg.raw.name,
            s.locked_elsewhere,
            a.config.display()
        );
        return Ok(Tuned::Stop(ExitCode::from(1)));
    };
    tune::write_choice(cfg, &c)?;
    eprintln!("tune {}: {}", cfg.raw.name, choice_path(cfg).display());
    for line in c.summary() {
        eprintln!("  {line}");
    }
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Tuned::Done(Some(Box::new(Tuning { spec, runs, store, choice: Some(c) }))))
}
