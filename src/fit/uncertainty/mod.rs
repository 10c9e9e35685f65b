//! Identifiability: does the data determine each fitted or derived quantity?
//!
//! Four kinds of evidence, all reported with reasons:
//! 1. **Design** ([`design`]): N or D spans under a decade or fewer than 3 distinct values, D
//!    never varied, or log D moving in lockstep with log N (then the N and D terms of
//!    L = E + A/N^α + B/D^β trade off; Besiroglu et al. 2024 discuss the resulting ridge).
//! 2. **Flat profile** ([`profile`]): holding α, β or E at ±50% of its estimate and refitting the rest raises
//!    the sum of squared log residuals by less than χ²₁(0.95)·σ̂² = 3.84·SS/(n−5) (a profile
//!    likelihood test), so an interval would be wider than the value.
//! 3. **Lack of additivity** ([`additivity`]): the loss gap between model sizes changes
//!    with D by more than seed noise explains (a two-way interaction test), so no law of the
//!    form E + f(N) + g(D) describes the data and its exponents depend on the grid.
//! 4. **Bootstrap** ([`bootstrap`]; the rule is `estimate::interval_reason`): the 95% interval is wider than the value (exponents, E), or spans more
//!    than a decade (positive scale factors A, B, G and tokens-per-parameter, whose size only
//!    means something on a log scale).
//!
//! Then [`agreement`]: Approaches 1, 2 and 3's allocation exponent a side by side, with a
//! verdict and the known reasons for a disagreement.

pub mod additivity;
pub mod agreement;
pub mod bootstrap;
pub mod design;
pub mod profile;
