//! The points a fit starts from: one [`data::RunPoint`] per run of a results folder
//! ([`source`], under the `--params` and `--flops` conventions) or row of a CSV ([`csv`]),
//! grouped into cells of seed replicates ([`data`]); and synthetic points from a known law
//! ([`synth`]) for tests, benchmarks and `plan --simulate`.

pub mod csv;
pub mod data;
pub mod source;
pub mod synth;
