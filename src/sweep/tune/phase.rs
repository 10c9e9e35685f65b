//! A config's tuning as the first phase of its sweep: the parsed `[tune]`, its runs, their
//! results folder and, once every run has a result, the choice the main grid is built from.

use anyhow::Result;

use super::choice::{load_choice, TuneChoice};
use super::runs::tune_runs;
use super::spec::{parse, TuneSpec};
use crate::config::LoadedConfig;
use crate::error::input_err;
use crate::results::ResultsDir;
use crate::sweep::cell::GridRun;
use crate::sweep::store::tune_store;

/// The `[tune]` phase of a config.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// The parsed section.
    pub spec: TuneSpec,
    /// The tuning runs.
    pub runs: Vec<GridRun>,
    /// Their results folder, `RESULTS/tune`.
    pub store: ResultsDir,
    /// The outcome, once every tuning run has a result.
    pub choice: Option<TuneChoice>,
}

impl Tuning {
    /// The config's `[tune]` phase (None without one).
    pub fn load(cfg: &LoadedConfig) -> Result<Option<Tuning>> {
        let Some(spec) = parse(cfg)? else { return Ok(None) };
        let runs = tune_runs(cfg, &spec)?;
        let store = tune_store(cfg);
        let choice = load_choice(cfg, &spec, &runs, &store)?;
        Ok(Some(Tuning { spec, runs, store, choice }))
    }

    /// How many tuning runs have a result, of how many.
    pub fn progress(&self) -> (usize, usize) {
        let done = self.runs.iter().filter(|r| self.store.run_path(&r.spec.id()).exists()).count();
        (done, self.runs.len())
    }

    /// The input error of a main grid asked for before the tuning finished.
    pub fn unfinished(&self, cfg: &LoadedConfig) -> anyhow::Error {
        let f = cfg.path.display();
        let (done, total) = self.progress();
        input_err(format!(
            "{f}: [tune] has not finished ({done} of {total} tuning runs done in {}); fix: run \
             `scalinglab sweep {f}` (it runs the tuning first), or `scalinglab run {f} --tune --index I` \
             for each tuning run",
            self.store.root.display()
        ))
    }
}
