//! Config files: TOML → raw serde structs (`raw`, `deny_unknown_fields`) → validated specs
//! (`spec`). Order of precedence: built-in defaults < file < `--set key=value` < grid axis.
//! Every error names the file, the key and the fix, and is an input error (exit code 2).

pub mod raw;
pub mod spec;

pub use spec::{load_config, LoadedConfig, RunSpec};
