//! Errors the user can fix: bad config, bad input files, bad flags.
//!
//! Everything the user can fix is wrapped in [`InputError`]; `main` looks for one anywhere in
//! an `anyhow` error chain and exits with code 2 (bad usage, config or input). Any other error
//! is a failure of the run itself and exits with code 1. Messages name the file, key or line
//! and say how to fix it (llm.c's HINT lines, ripgrep's exit codes).

use std::fmt;

/// A problem with what the user gave us (a config key, a file, a flag), with the fix in the text.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Builds an `anyhow::Error` that `main` maps to exit code 2.
pub fn input_err(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(msg.into()))
}

/// True when any error in the chain is an [`InputError`] (exit code 2).
pub fn is_input_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<InputError>().is_some())
}

/// `bail!` for input errors: `input_bail!("{path}: key `x` ... ; fix: ...")`.
#[macro_export]
macro_rules! input_bail {
    ($($arg:tt)*) => {
        return Err($crate::error::input_err(format!($($arg)*)))
    };
}
