//! Plans: the table of runs a config expands to, with sizes, FLOPs, epochs over the corpus and
//! an estimated time from a quick measured throughput; warnings about grids that cannot
//! identify what will be fitted; the Slurm job-array script.

use serde::Serialize;

use super::branch;
use super::cell::GridRun;
use crate::model::count;
use crate::results::ResultsDir;

/// One row of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    /// Grid index.
    pub index: usize,
    /// Run id.
    pub id: String,
    /// Width.
    pub n_embd: usize,
    /// Depth.
    pub n_layer: usize,
    /// Heads.
    pub n_head: usize,
    /// All parameters (Chinchilla N).
    pub params_total: u64,
    /// Non-embedding parameters (Kaplan N).
    pub params_nonembedding: u64,
    /// Training tokens D.
    pub tokens: u64,
    /// D / N_total.
    pub tokens_per_param: f64,
    /// Passes over the training split (None: a fresh synthetic stream, never repeated).
    pub epochs: Option<f64>,
    /// Peak learning rate after the width rule.
    pub learning_rate: f64,
    /// 6·N·D.
    pub flops_6nd: f64,
    /// Exact forward+backward FLOPs.
    pub flops_exact: f64,
    /// Estimated seconds on one process at its shape's measured tokens/s (a WSD branch: its
    /// cooldown only).
    pub est_seconds: Option<f64>,
    /// Estimated peak memory of its process on the CPU, bytes (`preflight`).
    pub peak_memory_bytes: f64,
    /// A lower bound on its training time on one CPU thread, seconds (`preflight`).
    pub min_seconds: f64,
    /// done-ok / done-diverged / done-failed / partial / pending.
    pub state: String,
}

/// Key of what sets a run's training speed: the model and the batch (not tokens, seed or LR).
pub fn speed_key(s: &crate::config::RunSpec) -> String {
    let m = &s.model;
    format!("{}x{}x{} T{} V{} B{}", m.n_embd, m.n_layer, m.n_head, m.block_size, m.vocab_size, s.batch_size)
}

/// Tokens/s of one single-threaded run process per [`speed_key`]: the median of the finished
/// runs of that shape in `stores` (each run's own `tokens_per_second`; runs on another thread
/// count are ignored), else `measure(spec)` (a few timed steps), once per shape. The finished
/// runs are the better estimate: they ran the whole loop, eval included, under this machine's
/// real load.
pub fn throughputs(
    runs: &[&GridRun],
    stores: &[&ResultsDir],
    mut measure: impl FnMut(&crate::config::RunSpec) -> Option<f64>,
) -> (std::collections::BTreeMap<String, f64>, usize, usize) {
    let mut seen: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let keys: std::collections::BTreeMap<String, &GridRun> = runs.iter().map(|r| (r.spec.id(), *r)).collect();
    for store in stores {
        for r in store.load_runs().unwrap_or_default() {
            let Some(g) = keys.get(&r.id) else { continue };
            if r.threads == 1 && r.tokens_per_second.is_finite() && r.tokens_per_second > 0.0 {
                seen.entry(speed_key(&g.spec)).or_default().push(r.tokens_per_second);
            }
        }
    }
    let (mut from_runs, mut timed) = (0, 0);
    let mut out = std::collections::BTreeMap::new();
    for r in runs {
        let k = speed_key(&r.spec);
        if out.contains_key(&k) {
            continue;
        }
        let tps = match seen.get_mut(&k) {
            Some(v) => {
                v.sort_by(f64::total_cmp);
                from_runs += 1;
                Some(v[v.len() / 2])
            }
            None => {
                timed += 1;
                measure(&r.spec)
            }
        };
        if let Some(t) = tps {
            out.insert(k, t);
        }
    }
    (out, from_runs, timed)
}

/// Builds the rows. `speed` is tokens/s of one run process per [`speed_key`] (no estimate
/// without it).
pub fn rows(
    runs: &[GridRun],
    store: &ResultsDir,
    train_tokens: Option<u64>,
    speed: Option<&std::collections::BTreeMap<String, f64>>,
) -> Vec<PlanRow> {
    runs.iter()
        .enumerate()
        .map(|(i, r)| {
            let s = &r.spec;
            // A WSD branch trains only its cooldown: the shared stable phase costs it nothing.
            let trained_fraction = match branch::parent_of(runs, i) {
                Some(_) => {
                    1.0 - (branch::cooldown_start(s) * (s.batch_size * s.model.block_size) as u64) as f64
                        / s.tokens as f64
                }
                None => 1.0,
            };
            let id = s.id();
            let needs = super::preflight::needs(s, super::preflight::corpus_tokens(s), 1, false);
            let n = count::params_total(&s.model);
            let fe = count::flops_per_token_exact(&s.model) * s.tokens as f64;
            let state = match std::fs::read_to_string(store.run_path(&id)) {
                Ok(t) => match serde_json::from_str::<serde_json::Value>(&t) {
                    Ok(v) => format!("done-{}", v["status"].as_str().unwrap_or("?")),
                    Err(_) => "corrupt".into(), // a sweep or run moves it aside and retrains
                },
                Err(_) if store.checkpoint_path(&id).with_extension("state.json").exists() => {
                    "partial".into()
                }
                Err(_) => "pending".into(),
            };
            PlanRow {
                index: r.index,
                id,
                n_embd: s.model.n_embd,
                n_layer: s.model.n_layer,
                n_head: s.model.n_head,
                params_total: n,
                params_nonembedding: count::params_nonembedding(&s.model),
                tokens: s.tokens,
                tokens_per_param: s.tokens as f64 / n as f64,
                epochs: train_tokens.map(|t| s.tokens as f64 / t.max(1) as f64),
                learning_rate: s.learning_rate,
                flops_6nd: count::flops_per_token_6n(&s.model) * s.tokens as f64,
                flops_exact: fe,
                est_seconds: speed
                    .and_then(|m| m.get(&speed_key(s)))
                    .map(|tps| s.tokens as f64 * trained_fraction / tps),
                peak_memory_bytes: needs.peak_bytes(),
                min_seconds: needs.min_seconds,
                state,
            }
        })
        .collect()
}

/// Warnings: corpus repeats, and grids that cannot identify the fitted exponents (issue #8:
/// fewer than 3 token budgets per size, N span under 10×, most runs under 1 or over 100
/// tokens per parameter).
pub fn warnings(runs: &[GridRun], rows: &[PlanRow]) -> Vec<String> {
    let mut w = Vec::new();
    // Runs the pre-flight check would refuse (issue #19): say so now, not at `sweep`.
    let avail = super::preflight::mem_available();
    for r in rows.iter().filter(|r| !r.state.starts_with("done")) {
        if let Some(a) = avail.filter(|&a| r.peak_memory_bytes > a) {
            w.push(format!(
                "run #{} ({}) needs about {} of memory, more than the {} available: `sweep` will refuse it \
                 (--force to try anyway)",
                r.index,
                r.id,
                super::preflight::gib(r.peak_memory_bytes),
                super::preflight::gib(a)
            ));
        }
        if r.min_seconds > super::preflight::MAX_SECONDS {
            w.push(format!(
                "run #{} ({}) would train for at least {} on one thread: `sweep` will refuse it (--force to \
                 run it anyway)",
                r.index,
                r.id,
                super::preflight::duration(r.min_seconds)
            ));
        }
    }
    for r in rows {
        if let Some(e) = r.epochs.filter(|e| *e > 4.0) {
            w.push(format!("run #{} ({}) repeats the corpus {e:.1} times (> 4 epochs): losses will show overfitting, not scaling", r.index, r.id));
        }
    }
    let mut by_size: std::collections::BTreeMap<u64, std::collections::BTreeSet<u64>> = Default::default();
    for r in rows {
        by_size.entry(r.params_total).or_default().insert(r.tokens);
    }
    let few: Vec<String> = by_size
        .iter()
        .filter(|(_, d)| d.len() < 3)
        .map(|(n, d)| format!("N={n} ({} budget(s))", d.len()))
        .collect();
    if !few.is_empty() && runs.len() > 1 {
        w.push(format!(
            "fewer than 3 token budgets at {}: B and β (the data term) are poorly determined there",
            few.join(", ")
        ));
    }
    let (nmin, nmax) =
        rows.iter().fold((u64::MAX, 0), |(a, b), r| (a.min(r.params_total), b.max(r.params_total)));
    if runs.len() > 1 && nmax < 10 * nmin {
        w.push(format!(
            "N spans only {:.1}× ({nmin} to {nmax}): α and the compute-optimal exponents need ≥ 10×",
            nmax as f64 / nmin.max(1) as f64
        ));
    }
    let low = rows.iter().filter(|r| r.tokens_per_param < 1.0).count();
    let high = rows.iter().filter(|r| r.tokens_per_param > 100.0).count();
    if runs.len() > 1 && 2 * low > rows.len() {
        w.push(format!(
            "{low} of {} runs have under 1 token per parameter: data-limited, α and E will not be determined",
            rows.len()
        ));
    }
    if runs.len() > 1 && 2 * high > rows.len() {
        w.push(format!(
            "{high} of {} runs have over 100 tokens per parameter: model-limited, β will not be determined",
            rows.len()
        ));
    }
    let saved = branch::flops_saved(runs);
    if saved > 0.0 {
        let total: f64 = rows.iter().map(|r| r.flops_6nd).sum();
        w.push(format!(
            "WSD branching saves {saved:.3e} of {total:.3e} FLOPs (6ND) ({:.0}%)",
            100.0 * saved / total
        ));
    }
    w
}

/// Compresses sorted indices into Slurm's array syntax: 0-3,5,7-9.
pub fn array_ranges(idx: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && idx[j + 1] == idx[j] + 1 {
            j += 1;
        }
        out.push(if i == j { idx[i].to_string() } else { format!("{}-{}", idx[i], idx[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// Options of the Slurm script.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// --partition
    pub partition: Option<String>,
    /// --time
    pub time: Option<String>,
    /// --cpus-per-task (and RAYON_NUM_THREADS)
    pub cpus_per_task: usize,
    /// --gpus per task
    pub gpus: Option<usize>,
    /// At most this many tasks at once (%K).
    pub max_parallel: Option<usize>,
    /// --mem per task
    pub mem: Option<String>,
}

/// An sbatch script for a job array over `pending` runs; each task runs
/// `scalinglab run CONFIG --index $SLURM_ARRAY_TASK_ID` (results are one file per run, so
/// tasks on a shared filesystem never collide; nothing depends on `sacct`).
#[allow(clippy::too_many_arguments)]
pub fn slurm_script(
    name: &str,
    exe: &str,
    workdir: &str,
    config: &str,
    sets: &[String],
    logs: &str,
    pending: &[usize],
    o: &SlurmOptions,
    tune: bool,
) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name=scalinglab-{name}\n"));
    let par = o.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
    s.push_str(&format!("#SBATCH --array={}{par}\n", array_ranges(pending)));
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", o.cpus_per_task.max(1)));
    if let Some(p) = &o.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(t) = &o.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(g) = o.gpus {
        s.push_str(&format!("#SBATCH --gpus={g}\n"));
    }
    if let Some(m) = &o.mem {
        s.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    s.push_str(&format!("#SBATCH --output={logs}/slurm-%A_%a.out\n"));
    s.push_str("# Generated by `scalinglab plan --slurm`. Each task trains one run and writes\n");
    s.push_str("# results/NAME/runs/ID.json; rerunning the script skips finished runs.\n");
    s.push_str("# Time limits, scancel, preemption: Slurm sends SIGTERM (then SIGKILL after KillWait);\n");
    s.push_str("# `run` checkpoints the step it is on and exits 130. Submit the script again (or\n");
    s.push_str(
        "# `plan --slurm` anew) and each unfinished run resumes from its checkpoint, bit-identically.\n",
    );
    s.push_str("# With a KillWait too short for a large checkpoint, ask for the signal earlier, e.g.\n");
    s.push_str(
        "# `#SBATCH --signal=B:TERM@120` (B: the batch shell is this `run`, by exec); for automatic\n",
    );
    s.push_str("# resubmission add `#SBATCH --requeue` and requeue from your cluster's preemption policy.\n");
    if tune {
        s.push_str("# These are the [tune] runs. When they have finished, run `scalinglab plan CONFIG\n");
        s.push_str("# --slurm` again: it then writes the main grid's script with the tuned values.\n");
    }
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!("cd {}\n", q(workdir)));
    s.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    let device = if o.gpus.is_some() { " --device cuda" } else { "" };
    let sets: String = sets.iter().map(|x| format!(" --set {}", q(x))).collect();
    s.push_str(&format!(
        "exec {} run {} --index \"$SLURM_ARRAY_TASK_ID\"{} --quiet{device}{sets}\n",
        q(exe),
        q(config),
        if tune { " --tune" } else { "" }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(array_ranges(&[0, 1, 2, 3, 5, 7, 8, 9]), "0-3,5,7-9");
        assert_eq!(array_ranges(&[4]), "4");
    }
}
