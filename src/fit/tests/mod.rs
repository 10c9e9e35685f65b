//! Tests across the stages: parameter recovery and bootstrap calibration ([`acceptance`]), the
//! coverage and identifiability simulation of the production pipeline ([`acceptance_sim`]), and
//! Approach 3 on training-curve points from results folders ([`curve_points`]).

mod acceptance;
mod acceptance_sim;
mod curve_points;
