//! Config files: TOML → raw serde structs (`raw`, `deny_unknown_fields`; read, overridden and
//! typed by `load`) → validated specs (`resolve` builds the `spec` types). Order of precedence:
//! built-in defaults < file < `--set key=value` < grid axis. Every error names the file, the
//! key and the fix, and is an input error (exit code 2).

pub mod load;
pub mod raw;
pub mod resolve;
pub mod spec;

pub use load::{load_config, LoadedConfig};
pub use spec::RunSpec;
