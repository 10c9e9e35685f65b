//! `scalinglab fit` and `scalinglab predict`: scaling laws fitted to a sweep's results.
//!
//! The folders are the stages of a fit, each using only those listed before it:
//!
//! * [`law`], [`lossless`], [`stats`], [`estimate`]: the vocabulary. Chinchilla's law
//!   L = E + A/N^α + B/D^β and its compute-optimal allocation; fit.json's NaN-safe floats; small
//!   statistics; an estimate with its 95% interval and the rule that can leave it undetermined.
//! * [`input`]: the points. A results folder or a CSV read under the counting conventions,
//!   grouped into cells of seed replicates; synthetic points from a known law.
//! * [`solve`]: the optimiser. The summed-Huber objective of a sum of power laws in log space
//!   with its vectorised kernel (AVX-512 or AVX2 picked at run time, polynomial `exp`/`ln`),
//!   L-BFGS with tight tolerances, multi-start from a grid.
//! * [`laws`]: the fits. Chinchilla Approach 3 the way Besiroglu et al. (2024) showed it must be
//!   done, Approaches 1 (training-curve envelope) and 2 (IsoFLOP parabolas), Kaplan et al.
//!   (2020)'s L(N), L(D), L(C), L(N, D), and the data-constrained law.
//! * [`uncertainty`]: how far to trust them. The cell/seed bootstrap, the identifiability
//!   verdicts (design, flat profiles, additivity) and the approaches' agreement on a.
//! * [`schema`]: fit.json, the document every later stage reads or writes.
//! * [`forecast`]: the fitted law used. Held-out large runs checked against their prediction
//!   intervals, and `predict`'s allocation queries.
//! * [`pipeline`]: one group's reports, the whole fit from a [`FitRequest`] to fit.json and the
//!   summary on stdout, and `plan --simulate`.
//!
//! Beside the stages, [`published`] holds other papers' estimators and readers for their
//! released data, so the regression tests reproduce each paper's fit its own way.
//!
//! Units throughout: N in parameters, D in tokens, C in training FLOPs, loss in nats/token.
//! Output is `fit.json` ([`schema::FitReport`]) plus a summary on stdout. This module never
//! depends on candle or clap (the flags are in `cli::fit` and `cli::predict`).

pub mod estimate;
pub mod law;
pub mod lossless;
pub mod stats;

pub mod input;
pub mod solve;

pub mod laws;
pub mod uncertainty;

pub mod schema;

pub mod forecast;
pub mod pipeline;

pub mod published;

#[cfg(test)]
mod tests;

pub use forecast::predict::{run_predict, PredictRequest};
pub use input::data::{Obs, RunPoint};
pub use law::ChinchillaLaw;
pub use laws::approach3::{fit_approach3, Approach3Fit, Approach3Options, StartGrid, Starts};
pub use pipeline::group::{fit_group, PipelineOptions};
pub use pipeline::request::{fit_report, run_fit, FitRequest};
pub use pipeline::simulate;
pub use schema::FitReport;
