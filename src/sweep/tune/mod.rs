//! `[tune]`: per-size learning-rate tuning as the first phase of a sweep (issue 8).
//!
//! Why: at toy scale the best learning rate falls with width (≈ n_embd^-0.58 on real text
//! here, `../shared/TOYSCALE.md`), and a fixed rule that is off by a few percent under-trains
//! the larger models by ~2% in loss — as large as the effects a scaling fit is after. So a
//! sweep can first train a few learning rates per size at one token budget, keep the best one
//! per size, and use it in the main grid:
//!
//! ```toml
//! [tune]
//! tokens = 5e5                   # budget of every tuning run, or a list: [1e5, 5e5] (law)
//! lr_factors = [0.5, 1, 2]       # multiples of the [train] rule's LR at each size, or
//! # learning_rate = [2e-3, 4e-3, 8e-3]   # absolute candidates
//! shapes = ["32x1", "64x2"]      # optional: sizes to tune (default: every grid shape)
//! apply = "best"                 # "best": tuned sizes use their best LR, others the rule;
//!                                # "rule": every size uses the fitted rule;
//!                                # "law": every run uses η*(N, D) (tokens a list)
//! optimum = "trial"              # "trial": a size's best LR is its lowest-loss trial;
//!                                # "parabola": the vertex of a quadratic in ln lr
//! beta2 = [0.95, 0.99]           # optional: any other [train]/[model] key, tuned jointly
//! ```
//!
//! The tuning runs live in `RESULTS/tune/` (a results folder of their own, so fits never see
//! them); their outcome — every trial, the best per size and the fitted rule — is written to
//! `RESULTS/tune.json` and each main-grid run records where its values came from
//! (`RunSpec::tuned`). The choice is a pure function of the tuning results, so every sweep
//! child and Slurm task recomputes the same grid.
//!
//! `optimum = "parabola"` fits loss = c₀ + c₁·x + c₂·x², x = ln lr, to each size's trials
//! (≥ 3 learning rates) and takes the vertex x* = −c₁/(2c₂), clamped to the LRs tried; with
//! c₂ ≤ 0 (no minimum inside) it falls back to the best trial. Near the optimum the loss is
//! flat to within seed noise, so the best trial is often a coin flip between neighbours, and a
//! high-side winner can sit at the stability edge, where other seeds and budgets spike; the
//! vertex uses every trial and leans away from the steep (unstable) side.
//!
//! `tokens` may be a list of budgets, e.g. `tokens = [1e6, 4e6]`: every tuned size is then tried
//! at every budget, and besides the rule (fitted through the optima at the longest budget, which
//! `best` also uses) the optimum of each (size, budget) goes into a law η* = c·N^p·D^q fitted by
//! least squares in log space with 95% intervals — the form of Step Law (Li et al. 2025) — shown
//! beside Step Law's exponents (`law`, [`crate::fit::laws::hyper`]). With one entry the law is
//! η* = c·N^p (q is not identified). `apply = "law"` (at least two budgets and two sizes) trains
//! every grid run at η*(N, D), WSD runs of one size all at its longest budget.
//!
//! The LR-vs-size rule is a least-squares line in log–log coordinates through the best LR of
//! each tuned size: ln lr = ln c + k·ln(n_embd / lr_base_width), i.e. lr(w) = c·(w/w₀)^k. With
//! a single tuned width the slope k comes from `[train] lr_rule` (0, −½ or −1) instead. Rule
//! values are rounded to 4 significant digits, so a run's spec (and id) cannot depend on the
//! last bit of a libm `exp` on another node.
//!
//! Files by job: `spec` parses the section, `runs` expands the tuning runs, `choice` reads
//! their results into the choice (numbers in `rule`), `apply` gives a main-grid shape its tuned
//! values, `law` fits the law and gives a run its η*(N, D), `phase` holds the whole phase for
//! `sweep`, `plan`, `status` and the grid.

mod apply;
mod choice;
mod law;
mod phase;
mod rule;
mod runs;
mod spec;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_law;

pub use apply::Tuned;
pub use choice::{choose, load_choice, write_choice, Trial, TuneChoice, TunedSize};
pub use phase::Tuning;
pub use rule::{parabola_vertex, LrRule};
pub use runs::{expand_tune, tune_runs};
pub use spec::{parse, Apply, Candidates, Optimum, TuneSpec};
