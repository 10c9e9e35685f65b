//! The fitted law used: the forecast check on the largest-compute cells held out of the fit
//! ([`holdout`]), and `scalinglab predict`'s queries of a fit.json: compute-optimal N and D,
//! the loss of a given (N, D), the cost of over-training, the inference-aware allocation
//! ([`predict`]).

pub mod holdout;
pub mod predict;
