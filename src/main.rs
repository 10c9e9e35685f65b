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

// mimalloc's C API (linked in by the `mimalloc` crate; declared here because the Rust bindings
// name no constant for the purge delay).
extern "C" {
    fn mi_version() -> std::ffi::c_int;
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Keeps freed memory committed instead of letting mimalloc purge it back to the OS (by
/// default 1 s after it is freed). A training step frees and re-allocates the same multi-MB
/// activation and gradient buffers, and with purging on, the re-used pages fault in again and
/// the kernel zeroes them: `bench --shape 128x4x4 --steps 12` took 10,471 page faults with
/// the default and 510 with purging off (61,142 vs 778 at 256x6x8, 2.6 s vs 0.2 s of system
/// time). The resident set stays at the step's peak, which it reaches anyway.
/// Only for mimalloc 3.x, where `mi_option_purge_delay` is option 15; checked through the
/// version and the default value (1,000 ms), so another build leaves the option alone.
fn keep_freed_memory() {
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    // SAFETY: plain C calls without pointers; mimalloc initialises itself on first use.
    unsafe {
        if (30000..40000).contains(&mi_version()) && mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

fn main() -> ExitCode {
    // `scalinglab plan ... | head`: die quietly on a closed stdout, as Unix filters do, instead
    // of panicking in println! (Rust ignores SIGPIPE by default).
    // SAFETY: restoring the default disposition of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
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
            if format!("{err:#}").contains("CUDA_ERROR_UNSUPPORTED_PTX_VERSION") {
                // Seen on an H100 with driver 580 (CUDA 13.0) running a build made with the
                // CUDA 13.4 toolkit: the driver cannot JIT PTX newer than its own CUDA version.
                eprintln!(
                    "fix: build with a CUDA toolkit no newer than the driver's CUDA version (`nvidia-smi` \
                     shows it), or run with --device cpu (README, \"Running on a GPU\")"
                );
            }
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
