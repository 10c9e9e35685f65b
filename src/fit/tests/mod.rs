//! Tests across the stages: parameter recovery and bootstrap calibration ([`acceptance`]), and
//! the coverage and identifiability simulation of the production pipeline ([`acceptance_sim`]).

mod acceptance;
mod acceptance_sim;
