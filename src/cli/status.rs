//! `scalinglab status CONFIG|DIR`: done / running / partial / pending per run, with an ETA
//! from the FLOP rate the finished runs achieved.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::config::load_config;
use crate::results::ResultsDir;
use crate::sweep::grid::expand_with;
use crate::sweep::lock::{is_live, read_lock};
use crate::sweep::runner::{progress_path, store_of};

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A config (TOML) — every run of its grid — or a results folder (what is on disk).
    #[arg(value_name = "CONFIG|DIR")]
    pub target: PathBuf,
    /// Override a config key (as given to the sweep).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Runs at once, for the ETA.
    #[arg(long, short, value_name = "N", default_value_t = 2)]
    pub jobs: usize,
}

/// Runs `status`.
pub fn run(a: &StatusArgs) -> Result<ExitCode> {
    let (store, ids): (ResultsDir, Vec<(Option<usize>, String, f64)>) = if a.target.is_dir() {
        let store = ResultsDir::new(&a.target);
        let mut ids: Vec<(Option<usize>, String, f64)> =
            store.load_runs()?.into_iter().map(|r| (r.index, r.id, r.flops_exact)).collect();
        // Runs with a lock or checkpoint but no result yet.
        for sub in ["locks", "checkpoints"] {
            if let Ok(rd) = std::fs::read_dir(store.root.join(sub)) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if let Some(id) = name.strip_suffix(".lock").or_else(|| name.strip_suffix(".state.json"))
                    {
                        if !ids.iter().any(|x| x.1 == id) {
                            ids.push((None, id.to_string(), 0.0));
                        }
                    }
                }
            }
        }
        (store, ids)
    } else {
        let cfg = load_config(&a.target, &a.set)?;
        let (runs, tuned) = expand_with(&cfg, true)?;
        if crate::sweep::tune::parse(&cfg)?.is_some() {
            let (done, total) = crate::sweep::tune::progress(&cfg)?;
            println!(
                "[tune]: {done} of {total} tuning runs done ({}){}",
                crate::sweep::tune::tune_store(&cfg).root.display(),
                if tuned {
                    ""
                } else {
                    "; the grid's learning rates below are provisional until it finishes"
                }
            );
        }
        let ids = runs
            .iter()
            .map(|r| {
                (
                    Some(r.index),
                    r.spec.id(),
                    crate::model::count::flops_per_token_exact(&r.spec.model) * r.spec.tokens as f64,
                )
            })
            .collect();
        (store_of(&cfg), ids)
    };
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let (mut done_flops, mut done_secs, mut left_flops) = (0.0, 0.0, 0.0);
    println!("{:>4} {:16} {:10} detail", "idx", "id", "state");
    for (idx, id, flops) in &ids {
        let (state, detail) = if let Ok(t) = std::fs::read_to_string(store.run_path(id)) {
            let r: crate::results::RunResult = serde_json::from_str(&t)?;
            done_flops += r.flops_exact;
            done_secs += r.wall_seconds;
            let d = match (r.final_val_loss, &r.reason) {
                (Some(l), _) => format!("val loss {l:.4}, {:.0} s", r.wall_seconds),
                (None, Some(why)) => why.lines().next().unwrap_or("").to_string(),
                _ => String::new(),
            };
            (r.status.as_str().to_string(), d)
        } else {
            left_flops += flops;
            let lock = read_lock(&store.lock_path(id));
            match lock {
                Some(l) if is_live(&l) => {
                    let p = std::fs::read_to_string(progress_path(&store, id)).unwrap_or_default();
                    let tokens =
                        serde_json::from_str::<serde_json::Value>(&p).ok().and_then(|v| v["tokens"].as_u64());
                    (
                        "running".into(),
                        format!(
                            "pid {} on {}{}",
                            l.pid,
                            l.host,
                            tokens.map(|t| format!(", {t} tokens")).unwrap_or_default()
                        ),
                    )
                }
                _ if store.checkpoint_path(id).with_extension("state.json").exists() => {
                    let state =
                        std::fs::read_to_string(store.checkpoint_path(id).with_extension("state.json"))
                            .unwrap_or_default();
                    let step = serde_json::from_str::<serde_json::Value>(&state)
                        .ok()
                        .and_then(|v| v["step"].as_u64());
                    let at = step.map(|s| format!(" at step {s}")).unwrap_or_default();
                    (
                        "partial".into(),
                        format!("checkpoint{at} (interrupted, or a WSD branch handed over); the next sweep resumes it"),
                    )
                }
                _ => ("pending".into(), String::new()),
            }
        };
        *counts.entry(state.clone()).or_default() += 1;
        println!(
            "{:>4} {:16} {:10} {}",
            idx.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            id,
            state,
            detail
        );
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let eta = if done_secs > 0.0 && left_flops > 0.0 {
        let rate = done_flops / done_secs;
        format!(
            ", ETA ~{:.0} s with {} job(s) at the finished runs' {:.2} GFLOP/s",
            left_flops / rate / a.jobs.max(1) as f64,
            a.jobs,
            rate / 1e9
        )
    } else {
        String::new()
    };
    println!("{} runs: {}{eta}", ids.len(), summary.join(", "));
    Ok(ExitCode::SUCCESS)
}
