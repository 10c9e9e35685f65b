//! Sweeps, from a config to its results. Bottom to top:
//!
//! - the grid's vocabulary (`axes`: shapes, axes, their product, labels) and one cell → one
//!   resolved run (`cell`); where the results go (`store`);
//! - the `[tune]` phase (`tune`) and the main grid (`grid`), both made of cells, in a fixed
//!   order so run index I means the same run everywhere;
//! - WSD branching (`branch`), run locks (`lock`), the memory and time check before a run
//!   allocates anything (`preflight`);
//! - one run as a child process or Slurm task executes it (`runner`), the local parallel
//!   executor (`executor`), plans, status and Slurm scripts (`plan`), grid design for a FLOP
//!   budget (`design`).

pub mod axes;
pub mod branch;
pub mod cell;
pub mod design;
pub mod executor;
pub mod grid;
pub mod lock;
pub mod plan;
pub mod preflight;
pub mod runner;
pub mod store;
pub mod tune;
