//! `scalinglab fit` and `scalinglab predict`: scaling laws fitted to a sweep's results.
//!
//! * Kaplan et al. (2020) power laws L(N), L(D), L(C) and L(N, D) ([`kaplan`]).
//! * Chinchilla (Hoffmann et al. 2022) Approach 1 (training-curve envelope) and Approach 2
//!   (IsoFLOP parabolas) ([`allocation`]), and Approach 3, L = E + A/N^α + B/D^β, fitted the way
//!   Besiroglu et al. (2024) showed it must be: log-space LSE parameterisation, *summed* Huber
//!   loss (δ = 1e-3), L-BFGS with analytic gradients and tight tolerances from a 4,500-point
//!   grid ([`approach3`], [`lbfgs`], [`multistart`]). The objective runs vectorised (AVX-512
//!   or AVX2 picked at run time) with polynomial `exp`/`ln` ([`model::PackedData`], [`vmath`]).
//! * Uncertainty by a cell/seed bootstrap whose every refit converges ([`bootstrap`]), and
//!   identifiability verdicts with reasons for every parameter and derived quantity
//!   ([`ident`]).
//! * Forecast checks on held-out large runs ([`holdout`]) and allocation queries
//!   ([`predict`], [`law`]).
//!
//! Units throughout: N in parameters, D in tokens, C in training FLOPs, loss in nats/token.
//! Output is `fit.json` ([`schema::FitReport`]) plus a summary on stdout. This module never
//! depends on candle.

pub mod additivity;
pub mod agreement;
pub mod akima;
pub mod allocation;
pub mod approach3;
pub mod bootstrap;
pub mod constrained;
pub mod csv;
pub mod data;
pub mod frontier;
pub mod holdout;
pub mod huber_mle;
pub mod ident;
pub mod kaplan;
pub mod law;
pub mod lbfgs;
mod linesearch;
pub mod model;
pub mod multistart;
pub mod overtrain;
pub mod pipeline;
pub mod predict;
pub mod published;
pub mod request;
pub mod schema;
pub mod simulate;
pub mod source;
pub mod stats;
pub mod summary;
pub mod synth;
pub mod vmath;

#[cfg(test)]
mod acceptance;
#[cfg(test)]
mod acceptance_sim;
#[cfg(test)]
mod tests_published;

pub use approach3::{fit_approach3, Approach3Fit, Approach3Options, StartGrid};
pub use data::{Obs, RunPoint};
pub use law::ChinchillaLaw;
pub use pipeline::{fit_group, PipelineOptions};
pub use predict::{run_predict, PredictRequest};
pub use request::{fit_report, run_fit, FitRequest};
pub use schema::FitReport;
