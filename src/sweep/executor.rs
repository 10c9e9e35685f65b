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

/// A run training in a child process.
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
        move_failed_aside(store)?;
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
    let mut x = Executor::new(sweep, store, runs, o, queue, start)?;
    while !x.queue.is_empty() || !x.active.is_empty() {
        let interrupted = INTERRUPTED.load(Ordering::SeqCst);
        if interrupted && !x.forwarded {
            x.forward_interrupt();
            sum.interrupted = true;
        }
        if !interrupted {
            x.launch_ready()?;
        }
        x.reap(&mut sum)?;
        x.draw();
        std::thread::sleep(Duration::from_millis(50));
    }
    x.overall.finish_and_clear();
    store.write_runs_csv()?;
    sum.wall_seconds = start.elapsed().as_secs_f64();
    Ok(sum)
}

/// `--retry-failed`: moves every `failed` result to `runs/failed/ID.STAMP.json`.
fn move_failed_aside(store: &ResultsDir) -> Result<()> {
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
    Ok(())
}

/// The state of a running sweep: what waits, what trains, what finished, and its bars.
struct Executor<'a> {
    sweep: &'a str,
    store: &'a ResultsDir,
    runs: &'a [GridRun],
    o: &'a SweepOptions,
    /// Runs not started yet, largest first.
    queue: Vec<usize>,
    /// Every run this sweep trains (the queue at the start).
    pending: BTreeSet<usize>,
    active: Vec<Active>,
    finished: BTreeSet<usize>,
    total_flops: f64,
    done_flops: f64,
    /// Ctrl-C was passed on to the children.
    forwarded: bool,
    start: Instant,
    /// When the last plain progress line was written.
    last_line: Instant,
    mp: MultiProgress,
    overall: ProgressBar,
    logs: PathBuf,
    exe: PathBuf,
}

impl<'a> Executor<'a> {
    /// Orders the queue (largest first), draws the overall bar, records `--jobs` for `status`.
    fn new(
        sweep: &'a str,
        store: &'a ResultsDir,
        runs: &'a [GridRun],
        o: &'a SweepOptions,
        mut queue: Vec<usize>,
        start: Instant,
    ) -> Result<Self> {
        let flops = |i: usize| flops_of(&runs[i]);
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
        Ok(Executor {
            sweep,
            store,
            runs,
            o,
            queue,
            pending,
            active: Vec::new(),
            finished: BTreeSet::new(),
            total_flops,
            done_flops: 0.0,
            forwarded: false,
            start,
            last_line: Instant::now(),
            mp,
            overall,
            logs,
            exe,
        })
    }

    /// Ctrl-C: passes SIGINT to every child (they checkpoint and stop) and starts no more.
    fn forward_interrupt(&mut self) {
        for a in &self.active {
            // SAFETY: kill(2) with a child pid we own; no memory is touched.
            unsafe {
                libc::kill(a.child.id() as libc::pid_t, libc::SIGINT);
            }
        }
        self.forwarded = true;
        self.queue.clear();
    }

    /// Starts what is ready, up to `--jobs`: a WSD branch waits until its parent has passed
    /// the branch point.
    fn launch_ready(&mut self) -> Result<()> {
        while self.active.len() < self.o.jobs.max(1) {
            let ready = self.queue.iter().position(|&i| match parent_of(self.runs, i) {
                Some(p) if self.pending.contains(&p) && !self.finished.contains(&p) => {
                    self.store.checkpoint_path(&self.runs[i].spec.id()).with_extension("state.json").exists()
                }
                _ => true,
            });
            let pos = match ready {
                Some(p) => p,
                None if self.active.is_empty() => 0, // nothing else can make progress: go on anyway
                None => break,
            };
            let i = self.queue.remove(pos);
            let active = self.spawn(i)?;
            self.active.push(active);
        }
        Ok(())
    }

    /// Starts run `i` as `scalinglab run CONFIG --index I`, its stderr to `logs/ID.log`.
    fn spawn(&self, i: usize) -> Result<Active> {
        let (o, id) = (self.o, self.runs[i].spec.id());
        let log = self.logs.join(format!("{id}.log"));
        let logf = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut cmd = Command::new(&self.exe);
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
        let child = cmd.spawn().with_context(|| format!("starting {}", self.exe.display()))?;
        let bar = self.mp.add(ProgressBar::new(self.runs[i].spec.tokens));
        bar.set_style(bar_style("{prefix:>16} [{bar:30}] {human_pos}/{human_len} tok  {msg}"));
        bar.set_prefix(format!("#{i} {id:.8}"));
        Ok(Active { index: i, child, bar, log })
    }

    /// Collects the children that exited and counts how each run ended.
    fn reap(&mut self, sum: &mut SweepSummary) -> Result<()> {
        let mut k = 0;
        while k < self.active.len() {
            let Some(status) = self.active[k].child.try_wait()? else {
                k += 1;
                continue;
            };
            let a = self.active.remove(k);
            a.bar.finish_and_clear();
            self.mp.remove(&a.bar);
            self.finished.insert(a.index);
            self.done_flops += flops_of(&self.runs[a.index]);
            let id = self.runs[a.index].spec.id();
            match (status.code(), self.store.run_path(&id).exists()) {
                (Some(3), _) => sum.locked_elsewhere += 1,
                (Some(DONE_CODE), _) => sum.already_done += 1,
                (_, true) => self.count_result(&a, sum)?,
                _ if sum.interrupted => {}
                (code, false) => self.record_failure(&a, code, sum)?,
            }
        }
        Ok(())
    }

    /// A child that wrote its result: counted by status, and a plain line without bars.
    fn count_result(&mut self, a: &Active, sum: &mut SweepSummary) -> Result<()> {
        let run = &self.runs[a.index];
        let id = run.spec.id();
        let r: RunResult = serde_json::from_str(&std::fs::read_to_string(self.store.run_path(&id))?)?;
        match r.status {
            RunStatus::Ok => sum.ok += 1,
            RunStatus::Diverged => sum.diverged += 1,
            RunStatus::Failed => sum.failed += 1,
        }
        if self.o.lines {
            let loss = r.final_val_loss.map(|l| format!(", val loss {l:.4}")).unwrap_or_default();
            eprintln!(
                "{} run #{} {id:.8} ({}x{}, {} tokens): {}{loss}, {:.0} s",
                self.prefix(self.done_flops / self.total_flops),
                a.index,
                run.spec.model.n_embd,
                run.spec.model.n_layer,
                fmt_tokens(run.spec.tokens),
                r.status.as_str(),
                r.wall_seconds
            );
            self.last_line = Instant::now();
        }
        Ok(())
    }

    /// A child that died without a result: a `failed` record with its stderr tail.
    fn record_failure(&self, a: &Active, code: Option<i32>, sum: &mut SweepSummary) -> Result<()> {
        let run = &self.runs[a.index];
        let id = run.spec.id();
        let how = match code {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal (out of memory?)".to_string(),
        };
        let reason = format!("{how}; stderr tail:\n{}", tail(&a.log, 20));
        write_json_atomic(&self.store.run_path(&id), &failed_result(self.sweep, run, reason))?;
        self.mp.suspend(|| eprintln!("run #{} {id} failed ({how}); log: {}", a.index, a.log.display()));
        sum.failed += 1;
        Ok(())
    }

    /// The bars from each child's progress file, and without bars a heartbeat line.
    fn draw(&mut self) {
        let mut live = 0.0;
        for a in &self.active {
            let spec = &self.runs[a.index].spec;
            let p = std::fs::read_to_string(progress_path(self.store, &spec.id()))
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
                live += flops_of(&self.runs[a.index]) * tokens as f64 / spec.tokens.max(1) as f64;
            }
        }
        let done = self.done_flops + live;
        if self.o.lines && self.last_line.elapsed() >= HEARTBEAT && !self.active.is_empty() {
            let running: Vec<String> = self.active.iter().map(|a| format!("#{}", a.index)).collect();
            eprintln!("{} running {}", self.prefix(done / self.total_flops), running.join(", "));
            self.last_line = Instant::now();
        }
        self.overall.set_position((1000.0 * done / self.total_flops).min(1000.0) as u64);
        self.overall.set_message(format!("{} of {} runs done", self.finished.len(), self.pending.len()));
    }

    /// The head of a plain progress line at FLOP fraction `frac`.
    fn prefix(&self, frac: f64) -> String {
        plain_prefix(self.start, self.finished.len(), self.pending.len(), frac)
    }
}

/// Exact training FLOPs of a run (what the queue and the bars weigh runs by).
fn flops_of(r: &GridRun) -> f64 {
    r.spec.tokens as f64 * count::flops_per_token_exact(&r.spec.model)
}
