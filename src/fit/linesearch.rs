//! Line searches for [`super::lbfgs::minimize`]: strong Wolfe (Nocedal & Wright 2006,
//! Algorithms 3.5–3.6, with the weak curvature test so an overshooting step that still
//! decreases enough is accepted) and Armijo backtracking.

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Strong-Wolfe line search (c1 = 1e-4, c2 = 0.9). On success writes the new point to `xn`,
/// `gn` and returns its objective; returns `None` when no decrease was found.
#[allow(clippy::too_many_arguments)]
pub(crate) fn line_search<F>(
    fg: &mut F,
    x: &[f64],
    f0: f64,
    d: &[f64],
    dg0: f64,
    xn: &mut [f64],
    gn: &mut [f64],
    evals: &mut usize,
) -> Option<f64>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    let mut eval = |a: f64, xn: &mut [f64], gn: &mut [f64]| -> (f64, f64) {
        for ((xi, &x0), &di) in xn.iter_mut().zip(x).zip(d) {
            *xi = x0 + a * di;
        }
        *evals += 1;
        let f = fg(xn, gn);
        if !f.is_finite() || gn.iter().any(|v| !v.is_finite()) {
            return (f64::INFINITY, f64::NAN);
        }
        (f, dot(gn, d))
    };
    let (mut a_prev, mut f_prev, mut d_prev) = (0.0, f0, dg0);
    let mut a = 1.0;
    let mut best: Option<(f64, f64)> = None; // (a, f) with f < f0
    let mut bracket: Option<(f64, f64, f64, f64, f64, f64)> = None; // lo, f_lo, d_lo, hi, f_hi, d_hi
    for i in 0..25 {
        let (fa, da) = eval(a, xn, gn);
        if !fa.is_finite() {
            a = a_prev + 0.25 * (a - a_prev);
            continue;
        }
        if fa < f0 && best.is_none_or(|(_, fb)| fa < fb) {
            best = Some((a, fa));
        }
        if fa > f0 + C1 * a * dg0 || (i > 0 && fa >= f_prev) {
            bracket = Some((a_prev, f_prev, d_prev, a, fa, da));
            break;
        }
        if da >= C2 * dg0 {
            return Some(fa);
        }
        if da >= 0.0 {
            bracket = Some((a, fa, da, a_prev, f_prev, d_prev));
            break;
        }
        a_prev = a;
        f_prev = fa;
        d_prev = da;
        a *= 4.0;
    }
    if let Some((mut lo, mut f_lo, mut d_lo, mut hi, mut f_hi, mut d_hi)) = bracket {
        for _ in 0..12 {
            let width = hi - lo;
            if width.abs() * inf_norm(d) <= 1e-16 * inf_norm(x).max(1.0) {
                break;
            }
            let mut aj = cubic_min(lo, f_lo, d_lo, hi, f_hi, d_hi);
            let (l, h) = if lo < hi { (lo, hi) } else { (hi, lo) };
            let margin = 0.1 * (h - l);
            if !aj.is_finite() || aj < l + margin || aj > h - margin {
                aj = 0.5 * (lo + hi);
            }
            let (fj, dj) = eval(aj, xn, gn);
            if !fj.is_finite() {
                hi = aj;
                f_hi = f64::INFINITY;
                d_hi = f64::NAN;
                continue;
            }
            if fj < f0 && best.is_none_or(|(_, fb)| fj < fb) {
                best = Some((aj, fj));
            }
            if fj > f0 + C1 * aj * dg0 || fj >= f_lo {
                hi = aj;
                f_hi = fj;
                d_hi = dj;
            } else {
                if dj >= C2 * dg0 {
                    return Some(fj);
                }
                if dj * (hi - lo) >= 0.0 {
                    hi = lo;
                    f_hi = f_lo;
                    d_hi = d_lo;
                }
                lo = aj;
                f_lo = fj;
                d_lo = dj;
            }
        }
    }
    // No Wolfe point: accept the best decrease seen, if any.
    let (ab, fb) = best?;
    let (fe, _) = eval(ab, xn, gn);
    if fe.is_finite() && fe < f0 {
        Some(fe)
    } else {
        let _ = fb;
        None
    }
}

/// Armijo backtracking from the unit step; `None` when the step shrinks below machine
/// precision relative to `x` without a sufficient decrease.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backtrack<F>(
    fg: &mut F,
    x: &[f64],
    f0: f64,
    d: &[f64],
    dg0: f64,
    xn: &mut [f64],
    gn: &mut [f64],
    evals: &mut usize,
) -> Option<f64>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    const C1: f64 = 1e-4;
    let scale = inf_norm(x).max(1.0);
    let dn = inf_norm(d);
    let mut a = 1.0;
    for _ in 0..60 {
        if a * dn <= 1e-16 * scale {
            return None;
        }
        for ((xi, &x0), &di) in xn.iter_mut().zip(x).zip(d) {
            *xi = x0 + a * di;
        }
        *evals += 1;
        let fa = fg(xn, gn);
        let finite = fa.is_finite() && gn.iter().all(|v| v.is_finite());
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
