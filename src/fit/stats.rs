//! Small statistics helpers: ordinary least squares with a t interval on the slope, a
//! quadratic fit, R², quantiles and the 95% percentile interval.

/// A fitted line y = intercept + slope·x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
    /// Standard error of the slope (NaN with ≤ 2 points).
    pub slope_se: f64,
    /// Coefficient of determination (1 when y is constant and fitted exactly).
    pub r2: f64,
    /// Number of points.
    pub n: usize,
}

impl LineFit {
    /// 95% t interval of the slope (n − 2 degrees of freedom); `None` with ≤ 2 points.
    pub fn slope_ci95(&self) -> Option<[f64; 2]> {
        (self.n > 2 && self.slope_se.is_finite()).then(|| {
            let t = t975(self.n - 2);
            [self.slope - t * self.slope_se, self.slope + t * self.slope_se]
        })
    }
}

/// OLS of y on x; `None` with fewer than 2 points or constant x.
pub fn ols(x: &[f64], y: &[f64]) -> Option<LineFit> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let syy: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    if sxx.partial_cmp(&1e-300) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = x.iter().zip(y).map(|(a, b)| (b - intercept - slope * a).powi(2)).sum();
    let slope_se = if n > 2 { (sse / (n - 2) as f64 / sxx).sqrt() } else { f64::NAN };
    let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 1.0 };
    Some(LineFit { slope, intercept, slope_se, r2, n })
}

/// Weighted least-squares slope of y on x with weights w (minimises Σ w·(y − c − s·x)²);
/// `None` when Σw·(x − x̄)² is zero. Porian et al. fit ln N* on ln C with w = 1/sd² of each
/// optimum (numpy `polyfit(..., w=1/sd)`, whose weights multiply the residuals).
pub fn wls_slope(x: &[f64], y: &[f64], w: &[f64]) -> Option<f64> {
    let sw: f64 = w.iter().sum();
    let mx = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let my = y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / sw;
    let sxx: f64 = x.iter().zip(w).map(|(a, b)| b * (a - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).zip(w).map(|((a, c), b)| b * (a - mx) * (c - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Solves the K×K system A·x = b by Gaussian elimination with partial pivoting; `None` when a
/// pivot is zero (singular A). For the small normal equations of Gauss–Newton steps.
pub fn solve_dense<const K: usize>(mut a: [[f64; K]; K], mut b: [f64; K]) -> Option<[f64; K]> {
    for col in 0..K {
        let piv = (col..K).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for r in col + 1..K {
            let f = a[r][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[r].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0.0; K];
    for r in (0..K).rev() {
        let s: f64 = (r + 1..K).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom (table to 30, then the
/// Cornish–Fisher expansion, accurate to 1e-4).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        _ => {
            let z: f64 = 1.959964;
            let v = df as f64;
            z + (z.powi(3) + z) / (4.0 * v) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
        }
    }
}

/// Least-squares parabola y = c0 + c1·x + c2·x²; `None` with < 3 distinct x.
pub fn quadratic(x: &[f64], y: &[f64]) -> Option<[f64; 3]> {
    if x.len() < 3 {
        return None;
    }
    // Centre x for conditioning, solve the 3×3 normal equations, then un-centre.
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let mut a = [[0.0; 3]; 3];
    let mut b = [0.0; 3];
    for (&xi, &yi) in x.iter().zip(y) {
        let u = xi - m;
        let p = [1.0, u, u * u];
        for r in 0..3 {
            for c in 0..3 {
                a[r][c] += p[r] * p[c];
            }
            b[r] += p[r] * yi;
        }
    }
    let q = solve3(a, b)?;
    // y = q0 + q1 (x−m) + q2 (x−m)²
    Some([q[0] - q[1] * m + q[2] * m * m, q[1] - 2.0 * q[2] * m, q[2]])
}

fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let piv = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 * (1.0 + a[0][0].abs()) {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for r in col + 1..3 {
            let f = a[r][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[r].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for r in (0..3).rev() {
        let s: f64 = (r + 1..3).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// R² of predictions vs observations (1 − SS_res/SS_tot); 1 when observations are constant
/// and matched.
pub fn r2(obs: &[f64], pred: &[f64]) -> f64 {
    let m = obs.iter().sum::<f64>() / obs.len().max(1) as f64;
    let tot: f64 = obs.iter().map(|v| (v - m).powi(2)).sum();
    let res: f64 = obs.iter().zip(pred).map(|(o, p)| (o - p).powi(2)).sum();
    if tot > 0.0 {
        1.0 - res / tot
    } else if res == 0.0 {
        1.0
    } else {
        0.0
    }
}

/// The q-quantile (0..1) of `v` by linear interpolation between order statistics; NaN if
/// empty. Non-finite values sort last.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// 95% percentile interval [q0.025, q0.975].
pub fn interval95(v: &[f64]) -> [f64; 2] {
    [quantile(v, 0.025), quantile(v, 0.975)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.125), 1.5);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn ols_exact_line() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 0.5 - 2.0 * v).collect();
        let f = ols(&x, &y).expect("fit");
        assert!(
            (f.slope + 2.0).abs() < 1e-12 && (f.intercept - 0.5).abs() < 1e-12 && (f.r2 - 1.0).abs() < 1e-12
        );
        let ci = f.slope_ci95().expect("4 points");
        assert!((ci[0] + 2.0).abs() < 1e-9 && (ci[1] + 2.0).abs() < 1e-9);
        assert!(ols(&[1.0, 1.0], &[2.0, 3.0]).is_none());
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(1), 12.706);
        assert!((t975(40) - 2.0211).abs() < 2e-4, "{}", t975(40));
        assert!((t975(1000) - 1.9623).abs() < 2e-4);
    }

    #[test]
    fn quadratic_recovers_coefficients() {
        let x = [10.0, 11.0, 12.0, 13.0, 14.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 - 0.2 * v + 0.01 * v * v).collect();
        let q = quadratic(&x, &y).expect("fit");
        assert!(
            (q[0] - 3.0).abs() < 1e-8 && (q[1] + 0.2).abs() < 1e-9 && (q[2] - 0.01).abs() < 1e-10,
            "{q:?}"
        );
        assert!(quadratic(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn r2_basics() {
        assert_eq!(r2(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0);
        assert!((r2(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0])).abs() < 1e-12);
    }
}
