//! A free list of f32 buffers for the fused transformer block's activations and backward
//! temporaries, so each step reuses the previous step's buffers instead of allocating fresh
//! ones through `vec![0.0; n]`: a zero fill that the kernel then overwrites (zero fills were
//! ~4% of a (256, 6, 8) step, these among them).
//!
//! **Contract.** [`take`] returns a buffer of exactly the requested length whose contents are
//! unspecified (stale values of an earlier use, or zeros): it is for outputs that the caller's
//! kernel writes in full before anything reads them (each `*_into` function used with it says
//! so, and the block's tests compare with the per-op path bit for bit across repeated calls).
//! So results never depend on what the buffer held.

use std::collections::VecDeque;
use std::sync::Mutex;

/// At most this many buffers are kept; the oldest go first. A block keeps 8 activations, so
/// this covers a 12-layer model's; a batch of another size (evaluation) cycles out rather than
/// accumulating. Kept buffers are memory the allocator would have kept anyway (mimalloc
/// purging is off, see `main.rs`), except when sizes change.
const MAX_KEPT: usize = 128;

/// Free buffers, oldest first.
struct Pool(VecDeque<Vec<f32>>);

impl Pool {
    fn take(&mut self, len: usize) -> Vec<f32> {
        match self.0.iter().rposition(|v| v.len() == len).and_then(|i| self.0.remove(i)) {
            Some(v) => v,
            None => vec![0.0; len],
        }
    }

    fn give(&mut self, v: Vec<f32>) {
        if v.is_empty() {
            return;
        }
        if self.0.len() == MAX_KEPT {
            self.0.pop_front();
        }
        self.0.push_back(v);
    }
}

static FREE: Mutex<Pool> = Mutex::new(Pool(VecDeque::new()));

/// A buffer of `len` floats with unspecified contents (see the module doc).
pub(crate) fn take(len: usize) -> Vec<f32> {
    FREE.lock().unwrap_or_else(|e| e.into_inner()).take(len)
}

/// Hands a buffer back for a later [`take`].
pub(crate) fn give(v: Vec<f32>) {
    FREE.lock().unwrap_or_else(|e| e.into_inner()).give(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_returned_buffers_of_the_same_length_and_keeps_a_bounded_number() {
        let mut pool = Pool(VecDeque::new());
        let mut v = pool.take(5);
        assert_eq!(v, vec![0.0; 5]);
        v[0] = 42.0;
        let ptr = v.as_ptr();
        pool.give(v);
        assert_eq!(pool.take(6).len(), 6, "another length is a fresh buffer");
        let w = pool.take(5);
        assert_eq!((w.len(), w.as_ptr(), w[0]), (5, ptr, 42.0), "the returned buffer, as it was");
        pool.give(w);
        for i in 0..MAX_KEPT {
            pool.give(vec![i as f32; 7]);
        }
        assert_eq!(pool.0.len(), MAX_KEPT);
        assert!(pool.0.iter().all(|v| v.len() == 7), "the oldest buffer (length 5) went first");
        assert_eq!(pool.take(7)[0], (MAX_KEPT - 1) as f32, "the most recently returned comes back first");
    }
}
