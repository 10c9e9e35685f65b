//! `scalinglab status CONFIG|DIR`: done / running / partial / pending per run, with an ETA
//! from the FLOP rate the finished runs achieved.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::config::load_config;
use crate::results::{ResultsDir, RunResult};
use crate::sweep::grid::expand_sweep;
use crate::sweep::lock::{is_live, read_lock};
use crate::sweep::store::{progress_path, store_of};

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A config (TOML) — every run of its grid — or a results folder (what is on disk).
    #[arg(value_name = "CONFIG|DIR")]
    pub target: PathBuf,
    /// Override a config key (as given to the sweep).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Runs at once, for the ETA [default: the last sweep's --jobs, from logs/sweep.json; 1
    /// if no sweep has run].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print one JSON object (runs, counts, ETA) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One run's state, for the table and `--json`.
#[derive(Debug, serde::Serialize)]
struct Row {
    index: Option<usize>,
    id: String,
    state: String,
    detail: String,
    final_val_loss: Option<f64>,
    wall_seconds: Option<f64>,
    tokens_done: Option<u64>,
}

/// `--jobs`, else the last sweep's (logs/sweep.json), else 1; and where it came from.
fn jobs(a: &StatusArgs, store: &ResultsDir) -> (usize, &'static str) {
    if let Some(j) = a.jobs {
        return (j.max(1), "--jobs");
    }
    let recorded = std::fs::read_to_string(store.root.join("logs/sweep.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["jobs"].as_u64());
    match recorded {
        Some(j) => (j.max(1) as usize, "the sweep's --jobs"),
        None => (1, "assumed; pass --jobs N"),
    }
}

/// A run to report: grid index (None for a results folder's stray lock or checkpoint), id, and
/// its exact training FLOPs (for the ETA).
type Entry = (Option<usize>, String, f64);

/// Sums over the runs for the ETA: FLOPs and seconds done, FLOPs left.
#[derive(Default)]
struct Progress {
    done_flops: f64,
    done_secs: f64,
    left_flops: f64,
}

/// Runs `status`.
pub fn run(a: &StatusArgs) -> Result<ExitCode> {
    let (store, ids) = if a.target.is_dir() { from_dir(&a.target)? } else { from_config(a)? };
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut sums = Progress::default();
    let mut rows = Vec::with_capacity(ids.len());
    for (idx, id, flops) in &ids {
        let row = row_of(&store, *idx, id, *flops, &mut sums)?;
        *counts.entry(row.state.clone()).or_default() += 1;
        rows.push(row);
    }
    let (jobs, jobs_from) = jobs(a, &store);
    let rate = (sums.done_secs > 0.0).then(|| sums.done_flops / sums.done_secs);
    let eta = rate.filter(|_| sums.left_flops > 0.0).map(|r| sums.left_flops / r / jobs as f64);
    if a.json {
        let j = serde_json::json!({
            "results": store.root, "runs": rows, "counts": counts, "jobs": jobs, "jobs_from": jobs_from,
            "flops_per_second": rate, "eta_seconds": eta,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:>4} {:16} {:10} detail", "idx", "id", "state");
    for r in &rows {
        let idx = r.index.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
        println!("{idx:>4} {:16} {:10} {}", r.id, r.state, r.detail);
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let eta = match (eta, rate) {
        (Some(e), Some(r)) => {
            format!(
                ", ETA ~{e:.0} s with {jobs} job(s) ({jobs_from}) at the finished runs' {:.2} GFLOP/s",
                r / 1e9
            )
        }
        _ => String::new(),
    };
    println!("{} runs: {}{eta}", ids.len(), summary.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// A results folder: the runs with a result, then those with a lock or checkpoint only.
fn from_dir(dir: &std::path::Path) -> Result<(ResultsDir, Vec<Entry>)> {
    let store = ResultsDir::new(dir);
    let mut ids: Vec<Entry> =
        store.load_runs()?.into_iter().map(|r| (r.index, r.id, r.flops_exact)).collect();
    // Runs with a lock or checkpoint but no result yet.
    for sub in ["locks", "checkpoints"] {
        if let Ok(rd) = std::fs::read_dir(store.root.join(sub)) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if let Some(id) = name.strip_suffix(".lock").or_else(|| name.strip_suffix(".state.json")) {
                    if !ids.iter().any(|x| x.1 == id) {
                        ids.push((None, id.to_string(), 0.0));
                    }
                }
            }
        }
    }
    Ok((store, ids))
}

/// A config: every run of its grid (and a line on its tuning).
fn from_config(a: &StatusArgs) -> Result<(ResultsDir, Vec<Entry>)> {
    let cfg = load_config(&a.target, &a.set)?;
    let (tuning, runs) = expand_sweep(&cfg, true)?;
    if let Some(t) = &tuning {
        let (done, total) = t.progress();
        println!(
            "[tune]: {done} of {total} tuning runs done ({}){}",
            t.store.root.display(),
            if t.choice.is_some() {
                ""
            } else {
                "; the grid's learning rates below are provisional until it finishes"
            }
        );
    }
    let ids = runs
        .iter()
        .map(|r| {
            let flops = crate::model::count::flops_per_token_exact(&r.spec.model) * r.spec.tokens as f64;
            (Some(r.index), r.spec.id(), flops)
        })
        .collect();
    Ok((store_of(&cfg), ids))
}

/// One run's row: its result, else running (a live lock), partial (a checkpoint) or pending.
fn row_of(
    store: &ResultsDir,
    index: Option<usize>,
    id: &str,
    flops: f64,
    sums: &mut Progress,
) -> Result<Row> {
    let mut row = Row {
        index,
        id: id.to_string(),
        state: String::new(),
        detail: String::new(),
        final_val_loss: None,
        wall_seconds: None,
        tokens_done: None,
    };
    if let Ok(t) = std::fs::read_to_string(store.run_path(id)) {
        let r: RunResult = serde_json::from_str(&t)?;
        sums.done_flops += r.flops_exact;
        sums.done_secs += r.wall_seconds;
        row.detail = match (r.final_val_loss, &r.reason) {
            (Some(l), _) => format!("val loss {l:.4}, {:.0} s", r.wall_seconds),
            (None, Some(why)) => why.lines().next().unwrap_or("").to_string(),
            _ => String::new(),
        };
        row.state = r.status.as_str().to_string();
        (row.final_val_loss, row.wall_seconds, row.tokens_done) =
            (r.final_val_loss, Some(r.wall_seconds), Some(r.tokens));
        return Ok(row);
    }
    sums.left_flops += flops;
    let state_file = store.checkpoint_path(id).with_extension("state.json");
    match read_lock(&store.lock_path(id)) {
        Some(l) if is_live(&l) => {
            let p = std::fs::read_to_string(progress_path(store, id)).unwrap_or_default();
            row.tokens_done =
                serde_json::from_str::<serde_json::Value>(&p).ok().and_then(|v| v["tokens"].as_u64());
            row.state = "running".into();
            row.detail = format!(
                "pid {} on {}{}",
                l.pid,
                l.host,
                row.tokens_done.map(|t| format!(", {t} tokens")).unwrap_or_default()
            );
        }
        _ if state_file.exists() => {
            let state = std::fs::read_to_string(&state_file).unwrap_or_default();
            let step =
                serde_json::from_str::<serde_json::Value>(&state).ok().and_then(|v| v["step"].as_u64());
            let at = step.map(|s| format!(" at step {s}")).unwrap_or_default();
            row.state = "partial".into();
            row.detail = format!(
                "checkpoint{at} (interrupted, or a WSD branch handed over); the next sweep resumes it"
            );
        }
        _ => row.state = "pending".into(),
    }
    Ok(row)
}
