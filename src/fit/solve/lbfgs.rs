//! A small dense L-BFGS minimiser with a Wolfe line search (Nocedal & Wright 2006,
//! Algorithms 7.4, 3.5 and 3.6).
//!
//! Why our own rather than `argmin`: the fits here have 2–6 parameters and are started from
//! thousands of points (Besiroglu et al. 2024 use a 4,500-point grid), so the per-iteration
//! overhead of a generic framework (boxed state, cloned parameter vectors, observers) would
//! dominate the arithmetic. This implementation allocates once per call, needs no extra
//! dependency, and exposes the convergence tests that matter for these fits: an absolute
//! gradient tolerance and a relative objective tolerance that must hold for several iterations
//! in a row. The defaults are tight (|g|∞ ≤ 1e-10, Δf/f ≤ 1e-14): Besiroglu et al. showed that
//! loose tolerances (scipy's defaults) stop short of the optimum of the Huber objective and
//! produce biased estimates and intervals that are far too narrow.

use super::linesearch::{dot, inf_norm, Line, Probe};

/// Settings for [`minimize`].
#[derive(Debug, Clone, Copy)]
pub struct LbfgsOptions {
    /// Maximum number of iterations (each has one line search).
    pub max_iter: usize,
    /// Number of (s, y) correction pairs kept.
    pub memory: usize,
    /// Stop when the largest absolute gradient component is at most this (objective units per
    /// parameter unit).
    pub gtol: f64,
    /// Stop when the relative decrease (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|) stays at or below
    /// this for 3 consecutive iterations (dimensionless).
    pub ftol: f64,
    /// Line search: Wolfe (default), or Armijo backtracking.
    pub line_search: LineSearch,
    /// Plateau test: stop when the objective fell by at most `plateau_rtol`·|f| over the last
    /// `plateau_window` iterations. Catches starts crawling along an asymptote (a power-law
    /// term vanishing as its exponent grows), where the gradient is tiny but never below
    /// `gtol`; 0 disables it.
    pub plateau_window: usize,
    /// Relative decrease over `plateau_window` iterations that counts as a plateau.
    pub plateau_rtol: f64,
}

/// Line-search rule of [`minimize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineSearch {
    /// Wolfe conditions (c1 = 1e-4, c2 = 0.9; curvature in the weak form φ'(a) ≥ c2·φ'(0)),
    /// bracketing and safeguarded cubic zoom (default).
    StrongWolfe,
    /// Armijo sufficient decrease (c1 = 1e-4) from the unit step with safeguarded quadratic
    /// backtracking; correction pairs with sᵀy ≤ 0 are skipped.
    Backtracking,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            max_iter: 3000,
            memory: 10,
            gtol: 1e-10,
            ftol: 1e-14,
            line_search: LineSearch::StrongWolfe,
            plateau_window: 100,
            plateau_rtol: 1e-10,
        }
    }
}

/// Why [`minimize`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// |g|∞ ≤ gtol.
    Gradient,
    /// Relative decrease ≤ ftol for 3 iterations in a row.
    Objective,
    /// The line search found no decrease even along steepest descent: the iterate is a
    /// minimum to machine precision (or the objective is not smooth there).
    Stalled,
    /// The plateau test fired (see [`LbfgsOptions::plateau_window`]).
    Plateau,
    /// Hit `max_iter`.
    MaxIter,
    /// The objective or gradient at the start was not finite.
    NonFinite,
}

impl Termination {
    /// True for the stops that mean "no further progress" (everything but `MaxIter` /
    /// `NonFinite`). A plateau counts: the start is as good as it will get, and multi-start
    /// fits keep the lowest objective anyway.
    pub fn converged(self) -> bool {
        matches!(
            self,
            Termination::Gradient | Termination::Objective | Termination::Stalled | Termination::Plateau
        )
    }
}

/// Outcome of [`minimize`].
#[derive(Debug, Clone)]
pub struct LbfgsResult {
    /// Final iterate.
    pub x: Vec<f64>,
    /// Objective at `x`.
    pub f: f64,
    /// |g|∞ at `x`.
    pub grad_inf: f64,
    /// Iterations done.
    pub iterations: usize,
    /// Objective+gradient evaluations done.
    pub evaluations: usize,
    /// Why it stopped.
    pub termination: Termination,
}

/// The correction pairs (s, y) = (x_{k+1} − x_k, g_{k+1} − g_k) of the last `m` steps, pair i
/// at [i·n, (i+1)·n), in a ring of m starting at `head`, with ρ_i = 1/(s_iᵀy_i).
struct History {
    n: usize,
    m: usize,
    s: Vec<f64>,
    y: Vec<f64>,
    rho: Vec<f64>,
    /// The two-loop recursion's α_i, kept to avoid an allocation per iteration.
    alpha: Vec<f64>,
    head: usize,
    len: usize,
}

impl History {
    fn new(n: usize, m: usize) -> History {
        History {
            n,
            m,
            s: vec![0.0; m * n],
            y: vec![0.0; m * n],
            rho: vec![0.0; m],
            alpha: vec![0.0; m],
            head: 0,
            len: 0,
        }
    }

    /// The two-loop recursion (Nocedal & Wright, Algorithm 7.4): d = −H g, with H the
    /// L-BFGS inverse-Hessian estimate scaled by γ = sᵀy/yᵀy of the newest pair. Pairs are
    /// visited newest to oldest, then back (ring-buffer index stepped by hand: a `%` per step
    /// costs more than the arithmetic).
    fn direction(&mut self, g: &[f64], d: &mut [f64]) {
        let (n, m) = (self.n, self.m);
        d.copy_from_slice(g);
        let mut i = self.head;
        for _ in 0..self.len {
            i = if i == 0 { m - 1 } else { i - 1 };
            let (si, yi) = (&self.s[i * n..(i + 1) * n], &self.y[i * n..(i + 1) * n]);
            self.alpha[i] = self.rho[i] * dot(si, d);
            for (dj, yj) in d.iter_mut().zip(yi) {
                *dj -= self.alpha[i] * yj;
            }
        }
        let gamma = if self.len > 0 {
            let i = if self.head == 0 { m - 1 } else { self.head - 1 };
            let (si, yi) = (&self.s[i * n..(i + 1) * n], &self.y[i * n..(i + 1) * n]);
            dot(si, yi) / dot(yi, yi)
        } else {
            1.0 / inf_norm(g).max(1e-300)
        };
        for dj in d.iter_mut() {
            *dj *= gamma;
        }
        for _ in 0..self.len {
            let (si, yi) = (&self.s[i * n..(i + 1) * n], &self.y[i * n..(i + 1) * n]);
            let beta = self.rho[i] * dot(yi, d);
            for (dj, sj) in d.iter_mut().zip(si) {
                *dj += (self.alpha[i] - beta) * sj;
            }
            i = if i + 1 == m { 0 } else { i + 1 };
        }
        for dj in d.iter_mut() {
            *dj = -*dj;
        }
    }

    /// Stores the pair of the step from (x, g) to (xn, gn); a pair with sᵀy ≤ 1e-300 (no
    /// positive curvature) is written but not kept.
    fn push(&mut self, x: &[f64], xn: &[f64], g: &[f64], gn: &[f64]) {
        let (n, i) = (self.n, self.head);
        let mut sy = 0.0;
        for j in 0..n {
            self.s[i * n + j] = xn[j] - x[j];
            self.y[i * n + j] = gn[j] - g[j];
            sy += self.s[i * n + j] * self.y[i * n + j];
        }
        if sy > 1e-300 {
            self.rho[i] = 1.0 / sy;
            self.head = (self.head + 1) % self.m;
            self.len = (self.len + 1).min(self.m);
        }
    }
}

/// The search direction at gradient `g` into `d`, and its slope dᵀg: the L-BFGS direction, or
/// normalised steepest descent (forgetting the history) when that is not a descent direction
/// (the curvature information went stale).
fn descent(hist: &mut History, g: &[f64], d: &mut [f64]) -> f64 {
    hist.direction(g, d);
    let dg = dot(d, g);
    if dg.partial_cmp(&0.0) == Some(std::cmp::Ordering::Less) {
        return dg;
    }
    hist.len = 0;
    for (dj, gj) in d.iter_mut().zip(g) {
        *dj = -gj / inf_norm(g).max(1e-300);
    }
    dot(d, g)
}

/// The stopping tests applied after each accepted step: the relative decrease at or below
/// `ftol` for 3 steps in a row, and the plateau test over `plateau_window` steps.
struct Stops {
    small_steps: usize,
    /// The objective of the last `plateau_window` iterations (ring by iteration number).
    f_hist: Vec<f64>,
}

impl Stops {
    fn new(f0: f64, opts: &LbfgsOptions) -> Stops {
        Stops { small_steps: 0, f_hist: vec![f0; opts.plateau_window.max(1)] }
    }

    /// Why to stop after iteration `it` reached objective `f` with relative decrease `rel`.
    fn after(&mut self, it: usize, f: f64, rel: f64, opts: &LbfgsOptions) -> Option<Termination> {
        let window = opts.plateau_window;
        if window > 0 {
            let slot = it % window;
            if it >= window && self.f_hist[slot] - f <= opts.plateau_rtol * f.abs() {
                return Some(Termination::Plateau);
            }
            self.f_hist[slot] = f;
        }
        if rel <= opts.ftol {
            self.small_steps += 1;
            if self.small_steps >= 3 {
                return Some(Termination::Objective);
            }
        } else {
            self.small_steps = 0;
        }
        None
    }
}

/// Minimises `fg(x, grad) -> f` (which must fill `grad` with ∂f/∂x) from `x0`.
///
/// Non-finite objective values during a line search are treated as "too far" and the step is
/// shrunk, so objectives that overflow far from the data are safe.
pub fn minimize<F>(mut fg: F, x0: &[f64], opts: &LbfgsOptions) -> LbfgsResult
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut f = fg(&x, &mut g);
    let mut evals = 1;
    if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
        let termination = Termination::NonFinite;
        return LbfgsResult { x, f, grad_inf: f64::INFINITY, iterations: 0, evaluations: evals, termination };
    }
    let mut hist = History::new(n, opts.memory.max(1));
    let (mut d, mut xn, mut gn) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut stops = Stops::new(f, opts);
    let mut termination = Termination::MaxIter;
    let mut it = 0;
    while it < opts.max_iter {
        if inf_norm(&g) <= opts.gtol {
            termination = Termination::Gradient;
            break;
        }
        let dg = descent(&mut hist, &g, &mut d);
        let line = Line { x: &x, f0: f, d: &d, dg0: dg };
        let mut probe = Probe { fg: &mut fg, xn: &mut xn, gn: &mut gn, evals: &mut evals };
        let ls = match opts.line_search {
            LineSearch::StrongWolfe => probe.wolfe(&line),
            LineSearch::Backtracking => probe.backtrack(&line),
        };
        let Some(fnew) = ls else {
            if hist.len == 0 {
                termination = Termination::Stalled;
                break;
            }
            hist.len = 0; // retry once along steepest descent
            continue;
        };
        hist.push(&x, &xn, &g, &gn);
        let rel = (f - fnew) / f.abs().max(fnew.abs()).max(1e-300);
        x.copy_from_slice(&xn);
        g.copy_from_slice(&gn);
        f = fnew;
        it += 1;
        if let Some(t) = stops.after(it, f, rel, opts) {
            termination = t;
            break;
        }
    }
    if it >= opts.max_iter && termination == Termination::MaxIter && inf_norm(&g) <= opts.gtol {
        termination = Termination::Gradient;
    }
    LbfgsResult { grad_inf: inf_norm(&g), x, f, iterations: it, evaluations: evals, termination }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
    }

    #[test]
    fn rosenbrock_converges_tightly() {
        let r = minimize(rosenbrock, &[-1.2, 1.0], &LbfgsOptions::default());
        assert!(r.termination.converged(), "{:?}", r.termination);
        assert!((r.x[0] - 1.0).abs() < 1e-7 && (r.x[1] - 1.0).abs() < 1e-7, "{:?}", r.x);
    }

    #[test]
    fn rosenbrock_with_strong_wolfe() {
        let o = LbfgsOptions { line_search: LineSearch::StrongWolfe, ..Default::default() };
        let r = minimize(rosenbrock, &[-1.2, 1.0], &o);
        assert!((r.x[0] - 1.0).abs() < 1e-7 && (r.x[1] - 1.0).abs() < 1e-7, "{:?}", r.x);
    }

    #[test]
    fn quadratic_in_6d() {
        // f = Σ k (x_k − k)²: minimum at x_k = k, checks the two-loop recursion in n > 2.
        let f = |x: &[f64], g: &mut [f64]| {
            let mut s = 0.0;
            for k in 0..x.len() {
                let w = (k + 1) as f64;
                s += w * (x[k] - w).powi(2);
                g[k] = 2.0 * w * (x[k] - w);
            }
            s
        };
        let r = minimize(f, &[0.0; 6], &LbfgsOptions::default());
        for (k, xk) in r.x.iter().enumerate() {
            assert!((xk - (k + 1) as f64).abs() < 1e-8, "{:?}", r.x);
        }
    }

    #[test]
    fn survives_overflowing_objective() {
        // exp(x) − x overflows for large steps from a far start; the minimum is x = 0.
        let f = |x: &[f64], g: &mut [f64]| {
            g[0] = x[0].exp() - 1.0;
            x[0].exp() - x[0]
        };
        let r = minimize(f, &[-30.0], &LbfgsOptions::default());
        assert!(r.x[0].abs() < 1e-6, "{:?} {:?}", r.x, r.termination);
    }

    #[test]
    fn nonfinite_start_is_reported() {
        let r = minimize(|_x: &[f64], _g: &mut [f64]| f64::NAN, &[0.0], &LbfgsOptions::default());
        assert_eq!(r.termination, Termination::NonFinite);
    }
}
