//! Kaplan et al. (2020) power laws, each optionally with an irreducible term E:
//!
//! ```text
//! L(N) = (N_c/N)^α_N          runs at the largest D per size (Kaplan eq. 1.1)
//! L(D) = (D_c/D)^α_D          runs at the largest N per token count (eq. 1.2)
//! L(C) = (C_c/C)^α_C          the compute frontier: runs no cheaper run beats (eq. 1.3)
//! L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D                                  (eq. 1.5)
//! ```
//!
//! All are fitted in log space with the Huber objective and multi-start L-BFGS of
//! [`crate::fit::solve::multistart`]; the single-variable laws as log L = LSE(c − α·log X [, e]) with
//! X_c = e^{c/α}.

use crate::fit::input::data::{groups, Cell};
use crate::fit::solve::multistart::{coarse_then_polish, fit_power_sum, grid, multistart_with, FitOptions};
use crate::fit::solve::objective::{huber, LogData, PowerSum};

/// Which Kaplan law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KaplanForm {
    /// L(N).
    N,
    /// L(D).
    D,
    /// L(C).
    C,
    /// L(N, D).
    Joint,
}

impl KaplanForm {
    /// `L(N)`, `L(D)`, `L(C)`, `L(N,D)`.
    pub fn name(self) -> &'static str {
        match self {
            KaplanForm::N => "L(N)",
            KaplanForm::D => "L(D)",
            KaplanForm::C => "L(C)",
            KaplanForm::Joint => "L(N,D)",
        }
    }
    /// The formula.
    pub fn formula(self, with_e: bool) -> String {
        let e = if with_e { "E + " } else { "" };
        match self {
            KaplanForm::N => format!("L = {e}(N_c/N)^alpha_N"),
            KaplanForm::D => format!("L = {e}(D_c/D)^alpha_D"),
            KaplanForm::C => format!("L = {e}(C_c/C)^alpha_C"),
            KaplanForm::Joint => format!("L = {e}[(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"),
        }
    }
}

/// A fitted Kaplan law.
#[derive(Debug, Clone, PartialEq)]
pub struct KaplanFit {
    /// Which law.
    pub form: KaplanForm,
    /// Whether E was fitted.
    pub with_e: bool,
    /// (name, value, unit): exponents, scales (N_c parameters, D_c tokens, C_c FLOPs), E.
    pub params: Vec<(String, f64, String)>,
    /// Raw parameter vector of the optimiser.
    pub theta: Vec<f64>,
    /// Indices of the cells used.
    pub used: Vec<usize>,
    /// How cells were selected.
    pub selection: String,
}

/// Cells a form uses, and a description of the rule.
pub fn select(form: KaplanForm, cells: &[Cell]) -> (Vec<usize>, String) {
    match form {
        KaplanForm::N | KaplanForm::D => {
            let by_n = form == KaplanForm::N;
            let key = |c: &Cell| if by_n { (c.n, c.d) } else { (c.d, c.n) };
            // Per value of the key (grouped in O(n log n), `data::groups`), the cell with the
            // largest other coordinate, the first on ties; in cell order.
            let ks: Vec<f64> = cells.iter().map(|c| key(c).0).collect();
            let mut idx: Vec<usize> = groups(&ks)
                .into_iter()
                .filter_map(|g| {
                    g.into_iter()
                        .max_by(|&ia, &ib| key(&cells[ia]).1.total_cmp(&key(&cells[ib]).1).then(ib.cmp(&ia)))
                })
                .collect();
            idx.sort_unstable();
            let rule = if by_n { "largest D per N" } else { "largest N per D" };
            (idx, rule.into())
        }
        KaplanForm::C => {
            let mut order: Vec<usize> = (0..cells.len()).collect();
            order.sort_by(|&a, &b| cells[a].c.total_cmp(&cells[b].c));
            let mut best = f64::INFINITY;
            let mut idx = Vec::new();
            for i in order {
                if cells[i].mean() < best {
                    best = cells[i].mean();
                    idx.push(i);
                }
            }
            (idx, "compute frontier: cells with lower loss than every cheaper cell".into())
        }
        KaplanForm::Joint => ((0..cells.len()).collect(), "all cells".into()),
    }
}

fn variable(form: KaplanForm, c: &Cell) -> f64 {
    match form {
        KaplanForm::N | KaplanForm::Joint => c.n,
        KaplanForm::D => c.d,
        KaplanForm::C => c.c,
    }
}

/// Number of parameters of a form.
pub fn n_params(form: KaplanForm, with_e: bool) -> usize {
    (if form == KaplanForm::Joint { 4 } else { 2 }) + usize::from(with_e)
}

/// Fits one Kaplan law to the selected cells; `None` when too few cells or no start converged.
pub fn fit_kaplan(form: KaplanForm, with_e: bool, cells: &[Cell], opts: &FitOptions) -> Option<KaplanFit> {
    let (used, selection) = select(form, cells);
    if used.len() < n_params(form, with_e) {
        return None;
    }
    let es: &[f64] = &[-1.0, 0.0, 1.0];
    if form == KaplanForm::Joint {
        let data = LogData::from_obs(&used.iter().map(|&i| cells[i].obs()).collect::<Vec<_>>());
        let ex: &[f64] = &[0.1, 0.3, 0.6];
        let sc: &[f64] = &[10.0, 20.0, 30.0];
        let mut axes: Vec<&[f64]> = vec![ex, ex, sc, sc];
        if with_e {
            axes.push(es);
        }
        let delta = opts.delta;
        let ms = coarse_then_polish(&data, &grid(&axes), opts.coarse_rows, |d, s| {
            multistart_with(|p: &[f64], g: &mut [f64]| joint_objective(p, g, d, with_e, delta), s, opts)
        })?;
        let t = &ms.best;
        let mut params = vec![
            ("alpha_N".to_string(), t[0], "dimensionless".to_string()),
            ("alpha_D".to_string(), t[1], "dimensionless".to_string()),
            ("N_c".to_string(), t[2].exp(), "parameters".to_string()),
            ("D_c".to_string(), t[3].exp(), "tokens".to_string()),
        ];
        if with_e {
            params.push(("E".into(), t[4].exp(), "nats/token".into()));
        }
        return Some(KaplanFit { form, with_e, params, theta: ms.best, used, selection });
    }
    let mut data = LogData::default();
    for &i in &used {
        let x = variable(form, &cells[i]).ln();
        data.z.push([x, x]);
        data.log_loss.push(cells[i].mean().ln());
        data.weight.push(1.0);
    }
    let cs: &[f64] = &[0.0, 2.0, 5.0, 10.0, 20.0];
    let al: &[f64] = &[0.05, 0.2, 0.5, 1.0];
    let mut axes: Vec<&[f64]> = vec![cs, al];
    if with_e {
        axes.push(es);
    }
    let ms = fit_power_sum(PowerSum::single(0, with_e), &data, &grid(&axes), opts)?;
    let t = &ms.best;
    let (sym, unit) = match form {
        KaplanForm::N => ("N", "parameters"),
        KaplanForm::D => ("D", "tokens"),
        _ => ("C", "FLOPs"),
    };
    let mut params = vec![
        (format!("alpha_{sym}"), t[1], "dimensionless".to_string()),
        (format!("{sym}_c"), (t[0] / t[1]).exp(), unit.to_string()),
    ];
    if with_e {
        params.push(("E".into(), t[2].exp(), "nats/token".into()));
    }
    Some(KaplanFit { form, with_e, params, theta: ms.best, used, selection })
}

impl KaplanFit {
    /// Predicted loss of a cell, nats/token.
    pub fn predict(&self, c: &Cell) -> f64 {
        if self.form == KaplanForm::Joint {
            return joint_log(&self.theta, c.n.ln(), c.d.ln(), self.with_e).0.exp();
        }
        let x = variable(self.form, c).ln();
        PowerSum::single(0, self.with_e).predict_log(&self.theta, &[x, x]).exp()
    }
}

/// ln L of the joint law and its partial derivatives w.r.t. θ = [α_N, α_D, ln N_c, ln D_c, e].
fn joint_log(p: &[f64], x: f64, y: f64, with_e: bool) -> (f64, [f64; 5]) {
    let (an, ad, nc, dc) = (p[0], p[1], p[2], p[3]);
    let r = an / ad;
    let u1 = r * (nc - x);
    let u2 = dc - y;
    let m = u1.max(u2);
    let (e1, e2) = ((u1 - m).exp(), (u2 - m).exp());
    let s = m + (e1 + e2).ln();
    let (w1, w2) = (e1 / (e1 + e2), e2 / (e1 + e2));
    let f = ad * s;
    let mut g = [w1 * (nc - x), s - w1 * r * (nc - x), w1 * an, ad * w2, 0.0];
    if !with_e {
        return (f, g);
    }
    let e = p[4];
    let mm = f.max(e);
    let (ef, ee) = ((f - mm).exp(), (e - mm).exp());
    let out = mm + (ef + ee).ln();
    let sf = ef / (ef + ee);
    for gi in g.iter_mut().take(4) {
        *gi *= sf;
    }
    g[4] = ee / (ef + ee);
    (out, g)
}

/// Σ w·Huber_δ(log L̂ − log L) for the joint law, with gradient.
fn joint_objective(p: &[f64], grad: &mut [f64], data: &LogData, with_e: bool, delta: f64) -> f64 {
    let np = 4 + usize::from(with_e);
    grad[..np].fill(0.0);
    let mut total = 0.0;
    for i in 0..data.len() {
        let (lp, g) = joint_log(p, data.z[i][0], data.z[i][1], with_e);
        let r = lp - data.log_loss[i];
        let w = data.weight[i];
        total += w * huber(r, delta);
        let psi = w * r.clamp(-delta, delta);
        for j in 0..np {
            grad[j] += psi * g[j];
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(n: f64, d: f64, l: f64) -> Cell {
        Cell { n, d, c: 6.0 * n * d, losses: vec![l], ids: vec![], flops_budget: None }
    }

    #[test]
    fn selection_rules() {
        let cells = vec![cell(1e6, 1e8, 3.0), cell(1e6, 1e9, 2.8), cell(1e7, 1e8, 2.7), cell(1e7, 1e9, 2.5)];
        assert_eq!(select(KaplanForm::N, &cells).0, vec![1, 3]);
        assert_eq!(select(KaplanForm::D, &cells).0, vec![2, 3]);
        // C order: 6e14 (3.0), 6e15 (2.8), 6e15 (2.7), 6e16 (2.5): all improve.
        assert_eq!(select(KaplanForm::C, &cells).0.len(), 4);
    }

    #[test]
    fn joint_gradient_matches_finite_differences() {
        let mut data = LogData::default();
        for (n, d, l) in [(1e6f64, 1e8f64, 3.0f64), (1e7, 3e8, 2.6), (3e5, 1e9, 2.9), (2e7, 2e9, 2.2)] {
            data.z.push([n.ln(), d.ln()]);
            data.log_loss.push(l.ln());
            data.weight.push(1.0);
        }
        for with_e in [false, true] {
            let p = vec![0.08, 0.1, 30.0, 25.0, 0.2];
            let np = 4 + usize::from(with_e);
            let mut g = vec![0.0; 5];
            joint_objective(&p, &mut g, &data, with_e, 10.0);
            for j in 0..np {
                let h = 1e-6;
                let (mut a, mut b) = (p.clone(), p.clone());
                a[j] += h;
                b[j] -= h;
                let mut t = vec![0.0; 5];
                let fd = (joint_objective(&a, &mut t, &data, with_e, 10.0)
                    - joint_objective(&b, &mut t, &data, with_e, 10.0))
                    / (2.0 * h);
                assert!((fd - g[j]).abs() < 1e-5 * (1.0 + g[j].abs()), "E={with_e} j={j}: {fd} vs {}", g[j]);
            }
        }
    }

    #[test]
    fn recovers_kaplan_exponents() {
        // L(N) = (8.8e13/N)^0.076 at one large D per N (Kaplan's published values), noiseless.
        let cells: Vec<Cell> = (0..6)
            .map(|i| 1e5 * 10f64.powf(0.6 * i as f64))
            .map(|n| cell(n, 1e10, (8.8e13 / n).powf(0.076)))
            .collect();
        let f = fit_kaplan(KaplanForm::N, false, &cells, &FitOptions::default()).expect("fit");
        assert!((f.params[0].1 - 0.076).abs() < 1e-5, "{:?}", f.params);
        assert!((f.params[1].1 / 8.8e13 - 1.0).abs() < 1e-3, "{:?}", f.params);
        // Joint law with E on a 5×5 grid.
        let (an, ad, nc, dc, e) = (0.3, 0.25, 1e7f64, 3e8f64, 1.2);
        let mut grid_cells = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                let n = 1e5 * 10f64.powf(0.7 * i as f64);
                let d = 1e7 * 10f64.powf(0.7 * j as f64);
                let l = e + ((nc / n).powf(an / ad) + dc / d).powf(ad);
                grid_cells.push(cell(n, d, l));
            }
        }
        let f = fit_kaplan(KaplanForm::Joint, true, &grid_cells, &FitOptions::default()).expect("fit");
        let got: Vec<f64> = f.params.iter().map(|p| p.1).collect();
        assert!(
            (got[0] - an).abs() < 1e-3 && (got[1] - ad).abs() < 1e-3 && (got[4] - e).abs() < 1e-3,
            "{:?}",
            f.params
        );
        assert!((f.predict(&grid_cells[7]) / grid_cells[7].mean() - 1.0).abs() < 1e-6);
    }
}
