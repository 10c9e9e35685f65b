//! Where a config's sweep keeps its files: the main grid's results folder
//! `<results_dir>/<name>`, the tuning's `RESULTS/tune` and `RESULTS/tune.json`, and the
//! progress file a running run writes for the sweep's bars.

use std::path::PathBuf;

use crate::config::LoadedConfig;
use crate::results::ResultsDir;

/// The results folder of a config: `<results_dir>/<name>`.
pub fn store_of(cfg: &LoadedConfig) -> ResultsDir {
    ResultsDir::new(PathBuf::from(&cfg.raw.results_dir).join(&cfg.raw.name))
}

/// The results folder of the tuning runs: `RESULTS/tune`.
pub fn tune_store(cfg: &LoadedConfig) -> ResultsDir {
    ResultsDir::new(store_of(cfg).root.join("tune"))
}

/// Where the tuning outcome is written: `RESULTS/tune.json`.
pub fn choice_path(cfg: &LoadedConfig) -> PathBuf {
    store_of(cfg).root.join("tune.json")
}

/// Progress file of a running run (read by the sweep's bars and `status`).
pub fn progress_path(store: &ResultsDir, id: &str) -> PathBuf {
    store.root.join("locks").join(format!("{id}.progress"))
}
