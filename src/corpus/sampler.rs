//! Batches as pure functions of (seed, step), so a resumed run sees exactly the batches an
//! uninterrupted one would have.
//!
//! Two modes:
//! - **Random windows** (text corpora): window starts drawn uniformly from ChaCha8 seeded by
//!   hash(seed, step); a corpus is sampled with replacement, as nanoGPT's `get_batch`.
//! - **Sequential** (the synthetic corpus, an unbounded stream): step s reads sequences
//!   s·B … s·B+B−1 back to back, so every token is fresh and a shorter run's data is a prefix
//!   of a longer run's.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How windows are placed in the token stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleMode {
    /// Uniform random window starts.
    Random,
    /// Consecutive windows of block_size + 1 tokens (overlapping by one token).
    Sequential,
}

/// Window starts of step `step`: `batch_size` offsets into a stream of `n_tokens`, each window
/// `block_size + 1` tokens long (inputs and shifted targets).
pub fn batch_starts(
    mode: SampleMode,
    n_tokens: usize,
    block_size: usize,
    batch_size: usize,
    seed: u64,
    step: u64,
) -> Vec<usize> {
    let span = n_tokens.saturating_sub(block_size + 1) + 1; // number of valid starts
    match mode {
        SampleMode::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            rng.set_stream(step);
            (0..batch_size).map(|_| rng.gen_range(0..span)).collect()
        }
        SampleMode::Sequential => {
            (0..batch_size).map(|i| ((step as usize * batch_size + i) * block_size) % span).collect()
        }
    }
}

/// Inputs and targets (each `starts.len() · block_size` ids, row-major (B, T)).
pub fn fill_batch(tokens: &[u32], starts: &[usize], block_size: usize) -> (Vec<u32>, Vec<u32>) {
    let mut x = Vec::with_capacity(starts.len() * block_size);
    let mut y = Vec::with_capacity(starts.len() * block_size);
    for &s in starts {
        x.extend_from_slice(&tokens[s..s + block_size]);
        y.extend_from_slice(&tokens[s + 1..s + block_size + 1]);
    }
    (x, y)
}

/// Fixed validation windows: `n` starts spread evenly over the validation stream (the same
/// windows for every run on the corpus, so losses compare).
pub fn val_starts(n_tokens: usize, block_size: usize, n: usize) -> Vec<usize> {
    let span = n_tokens.saturating_sub(block_size + 1) + 1;
    (0..n).map(|i| (i * span / n.max(1)).min(span - 1)).collect()
}

/// Checks a split is long enough for one window (`block_size + 1` tokens); the samplers
/// assume it.
pub fn require_window(split: &str, n_tokens: usize, block_size: usize) -> anyhow::Result<()> {
    if block_size == 0 || n_tokens < block_size + 1 {
        crate::input_bail!(
            "{split} split has {n_tokens} tokens, fewer than block_size + 1 = {}; fix: lower \
             block_size, or prepare the corpus with more text (or a larger --val-fraction)",
            block_size + 1
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_function_of_seed_and_step() {
        let a = batch_starts(SampleMode::Random, 10_000, 16, 8, 3, 5);
        assert_eq!(a, batch_starts(SampleMode::Random, 10_000, 16, 8, 3, 5));
        assert_ne!(a, batch_starts(SampleMode::Random, 10_000, 16, 8, 3, 6));
        assert_ne!(a, batch_starts(SampleMode::Random, 10_000, 16, 8, 4, 5));
        assert!(a.iter().all(|s| s + 17 <= 10_000));
    }

    #[test]
    fn sequential_reads_fresh_tokens() {
        let s0 = batch_starts(SampleMode::Sequential, 1_000_000, 16, 4, 0, 0);
        let s1 = batch_starts(SampleMode::Sequential, 1_000_000, 16, 4, 0, 1);
        assert_eq!(s0, vec![0, 16, 32, 48]);
        assert_eq!(s1[0], 64);
    }

    #[test]
    fn batch_is_shifted() {
        let toks: Vec<u32> = (0..100).collect();
        let (x, y) = fill_batch(&toks, &[3, 10], 4);
        assert_eq!(x, vec![3, 4, 5, 6, 10, 11, 12, 13]);
        assert_eq!(y, vec![4, 5, 6, 7, 11, 12, 13, 14]);
        assert!(val_starts(100, 4, 10).iter().all(|s| s + 5 <= 100));
    }
}
