//! Other papers' procedures and data, so scalinglab's fitters are checked against each paper's
//! own fit from its released data (the tests in `tests.rs`, issue #21): readers for the
//! published data sets ([`datasets`]); Besiroglu et al. (2024)'s Huber maximum-likelihood
//! estimator ([`huber_mle`]); Gadre et al. (2024)'s over-training law ([`overtrain`]); Porian et
//! al. (2024)'s Akima-interpolated IsoFLOP minima ([`akima`]); Gemstones' compute frontier
//! ([`frontier`]). None of them is part of `scalinglab fit`.

pub mod akima;
pub mod datasets;
pub mod frontier;
pub mod huber_mle;
pub mod overtrain;

#[cfg(test)]
mod tests;
