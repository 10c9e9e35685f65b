//! A whole fit, top down: a [`request::FitRequest`] (the command line's flags) loads its points,
//! fits each group ([`group`]: Approach 3 and the Kaplan laws with their estimates,
//! [`estimates`]; Approaches 1 and 2; the hold-out check) and writes fit.json ([`request`]);
//! [`summary`] is what `fit` prints. [`simulate`] runs the same Approach 3 estimates on data
//! drawn from an assumed law, for `plan --simulate`.

pub mod estimates;
pub mod group;
pub mod request;
pub mod simulate;
pub mod summary;
