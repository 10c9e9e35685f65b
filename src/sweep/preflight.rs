//! Pre-flight (issue #19): before a run allocates anything, estimate its peak memory and a lower
//! bound on its time, and refuse (exit 2, with the numbers and the fix) a run that cannot fit
//! in this machine's available memory or would take over a week, unless `--force`. Without it
//! `n_embd = 1e5`, `tokens = 1e15` or `batch_size = 1e8` died with "memory allocation of N bytes
//! failed" (exit 134) after the corpus or the model was half built.
//!
//! Peak memory, f32 throughout (B sequences of T tokens, width C, depth L, H heads, vocab V,
//! N parameters):
//!
//! ```text
//! model       = 16·N                          // weights, gradients, AdamW m and v
//! activations = 4·B·T·(L·(24·C + H·T) + 3·V)  // what the backward keeps per block (LayerNorm
//!                                             // outputs, q/k/v, MLP 4C pre- and post-GELU,
//!                                             // residuals, and the gradients alive at once:
//!                                             // ≈ 24C) and the attention probabilities (H·T
//!                                             // per token); logits, softmax, gradient (3V)
//! corpus      = 4·(train + val tokens)        // ids widened to u32 (+2 per token while a
//!                                             // u16 prepared shard is decoded)
//! ```
//!
//! plus [`BASE_BYTES`] for the binary, allocator and candle. The estimate is a guide, not a
//! measurement: against the peak RSS of `train` (2-core Zen 3) it was 4–11% high from 0.8 to
//! 5.3 GiB (512x8 at B·T = 8192: 5,623 MiB estimated, 5,429 measured; 256x4: 1,444 vs 1,306;
//! 128x2 with T = 1024: 827 vs 792) and 66% high for a 58 MiB run, where the base dominates. Time: the exact training FLOPs (`model::count`) at [`CPU_FLOPS_PER_THREAD`]
//! per thread (above any core's f32 FMA peak we have measured) or [`GPU_FLOPS`] on CUDA, so
//! the bound is below the real time and a refusal is never a close call.

use anyhow::Result;

use crate::config::spec::CorpusSpec;
use crate::config::RunSpec;
use crate::error::input_err;
use crate::model::count;

/// Resident memory of the process before any run state: binary, allocator arenas, candle.
pub const BASE_BYTES: u64 = 64 << 20;
/// An upper bound on one CPU thread's f32 rate, FLOP/s (a Zen 3 core peaks at ~0.11e12, an
/// AVX-512 Xeon core at ~0.16e12).
pub const CPU_FLOPS_PER_THREAD: f64 = 2e11;
/// An upper bound on one GPU's rate, FLOP/s (an H200's dense bf16 peak is ~1e15).
pub const GPU_FLOPS: f64 = 1e15;
/// The longest run accepted without `--force`.
pub const MAX_SECONDS: f64 = 7.0 * 86_400.0;

/// What a run will need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Needs {
    /// Weights, gradients and AdamW moments, bytes.
    pub model_bytes: f64,
    /// Activations kept for the backward, bytes.
    pub activation_bytes: f64,
    /// Corpus in memory, bytes.
    pub corpus_bytes: f64,
    /// A lower bound on the training time, seconds.
    pub min_seconds: f64,
}

impl Needs {
    /// Peak memory of the process, bytes.
    pub fn peak_bytes(&self) -> f64 {
        BASE_BYTES as f64 + self.model_bytes + self.activation_bytes + self.corpus_bytes
    }
}

/// Tokens the run's corpus holds in memory: a synthetic stream is generated to length
/// (`sweep::runner::run_one`), a prepared corpus is loaded whole (its manifest's counts; 0 when
/// the manifest is unreadable, which the load then reports with the file).
pub fn corpus_tokens(spec: &RunSpec) -> f64 {
    let t = spec.model.block_size as f64;
    match &spec.corpus {
        CorpusSpec::Synthetic { .. } => {
            let train = (spec.max_steps as f64 * spec.batch_size as f64 + 1.0) * t + 1.0;
            train + spec.final_eval_sequences.max(spec.eval_sequences) as f64 * (t + 1.0)
        }
        CorpusSpec::Prepared { path } => crate::corpus::manifest::Manifest::read(std::path::Path::new(path))
            .map(|m| (m.train.tokens + m.val.tokens) as f64)
            .unwrap_or(0.0),
    }
}

/// The estimate (module docs) for `spec` with `corpus_tokens` in memory, on `threads` CPU
/// threads or a GPU.
pub fn needs(spec: &RunSpec, corpus_tokens: f64, threads: usize, gpu: bool) -> Needs {
    let m = &spec.model;
    let (b, t, c, l, h, v) = (
        spec.batch_size as f64,
        m.block_size as f64,
        m.n_embd as f64,
        m.n_layer as f64,
        m.n_head as f64,
        m.vocab_size as f64,
    );
    let rate = if gpu { GPU_FLOPS } else { CPU_FLOPS_PER_THREAD * threads.max(1) as f64 };
    Needs {
        model_bytes: 16.0 * count::params_total(m) as f64,
        activation_bytes: 4.0 * b * t * (l * (24.0 * c + h * t) + 3.0 * v),
        corpus_bytes: 6.0 * corpus_tokens,
        min_seconds: count::flops_per_token_exact(m) * spec.tokens as f64 / rate,
    }
}

/// `MemAvailable` of /proc/meminfo, bytes (None off Linux).
pub fn mem_available() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Bytes as "12.3 GiB".
pub fn gib(bytes: f64) -> String {
    if bytes >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MiB", bytes / (1u64 << 20) as f64)
    }
}

/// Seconds as "3.2 h" / "41 days".
pub fn duration(s: f64) -> String {
    match s {
        s if s >= 2.0 * 86_400.0 => format!("{:.0} days", s / 86_400.0),
        s if s >= 3600.0 => format!("{:.1} h", s / 3600.0),
        s if s >= 60.0 => format!("{:.0} min", s / 60.0),
        s => format!("{s:.0} s"),
    }
}

/// Refuses (input error with the numbers and the fix) a run that needs more memory than
/// `available` (CPU only: a GPU run keeps its model on the device) or more than
/// [`MAX_SECONDS`]; `force` lets it through.
pub fn check(id: &str, n: &Needs, available: Option<f64>, gpu: bool, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let host = if gpu { n.corpus_bytes + BASE_BYTES as f64 } else { n.peak_bytes() };
    if let Some(avail) = available.filter(|&a| host > a) {
        return Err(input_err(format!(
            "run {id}: pre-flight: needs about {} of memory (model and AdamW state {}, activations {}, corpus {}) but \
             this machine has {} available; fix: a smaller n_embd, n_layer, vocab_size, batch_size, block_size, \
             eval_sequences or tokens, or --force to try anyway",
            gib(host),
            gib(n.model_bytes),
            gib(n.activation_bytes),
            gib(n.corpus_bytes),
            gib(avail)
        )));
    }
    if n.min_seconds > MAX_SECONDS {
        return Err(input_err(format!(
            "run {id}: pre-flight: would train for at least {} here (its exact FLOPs at {:.0e} FLOP/s{}), over the \
             {}-day limit; fix: fewer tokens or a smaller model, or --force to run it anyway",
            duration(n.min_seconds),
            if gpu { GPU_FLOPS } else { CPU_FLOPS_PER_THREAD },
            if gpu { "" } else { " per thread" },
            MAX_SECONDS / 86_400.0
        )));
    }
    Ok(())
}

/// [`check`] for every run of a sweep that is not finished yet, before the first starts, so a
/// grid with one impossible cell fails at once with exit 2 instead of hours later; warns when
/// `jobs` of its largest runs at once would not fit together.
pub fn check_all(
    runs: &[super::cell::GridRun],
    store: &crate::results::ResultsDir,
    jobs: usize,
    threads: usize,
    gpu: bool,
    force: bool,
) -> Result<()> {
    let avail = mem_available();
    let mut peaks = Vec::new();
    for r in runs {
        let id = r.spec.id();
        if store.run_path(&id).exists() {
            continue;
        }
        let n = needs(&r.spec, corpus_tokens(&r.spec), threads, gpu);
        check(&format!("#{} {id}", r.index), &n, avail, gpu, force)?;
        peaks.push(if gpu { n.corpus_bytes } else { n.peak_bytes() });
    }
    peaks.sort_by(|a, b| b.total_cmp(a));
    let together: f64 = peaks.iter().take(jobs).sum();
    if let Some(a) = avail.filter(|&a| jobs > 1 && together > a) {
        eprintln!(
            "warning: the {jobs} largest runs at once need about {} but {} is available; fix: --jobs {}",
            gib(together),
            gib(a),
            (jobs - 1).max(1)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::is_input_error;

    fn needs_of(model_gib: f64, seconds: f64) -> Needs {
        Needs {
            model_bytes: model_gib * (1u64 << 30) as f64,
            activation_bytes: 1e6,
            corpus_bytes: 1e6,
            min_seconds: seconds,
        }
    }

    #[test]
    fn refuses_what_does_not_fit_and_force_lets_it_through() {
        let avail = Some(8.0 * (1u64 << 30) as f64);
        assert!(check("x", &needs_of(1.0, 60.0), avail, false, false).is_ok());
        let e = check("x", &needs_of(20.0, 60.0), avail, false, false).expect_err("too big");
        assert!(is_input_error(&e) && e.to_string().contains("available; fix:"), "{e}");
        assert!(check("x", &needs_of(20.0, 60.0), avail, false, true).is_ok());
        // On a GPU only the host side (corpus) counts against host memory.
        assert!(check("x", &needs_of(20.0, 60.0), avail, true, false).is_ok());
        let e = check("x", &needs_of(1.0, 30.0 * 86_400.0), avail, false, false).expect_err("a month");
        assert!(e.to_string().contains("at least 30 days"), "{e}");
    }
}
