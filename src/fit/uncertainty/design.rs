//! Design diagnostics: do the sizes and token counts of the runs vary enough, and
//! independently, for the terms of L = E + A/N^α + B/D^β to be told apart? N or D spanning
//! under a decade or fewer than 3 distinct values, D never varied, or log D moving in lockstep
//! with log N (then the N and D terms trade off; Besiroglu et al. 2024 discuss the resulting
//! ridge) each give a reason that leaves the affected quantities undetermined. The two-way
//! additivity check ([`super::additivity`]) is part of the design record.

use serde::{Deserialize, Serialize};

use super::additivity::{additivity, Additivity};
use crate::fit::input::data::{distinct_sorted, groups, Cell};
use crate::fit::stats::ols;

/// Design diagnostics of a set of cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    /// Distinct model sizes N.
    pub distinct_n: usize,
    /// max N / min N.
    #[serde(with = "crate::fit::lossless")]
    pub n_span: f64,
    /// Distinct token counts D.
    pub distinct_d: usize,
    /// max D / min D.
    #[serde(with = "crate::fit::lossless")]
    pub d_span: f64,
    /// R² of log D regressed on log N (1 = D fixed by N); `None` when N or D is constant.
    #[serde(with = "crate::fit::lossless::opt")]
    pub r2_logd_on_logn: Option<f64>,
    /// Largest loss range across N among cells sharing a D, nats/token.
    #[serde(with = "crate::fit::lossless::opt")]
    pub loss_range_across_n_at_fixed_d: Option<f64>,
    /// Largest loss range across D among cells sharing an N, nats/token.
    #[serde(with = "crate::fit::lossless::opt")]
    pub loss_range_across_d_at_fixed_n: Option<f64>,
    /// Two-way additivity check of the cell means (absent in fit.json files written before it).
    #[serde(default)]
    pub additivity: Option<Additivity>,
}

fn range_at_fixed(cells: &[Cell], fixed_n: bool) -> Option<f64> {
    let mut best: Option<f64> = None;
    let key: Vec<f64> = cells.iter().map(|c| if fixed_n { c.n } else { c.d }).collect();
    for g in groups(&key) {
        let same: Vec<f64> = g.iter().map(|&i| cells[i].mean()).collect();
        if same.len() >= 2 {
            let r = same.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                - same.iter().cloned().fold(f64::INFINITY, f64::min);
            best = Some(best.map_or(r, |b: f64| b.max(r)));
        }
    }
    best
}

/// Computes the design diagnostics.
pub fn design(cells: &[Cell]) -> Design {
    let ns: Vec<f64> = cells.iter().map(|c| c.n).collect();
    let ds: Vec<f64> = cells.iter().map(|c| c.d).collect();
    let span =
        |v: &[f64]| v.iter().cloned().fold(0.0, f64::max) / v.iter().cloned().fold(f64::INFINITY, f64::min);
    let (dn, dd) = (distinct_sorted(ns.clone()).len(), distinct_sorted(ds.clone()).len());
    let r2 = (dn >= 2 && dd >= 2).then(|| {
        let x: Vec<f64> = ns.iter().map(|v| v.ln()).collect();
        let y: Vec<f64> = ds.iter().map(|v| v.ln()).collect();
        ols(&x, &y).map_or(1.0, |f| f.r2)
    });
    Design {
        distinct_n: dn,
        n_span: if cells.is_empty() { 1.0 } else { span(&ns) },
        distinct_d: dd,
        d_span: if cells.is_empty() { 1.0 } else { span(&ds) },
        r2_logd_on_logn: r2,
        loss_range_across_n_at_fixed_d: range_at_fixed(cells, false),
        loss_range_across_d_at_fixed_n: range_at_fixed(cells, true),
        additivity: additivity(cells),
    }
}

impl Design {
    fn axis_reasons(
        &self,
        axis: &str,
        distinct: usize,
        span: f64,
        moved: Option<f64>,
        other: &str,
    ) -> Vec<String> {
        let moved = moved
            .map(|m| format!("; loss moves {m:.3} nats across the {axis} range at fixed {other}"))
            .unwrap_or_default();
        let mut r = Vec::new();
        if distinct <= 1 {
            r.push(format!("{axis} never varied (every run at the same {axis})"));
        } else if distinct < 3 {
            r.push(format!("only {distinct} distinct {axis} values{moved}"));
        } else if span < 10.0 {
            r.push(format!("{axis} range under a decade ({axis} spans {span:.1}×){moved}"));
        }
        r
    }
    /// Design reasons that leave the N term (α, A) undetermined.
    pub fn n_reasons(&self) -> Vec<String> {
        let mut r =
            self.axis_reasons("N", self.distinct_n, self.n_span, self.loss_range_across_n_at_fixed_d, "D");
        r.extend(self.collinear_reason());
        r
    }
    /// Design reasons that leave the D term (β, B) undetermined.
    pub fn d_reasons(&self) -> Vec<String> {
        let mut r =
            self.axis_reasons("D", self.distinct_d, self.d_span, self.loss_range_across_d_at_fixed_n, "N");
        r.extend(self.collinear_reason());
        r
    }
    /// Reasons for any term: the union of [`Self::n_reasons`] and [`Self::d_reasons`].
    pub fn all_reasons(&self) -> Vec<String> {
        let mut r = self.n_reasons();
        for x in self.d_reasons() {
            if !r.contains(&x) {
                r.push(x);
            }
        }
        r
    }
    /// Why an additive law (E + f(N) + g(D), Chinchilla's form) does not describe the data, if
    /// the two-way interaction test says so; Kaplan's forms are not additive in L and do not use it.
    pub fn additivity_reason(&self) -> Option<String> {
        self.additivity.as_ref().and_then(Additivity::reason)
    }
    /// "D never varied independently of N" when R²(log D ~ log N) > 0.98.
    pub fn collinear_reason(&self) -> Option<String> {
        self.r2_logd_on_logn.filter(|r2| *r2 > 0.98).map(|r2| {
            format!("D was never varied independently of N (R² of log D on log N = {r2:.3}), so the N and D terms trade off")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(n: f64, d: f64, l: f64) -> Cell {
        Cell { n, d, c: 6.0 * n * d, losses: vec![l], ids: vec![], flops_budget: None }
    }

    #[test]
    fn fixed_d_and_narrow_n_are_flagged() {
        let cells: Vec<Cell> = [1e6, 1.4e6, 2e6].iter().map(|&n| cell(n, 1e9, 3.0 - n / 1e7)).collect();
        let d = design(&cells);
        assert_eq!(d.distinct_d, 1);
        assert!(d.d_reasons().iter().any(|r| r.contains("D never varied")), "{:?}", d.d_reasons());
        let nr = d.n_reasons();
        assert!(
            nr.iter()
                .any(|r| r.contains("N range under a decade (N spans 2.0×)") && r.contains("0.100 nats")),
            "{nr:?}"
        );
    }

    #[test]
    fn lockstep_d_is_collinear_and_a_full_grid_is_fine() {
        let lock: Vec<Cell> = [1e5, 1e6, 1e7, 1e8].iter().map(|&n| cell(n, 20.0 * n, 3.0)).collect();
        assert!(design(&lock).collinear_reason().is_some());
        let mut grid = Vec::new();
        for n in [1e5, 1e6, 1e7] {
            for d in [1e7, 1e8, 1e9] {
                grid.push(cell(n, d, 3.0));
            }
        }
        let g = design(&grid);
        assert!(g.all_reasons().is_empty(), "{:?}", g.all_reasons());
    }
}
