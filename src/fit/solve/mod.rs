//! The optimiser behind every Huber fit, bottom to top: branch-free `exp`/`ln` ([`vmath`]), the
//! objective's vectorised inner loop ([`kernel`]), the summed-Huber objective of a sum of power
//! laws in log space with its gradient ([`objective`]), the Wolfe line search ([`linesearch`]),
//! L-BFGS with tight tolerances ([`lbfgs`]), and multi-start over a grid of initial points
//! ([`multistart`]).

pub mod kernel;
pub mod lbfgs;
pub(crate) mod linesearch;
pub mod multistart;
pub mod objective;
pub mod vmath;
