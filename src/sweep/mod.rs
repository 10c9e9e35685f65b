//! Sweeps: grid expansion into run specs with stable ids (`grid`), run locks (`lock`), WSD
//! branching (`branch`), one run as a child process or Slurm task executes it (`runner`),
//! the local parallel executor (`executor`), plans, status and Slurm scripts (`plan`), the
//! memory and time check before a run allocates anything (`preflight`).

pub mod branch;
pub mod design;
pub mod executor;
pub mod grid;
pub mod lock;
pub mod plan;
pub mod preflight;
pub mod runner;
pub mod tune;
