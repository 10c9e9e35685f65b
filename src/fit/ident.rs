//! Identifiability: does the data determine each fitted or derived quantity?
//!
//! Four kinds of evidence, all reported with reasons:
//! 1. **Design** ([`Design`]): N or D spans under a decade or fewer than 3 distinct values, D
//!    never varied, or log D moving in lockstep with log N (then the N and D terms of
//!    L = E + A/N^α + B/D^β trade off; Besiroglu et al. 2024 discuss the resulting ridge).
//! 2. **Flat profile**: holding α, β or E at ±50% of its estimate and refitting the rest raises
//!    the sum of squared log residuals by less than χ²₁(0.95)·σ̂² = 3.84·SS/(n−5) (a profile
//!    likelihood test), so an interval would be wider than the value.
//! 3. **Lack of additivity** ([`super::additivity`]): the loss gap between model sizes changes
//!    with D by more than seed noise explains (a two-way interaction test), so no law of the
//!    form E + f(N) + g(D) describes the data and its exponents depend on the grid.
//! 4. **Bootstrap**: the 95% interval is wider than the value (exponents, E), or spans more
//!    than a decade (positive scale factors A, B, G and tokens-per-parameter, whose size only
//!    means something on a log scale).

use serde::{Deserialize, Serialize};

use super::additivity::{additivity, Additivity};
use super::approach3::{profile_theta, sum_sq_log, Approach3Fit};
use super::data::Cell;
use super::model::LogData;
use super::multistart::FitOptions;
use super::stats::ols;
use crate::fmt::fmt_num;

/// Design diagnostics of a set of cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    /// Distinct model sizes N.
    pub distinct_n: usize,
    /// max N / min N.
    #[serde(with = "crate::fit::schema::lossless")]
    pub n_span: f64,
    /// Distinct token counts D.
    pub distinct_d: usize,
    /// max D / min D.
    #[serde(with = "crate::fit::schema::lossless")]
    pub d_span: f64,
    /// R² of log D regressed on log N (1 = D fixed by N); `None` when N or D is constant.
    #[serde(with = "crate::fit::schema::lossless::opt")]
    pub r2_logd_on_logn: Option<f64>,
    /// Largest loss range across N among cells sharing a D, nats/token.
    #[serde(with = "crate::fit::schema::lossless::opt")]
    pub loss_range_across_n_at_fixed_d: Option<f64>,
    /// Largest loss range across D among cells sharing an N, nats/token.
    #[serde(with = "crate::fit::schema::lossless::opt")]
    pub loss_range_across_d_at_fixed_n: Option<f64>,
    /// Two-way additivity check of the cell means (absent in fit.json files written before it).
    #[serde(default)]
    pub additivity: Option<Additivity>,
}

/// Two sizes or token counts that are the same up to float noise (relative 1e-6).
pub(super) fn same(a: f64, b: f64) -> bool {
    (a / b - 1.0).abs() < 1e-6
}

/// The distinct values of `v` (up to [`same`]), sorted.
pub(super) fn distinct_sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| same(*a, *b));
    v
}

/// Indices of `values` grouped up to [`same`] as [`distinct_sorted`] groups them (each
/// group's values are `same` as its smallest): groups in increasing order of value, indices
/// ascending within a group. O(n log n), where pairwise comparison was O(n²): 10⁵ rows took
/// 50 s in `design` alone (issue #18).
pub(super) fn groups(values: &[f64]) -> Vec<Vec<usize>> {
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

/// Bootstrap verdict: `Some(reason)` when the interval is too wide for the value. `log_scale`
/// for positive scale factors (interval must span under a decade).
pub fn interval_reason(value: f64, ci: [f64; 2], log_scale: bool) -> Option<String> {
    let [lo, hi] = ci;
    if !lo.is_finite() || !hi.is_finite() {
        return Some("bootstrap interval is not finite".into());
    }
    if log_scale {
        (lo <= 0.0 || hi / lo > 10.0)
            .then(|| format!("95% interval {} – {} spans more than a decade", fmt_num(lo), fmt_num(hi)))
    } else {
        (hi - lo > value.abs())
            .then(|| format!("95% interval {} – {} is wider than the value", fmt_num(lo), fmt_num(hi)))
    }
}

/// Profile-likelihood check of α, β and E (θ indices 2, 3, 4): `[α, β, E]` reasons, `None`
/// where the profile is not flat at ±50%.
pub fn flat_profiles(data: &LogData, fit: &Approach3Fit, opts: &FitOptions) -> [Option<String>; 3] {
    let n = data.len();
    let ss_min = sum_sq_log(data, &fit.theta);
    if n <= 5 {
        let why = Some(format!("{n} points for 5 parameters: no degrees of freedom left"));
        return [why.clone(), why.clone(), why];
    }
    let sigma2 = ss_min / (n - 5) as f64;
    let threshold = 3.84 * sigma2;
    let names = ["α", "β", "E"];
    let mut out: [Option<String>; 3] = [None, None, None];
    for (slot, idx) in [2usize, 3, 4].into_iter().enumerate() {
        let v = fit.theta[idx];
        let probes: [f64; 2] = if idx == 4 { [v + 0.5f64.ln(), v + 1.5f64.ln()] } else { [0.5 * v, 1.5 * v] };
        let mut rises = Vec::new();
        for p in probes {
            // Under `--e-floor` an E below the floor is not a candidate: it cannot be flat there.
            if idx == 4 && opts.e_floor.is_some_and(|f| p < f.ln()) {
                rises.push(f64::INFINITY);
                continue;
            }
            let rise = profile_theta(data, fit, idx, p, opts)
                .map_or(f64::INFINITY, |th| sum_sq_log(data, &th) - ss_min);
            rises.push(rise);
        }
        let worst = rises.iter().cloned().fold(f64::INFINITY, f64::min);
        // The fit minimises a Huber loss, so a profiled refit can have a slightly *smaller*
        // squared error than the best fit: say so rather than print a negative "raise".
        if worst <= 0.0 {
            out[slot] = Some(format!(
                "flat profile: moving {} by ±50% and refitting fits as well (squared log error changes by {:.2e}; a real rise would exceed 3.84·σ̂² = {:.2e})",
                names[slot], worst, threshold
            ));
        } else if worst < threshold {
            out[slot] = Some(format!(
                "flat profile: moving {} by ±50% and refitting raises the squared log error by only {:.2e} (< 3.84·σ̂² = {:.2e})",
                names[slot], worst, threshold
            ));
        }
    }
    out
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

    #[test]
    fn interval_rules() {
        assert!(interval_reason(0.3, [0.04, 8.1], false).is_some());
        assert!(interval_reason(0.3, [0.25, 0.36], false).is_none());
        assert!(interval_reason(400.0, [100.0, 1200.0], true).is_some());
        assert!(interval_reason(400.0, [200.0, 900.0], true).is_none());
        assert_eq!(fmt_num(0.04), "0.04");
        assert_eq!(fmt_num(406.4), "406.4");
        assert_eq!(fmt_num(5.76e23), "5.760e23");
    }
}
