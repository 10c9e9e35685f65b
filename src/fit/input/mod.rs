//! The points a fit starts from: one [`data::RunPoint`] per run of a results folder
//! ([`source`], under the `--params` and `--flops` conventions) or row of a CSV ([`csv`]),
//! grouped into cells of seed replicates ([`data`]); and synthetic points from a known law
//! ([`synth`]) for tests, benchmarks and `plan --simulate`; and which of a results folder's points
//! Approach 3 is fitted on, final or from the training curves ([`a3_points`]).

pub mod a3_points;
pub mod csv;
pub mod data;
pub mod source;
pub mod synth;
