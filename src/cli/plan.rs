//! `scalinglab plan CONFIG`: the runs a config expands to, their sizes, FLOPs and estimated
//! time; `--slurm` prints an sbatch job-array script instead.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::config::{load_config, LoadedConfig};
use crate::results::ResultsDir;
use crate::sweep::cell::GridRun;
use crate::sweep::grid::expand_sweep;
use crate::sweep::plan::{rows, slurm_script, throughputs, warnings, PlanRow, SlurmOptions};
use crate::sweep::preflight::{duration, MAX_SECONDS};
use crate::sweep::store::{store_of, tune_store};
use crate::sweep::tune::{self, TuneChoice, TuneSpec};

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned table.
    Table,
    /// One JSON object: runs, totals, warnings.
    Json,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Config file (TOML).
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Override a config key, e.g. --set results_dir=/tmp/r.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// table or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Runs at once, for the ETA.
    #[arg(long, short, value_name = "N", default_value_t = 2)]
    pub jobs: usize,
    /// Skip the quick throughput measurement (no time estimates).
    #[arg(long)]
    pub no_measure: bool,
    /// Print an sbatch script for a Slurm job array over the pending runs.
    #[arg(long)]
    pub slurm: bool,
    /// Slurm partition.
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// Slurm time limit per task, e.g. 02:00:00.
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// CPUs per task (sets RAYON_NUM_THREADS).
    #[arg(long, value_name = "C", default_value_t = 1)]
    pub cpus_per_task: usize,
    /// GPUs per task (the tasks then run with --device cuda).
    #[arg(long, value_name = "G")]
    pub gpus: Option<usize>,
    /// At most K array tasks at once.
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<usize>,
    /// Memory per task, e.g. 2G.
    #[arg(long, value_name = "M")]
    pub mem: Option<String>,
    /// Before spending compute: draw K data sets from an assumed law E + A/N^α + B/D^β on the
    /// planned cells and seeds, fit each like `fit` (100 bootstrap replicates) and say how often
    /// α, β, E and a come out determined, and how wide their intervals are.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub simulate: usize,
    /// The law and noise for --simulate, as key=value pairs over the defaults alpha=0.34,
    /// beta=0.28, e=2, n_term=0.4, d_term=0.4 (nats at the smallest N and D), noise=0.006
    /// (relative SD of one run).
    #[arg(long, value_name = "K=V,...", default_value = "")]
    pub assume: String,
}

/// `--simulate`: the planned cells (N_total, D, seeds) through [`crate::fit::simulate`].
fn simulation(a: &PlanArgs, rows: &[PlanRow]) -> Result<Option<(Vec<String>, Vec<String>)>> {
    if a.simulate == 0 {
        return Ok(None);
    }
    let assume = crate::fit::simulate::Assumption::parse(&a.assume)?;
    let mut cells: Vec<(f64, f64, usize)> = Vec::new();
    for r in rows {
        let (n, d) = (r.params_total as f64, r.tokens as f64);
        match cells.iter_mut().find(|c| c.0 == n && c.1 == d) {
            Some(c) => c.2 += 1,
            None => cells.push((n, d, 1)),
        }
    }
    eprintln!("simulating {} data sets on {} cells ...", a.simulate, cells.len());
    let grid = crate::fit::StartGrid::Besiroglu;
    let s = crate::fit::simulate::simulate(&cells, &assume, a.simulate, 100, grid, 0)?;
    Ok(Some((s.lines(&assume), s.warnings())))
}

fn human(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn hms(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn print_rows(rows: &[PlanRow]) {
    println!(
        "{:>4} {:16} {:>6} {:>3} {:>3} {:>8} {:>8} {:>8} {:>7} {:>6} {:>9} {:>10} {:>9} {:>8} state",
        "idx",
        "id",
        "n_embd",
        "L",
        "H",
        "N_total",
        "N_nonemb",
        "tokens",
        "D/N",
        "epochs",
        "lr",
        "FLOPs(6ND)",
        "est",
        "memory"
    );
    for r in rows {
        println!(
            "{:>4} {:16} {:>6} {:>3} {:>3} {:>8} {:>8} {:>8} {:>7.2} {:>6} {:>9.2e} {:>10.3e} {:>9} {:>8} {}",
            r.index,
            r.id,
            r.n_embd,
            r.n_layer,
            r.n_head,
            human(r.params_total as f64),
            human(r.params_nonembedding as f64),
            human(r.tokens as f64),
            r.tokens_per_param,
            r.epochs.map(|e| format!("{e:.2}")).unwrap_or_else(|| "fresh".into()),
            r.learning_rate,
            r.flops_6nd,
            r.est_seconds.map(hms).unwrap_or_else(|| "-".into()),
            crate::sweep::preflight::gib(r.peak_memory_bytes).replace(' ', ""),
            r.state
        );
    }
}

/// Tokens/s per shape ([`crate::sweep::plan::speed_key`]), and how many shapes came from
/// finished runs and from timed steps.
type Speeds = (BTreeMap<String, f64>, usize, usize);

/// Everything `plan` prints, in either format.
struct Shown<'a> {
    a: &'a PlanArgs,
    cfg: &'a LoadedConfig,
    store: &'a ResultsDir,
    runs: &'a [GridRun],
    rows: Vec<PlanRow>,
    trows: Vec<PlanRow>,
    tune: Option<&'a TuneSpec>,
    choice: Option<&'a TuneChoice>,
    speed: Option<Speeds>,
    warns: Vec<String>,
    sim: Option<(Vec<String>, Vec<String>)>,
    totals: Totals,
}

/// FLOPs, pending time, ETA and the size of the kept models.
struct Totals {
    flops: f64,
    tune_flops: f64,
    tune_secs: Option<f64>,
    pending_secs: Option<f64>,
    eta: Option<f64>,
    keep: bool,
    model_bytes: f64,
}

/// Runs `plan`.
pub fn run(a: &PlanArgs) -> Result<ExitCode> {
    let cfg = load_config(&a.config, &a.set)?;
    let (tuning, runs) = expand_sweep(&cfg, true)?;
    let store = store_of(&cfg);
    let meta = crate::corpus::meta(&runs[0].spec.corpus)?;
    let (no_runs, no_store) = (Vec::new(), tune_store(&cfg));
    let (truns, tstore) = match &tuning {
        Some(t) => (&t.runs, &t.store),
        None => (&no_runs, &no_store),
    };
    let choice = tuning.as_ref().and_then(|t| t.choice.as_ref());
    if let Some(c) = choice {
        tune::write_choice(&cfg, c)?;
    }
    let tune_pending = tuning.is_some() && choice.is_none();
    if a.slurm {
        let (script_runs, script_store) = if tune_pending { (truns, tstore) } else { (&runs, &store) };
        return print_slurm(a, &cfg, script_runs, script_store, tune_pending);
    }
    let speed = (!a.no_measure).then(|| measure(&runs, truns, &store, tstore));
    let rate = speed.as_ref().map(|(m, _, _)| m);
    let trows = rows(truns, tstore, meta.train_tokens, rate);
    let rows = rows(&runs, &store, meta.train_tokens, rate);
    let mut warns = warnings(&runs, &rows);
    if let Some(c) = choice {
        warns.extend(c.warnings.iter().cloned());
    }
    let sim = simulation(a, &rows)?;
    if let Some((_, w)) = &sim {
        warns.extend(w.iter().cloned());
    }
    let totals = totals(a, &cfg, &rows, &trows, rate.is_some(), &mut warns);
    let tune = tuning.as_ref().map(|t| &t.spec);
    let shown = Shown {
        a,
        cfg: &cfg,
        store: &store,
        runs: &runs,
        rows,
        trows,
        tune,
        choice,
        speed,
        warns,
        sim,
        totals,
    };
    match a.format {
        Format::Json => print_json(&shown)?,
        Format::Table => print_table(&shown),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--slurm`: the sbatch script over the pending runs of the phase that is next.
fn print_slurm(
    a: &PlanArgs,
    cfg: &LoadedConfig,
    runs: &[GridRun],
    store: &ResultsDir,
    tune_pending: bool,
) -> Result<ExitCode> {
    let pending: Vec<usize> =
        runs.iter().filter(|r| !store.run_path(&r.spec.id()).exists()).map(|r| r.index).collect();
    if pending.is_empty() {
        eprintln!("all {} runs are done; the script would have nothing to do", runs.len());
        return Ok(ExitCode::SUCCESS);
    }
    if tune_pending {
        eprintln!(
            "[tune] has not finished: this script runs the {} pending tuning run(s); run `scalinglab plan {} --slurm` \
             again afterwards for the main grid",
            pending.len(),
            a.config.display()
        );
    }
    let exe = std::env::current_exe()?.display().to_string();
    let wd = std::env::current_dir()?.display().to_string();
    let logs = store.root.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let o = SlurmOptions {
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus_per_task: a.cpus_per_task,
        gpus: a.gpus,
        max_parallel: a.max_parallel,
        mem: a.mem.clone(),
    };
    let cfg_path = a.config.display().to_string();
    let logs = logs.display().to_string();
    print!(
        "{}",
        slurm_script(&cfg.raw.name, &exe, &wd, &cfg_path, &a.set, &logs, &pending, &o, tune_pending)
    );
    Ok(ExitCode::SUCCESS)
}

/// Throughput per shape (issue #24: one FLOP rate for every size put the quick sweep's ETA
/// off by 8×): the finished runs of that shape, else a few timed steps of it (1 thread).
fn measure(runs: &[GridRun], truns: &[GridRun], store: &ResultsDir, tstore: &ResultsDir) -> Speeds {
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let all: Vec<&GridRun> = runs.iter().chain(truns.iter()).collect();
    throughputs(&all, &[store, tstore], |s| {
        super::bench::steady_tokens_per_second(&s.model, s.batch_size).ok()
    })
}

/// The totals; warns when the ETA is over a week.
fn totals(
    a: &PlanArgs,
    cfg: &LoadedConfig,
    rows: &[PlanRow],
    trows: &[PlanRow],
    timed: bool,
    warns: &mut Vec<String>,
) -> Totals {
    let pending = |rs: &[PlanRow]| -> f64 {
        rs.iter().filter(|r| !r.state.starts_with("done")).filter_map(|r| r.est_seconds).sum()
    };
    let tune_secs = timed.then(|| pending(trows));
    let pending_secs: Option<f64> = timed.then(|| pending(rows) + pending(trows));
    let eta = pending_secs.map(|s| s / a.jobs.max(1) as f64);
    if let Some(e) = eta.filter(|e| *e > MAX_SECONDS) {
        warns.push(format!(
            "the ETA, {} with {} job(s), is over a week on this machine: check tokens, sizes and the grid \
             (`sweep` refuses single runs over a week unless --force)",
            duration(e),
            a.jobs
        ));
    }
    // Issue #17: every finished run keeps its weights (f32) unless train.keep_model = "none".
    let keep = cfg.raw.train.keep_model == crate::config::raw::KeepModel::Final;
    let model_bytes: f64 = if keep {
        rows.iter().chain(trows).map(|r| crate::model::file::approx_bytes(r.params_total)).sum()
    } else {
        0.0
    };
    Totals {
        flops: rows.iter().map(|r| r.flops_6nd).sum(),
        tune_flops: trows.iter().map(|r| r.flops_6nd).sum(),
        tune_secs,
        pending_secs,
        eta,
        keep,
        model_bytes,
    }
}

/// `--format json`: one object.
fn print_json(s: &Shown) -> Result<()> {
    let (t, rate) = (&s.totals, s.speed.as_ref().map(|(m, _, _)| m));
    let j = serde_json::json!({
        "name": s.cfg.raw.name, "runs": s.rows, "warnings": s.warns,
        "simulation": s.sim.as_ref().map(|(lines, _)| lines),
        "tune": s.tune.map(|_| serde_json::json!({
            "runs": s.trows, "flops_6nd": t.tune_flops, "pending_cpu_seconds": t.tune_secs,
            "finished": s.choice.is_some(), "choice": s.choice,
        })),
        "totals": {"runs": s.rows.len(), "flops_6nd": t.flops,
            "flops_exact": s.rows.iter().map(|r| r.flops_exact).sum::<f64>(),
            "flops_saved_wsd": crate::sweep::branch::flops_saved(s.runs),
            "tune_runs": s.trows.len(), "tune_flops_6nd": t.tune_flops,
            "tokens_per_second_by_shape": rate, "pending_cpu_seconds": t.pending_secs,
            "eta_seconds": t.eta, "jobs": s.a.jobs, "model_bytes": t.model_bytes},
    });
    println!("{}", serde_json::to_string_pretty(&j)?);
    Ok(())
}

/// The table: the tuning runs and their choice, the main grid, totals, warnings.
fn print_table(s: &Shown) {
    let t = &s.totals;
    if let Some(spec) = s.tune {
        print_tune(s, spec);
    }
    print_rows(&s.rows);
    println!(
        "total: {} runs, {:.3e} FLOPs (6ND){}{}",
        s.rows.len(),
        t.flops,
        if s.trows.is_empty() {
            String::new()
        } else {
            format!(" + {} tuning runs, {:.3e} FLOPs", s.trows.len(), t.tune_flops)
        },
        match (&s.speed, t.eta) {
            (Some((_, from_runs, timed)), Some(e)) => format!(
                ", ETA {} with {} job(s) (tokens/s per shape: {from_runs} from finished runs, {timed} from \
                 timed steps (median) at this machine's current load)",
                hms(e),
                s.a.jobs
            ),
            _ => String::new(),
        }
    );
    println!(
        "{}",
        if t.keep {
            format!(
                "models: every finished run keeps its weights, about {:.1} MB in all ({}/models/, \
                 git-ignored; train.keep_model = \"none\" keeps none)",
                t.model_bytes / 1e6,
                s.store.root.display()
            )
        } else {
            "models: none kept (train.keep_model = \"none\")".to_string()
        }
    );
    if let Some((lines, _)) = &s.sim {
        for l in lines {
            println!("{l}");
        }
    }
    for w in &s.warns {
        println!("warning: {w}");
    }
}

/// The `[tune]` part of the table.
fn print_tune(s: &Shown, spec: &TuneSpec) {
    println!(
        "[tune]: {} runs at {} tokens, {:.3e} FLOPs (6ND){}; the main grid uses {}",
        s.trows.len(),
        spec.budgets.iter().map(|d| human(*d)).collect::<Vec<_>>().join(", "),
        s.totals.tune_flops,
        s.totals.tune_secs.map(|x| format!(", {} of one process still to run", hms(x))).unwrap_or_default(),
        match spec.apply {
            tune::Apply::Best => "each tuned size's best learning rate (the fitted rule for the others)",
            tune::Apply::Rule => "the fitted learning-rate rule at every size",
            tune::Apply::Law => "the fitted law lr*(N, D) at every run (WSD: each size's longest budget)",
        }
    );
    print_rows(&s.trows);
    match s.choice {
        Some(c) => {
            for line in c.summary() {
                println!("  {line}");
            }
        }
        None => {
            println!("main grid: learning rates below are provisional ([train] values) until [tune] finishes")
        }
    }
    println!();
}
