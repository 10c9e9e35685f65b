//! Is the loss additive in N and D? A two-way test on the cross grid of cell means.
//!
//! Every law of the form L = E + f(N) + g(D) — Chinchilla's E + A/N^α + B/D^β included — is
//! *additive*: the loss gap between two model sizes is the same at every token budget. On the
//! largest complete N × D cross grid of the data (the sizes with ≥ 2 cells, and the budgets every
//! one of them has), fit the additive two-way model m_ij = μ + r_i + c_j (row and column means of
//! a balanced table) and measure the interaction SS = Σ (m_ij − r̄_i − c̄_j + μ)² on
//! (I − 1)(J − 1) degrees of freedom. Under additivity its expected size is set by the noise of a
//! cell mean, σ²/k (σ² the pooled seed variance, k the harmonic mean of seeds per cell), and
//! χ² = SS / (σ²/k) ~ χ²((I − 1)(J − 1)) (the two-way ANOVA interaction test; σ² is treated as
//! known, so the test is slightly liberal when few cells have seeds).
//!
//! The data are called **not additive** when χ² exceeds its 99% point *and* the interaction RMS
//! is at least 10% of the range of the N main effect: then the N effect changes with D by more than
//! noise and by a margin that matters, and the exponents of an additive law depend on which part
//! of the grid weighs most (e.g. a min(capacity, data) interaction, where bigger models only pull
//! ahead once enough data has been seen). With one seed per cell there is no noise scale: the
//! interaction is reported but not tested.

use serde::{Deserialize, Serialize};

use crate::fit::input::data::{groups, seed_noise, Cell};
use crate::fmt::fmt_num;

/// The additivity check of a set of cells (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Additivity {
    /// Model sizes in the cross grid.
    pub sizes: usize,
    /// Token budgets in the cross grid (shared by all those sizes).
    pub budgets: usize,
    /// Smallest and largest N of the cross grid.
    pub n_range: [f64; 2],
    /// Smallest and largest D of the cross grid.
    pub d_range: [f64; 2],
    /// Loss gap L(N_min) − L(N_max) at the smallest and at the largest D, nats/token.
    pub gap_at_d: [f64; 2],
    /// RMS of the interaction residuals, sqrt(SS / df), nats/token.
    pub interaction_rms: f64,
    /// Range of the N main effect (row means), nats/token.
    pub n_effect: f64,
    /// Degrees of freedom (I − 1)(J − 1).
    pub df: usize,
    /// Noise SD of a cell mean, sqrt(σ²/k), when seeds are replicated.
    pub mean_noise_sd: Option<f64>,
    /// SS / (σ²/k), when seeds are replicated.
    pub chi2: Option<f64>,
    /// 99% point of χ²(df).
    pub chi2_99: f64,
    /// χ² above its 99% point and interaction RMS ≥ 10% of the N effect.
    pub not_additive: bool,
}

/// 99% point of χ²(ν) by the Wilson–Hilferty cube approximation (within ~1% for ν ≥ 2).
pub fn chi2_99(df: usize) -> f64 {
    let v = df as f64;
    let z = 2.326_347_874;
    v * (1.0 - 2.0 / (9.0 * v) + z * (2.0 / (9.0 * v)).sqrt()).powi(3)
}

/// The check, or `None` without a cross grid of at least 2 sizes × 2 budgets with ≥ 2 df.
pub fn additivity(cells: &[Cell]) -> Option<Additivity> {
    // Sizes with ≥ 2 cells, and the budgets every such size has (grouped up to `same`, in
    // O(n log n): `data::groups`).
    let gn = groups(&cells.iter().map(|c| c.n).collect::<Vec<_>>());
    let gd = groups(&cells.iter().map(|c| c.d).collect::<Vec<_>>());
    let mut at_ij: std::collections::HashMap<(usize, usize), usize> = std::collections::HashMap::new();
    let mut n_of = vec![0; cells.len()];
    for (k, g) in gn.iter().enumerate() {
        g.iter().for_each(|&i| n_of[i] = k);
    }
    for (k, g) in gd.iter().enumerate() {
        for &i in g {
            at_ij.entry((n_of[i], k)).or_insert(i);
        }
    }
    let rows: Vec<usize> = (0..gn.len()).filter(|&k| gn[k].len() >= 2).collect();
    let cols: Vec<usize> =
        (0..gd.len()).filter(|&k| rows.iter().all(|&r| at_ij.contains_key(&(r, k)))).collect();
    let smallest =
        |g: &[usize], f: fn(&Cell) -> f64| g.iter().map(|&i| f(&cells[i])).fold(f64::INFINITY, f64::min);
    let ns: Vec<f64> = rows.iter().map(|&k| smallest(&gn[k], |c| c.n)).collect();
    let ds: Vec<f64> = cols.iter().map(|&k| smallest(&gd[k], |c| c.d)).collect();
    let (i_n, j_n) = (ns.len(), ds.len());
    let df = i_n.saturating_sub(1) * j_n.saturating_sub(1);
    if i_n < 2 || j_n < 2 || df < 2 {
        return None;
    }
    let grid: Vec<Vec<&Cell>> =
        rows.iter().map(|&r| cols.iter().map(|&k| &cells[at_ij[&(r, k)]]).collect()).collect();
    let m: Vec<Vec<f64>> = grid.iter().map(|row| row.iter().map(|c| c.mean()).collect()).collect();
    let mu = m.iter().flatten().sum::<f64>() / (i_n * j_n) as f64;
    let r: Vec<f64> = m.iter().map(|row| row.iter().sum::<f64>() / j_n as f64).collect();
    let c: Vec<f64> = (0..j_n).map(|j| m.iter().map(|row| row[j]).sum::<f64>() / i_n as f64).collect();
    let mut ss = 0.0;
    for (i, row) in m.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            ss += (v - r[i] - c[j] + mu).powi(2);
        }
    }
    // Pooled seed variance over every replicated cell of the data set, per cell mean.
    let k_harm = (i_n * j_n) as f64 / grid.iter().flatten().map(|c| 1.0 / c.losses.len() as f64).sum::<f64>();
    let var_mean = seed_noise(cells).map(|s| s.pooled_sd.powi(2)).filter(|v| *v > 0.0).map(|v| v / k_harm);
    let chi2 = var_mean.map(|v| ss / v);
    let crit = chi2_99(df);
    let rms = (ss / df as f64).sqrt();
    let n_effect =
        r.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - r.iter().cloned().fold(f64::INFINITY, f64::min);
    let last = j_n - 1;
    Some(Additivity {
        sizes: i_n,
        budgets: j_n,
        n_range: [ns[0], ns[i_n - 1]],
        d_range: [ds[0], ds[last]],
        gap_at_d: [m[0][0] - m[i_n - 1][0], m[0][last] - m[i_n - 1][last]],
        interaction_rms: rms,
        n_effect,
        df,
        mean_noise_sd: var_mean.map(f64::sqrt),
        chi2,
        chi2_99: crit,
        not_additive: chi2.is_some_and(|x| x > crit) && rms >= 0.1 * n_effect,
    })
}

impl Additivity {
    /// "the gap between N = n₀ and n₁ is g₀ nats at D = d₀{sep}g₁ at D = d₁".
    fn gaps(&self, sep: &str) -> String {
        format!(
            "the gap between N = {} and {} is {:.3} nats at D = {}{sep}{:.3} at D = {}",
            fmt_num(self.n_range[0]),
            fmt_num(self.n_range[1]),
            self.gap_at_d[0],
            fmt_num(self.d_range[0]),
            self.gap_at_d[1],
            fmt_num(self.d_range[1]),
        )
    }

    /// The identifiability reason when the data are not additive.
    pub fn reason(&self) -> Option<String> {
        let chi2 = self.chi2.unwrap_or(0.0);
        self.not_additive.then(|| {
            format!(
                "loss is not additive in N and D, which E + A/N^α + B/D^β assumes: {}, an N×D interaction of RMS \
                 {:.3} nats over the {}×{} grid, {:.1}× what seed noise explains (χ² {chi2:.0} on {} df, 99% point {:.1})",
                self.gaps(" but "),
                self.interaction_rms,
                self.sizes,
                self.budgets,
                (chi2 / self.df as f64).sqrt(),
                self.df,
                self.chi2_99
            )
        })
    }

    /// One line for summaries, whatever the verdict.
    pub fn line(&self) -> String {
        let head = format!(
            "additivity in N and D ({}×{} cross grid): {}; interaction RMS {:.4} nats",
            self.sizes,
            self.budgets,
            self.gaps(", "),
            self.interaction_rms
        );
        match (self.chi2, self.mean_noise_sd) {
            (Some(x), Some(sd)) => format!(
                "{head} vs {sd:.4} from seed noise (χ² {x:.1} on {} df, 99% point {:.1}): {}",
                self.df,
                self.chi2_99,
                if self.not_additive {
                    "NOT additive, so the exponents of E + A/N^α + B/D^β depend on the grid"
                } else if x > self.chi2_99 {
                    "a significant but small interaction (under 10% of the N effect)"
                } else {
                    "consistent with an additive law"
                }
            ),
            _ => format!("{head} (one seed per cell: not tested against noise)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(n: f64, d: f64, losses: Vec<f64>) -> Cell {
        Cell { n, d, c: 6.0 * n * d, losses, ids: vec![], flops_budget: None }
    }

    fn grid(f: impl Fn(f64, f64) -> f64, noise: [f64; 2]) -> Vec<Cell> {
        let mut v = Vec::new();
        for n in [1e4, 3e4, 1e5, 3e5] {
            for d in [1e6, 2e6, 4e6, 8e6, 1.6e7] {
                let l = f(n, d);
                v.push(cell(n, d, vec![l + noise[0], l + noise[1]]));
            }
        }
        v
    }

    #[test]
    fn chi2_points_match_tables() {
        // χ²(0.99) table values: 9.210 (2), 26.217 (12), 37.566 (20).
        for (df, t) in [(2, 9.210), (12, 26.217), (20, 37.566)] {
            assert!((chi2_99(df) / t - 1.0).abs() < 0.01, "{df}: {}", chi2_99(df));
        }
    }

    #[test]
    fn additive_law_passes_and_min_structure_fails() {
        // Seed offsets ±0.01 in alternating cells, so the noise scale is known.
        let alt =
            |n: f64, d: f64| if ((n.log10() * 7.0 + d.log10() * 3.0) as i64) % 2 == 0 { 1.0 } else { -1.0 };
        let chin = |n: f64, d: f64| 1.8 + 20.0 / n.powf(0.35) + 30.0 / d.powf(0.3);
        let mut add = grid(chin, [0.01, -0.01]);
        for c in &mut add {
            let s = 0.003 * alt(c.n, c.d); // a little non-additive noise in the means
            c.losses.iter_mut().for_each(|l| *l += s);
        }
        let a = additivity(&add).expect("cross grid");
        assert_eq!((a.sizes, a.budgets, a.df), (4, 5, 12));
        assert!(!a.not_additive, "{}", a.line());
        assert!(a.reason().is_none());
        // Capacity binds only once enough data was seen: L = E + max(N-term, D-term).
        let min_law = |n: f64, d: f64| 1.8 + (20.0 / n.powf(0.35)).max(30.0 / d.powf(0.3));
        let m = additivity(&grid(min_law, [0.01, -0.01])).expect("cross grid");
        assert!(m.not_additive, "{}", m.line());
        let why = m.reason().expect("reason");
        assert!(why.contains("not additive") && why.contains("4×5 grid"), "{why}");
        assert!(m.gap_at_d[1] > m.gap_at_d[0] + 0.05, "{:?}", m.gap_at_d);
    }

    #[test]
    fn one_seed_is_reported_not_tested_and_incomplete_grids_use_the_shared_budgets() {
        let mut cells: Vec<Cell> = grid(|n, d| 2.0 + 1e3 / n + 1e5 / d, [0.0, 0.0])
            .into_iter()
            .map(|mut c| {
                c.losses.truncate(1);
                c
            })
            .collect();
        let a = additivity(&cells).expect("cross grid");
        assert!(a.chi2.is_none() && !a.not_additive);
        assert!(a.line().contains("not tested"), "{}", a.line());
        // One extra budget at one size only: the cross grid keeps the 5 shared budgets.
        cells.push(cell(1e4, 3.2e7, vec![2.1]));
        assert_eq!(additivity(&cells).expect("cross grid").budgets, 5);
        // Two sizes × two budgets: 1 df, too few to test.
        let tiny: Vec<Cell> = [(1e4, 1e6), (1e4, 2e6), (1e5, 1e6), (1e5, 2e6)]
            .iter()
            .map(|&(n, d)| cell(n, d, vec![2.0, 2.01]))
            .collect();
        assert!(additivity(&tiny).is_none());
    }
}
