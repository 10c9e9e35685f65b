//! The scaling laws fitted to a group's cells:
//!
//! * [`approach3`]: Chinchilla's L = E + A/N^α + B/D^β (Hoffmann et al. 2022, Approach 3) fitted
//!   as Besiroglu et al. (2024) showed it must be, with its refits and profiles;
//! * [`allocation`]: Approaches 1 (training-curve envelope) and 2 (IsoFLOP parabolas),
//!   N_opt ∝ C^a and D_opt ∝ C^b read off the data;
//! * [`kaplan`]: Kaplan et al. (2020)'s L(N), L(D), L(C) and L(N, D);
//! * [`constrained`]: Muennighoff et al. (2023)'s data-constrained law, for runs that repeat data;
//! * [`hyper`]: a hyperparameter's optimum as y* = c·N^p·D^q (Step Law, Li et al. 2025), fitted
//!   through `[tune]`'s optima.

pub mod allocation;
pub mod approach3;
pub mod constrained;
pub mod hyper;
pub mod kaplan;
