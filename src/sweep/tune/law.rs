//! The learning-rate law of a tuning with several budgets (`[tune] tokens = [D1, D2, ..]`):
//! every tuned size is tried at every budget, the optimum of each (size, budget) is read off as
//! for one budget (best trial or parabola vertex), and η* = c·N^p·D^q is fitted through them
//! by least squares in log space with 95% intervals ([`crate::fit::laws::hyper`], the form of
//! Step Law, Li et al. 2025). N is the size's total parameter count (embeddings included, as
//! the grid's `params` default counts it), D the tuning run's trained tokens. When the batch
//! size is tuned too (a `batch_size` key in `[tune]`), B* (tokens per step, the optimum's
//! batch_size × block_size) is fitted the same way and reported; the grid uses only η*.
//!
//! The fit is in `choice` (with the rest of the choice); this file is its use by the grid:
//! `apply = "law"` gives each main-grid run η*(N, D) at its own N and D, rounded to 4
//! significant digits like the rule (so a run id cannot depend on the last bit of a libm
//! `pow`). Under `schedule = "wsd"` the runs of one size that differ only in tokens share their
//! warmup and stable phase (`sweep::branch`), which needs one peak LR: all of that size's WSD
//! runs get η* at its longest budget, and their `tuned` says so.

use super::apply::Tuned;
use super::choice::TuneChoice;
use super::rule::round_sig;
use super::spec::Apply;

impl TuneChoice {
    /// With `apply = "law"`: the learning rate of a run of `n` parameters whose law is read at
    /// `d` tokens, and its provenance; `longest_of` names the size when `d` is its longest
    /// budget, shared by its WSD branches. `base` is the shape's [`TuneChoice::for_shape`],
    /// whose other tuned keys the run keeps. None unless `apply = "law"`.
    pub fn law_tuned(&self, base: &Tuned, n: u64, d: u64, longest_of: Option<&str>) -> Option<Tuned> {
        let law = self.law.as_ref().filter(|_| self.apply == Apply::Law)?;
        let lr = round_sig(law.lr.at(n as f64, d as f64), 4);
        let shared = match longest_of {
            Some(shape) => {
                format!(", the longest budget of {shape}: its WSD runs share one stable phase and LR")
            }
            None => String::new(),
        };
        Some(Tuned {
            learning_rate: lr,
            source: format!(
                "tune law: lr* = {} ({} optima at {} budgets) at N = {n}, D = {d}{shared}",
                law.lr.formula(),
                law.lr.points,
                self.budgets.len()
            ),
            keys: base.keys.clone(),
        })
    }
}
