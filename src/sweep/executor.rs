//! The local executor: every pending run as a child process `scalinglab run CONFIG --index I`
//! with `RAYON_NUM_THREADS=T`, `--jobs` at a time, so a crash or out-of-memory in one run is
//! recorded as `failed` (with its stderr tail) and the sweep goes on. Runs start largest
//! first (better packing, and WSD parents before their branches). Ctrl-C is forwarded to the
//! children, which checkpoint and stop; the sweep then says how to resume.
//!
//! Defaults (measured on a 2-core machine): tiny models scale poorly inside one process (two
//! threads give 1.2–1.4×) but two 1-thread processes give 1.9–2.0×, so the default is one
//! single-threaded run per core.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::branch::parent_of;
use super::cell::GridRun;
use super::runner::INTERRUPTED;
use super::store::progress_path;
use crate::model::count;
use crate::results::{write_json_atomic, ResultsDir, RunResult, RunStatus, SCHEMA_VERSION};

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Config path (passed to the children).
    pub config: PathBuf,
    /// `--set` overrides (passed to the children).
    pub sets: Vec<String>,
    /// Runs at once.
    pub jobs: usize,
    /// Threads per run (RAYON_NUM_THREADS).
    pub threads: usize,
    /// Device string for the children.
    pub device: String,
    /// Draw progress bars.
    pub bars: bool,
    /// Without bars: a plain line per finished run and a heartbeat every 5 minutes (off with
    /// `--quiet`).
    pub lines: bool,
    /// Move `failed` results aside and run them again.
    pub retry_failed: bool,
    /// These are the `[tune]` runs (children get `--tune`).
    pub tune: bool,
    /// Skip the pre-flight refusal (children get `--force`).
    pub force: bool,
}

/// What a sweep did.
#[derive(Debug, Default, Clone)]
pub struct SweepSummary {
    /// Runs in the grid.
    pub total: usize,
    /// Runs already done before this sweep.
    pub already_done: usize,
    /// Runs trained now, by status.
    pub ok: usize,
    /// Diverged now.
    pub diverged: usize,
    /// Failed now (crash, OOM, error).
    pub failed: usize,
    /// Skipped: another live process held their lock.
    pub locked_elsewhere: usize,
    /// Ctrl-C stopped the sweep.
    pub interrupted: bool,
    /// Wall seconds.
    pub wall_seconds: f64,
}

/// Exit code a child uses for "already done by someone else" (`run --done-exit-code`).
const DONE_CODE: i32 = 4;

struct Active {
    index: usize,
    child: Child,
    bar: ProgressBar,
    log: PathBuf,
}

/// Last `n` lines of a file.
fn tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A `failed` record for a run whose process died without writing its result.
pub fn failed_result(sweep: &str, run: &GridRun, reason: String) -> RunResult {
    let s = &run.spec;
    RunResult {
        schema_version: SCHEMA_VERSION,
        id: s.id(),
        sweep: sweep.to_string(),
        index: Some(run.index),
        spec: s.to_map(),
        params_total: count::params_total(&s.model),
        params_nonembedding: count::params_nonembedding(&s.model),
        tokens: s.tokens,
        flops_6nd: count::flops_per_token_6n(&s.model) * s.tokens as f64,
        flops_exact: count::flops_per_token_exact(&s.model) * s.tokens as f64,
        final_train_loss: None,
        final_val_loss: None,
        val_bits_per_byte: None,
        corpus_entropy_floor: None,
        status: RunStatus::Failed,
        reason: Some(reason),
        wall_seconds: 0.0,
        tokens_per_second: 0.0,
        device: String::new(),
        threads: 0,
        versions: BTreeMap::new(),
        resumed_from_step: 0,
    }
}

/// Without bars (stderr is a log file, CI, nohup), a line at least this often while runs train.
const HEARTBEAT: Duration = Duration::from_secs(300);

/// `[h:mm:ss, k/n runs, p% of FLOPs]`: the head of a plain progress line.
fn plain_prefix(start: Instant, done: usize, total: usize, frac: f64) -> String {
    let s = start.elapsed().as_secs();
    format!(
        "[{}:{:02}:{:02}, {done}/{total} runs, {:.0}% of FLOPs]",
        s / 3600,
        s / 60 % 60,
        s % 60,
        100.0 * frac
    )
}

/// Tokens as `16.00M` / `499.7k`.
fn fmt_tokens(t: u64) -> String {
    match t as f64 {
        x if x >= 1e6 => format!("{:.2}M", x / 1e6),
        x => format!("{:.1}k", x / 1e3),
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("valid template").progress_chars("=> ")
}

/// Runs every pending run of `runs` (see the module doc).
pub fn run_sweep(
    sweep: &str,
    store: &ResultsDir,
    runs: &[GridRun],
    o: &SweepOptions,
) -> Result<SweepSummary> {
    let start = Instant::now();
    let mut sum = SweepSummary { total: runs.len(), ..Default::default() };
    if o.retry_failed {
        for r in store.load_runs()? {
            if r.status == RunStatus::Failed {
                let aside = store.root.join("runs").join("failed");
                std::fs::create_dir_all(&aside).with_context(|| format!("creating {}", aside.display()))?;
                let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
                let (from, to) = (store.run_path(&r.id), aside.join(format!("{}.{stamp}.json", r.id)));
                std::fs::rename(&from, &to)
                    .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
            }
        }
    }
    let mut queue = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        if store.finished(&r.spec.id())?.is_none() {
            queue.push(i);
        }
    }
    sum.already_done = runs.len() - queue.len();
    if queue.is_empty() {
        // runs.csv is derived: rewrite it even when nothing trains, so one written by an older
        // build (JSON floats read 1 ulp off before serde_json's float_roundtrip) is corrected.
        store.write_runs_csv()?;
        return Ok(sum);
    }
    let flops = |i: usize| runs[i].spec.tokens as f64 * count::flops_per_token_exact(&runs[i].spec.model);
    queue.sort_by(|a, b| flops(*b).total_cmp(&flops(*a)).then(a.cmp(b)));
    let total_flops: f64 = queue.iter().map(|i| flops(*i)).sum();
    let pending: BTreeSet<usize> = queue.iter().copied().collect();
    let mp = MultiProgress::with_draw_target(if o.bars {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let overall = mp.add(ProgressBar::new(1000));
    overall.set_style(bar_style("{prefix:>16} [{bar:30}] {percent:>3}% of FLOPs  {msg}  ETA {eta}"));
    overall.set_prefix("sweep");
    let logs = store.root.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    // For `status`'s ETA: how many runs this sweep trains at once (issue #18).
    let me = serde_json::json!({"pid": std::process::id(), "jobs": o.jobs.max(1), "threads": o.threads});
    crate::results::write_atomic(&logs.join("sweep.json"), me.to_string().as_bytes())?;
    let exe = std::env::current_exe().context("finding the scalinglab executable")?;
    let mut active: Vec<Active> = Vec::new();
    let mut finished: BTreeSet<usize> = BTreeSet::new();
    let mut done_flops = 0.0;
    let mut forwarded = false;
    let mut last_line = Instant::now();
    while !queue.is_empty() || !active.is_empty() {
        let interrupted = INTERRUPTED.load(Ordering::SeqCst);
        if interrupted && !forwarded {
            for a in &active {
                // SAFETY: kill(2) with a child pid we own; no memory is touched.
                unsafe {
                    libc::kill(a.child.id() as libc::pid_t, libc::SIGINT);
                }
            }
            forwarded = true;
            sum.interrupted = true;
            queue.clear();
        }
        // Launch what is ready: a WSD branch waits until its parent has passed the branch point.
        while !interrupted && active.len() < o.jobs.max(1) {
            let ready = queue.iter().position(|&i| match parent_of(runs, i) {
                Some(p) if pending.contains(&p) && !finished.contains(&p) => {
                    store.checkpoint_path(&runs[i].spec.id()).with_extension("state.json").exists()
                }
                _ => true,
            });
            let pos = match ready {
                Some(p) => p,
                None if active.is_empty() => 0, // nothing else can make progress: go on anyway
                None => break,
            };
            let i = queue.remove(pos);
            let id = runs[i].spec.id();
            let log = logs.join(format!("{id}.log"));
            let logf = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .with_context(|| format!("opening {}", log.display()))?;
            let mut cmd = Command::new(&exe);
            cmd.arg("run").arg(&o.config).arg("--index").arg(i.to_string()).arg("--quiet");
            cmd.arg("--done-exit-code").arg(DONE_CODE.to_string());
            cmd.arg("--device").arg(&o.device);
            if o.tune {
                cmd.arg("--tune");
            }
            if o.force {
                cmd.arg("--force");
            }
            for s in &o.sets {
                cmd.arg("--set").arg(s);
            }
            cmd.env("RAYON_NUM_THREADS", o.threads.max(1).to_string());
            cmd.stdout(Stdio::null()).stderr(Stdio::from(logf)).stdin(Stdio::null());
            // A child whose sweep dies (SIGKILL, OOM killer) gets SIGTERM: it checkpoints and
            // stops instead of training on as an orphan that a later sweep sees as "running
            // elsewhere".
            // SAFETY: prctl(2) between fork and exec touches no memory of the parent; the
            // setting survives exec.
            let parent = std::process::id();
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    if libc::getppid() as u32 != parent {
                        return Err(std::io::Error::other("the sweep exited before its child started"));
                    }
                    Ok(())
                });
            }
            let child = cmd.spawn().with_context(|| format!("starting {}", exe.display()))?;
            let bar = mp.add(ProgressBar::new(runs[i].spec.tokens));
            bar.set_style(bar_style("{prefix:>16} [{bar:30}] {human_pos}/{human_len} tok  {msg}"));
            bar.set_prefix(format!("#{i} {id:.8}"));
            active.push(Active { index: i, child, bar, log });
        }
        // Reap finished children.
        let mut k = 0;
        while k < active.len() {
            let status = active[k].child.try_wait()?;
            let Some(status) = status else {
                k += 1;
                continue;
            };
            let a = active.remove(k);
            a.bar.finish_and_clear();
            mp.remove(&a.bar);
            let run = &runs[a.index];
            let id = run.spec.id();
            finished.insert(a.index);
            done_flops += flops(a.index);
            match (status.code(), store.run_path(&id).exists()) {
                (Some(3), _) => sum.locked_elsewhere += 1,
                (Some(DONE_CODE), _) => sum.already_done += 1,
                (_, true) => {
                    let r: RunResult = serde_json::from_str(&std::fs::read_to_string(store.run_path(&id))?)?;
                    match r.status {
                        RunStatus::Ok => sum.ok += 1,
                        RunStatus::Diverged => sum.diverged += 1,
                        RunStatus::Failed => sum.failed += 1,
                    }
                    if o.lines {
                        let loss = r.final_val_loss.map(|l| format!(", val loss {l:.4}")).unwrap_or_default();
                        eprintln!(
                            "{} run #{} {id:.8} ({}x{}, {} tokens): {}{loss}, {:.0} s",
                            plain_prefix(start, finished.len(), pending.len(), done_flops / total_flops),
                            a.index,
                            run.spec.model.n_embd,
                            run.spec.model.n_layer,
                            fmt_tokens(run.spec.tokens),
                            r.status.as_str(),
                            r.wall_seconds
                        );
                        last_line = Instant::now();
                    }
                }
                _ if sum.interrupted => {}
                (code, false) => {
                    let how = match code {
                        Some(c) => format!("exit code {c}"),
                        None => "killed by a signal (out of memory?)".to_string(),
                    };
                    let reason = format!("{how}; stderr tail:\n{}", tail(&a.log, 20));
                    write_json_atomic(&store.run_path(&id), &failed_result(sweep, run, reason))?;
                    mp.suspend(|| {
                        eprintln!("run #{} {id} failed ({how}); log: {}", a.index, a.log.display())
                    });
                    sum.failed += 1;
                }
            }
        }
        // Bars.
        let mut live = 0.0;
        for a in &active {
            let p = std::fs::read_to_string(progress_path(store, &runs[a.index].spec.id()))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            if let Some(p) = p {
                let tokens = p["tokens"].as_u64().unwrap_or(0);
                a.bar.set_position(tokens);
                a.bar.set_message(format!(
                    "loss {:.3}  {:.0} tok/s",
                    p["loss"].as_f64().unwrap_or(f64::NAN),
                    p["tokens_per_s"].as_f64().unwrap_or(0.0)
                ));
                live += flops(a.index) * tokens as f64 / runs[a.index].spec.tokens.max(1) as f64;
            }
        }
        if o.lines && last_line.elapsed() >= HEARTBEAT && !active.is_empty() {
            let running: Vec<String> = active.iter().map(|a| format!("#{}", a.index)).collect();
            eprintln!(
                "{} running {}",
                plain_prefix(start, finished.len(), pending.len(), (done_flops + live) / total_flops),
                running.join(", ")
            );
            last_line = Instant::now();
        }
        overall.set_position((1000.0 * (done_flops + live) / total_flops).min(1000.0) as u64);
        overall.set_message(format!("{} of {} runs done", finished.len(), pending.len()));
        std::thread::sleep(Duration::from_millis(50));
    }
    overall.finish_and_clear();
    store.write_runs_csv()?;
    sum.wall_seconds = start.elapsed().as_secs_f64();
    Ok(sum)
}
