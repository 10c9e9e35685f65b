//! `scalinglab bench`: tokens/s, model-FLOPs utilisation (MFU) and peak RSS of the real
//! training step ([`Trainer::step`]: forward, backward, clip, AdamW) on random tokens, after a
//! warm-up, per shape and thread count.
//!
//! MFU = tokens/s · exact training FLOPs per token (`model::count::flops_per_token_exact`) /
//! peak FLOP/s, with the peak = threads × `--peak-gflops` per core (default: 250 GFLOP/s with
//! AVX-512 — 2 FMA units × 16 f32 lanes × 2 FLOPs × ~3.9 GHz — else 125 with AVX2).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::input_err;
use crate::input_bail;
use crate::model::{count, GptConfig};
use crate::train::optim::AdamWConfig;
use crate::train::trainer::Trainer;

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Shapes as n_embd x n_layer x n_head; repeat or comma-separate for several.
    #[arg(long, value_name = "CxLxH", value_delimiter = ',', default_values_t = ["64x2x4".to_string(), "128x4x4".to_string(), "256x6x8".to_string()])]
    pub shape: Vec<String>,
    /// CPU threads per measurement; comma-separate for several (e.g. 1,2).
    #[arg(long, value_name = "T", value_delimiter = ',', default_values_t = [1usize])]
    pub threads: Vec<usize>,
    /// Timed steps per configuration (after warm-up).
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub steps: usize,
    /// Warm-up steps (not timed).
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub warmup: usize,
    /// Context length T.
    #[arg(long, value_name = "T", default_value_t = 128)]
    pub block_size: usize,
    /// Vocabulary size V.
    #[arg(long, value_name = "V", default_value_t = 4096)]
    pub vocab_size: usize,
    /// Sequences per step.
    #[arg(long, value_name = "B", default_value_t = 32)]
    pub batch_size: usize,
    /// Peak GFLOP/s per core for MFU (default: 250 with AVX-512, else 125).
    #[arg(long, value_name = "GFLOPS")]
    pub peak_gflops: Option<f64>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// CPU time of this process (all threads, user + system) in seconds; None if unavailable.
/// With the machine shared, wall-clock tokens/s also measures how much of a core the process
/// got; tokens per CPU-second measures the work per core alone.
pub fn process_cpu_seconds() -> Option<f64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// Peak RSS of this process so far (VmHWM), in MiB; None off Linux.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn default_peak() -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return 250.0;
        }
    }
    125.0
}

fn parse_shape(s: &str) -> Result<(usize, usize, usize)> {
    let p: Vec<&str> = s.split('x').collect();
    let bad = || input_err(format!("--shape {s}: expected n_embd x n_layer x n_head, e.g. 128x4x4"));
    if p.len() != 3 {
        return Err(bad());
    }
    let n: Vec<usize> = p.iter().map(|x| x.parse::<usize>().map_err(|_| bad())).collect::<Result<_>>()?;
    Ok((n[0], n[1], n[2]))
}

/// Runs `bench`.
pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    if a.steps == 0 {
        input_bail!("--steps must be at least 1");
    }
    let peak = a.peak_gflops.unwrap_or_else(default_peak);
    if !a.json {
        println!(
            "{:>10} {:>7} {:>12} {:>7} {:>10} {:>9}",
            "shape", "threads", "tokens/s", "MFU", "ms/step", "peak RSS"
        );
    }
    for s in &a.shape {
        let (c, l, h) = parse_shape(s)?;
        let cfg = GptConfig {
            vocab_size: a.vocab_size,
            block_size: a.block_size,
            n_layer: l,
            n_head: h,
            n_embd: c,
            tie_embeddings: true,
            bias: true,
            init: Default::default(),
        };
        cfg.validate().map_err(|e| input_err(format!("--shape {s}: {e}")))?;
        for &threads in &a.threads {
            if threads == 0 {
                input_bail!("--threads must be at least 1");
            }
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            // candle reads RAYON_NUM_THREADS for its matmul parallelism on every call.
            std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
            let (tps, ms, cpu_tps) = pool.install(|| time_steps(&cfg, a.batch_size, a.warmup, a.steps))?;
            let mfu = tps * count::flops_per_token_exact(&cfg) / (peak * 1e9 * threads as f64);
            let rss = peak_rss_mib();
            if a.json {
                let j = serde_json::json!({
                    "shape": s, "threads": threads, "tokens_per_second": tps, "mfu": mfu,
                    "ms_per_step": ms, "cpu_tokens_per_second": cpu_tps, "peak_rss_mib": rss, "params_total": count::params_total(&cfg),
                    "block_size": a.block_size, "vocab_size": a.vocab_size, "batch_size": a.batch_size,
                    "steps": a.steps, "peak_gflops_per_core": peak,
                });
                println!("{j}");
            } else {
                println!(
                    "{:>10} {:>7} {:>12.0} {:>6.1}% {:>10.1} {:>8.0}M",
                    s,
                    threads,
                    tps,
                    100.0 * mfu,
                    ms,
                    rss.unwrap_or(f64::NAN)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A trainer of a shape and a stream of random batches: what both timings step.
struct Harness {
    tr: Trainer,
    rng: ChaCha8Rng,
    b: usize,
    t: usize,
    vocab: u32,
}

impl Harness {
    fn new(cfg: &GptConfig, batch_size: usize) -> Result<Self> {
        let adam = AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };
        Ok(Harness {
            tr: Trainer::new(cfg, 0, adam, &Device::Cpu)?,
            rng: ChaCha8Rng::seed_from_u64(0),
            b: batch_size,
            t: cfg.block_size,
            vocab: cfg.vocab_size as u32,
        })
    }
    fn tokens_per_step(&self) -> usize {
        self.b * self.t
    }
    /// One step on fresh random tokens: its wall seconds and process CPU seconds (None where
    /// unavailable), both without building the batch.
    fn step(&mut self) -> Result<(f64, Option<f64>)> {
        let n = self.b * self.t;
        let x: Vec<u32> = (0..n).map(|_| self.rng.gen_range(0..self.vocab)).collect();
        let y: Vec<u32> = (0..n).map(|_| self.rng.gen_range(0..self.vocab)).collect();
        let (x, y) = (
            Tensor::from_vec(x, (self.b, self.t), &Device::Cpu)?,
            Tensor::from_vec(y, (self.b, self.t), &Device::Cpu)?,
        );
        let c0 = process_cpu_seconds();
        let t0 = Instant::now();
        self.tr.step(&x, &y, 1e-3, 1.0)?;
        let wall = t0.elapsed().as_secs_f64();
        Ok((wall, c0.zip(process_cpu_seconds()).map(|(a, b)| b - a)))
    }
}

/// Steady-state tokens/s of one training step of `cfg` (what `plan` estimates with): two
/// warm-up steps, then steps until at least 10 and 0.3 s have been timed (at most 60), and the
/// median step time. Three steps and their mean (as before) ran 3–47% slow on the quick
/// sweep's shapes — the first steps still fault in memory — and moved the ETA by ±15% from one
/// `plan` to the next (issue #24).
pub fn steady_tokens_per_second(cfg: &GptConfig, batch_size: usize) -> Result<f64> {
    let mut h = Harness::new(cfg, batch_size)?;
    for _ in 0..2 {
        h.step()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 60 && (times.len() < 10 || start.elapsed().as_secs_f64() < 0.3) {
        times.push(h.step()?.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(h.tokens_per_step() as f64 / times[times.len() / 2])
}

/// Tokens/s and ms/step of the real training step: total tokens / total seconds over `steps`
/// steps after `warmup` untimed ones, on random tokens (context = cfg.block_size); and tokens
/// per second of process CPU time over the same steps (None where unavailable).
pub fn time_steps(
    cfg: &GptConfig,
    batch_size: usize,
    warmup: usize,
    steps: usize,
) -> Result<(f64, f64, Option<f64>)> {
    let mut h = Harness::new(cfg, batch_size)?;
    for _ in 0..warmup {
        h.step()?;
    }
    let (mut secs, mut cpu) = (0.0, Some(0.0));
    for _ in 0..steps {
        let (wall, c) = h.step()?;
        secs += wall;
        cpu = cpu.zip(c).map(|(acc, c)| acc + c);
    }
    let tokens = (steps * h.tokens_per_step()) as f64;
    Ok((tokens / secs, 1e3 * secs / steps as f64, cpu.map(|c| tokens / c)))
}
