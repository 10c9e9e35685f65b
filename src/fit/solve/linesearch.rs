//! Line searches for the L-BFGS minimiser (`lbfgs.rs`): strong Wolfe (Nocedal & Wright 2006,
//! Algorithms 3.5–3.6, with the weak curvature test so an overshooting step that still
//! decreases enough is accepted) and Armijo backtracking, plus the two vector helpers both
//! files use.

/// Σ a_i·b_i.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// max |a_i|.
pub(crate) fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Sufficient-decrease constant of both searches.
const C1: f64 = 1e-4;
/// Curvature constant of the Wolfe search.
const C2: f64 = 0.9;

/// The line searched: x + a·d from the current iterate `x`, where the objective is `f0` and its
/// slope along `d` is `dg0` = ∇f(x)·d < 0.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// The current iterate.
    pub x: &'a [f64],
    /// f(x).
    pub f0: f64,
    /// The search direction.
    pub d: &'a [f64],
    /// ∇f(x)·d.
    pub dg0: f64,
}

/// What a line search evaluates with and writes to: the objective `fg(x, grad) -> f`, the
/// trial point `xn` and its gradient `gn` (on success, the accepted point), and the running
/// count of evaluations.
pub(crate) struct Probe<'a, F> {
    /// The objective, filling its gradient.
    pub fg: &'a mut F,
    /// Trial point.
    pub xn: &'a mut [f64],
    /// Gradient at `xn`.
    pub gn: &'a mut [f64],
    /// Objective+gradient evaluations so far.
    pub evals: &'a mut usize,
}

/// A step length with the objective and slope there.
#[derive(Debug, Clone, Copy)]
struct Step {
    a: f64,
    f: f64,
    slope: f64,
}

impl<F> Probe<'_, F>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    /// f and its slope f' = ∇f·d at x + a·d, written to `xn`, `gn`; (∞, NaN) where the
    /// objective or gradient is not finite ("too far": the caller shrinks the step).
    fn eval(&mut self, line: &Line, a: f64) -> (f64, f64) {
        for ((xi, &x0), &di) in self.xn.iter_mut().zip(line.x).zip(line.d) {
            *xi = x0 + a * di;
        }
        *self.evals += 1;
        let f = (self.fg)(self.xn, self.gn);
        if !f.is_finite() || self.gn.iter().any(|v| !v.is_finite()) {
            return (f64::INFINITY, f64::NAN);
        }
        (f, dot(self.gn, line.d))
    }

    /// Strong-Wolfe line search (c1 = 1e-4, c2 = 0.9). On success the new point is in `xn`,
    /// `gn` and its objective is returned; `None` when no decrease was found. Without a Wolfe
    /// point, the best decrease seen is accepted.
    pub(crate) fn wolfe(&mut self, line: &Line) -> Option<f64> {
        let mut best: Option<(f64, f64)> = None; // (a, f) with f < f0
        let bracket = match self.expand(line, &mut best) {
            Ok(f) => return Some(f),
            Err(bracket) => bracket,
        };
        if let Some((lo, hi)) = bracket {
            if let Some(f) = self.zoom(line, lo, hi, &mut best) {
                return Some(f);
            }
        }
        // No Wolfe point: accept the best decrease seen, if any.
        let (ab, _) = best?;
        let (fe, _) = self.eval(line, ab);
        (fe.is_finite() && fe < line.f0).then_some(fe)
    }

    /// The bracketing phase (Algorithm 3.5): steps 1, 4, 16, … until one satisfies the Wolfe
    /// conditions (`Ok`, its objective) or an interval containing such a step is found
    /// (`Err(Some((lo, hi)))`, `lo` the end with the lower objective); `Err(None)` after 25 tries.
    fn expand(&mut self, line: &Line, best: &mut Option<(f64, f64)>) -> Result<f64, Option<(Step, Step)>> {
        let (f0, dg0) = (line.f0, line.dg0);
        let mut prev = Step { a: 0.0, f: f0, slope: dg0 };
        let mut a = 1.0;
        for i in 0..25 {
            let (fa, da) = self.eval(line, a);
            if !fa.is_finite() {
                a = prev.a + 0.25 * (a - prev.a);
                continue;
            }
            if fa < f0 && best.is_none_or(|(_, fb)| fa < fb) {
                *best = Some((a, fa));
            }
            let here = Step { a, f: fa, slope: da };
            if fa > f0 + C1 * a * dg0 || (i > 0 && fa >= prev.f) {
                return Err(Some((prev, here)));
            }
            if da >= C2 * dg0 {
                return Ok(fa);
            }
            if da >= 0.0 {
                return Err(Some((here, prev)));
            }
            prev = here;
            a *= 4.0;
        }
        Err(None)
    }

    /// The zoom phase (Algorithm 3.6) inside a bracket, by safeguarded cubic interpolation
    /// (bisection when the cubic's minimiser is within 10% of an end); at most 12 steps.
    fn zoom(
        &mut self,
        line: &Line,
        mut lo: Step,
        mut hi: Step,
        best: &mut Option<(f64, f64)>,
    ) -> Option<f64> {
        let (f0, dg0) = (line.f0, line.dg0);
        for _ in 0..12 {
            let width = hi.a - lo.a;
            if width.abs() * inf_norm(line.d) <= 1e-16 * inf_norm(line.x).max(1.0) {
                break;
            }
            let mut aj = cubic_min(lo.a, lo.f, lo.slope, hi.a, hi.f, hi.slope);
            let (l, h) = if lo.a < hi.a { (lo.a, hi.a) } else { (hi.a, lo.a) };
            let margin = 0.1 * (h - l);
            if !aj.is_finite() || aj < l + margin || aj > h - margin {
                aj = 0.5 * (lo.a + hi.a);
            }
            let (fj, dj) = self.eval(line, aj);
            if !fj.is_finite() {
                hi = Step { a: aj, f: f64::INFINITY, slope: f64::NAN };
                continue;
            }
            if fj < f0 && best.is_none_or(|(_, fb)| fj < fb) {
                *best = Some((aj, fj));
            }
            if fj > f0 + C1 * aj * dg0 || fj >= lo.f {
                hi = Step { a: aj, f: fj, slope: dj };
            } else {
                if dj >= C2 * dg0 {
                    return Some(fj);
                }
                if dj * (hi.a - lo.a) >= 0.0 {
                    hi = lo;
                }
                lo = Step { a: aj, f: fj, slope: dj };
            }
        }
        None
    }

    /// Armijo backtracking from the unit step; `None` when the step shrinks below machine
    /// precision relative to `x` without a sufficient decrease.
    pub(crate) fn backtrack(&mut self, line: &Line) -> Option<f64> {
        let (f0, dg0) = (line.f0, line.dg0);
        let scale = inf_norm(line.x).max(1.0);
        let dn = inf_norm(line.d);
        let mut a = 1.0;
        for _ in 0..60 {
            if a * dn <= 1e-16 * scale {
                return None;
            }
            for ((xi, &x0), &di) in self.xn.iter_mut().zip(line.x).zip(line.d) {
                *xi = x0 + a * di;
            }
            *self.evals += 1;
            let fa = (self.fg)(self.xn, self.gn);
            let finite = fa.is_finite() && self.gn.iter().all(|v| v.is_finite());
            if finite && fa <= f0 + C1 * a * dg0 {
                return Some(fa);
            }
            let next = if finite {
                // Minimiser of the quadratic through f0, dg0 and fa.
                -dg0 * a * a / (2.0 * (fa - f0 - dg0 * a))
            } else {
                0.1 * a
            };
            a = if next.is_finite() { next.clamp(0.1 * a, 0.5 * a) } else { 0.5 * a };
        }
        None
    }
}

/// Minimiser of the cubic interpolating (a, f, f') at two points; NaN when it has none.
fn cubic_min(a: f64, fa: f64, da: f64, b: f64, fb: f64, db: f64) -> f64 {
    if !fb.is_finite() || !db.is_finite() {
        return f64::NAN;
    }
    let d1 = da + db - 3.0 * (fa - fb) / (a - b);
    let disc = d1 * d1 - da * db;
    if disc < 0.0 {
        return f64::NAN;
    }
    let d2 = (b - a).signum() * disc.sqrt();
    b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2)
}
