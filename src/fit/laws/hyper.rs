//! A hyperparameter's optimum as a power law in model size and data, y* = c·N^p·D^q: the form
//! of Step Law (Li et al. 2025, "Predictable Scale: Part I — Optimal Hyperparameter Scaling Law
//! in Large Language Model Pretraining", arXiv:2503.04715), fitted the way they fit it, by
//! ordinary least squares in log space through the optimum of each (N, D):
//!
//!   ln y* = ln c + p·ln N + q·ln D,
//!
//! with 95% t intervals from the OLS (`fit::stats::ols_multi`; the interval on c is the
//! exponentiated interval on ln c). An exponent is fitted only where its variable varies: with
//! one token budget q is not identified (one D) and the fit is y* = c·N^p; with one size, p is
//! not. `[tune]` fits the learning rate this way (and the batch size when it is tuned too,
//! B* in tokens per step), and `apply = "law"` trains every grid run at η*(N, D).
//!
//! Li et al. count N as non-embedding parameters and B in tokens; their fit over 3,700 runs
//! (dense models up to 1B parameters, up to 100B tokens) is η* = 1.79·N^−0.713·D^0.307 and
//! B* = 0.58·D^0.571 ([`STEP_LAW_LR`], [`STEP_LAW_BATCH`]). Only the exponents compare across
//! setups: c depends on the counting convention, the tokenizer and the model family.

use serde::{Deserialize, Serialize};

use crate::fit::stats::{ols_multi, Regression};

/// A published law y* = c·N^p·D^q, for reference beside a fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    /// Who and where.
    pub source: &'static str,
    /// Coefficient.
    pub c: f64,
    /// Exponent on N (0: no N term).
    pub p: f64,
    /// Exponent on D.
    pub q: f64,
}

/// Step Law's learning rate (Li et al. 2025): η* = 1.79·N^−0.713·D^0.307, N non-embedding.
pub const STEP_LAW_LR: Published =
    Published { source: "Step Law (Li et al. 2025; N non-embedding)", c: 1.79, p: -0.713, q: 0.307 };

/// Step Law's batch size (Li et al. 2025): B* = 0.58·D^0.571 tokens, no N term.
pub const STEP_LAW_BATCH: Published =
    Published { source: "Step Law (Li et al. 2025; B in tokens, no N term)", c: 0.58, p: 0.0, q: 0.571 };

/// The optimum of one (size, budget).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimum {
    /// Shape label, e.g. "64x2".
    pub shape: String,
    /// Parameters (see [`HyperLaw::params`]).
    pub n: u64,
    /// Training tokens.
    pub d: u64,
    /// Optimal peak learning rate.
    pub lr: f64,
    /// Optimal batch size in tokens per step, when the batch size was tuned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_tokens: Option<u64>,
}

/// A fitted y* = c·N^p·D^q with 95% intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerLaw {
    /// Coefficient c (y* at N = D = 1).
    pub c: f64,
    /// 95% interval of c (None without residual degrees of freedom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_ci95: Option<[f64; 2]>,
    /// Exponent on N; None when not identified (a single N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    /// 95% interval of p.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_ci95: Option<[f64; 2]>,
    /// Exponent on D; None when not identified (a single D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<f64>,
    /// 95% interval of q.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q_ci95: Option<[f64; 2]>,
    /// Optima fitted.
    pub points: usize,
    /// Residual degrees of freedom.
    pub df: usize,
    /// R² in log space.
    pub r2: f64,
    /// Residual standard deviation of ln y* (None without residual degrees of freedom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_ln: Option<f64>,
}

impl PowerLaw {
    /// Least squares of ln y on ln N and ln D through `(n, d, y)`, each variable only where it
    /// varies; None with no points or collinear N and D.
    pub fn fit(points: &[(f64, f64, f64)]) -> Option<PowerLaw> {
        let varies = |f: fn(&(f64, f64, f64)) -> f64| {
            points.iter().any(|x| (f(x).ln() - f(&points[0]).ln()).abs() > 1e-12)
        };
        let (has_n, has_d) = (varies(|x| x.0), varies(|x| x.1));
        let rows: Vec<Vec<f64>> = points
            .iter()
            .map(|&(n, d, _)| [(has_n, n), (has_d, d)].iter().filter(|x| x.0).map(|x| x.1.ln()).collect())
            .collect();
        let y: Vec<f64> = points.iter().map(|x| x.2.ln()).collect();
        let r = ols_multi(&rows, &y)?;
        let exp2 = |c: [f64; 2]| [c[0].exp(), c[1].exp()];
        let slot =
            |on: bool, j: usize, r: &Regression| if on { (Some(r.coef[j]), r.ci95(j)) } else { (None, None) };
        let (p, p_ci95) = slot(has_n, 1, &r);
        let (q, q_ci95) = slot(has_d, 1 + usize::from(has_n), &r);
        Some(PowerLaw {
            c: r.coef[0].exp(),
            c_ci95: r.ci95(0).map(exp2),
            p,
            p_ci95,
            q,
            q_ci95,
            points: points.len(),
            df: r.df,
            r2: r.r2,
            sigma_ln: (r.df > 0).then_some(r.sigma),
        })
    }

    /// y* at (n, d); an exponent that was not identified counts as 0.
    pub fn at(&self, n: f64, d: f64) -> f64 {
        self.c * n.powf(self.p.unwrap_or(0.0)) * d.powf(self.q.unwrap_or(0.0))
    }

    /// "3.100e-2·N^-0.520·D^0.120".
    pub fn formula(&self) -> String {
        let mut s = format!("{:.3e}", self.c);
        for (v, x) in [(self.p, "N"), (self.q, "D")] {
            if let Some(e) = v {
                s.push_str(&format!("·{x}^{e:.3}"));
            }
        }
        s
    }

    /// Every estimate with its interval and, beside each exponent, the published one:
    /// "p = -0.520 [-0.600, -0.440] (Step Law ...: -0.713, outside)".
    pub fn estimates(&self, published: &Published) -> Vec<String> {
        let ci = |c: Option<[f64; 2]>| match c {
            Some([l, h]) => format!(" [{l:.3}, {h:.3}]"),
            None => " (no interval: as many optima as coefficients)".into(),
        };
        let mut out = vec![format!(
            "c = {:.3e}{}",
            self.c,
            match self.c_ci95 {
                Some([l, h]) => format!(" [{l:.3e}, {h:.3e}]"),
                None => String::new(),
            }
        )];
        for (name, v, c, pubd, why) in [
            ("p", self.p, self.p_ci95, published.p, "a single N"),
            ("q", self.q, self.q_ci95, published.q, "a single D, one tuning budget: c holds its D^q"),
        ] {
            out.push(match v {
                Some(e) => {
                    let side = c.map(|[l, h]| if (l..=h).contains(&pubd) { ", inside" } else { ", outside" });
                    format!("{name} = {e:.3}{} ({}: {pubd}{})", ci(c), published.source, side.unwrap_or(""))
                }
                None => format!("{name} not identified ({why}; {}: {pubd})", published.source),
            });
        }
        out
    }
}

/// The hyperparameter laws of a tuning (`tune.json`'s `law`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HyperLaw {
    /// How N is counted: "total" (every parameter, embeddings included).
    pub params: String,
    /// The optimum of each (size, budget), in tuning order.
    pub optima: Vec<Optimum>,
    /// η* = c·N^p·D^q.
    pub lr: PowerLaw,
    /// B* = c·N^p·D^q in tokens per step, when the batch size was tuned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<PowerLaw>,
}

impl HyperLaw {
    /// The laws through `optima` (N total); None when the learning-rate fit has none (no optima,
    /// or collinear N and D). The batch law is fitted when every optimum has a batch size.
    pub fn fit(optima: Vec<Optimum>) -> Option<HyperLaw> {
        let pts = |f: fn(&Optimum) -> Option<f64>| -> Option<Vec<(f64, f64, f64)>> {
            optima.iter().map(|o| f(o).map(|y| (o.n as f64, o.d as f64, y))).collect()
        };
        let lr = PowerLaw::fit(&pts(|o| Some(o.lr))?)?;
        let batch = pts(|o| o.batch_tokens.map(|b| b as f64)).and_then(|p| PowerLaw::fit(&p));
        Some(HyperLaw { params: "total".into(), optima, lr, batch })
    }

    /// The laws in words, one line each (the sweep's tuning summary and the report).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "law: lr* = {} (N = {} parameters, D = tokens; {} optima, R² {:.3} in ln lr)",
            self.lr.formula(),
            self.params,
            self.lr.points,
            self.lr.r2
        )];
        out.extend(self.lr.estimates(&STEP_LAW_LR).into_iter().map(|s| format!("  {s}")));
        if let Some(b) = &self.batch {
            out.push(format!("batch law: B* = {} tokens per step ({} optima)", b.formula(), b.points));
            out.extend(b.estimates(&STEP_LAW_BATCH).into_iter().map(|s| format!("  {s}")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::input::synth::normal;
    use rand::SeedableRng;

    /// Optima from y = c·N^p·D^q·e^(σ·z) at 3 sizes × 3 budgets.
    fn optima(c: f64, p: f64, q: f64, sigma: f64, seed: u64) -> Vec<(f64, f64, f64)> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for n in [2e4, 8e4, 3e5] {
            for d in [1e6, 3e6, 9e6] {
                out.push((n, d, c * f64::powf(n, p) * f64::powf(d, q) * (sigma * normal(&mut rng)).exp()));
            }
        }
        out
    }

    #[test]
    fn recovers_a_known_law_exactly_without_noise() {
        let f = PowerLaw::fit(&optima(0.5, -0.6, 0.2, 0.0, 0)).expect("fit");
        assert!((f.c / 0.5 - 1.0).abs() < 1e-9, "{f:?}");
        assert!((f.p.unwrap() + 0.6).abs() < 1e-10 && (f.q.unwrap() - 0.2).abs() < 1e-10, "{f:?}");
        assert_eq!((f.points, f.df), (9, 6));
        let [l, h] = f.p_ci95.unwrap();
        assert!(h - l < 1e-8, "no noise, no width: {l} {h}");
        assert!((f.at(1e5, 2e6) / (0.5 * 1e5f64.powf(-0.6) * 2e6f64.powf(0.2)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn intervals_cover_the_truth_at_their_nominal_rate() {
        // 1000 noisy replicates (σ = 0.15 in ln lr, like a parabola vertex on a flat optimum):
        // each 95% interval must cover its true value about 95% of the time (±2.9 binomial
        // sd). A wrong t quantile or standard error (say a normal quantile with 6 degrees of
        // freedom, √(RSS/n), or a missing x̄ term in c's) moves a rate out of the band.
        let (reps, (c, p, q)) = (1000, (0.5, -0.6, 0.2));
        let mut cover = [0usize; 3];
        let mut mean_p = 0.0;
        for seed in 0..reps {
            let f = PowerLaw::fit(&optima(c, p, q, 0.15, seed)).expect("fit");
            let inside = |ci: Option<[f64; 2]>, v: f64| ci.is_some_and(|[l, h]| l <= v && v <= h);
            cover[0] += usize::from(inside(f.c_ci95, c));
            cover[1] += usize::from(inside(f.p_ci95, p));
            cover[2] += usize::from(inside(f.q_ci95, q));
            mean_p += f.p.unwrap() / reps as f64;
        }
        for (name, k) in ["c", "p", "q"].iter().zip(cover) {
            let rate = k as f64 / reps as f64;
            assert!((0.93..=0.97).contains(&rate), "{name} covered {rate}");
        }
        assert!((mean_p - p).abs() < 0.02, "unbiased: mean p {mean_p}");
    }

    #[test]
    fn one_budget_fits_n_only_and_says_q_is_not_identified() {
        let pts: Vec<(f64, f64, f64)> =
            optima(0.5, -0.6, 0.2, 0.0, 0).into_iter().filter(|x| x.1 == 3e6).collect();
        let f = PowerLaw::fit(&pts).expect("fit");
        assert_eq!((f.q, f.q_ci95, f.df), (None, None, 1));
        assert!((f.p.unwrap() + 0.6).abs() < 1e-10);
        // c absorbs D^q at the one budget.
        assert!((f.c / (0.5 * 3e6f64.powf(0.2)) - 1.0).abs() < 1e-9);
        let words = f.estimates(&STEP_LAW_LR).join("; ");
        assert!(words.contains("q not identified (a single D"), "{words}");
        assert!(words.contains("-0.713"), "{words}");
        // One size: p is the one left out.
        let one_n: Vec<(f64, f64, f64)> =
            optima(0.5, -0.6, 0.2, 0.0, 0).into_iter().filter(|x| x.0 == 8e4).collect();
        let g = PowerLaw::fit(&one_n).expect("fit");
        assert_eq!(g.p, None);
        assert!((g.q.unwrap() - 0.2).abs() < 1e-10);
    }

    #[test]
    fn the_batch_law_needs_a_batch_size_at_every_optimum() {
        let mk = |b: Option<u64>| -> Vec<Optimum> {
            optima(0.5, -0.6, 0.2, 0.0, 0)
                .iter()
                .map(|&(n, d, lr)| Optimum {
                    shape: "s".into(),
                    n: n as u64,
                    d: d as u64,
                    lr,
                    batch_tokens: b.map(|k| k * (d / 1e6).round() as u64),
                })
                .collect()
        };
        assert!(HyperLaw::fit(mk(None)).expect("law").batch.is_none());
        let law = HyperLaw::fit(mk(Some(512))).expect("law");
        let b = law.batch.as_ref().expect("batch law");
        assert!(b.p.unwrap().abs() < 1e-9 && (b.q.unwrap() - 1.0).abs() < 1e-9, "{b:?}");
        let lines = law.lines().join("\n");
        assert!(lines.contains("batch law: B* = ") && lines.contains("0.571"), "{lines}");
        // Round trip through JSON.
        let back: HyperLaw = serde_json::from_str(&serde_json::to_string(&law).unwrap()).unwrap();
        assert_eq!(back, law);
    }
}
