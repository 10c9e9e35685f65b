//! The compute frontier of training curves as Gemstones (McLeish et al. 2025) draws it for
//! Approach 1 (repository `approach_1.py: get_resource_hull`): the lower convex hull of the
//! (log C, log L) points of every checkpoint, then N_opt ∝ C^a and D_opt ∝ C^b by least squares
//! on the hull's points (sklearn `LinearRegression` on ln N and ln D against ln C).
//!
//! Their construction, kept exactly: add a vantage point (2·max C, 2·max L), take the convex
//! hull of all points in log–log space, drop the vantage point, sort by C, and keep the first
//! point and every point whose loss is below the previous point's. Why it differs from
//! [`crate::fit::laws::allocation::approach1`]'s binned envelope: the hull keeps only the convex frontier,
//! so a run whose loss lies on the envelope but inside the hull is left out; on few shapes this
//! moves a (their a = 0.4994 on the hot checkpoints; Approach 3 on the same runs gives 0.71).

/// Indices of the frontier points of `(c, loss)` (module docs), sorted by C.
pub fn resource_hull(c: &[f64], loss: &[f64]) -> Vec<usize> {
    let cmax = c.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lmax = loss.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    // Point 0 is the vantage point; data point i is i + 1.
    let mut pts: Vec<(f64, f64, usize)> = vec![((2.0 * cmax).ln(), (2.0 * lmax).ln(), usize::MAX)];
    pts.extend(
        c.iter()
            .zip(loss)
            .enumerate()
            .filter(|(_, (&ci, _))| ci > 0.0)
            .map(|(i, (&ci, &li))| (ci.ln(), li.ln(), i)),
    );
    let hull = convex_hull(&pts);
    let mut idx: Vec<usize> = hull.into_iter().map(|k| pts[k].2).filter(|&i| i != usize::MAX).collect();
    idx.sort_by(|&a, &b| c[a].total_cmp(&c[b]));
    // "enforce decreasing y": each point against its predecessor in the sorted hull list.
    (0..idx.len()).filter(|&k| k == 0 || loss[idx[k]] < loss[idx[k - 1]]).map(|k| idx[k]).collect()
}

/// Vertices of the convex hull (Andrew's monotone chain; collinear points left out, as Qhull
/// reports vertices), as indices into `pts`.
fn convex_hull(pts: &[(f64, f64, usize)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pts.len()).collect();
    order.sort_by(|&a, &b| pts[a].0.total_cmp(&pts[b].0).then(pts[a].1.total_cmp(&pts[b].1)));
    let cross = |o: usize, a: usize, b: usize| {
        (pts[a].0 - pts[o].0) * (pts[b].1 - pts[o].1) - (pts[a].1 - pts[o].1) * (pts[b].0 - pts[o].0)
    };
    let chain = |it: &mut dyn Iterator<Item = usize>| {
        let mut h: Vec<usize> = Vec::new();
        for p in it {
            while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0.0 {
                h.pop();
            }
            h.push(p);
        }
        h.pop();
        h
    };
    let mut lower = chain(&mut order.iter().copied());
    let upper = chain(&mut order.iter().rev().copied());
    lower.extend(upper);
    lower
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_lower_convex_frontier() {
        // Three runs' curves; the frontier is the lower-left envelope, convex in log–log.
        let c = [1.0, 2.0, 4.0, 8.0, 2.0, 4.0, 8.0, 16.0, 4.0];
        let l = [5.0, 3.9, 3.5, 3.3, 4.5, 3.2, 2.9, 2.7, 3.4];
        let h = resource_hull(&c, &l);
        assert_eq!(h, vec![0, 1, 5, 6, 7]);
    }
}
