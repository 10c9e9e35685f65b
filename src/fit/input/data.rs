//! Fit inputs: one [`RunPoint`] per run or CSV row, grouped into [`Cell`]s of seed replicates.
//!
//! A cell is every point with the same (N, D) (to 1 part in 10⁶); its seeds are replicates. Fits
//! use one observation per cell, the mean loss over its seeds ([`Obs`] with weight 1), and the
//! bootstrap resamples whole cells and, within each, its seeds (see `bootstrap`), so intervals
//! carry the run-to-run noise.

use serde::{Deserialize, Serialize};

/// One observation given to a fit: N parameters, D tokens, L nats/token, and a weight in the
/// summed objective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Obs {
    /// Parameters (under the chosen convention).
    #[serde(with = "crate::fit::lossless")]
    pub n: f64,
    /// Training tokens.
    #[serde(with = "crate::fit::lossless")]
    pub d: f64,
    /// Loss, nats/token.
    #[serde(with = "crate::fit::lossless")]
    pub loss: f64,
    /// Weight in the summed objective (dimensionless, 1 for a cell mean).
    #[serde(with = "crate::fit::lossless")]
    pub weight: f64,
}

impl Obs {
    /// An observation with weight 1.
    pub fn new(n: f64, d: f64, loss: f64) -> Obs {
        Obs { n, d, loss, weight: 1.0 }
    }
}

/// One run (results dir) or CSV row, after conventions are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    /// Run id, or `FILE:LINE` for a CSV row.
    pub id: String,
    /// Parameters N under `--params`.
    pub n: f64,
    /// Training tokens D.
    pub d: f64,
    /// Training FLOPs C under `--flops` (for CSV: the C column, else 6ND).
    pub c: f64,
    /// Final validation loss, nats/token.
    pub loss: f64,
    /// Seed label when known (replicates share N, D and differ in seed).
    pub seed: Option<String>,
    /// Value of the `--group-by` key (or the CSV `group` column).
    pub group: Option<String>,
    /// IsoFLOP budget from the spec key `flops_budget`, FLOPs.
    pub flops_budget: Option<f64>,
    /// LR schedule from the spec key `schedule` (cosine | wsd | constant).
    pub schedule: Option<String>,
    /// Training run this point is a checkpoint of (CSV `run` column), when several rows are
    /// checkpoints of one run; `None`: the point is its own run.
    pub run: Option<String>,
    /// Unique tokens of the training set (CSV `U` column), when the run repeats data
    /// (D > U: D/U epochs); for the data-constrained law (`laws::constrained`).
    pub unique_tokens: Option<f64>,
}

/// A point that was not used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    /// Run id or `FILE:LINE`.
    pub id: String,
    /// Why it was left out (status, missing loss, ...).
    pub reason: String,
}

/// All points sharing (N, D): seed replicates.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Parameters.
    pub n: f64,
    /// Tokens.
    pub d: f64,
    /// Mean training FLOPs over the replicates.
    pub c: f64,
    /// Loss of each replicate, nats/token.
    pub losses: Vec<f64>,
    /// Ids of the replicates.
    pub ids: Vec<String>,
    /// IsoFLOP budget of the first replicate, if any.
    pub flops_budget: Option<f64>,
}

impl Cell {
    /// Mean loss over the replicates, nats/token.
    pub fn mean(&self) -> f64 {
        self.losses.iter().sum::<f64>() / self.losses.len() as f64
    }
    /// Sample standard deviation over replicates (n−1), nats/token; `None` with one seed.
    pub fn sd(&self) -> Option<f64> {
        let k = self.losses.len();
        (k >= 2).then(|| {
            let m = self.mean();
            (self.losses.iter().map(|l| (l - m).powi(2)).sum::<f64>() / (k - 1) as f64).sqrt()
        })
    }
    /// The cell-mean observation (weight 1).
    pub fn obs(&self) -> Obs {
        Obs::new(self.n, self.d, self.mean())
    }
}

/// Two sizes or token counts that are the same up to float noise (relative 1e-6).
pub(crate) fn same(a: f64, b: f64) -> bool {
    (a / b - 1.0).abs() < 1e-6
}

/// The distinct values of `v` (up to [`same`]), sorted.
pub(crate) fn distinct_sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| same(*a, *b));
    v
}

/// Indices of `values` grouped up to [`same`] as [`distinct_sorted`] groups them (each
/// group's values are `same` as its smallest): groups in increasing order of value, indices
/// ascending within a group. O(n log n), where pairwise comparison was O(n²): 10⁵ rows took
/// 50 s in `design` alone (issue #18).
pub(crate) fn groups(values: &[f64]) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut first = f64::NAN;
    for i in idx {
        match out.last_mut() {
            Some(g) if same(values[i], first) => g.push(i),
            _ => {
                first = values[i];
                out.push(vec![i]);
            }
        }
    }
    for g in &mut out {
        g.sort_unstable();
    }
    out
}

fn key(n: f64, d: f64) -> (i64, i64) {
    ((n.ln() * 1e6).round() as i64, (d.ln() * 1e6).round() as i64)
}

/// Groups points into cells of equal (N, D), ordered by (N, D).
pub fn make_cells(points: &[RunPoint]) -> Vec<Cell> {
    let mut map: std::collections::BTreeMap<(i64, i64), Cell> = Default::default();
    for p in points {
        let cell = map.entry(key(p.n, p.d)).or_insert_with(|| Cell {
            n: p.n,
            d: p.d,
            c: 0.0,
            losses: Vec::new(),
            ids: Vec::new(),
            flops_budget: p.flops_budget,
        });
        cell.c += p.c;
        cell.losses.push(p.loss);
        cell.ids.push(p.id.clone());
    }
    map.into_values()
        .map(|mut c| {
            c.c /= c.losses.len() as f64;
            c
        })
        .collect()
}

/// Cell means as observations.
pub fn cell_obs(cells: &[Cell]) -> Vec<Obs> {
    cells.iter().map(Cell::obs).collect()
}

/// Run-to-run (seed) noise in one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellNoise {
    /// Parameters.
    #[serde(with = "crate::fit::lossless")]
    pub n: f64,
    /// Tokens.
    #[serde(with = "crate::fit::lossless")]
    pub d: f64,
    /// Number of seeds.
    pub seeds: usize,
    /// Mean loss over seeds, nats/token.
    #[serde(with = "crate::fit::lossless")]
    pub mean_loss: f64,
    /// Standard deviation over seeds, nats/token.
    #[serde(with = "crate::fit::lossless")]
    pub sd_loss: f64,
}

/// Seed noise over the data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedNoise {
    /// Every cell with ≥ 2 seeds.
    pub cells: Vec<CellNoise>,
    /// Pooled SD over those cells: sqrt(Σ(k−1)s² / Σ(k−1)), nats/token.
    #[serde(with = "crate::fit::lossless")]
    pub pooled_sd: f64,
    /// Pooled SD of ln L (relative noise), dimensionless.
    #[serde(with = "crate::fit::lossless")]
    pub pooled_sd_log: f64,
}

/// Seed noise when some cell has replicates; `None` when every cell has one seed.
pub fn seed_noise(cells: &[Cell]) -> Option<SeedNoise> {
    let reps: Vec<&Cell> = cells.iter().filter(|c| c.losses.len() >= 2).collect();
    if reps.is_empty() {
        return None;
    }
    let (mut ss, mut ssl, mut dof) = (0.0, 0.0, 0.0);
    let mut out = Vec::new();
    for c in reps {
        let k = c.losses.len() as f64;
        let sd = c.sd().unwrap_or(0.0);
        ss += (k - 1.0) * sd * sd;
        let lm = c.losses.iter().map(|l| l.ln()).sum::<f64>() / k;
        ssl += c.losses.iter().map(|l| (l.ln() - lm).powi(2)).sum::<f64>();
        dof += k - 1.0;
        out.push(CellNoise { n: c.n, d: c.d, seeds: c.losses.len(), mean_loss: c.mean(), sd_loss: sd });
    }
    Some(SeedNoise { cells: out, pooled_sd: (ss / dof).sqrt(), pooled_sd_log: (ssl / dof).sqrt() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(id: &str, n: f64, d: f64, loss: f64) -> RunPoint {
        RunPoint {
            id: id.into(),
            n,
            d,
            c: 6.0 * n * d,
            loss,
            seed: None,
            group: None,
            flops_budget: None,
            schedule: None,
            run: None,
            unique_tokens: None,
        }
    }

    #[test]
    fn replicates_merge_into_cells() {
        let pts = vec![pt("a", 1e6, 1e8, 3.0), pt("b", 1e6, 1e8, 3.2), pt("c", 2e6, 1e8, 2.9)];
        let cells = make_cells(&pts);
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].losses, vec![3.0, 3.2]);
        assert!((cells[0].mean() - 3.1).abs() < 1e-12);
        assert!((cells[0].sd().expect("two seeds") - 0.1414213562373095).abs() < 1e-12);
        assert!(cells[1].sd().is_none());
        let noise = seed_noise(&cells).expect("one replicated cell");
        assert_eq!(noise.cells.len(), 1);
        assert!((noise.pooled_sd - 0.1414213562373095).abs() < 1e-12);
    }

    #[test]
    fn no_replicates_no_noise() {
        let cells = make_cells(&[pt("a", 1e6, 1e8, 3.0), pt("b", 1e7, 1e8, 2.0)]);
        assert!(seed_noise(&cells).is_none());
    }
}
