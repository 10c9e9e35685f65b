//! scalinglab: scaling-law data at toy scale, end to end.
//!
//! Trains a grid of tiny GPT-style language models with candle, records final held-out loss
//! with exact parameter and FLOP counts, fits Kaplan- and Chinchilla-style power laws with
//! bootstrap uncertainty, forecasts larger runs and draws the curves.
//!
//! Module dependencies point one way (see README "Architecture"):
//! `cli → sweep → train → {model, corpus}`; `cli → infer → train`; `cli → fit → report`; `config`, `results`,
//! `error` are read by all; `fit` and `report` never touch candle.

pub mod cli;
pub mod config;
pub mod corpus;
pub mod cpu;
pub mod error;
pub mod fit;
pub mod fmt;
pub mod infer;
pub mod model;
pub mod progress;
pub mod report;
pub mod results;
pub mod sweep;
#[cfg(test)]
mod test_skip;
pub mod train;

/// candle version linked (kept in step with Cargo.toml; recorded in every result).
pub const CANDLE_VERSION: &str = "0.11.1";
