//! What the figure builders draw: one group of one fit (one parameter convention), with the
//! runs and validation curves read under the same conventions as the fit.

use std::path::Path;

use anyhow::Result;

use crate::fit::input::data::RunPoint;
use crate::fit::input::source::{load_results, Loaded, RunCurve};
use crate::fit::schema::{FitReport, GroupReport};

use super::figure::Figure;

/// A figure, or why it was skipped (for report.md).
pub type Built = std::result::Result<Figure, String>;

/// One group of a fit with its data.
#[derive(Debug, Clone)]
pub struct GroupView<'a> {
    /// The whole fit (conventions).
    pub fit: &'a FitReport,
    /// The group's results.
    pub group: &'a GroupReport,
    /// Usable runs of the group under the fit's conventions.
    pub points: Vec<RunPoint>,
    /// Validation curves of those runs.
    pub curves: Vec<RunCurve>,
    /// File-name suffix: empty for a single group, else `_VALUE` (safe characters only).
    pub suffix: String,
    /// Title suffix: empty for a single group, else ` (KEY = VALUE)`.
    pub title: String,
}

impl<'a> GroupView<'a> {
    /// Parameter convention of the fit (`total` or `nonembedding`).
    pub fn convention(&self) -> &'static str {
        self.fit.conventions.params.name()
    }
}

/// Reads `dir` under `fit`'s conventions (runs, exclusions, curves). The fit itself refused
/// runs of mixed settings (or was told to pool them), so drawing it reads what it pooled.
pub fn load_for(dir: &Path, fit: &FitReport) -> Result<Loaded> {
    let c = &fit.conventions;
    load_results(dir, c.params, c.flops, c.group_by.as_deref(), true)
}

/// One view per group of `fit`, with `loaded` split by group value.
pub fn views<'a>(fit: &'a FitReport, loaded: &Loaded) -> Vec<GroupView<'a>> {
    let many = fit.groups.len() > 1;
    fit.groups
        .iter()
        .map(|g| {
            let value = g.value.clone();
            let safe: String = value
                .clone()
                .unwrap_or_default()
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() || ch == '.' || ch == '-' { ch } else { '_' })
                .collect();
            GroupView {
                fit,
                group: g,
                points: loaded.points.iter().filter(|p| p.group == value).cloned().collect(),
                curves: loaded.curves.iter().filter(|c| c.group == value).cloned().collect(),
                suffix: if many { format!("_{safe}") } else { String::new() },
                title: match (&g.key, &g.value) {
                    (Some(k), Some(v)) if many => format!(" ({k} = {v})"),
                    _ => String::new(),
                },
            }
        })
        .collect()
}
