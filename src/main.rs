//! The `scalinglab` binary: parse the CLI, run it, map errors to exit codes.
//!
//! Exit codes: 0 success; 1 a run failed or diverged (results still written); 2 bad usage,
//! config or input; 3 (`run`) the run is locked by another live process; 130 interrupted by
//! Ctrl-C (checkpoints kept). A broken pipe on stdout exits 0.

use std::process::ExitCode;

use clap::Parser;

// A caching allocator: candle allocates a fresh buffer per op, and glibc's malloc returns large
// ones to the OS (munmap) each time, so page faults dominated the naive trainer (~43% of time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `scalinglab plan ... | head`: die quietly on a closed stdout, as Unix filters do, instead
    // of panicking in println! (Rust ignores SIGPIPE by default).
    // SAFETY: restoring the default disposition of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = scalinglab::cli::Cli::parse();
    match scalinglab::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("Error: {err:#}");
            if err.chain().any(|e| e.downcast_ref::<scalinglab::train::run::Interrupted>().is_some()) {
                return ExitCode::from(130);
            }
            if scalinglab::error::is_input_error(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
