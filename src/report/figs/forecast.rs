//! Figures of what the law says beyond the runs (issue #18): the IsoLoss contours over
//! compute and model size with the efficient frontier (Hoffmann et al. 2022, Figure 4), and
//! the forecast of the held-out largest runs from a fit to the cheaper ones (OpenAI 2023's
//! "predictable scaling" picture).

use crate::fit::law::ChinchillaLaw;

use super::families::{c_label, extent, log_space, n_label, LOSS_LABEL};
use super::figure::{palette, Axis, Corner, Figure, Panel, Series, Style, FIT_BLACK, REFERENCE_GREY};
use super::loss::undetermined_note;
use super::view::{Built, GroupView};

/// Loss levels drawn as contours.
const LEVELS: usize = 6;

/// One IsoLoss contour: the (C, N) with L(N, D) = `level` for D = C/(6N). For each N,
/// D = (B / (ℓ − E − A/N^α))^(1/β) where ℓ − E − A/N^α > 0 (elsewhere no D reaches ℓ),
/// C = 6·N·D; points with C outside `c_window` are dropped, so the axes stay on the runs.
pub fn contour(law: &ChinchillaLaw, level: f64, ns: &[f64], c_window: (f64, f64)) -> Vec<(f64, f64)> {
    ns.iter()
        .filter_map(|&n| {
            let room = level - law.e - law.a / n.powf(law.alpha);
            (room > 0.0).then(|| {
                let d = (law.b / room).powf(1.0 / law.beta);
                (6.0 * n * d, n)
            })
        })
        .filter(|&(c, _)| c.is_finite() && c >= c_window.0 && c <= c_window.1)
        .collect()
}

/// IsoLoss contours of the Approach 3 law over compute and N, its efficient frontier
/// N_opt(C), and the runs as points.
pub fn isoloss(v: &GroupView<'_>) -> Built {
    let Some(a3) = v.group.approach3.as_ref() else {
        return Err("no Approach 3 fit".into());
    };
    let law = a3.law;
    if !law.is_valid() {
        return Err("the Approach 3 law has a non-positive parameter".into());
    }
    let (Some((n_lo, n_hi)), Some((c_lo, c_hi)), Some((l_lo, l_hi))) = (
        extent(v.points.iter().map(|p| p.n)),
        extent(v.points.iter().map(|p| p.c)),
        extent(v.points.iter().map(|p| p.loss)),
    ) else {
        return Err("no usable runs".into());
    };
    let c = &v.fit.conventions;
    let mut p = Panel::new(
        format!("IsoLoss contours and the efficient frontier{}", v.title),
        Axis::log(&c_label(c.flops)),
        Axis::log(&n_label(c.params)),
    );
    p.legend = Corner::UpperLeft;
    let ns = log_space(n_lo / 3.0, n_hi * 3.0, 160);
    let window = (c_lo / 3.0, c_hi * 10.0);
    // Levels evenly spaced in log loss over the observed range, just inside its ends.
    let (a, b) = (l_lo.ln(), l_hi.ln());
    for k in 0..LEVELS {
        let level = (a + (b - a) * (k as f64 + 0.5) / LEVELS as f64).exp();
        let pts = contour(&law, level, &ns, window);
        if pts.len() >= 2 {
            let label = format!("L = {} nats/token", crate::fmt::fmt_num(level));
            p.series.push(Series::new(Some(label), palette(k), Style::Line, pts));
        }
    }
    let frontier: Vec<(f64, f64)> =
        log_space(window.0, window.1, 60).into_iter().map(|c| (c, law.n_opt(c))).collect();
    p.series.push(Series::new(
        Some("efficient frontier N_opt(C)".into()),
        FIT_BLACK,
        Style::Dashed,
        frontier,
    ));
    let runs = v.points.iter().map(|r| (r.c, r.n)).collect();
    p.series.push(Series::new(Some("runs".into()), REFERENCE_GREY, Style::Points, runs));
    Ok(Figure {
        name: format!("isoloss{}", v.suffix),
        caption: format!(
            "IsoLoss contours of the Approach 3 law L = E + A/N^α + B/D^β over training compute C = 6ND and model \
             size N (Hoffmann et al. 2022, Figure 4): each line is one loss level, the dashed line the model size \
             that reaches the lowest loss at each compute (where the contours turn), grey dots the runs.{}",
            undetermined_note(Some(a3))
        ),
        panels: vec![p],
    })
}

/// The forecast: the fit on the cheaper cells, its predictions with 95% intervals for the
/// held-out largest-compute cells and their actual losses, on a compute axis.
pub fn forecast(v: &GroupView<'_>) -> Built {
    let Some(h) = v.group.holdout.as_ref().filter(|h| !h.runs.is_empty()) else {
        return Err("no held-out forecast in fit.json (run the fit with --holdout-top K)".into());
    };
    let c = &v.fit.conventions;
    let mut p = Panel::new(
        format!("Forecast of the {} largest-compute cells{}", h.k, v.title),
        Axis::log(&c_label(c.flops)),
        Axis::log(LOSS_LABEL),
    );
    p.legend = Corner::UpperRight;
    let held = |n: f64, d: f64| h.runs.iter().any(|r| r.n == n && r.d == d);
    let fitted: Vec<(f64, f64)> =
        v.points.iter().filter(|r| !held(r.n, r.d)).map(|r| (r.c, r.loss)).collect();
    p.series.push(Series::new(
        Some("runs the law was fitted to".into()),
        REFERENCE_GREY,
        Style::Points,
        fitted,
    ));
    let mut pred = Series::new(
        Some("forecast, 95% prediction interval".into()),
        palette(0),
        Style::ErrorBars,
        h.runs.iter().map(|r| (r.c, r.predicted)).collect(),
    );
    pred.errors =
        h.runs.iter().map(|r| r.interval.map_or((r.predicted, r.predicted), |[a, b]| (a, b))).collect();
    p.series.push(pred);
    let actual = h.runs.iter().map(|r| (r.c, r.actual)).collect();
    p.series.push(Series::new(
        Some("held-out actual (mean over seeds)".into()),
        palette(1),
        Style::HollowPoints,
        actual,
    ));
    let errs: Vec<String> = h.runs.iter().map(|r| format!("{:+.2}%", r.pct_error)).collect();
    Ok(Figure {
        name: format!("forecast{}", v.suffix),
        caption: format!(
            "Approach 3 fitted without the {} largest-compute cells (grey), then asked for them: forecasts with their \
             95% prediction intervals (blue) against the actual losses (hollow), errors {} ({}).",
            h.k,
            errs.join(", "),
            h.note
        ),
        panels: vec![p],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contour_points_lie_on_their_level() {
        let law = ChinchillaLaw { e: 1.7, a: 400.0, b: 2000.0, alpha: 0.34, beta: 0.28 };
        let ns = log_space(1e5, 1e9, 50);
        let pts = contour(&law, 2.5, &ns, (0.0, f64::INFINITY));
        assert!(pts.len() > 10);
        for (c, n) in pts {
            let d = c / (6.0 * n);
            assert!((law.loss(n, d) - 2.5).abs() < 1e-9, "L({n}, {d}) = {}", law.loss(n, d));
        }
        // The frontier touches each contour at its smallest compute.
        let pts = contour(&law, 2.5, &log_space(1e5, 1e9, 4000), (0.0, f64::INFINITY));
        let (c_min, n_at) =
            pts.iter().copied().fold((f64::INFINITY, 0.0), |a, p| if p.0 < a.0 { p } else { a });
        assert!((law.n_opt(c_min) / n_at - 1.0).abs() < 0.02, "{} vs {n_at}", law.n_opt(c_min));
    }
}
