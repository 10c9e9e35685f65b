//! Figures of the fits: IsoFLOP profiles, compute-optimal allocation from Approaches 1–3,
//! Approach 3 residuals, the held-out forecast, and both parameter conventions side by side.

use crate::fit::input::data::{make_cells, RunPoint};
use crate::fit::input::source::{FlopsConvention, ParamsConvention};
use crate::fit::laws::allocation::{isoflop_groups, ISOFLOP_GAP};
use crate::fit::schema::{AllocationReport, Estimate, GroupReport};
use crate::fit::stats::{ols, quadratic};
use crate::fmt::fmt_num;

use super::families::{c_label, extent, log_space, n_label, D_LABEL, LOSS_LABEL};
use super::figure::{palette, Axis, Corner, Figure, Panel, Series, Style, FIT_BLACK, REFERENCE_GREY};
use super::loss::loss_panel;
use super::view::{Built, GroupView};

/// Figure 4: IsoFLOP profiles with their parabolas (in ln N) and minima. The runs are grouped
/// into budgets with `scalinglab fit`'s default `--isoflop-gap` ([`ISOFLOP_GAP`], decades of
/// C), which the report's own fits use and fit.json does not record.
pub fn isoflop(v: &GroupView<'_>) -> Built {
    let Some(a2) = &v.group.approach2 else {
        return Err("no IsoFLOP profile (no compute budget has 3 model sizes)".into());
    };
    let cells = make_cells(&v.points);
    let groups = isoflop_groups(&cells, ISOFLOP_GAP);
    let mut panel = Panel::new(
        format!("IsoFLOP profiles{}", v.title),
        Axis::log(&n_label(v.fit.conventions.params)),
        Axis::log(LOSS_LABEL),
    );
    let mut unmatched = 0;
    for (i, level) in a2.levels.iter().enumerate() {
        let Some((_, idx, _)) = groups.iter().find(|g| (g.0 / level.c - 1.0).abs() < 1e-3) else {
            unmatched += 1;
            continue;
        };
        let color = palette(i);
        let pts: Vec<(f64, f64)> = idx.iter().map(|&j| (cells[j].n, cells[j].mean())).collect();
        let xs: Vec<f64> = pts.iter().map(|p| p.0.ln()).collect();
        let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
        panel.series.push(Series::new(
            Some(format!("C = {} FLOPs", fmt_num(level.c))),
            color,
            Style::Points,
            pts.clone(),
        ));
        if let (Some(q), Some((lo, hi))) = (quadratic(&xs, &ys), extent(pts.iter().map(|p| p.0))) {
            let grid = log_space(lo / 1.1, hi * 1.1, 60);
            let lng: Vec<f64> = grid.iter().map(|n| n.ln()).collect();
            if let Some(b) = super::families::ls_band(&xs, &ys, 2, &lng) {
                let b: Vec<(f64, f64, f64)> = b.into_iter().map(|(x, l, h)| (x.exp(), l, h)).collect();
                panel.series.push(Series::new(None, color, Style::Band, super::families::outline(&b)));
            }
            let curve = grid.iter().map(|&n| (n, q[0] + q[1] * n.ln() + q[2] * n.ln() * n.ln())).collect();
            panel.series.push(Series::new(None, color, Style::Line, curve));
        }
        let style = if level.at_edge { Style::HollowPoints } else { Style::Points };
        panel.series.push(Series::new(None, FIT_BLACK, style, vec![(level.n_opt, level.loss)]));
    }
    if !panel.has_data() {
        return Err(format!(
            "the {} Approach 2 budgets in fit.json match no cluster of runs at the default --isoflop-gap {ISOFLOP_GAP}",
            a2.levels.len()
        ));
    }
    panel.series.push(Series::new(
        Some("minimum (hollow: at the edge)".into()),
        FIT_BLACK,
        Style::Points,
        vec![],
    ));
    let mut caption = "IsoFLOP profiles (Approach 2): seed-mean final loss of the runs of each compute budget \
                       against N, the least-squares parabola in ln N (shaded: its 95% confidence band, t with n − 3 df, where a \
                       budget has more than 3 sizes), and its minimum (black; hollow when it lies \
                       at or beyond the edge of the sampled sizes, i.e. an extrapolation)."
        .to_string();
    if unmatched > 0 {
        caption.push_str(&format!(
            " {unmatched} budgets of fit.json matched no cluster of runs and are not drawn."
        ));
    }
    Ok(Figure { name: format!("isoflop{}", v.suffix), caption, panels: vec![panel] })
}

fn exponent_text(e: &Estimate) -> String {
    if e.determined {
        format!("{} = {}", e.name, fmt_num(e.value))
    } else {
        format!("{} not determined", e.name)
    }
}

/// Levels and the least-squares power law through them, for N_opt (`tokens` false) or D_opt.
fn allocation_series(panel: &mut Panel, r: &AllocationReport, name: &str, color: usize, tokens: bool) {
    let y = |l: &crate::fit::schema::OptimumPoint| if tokens { l.d_opt } else { l.n_opt };
    let inner: Vec<(f64, f64)> = r.levels.iter().filter(|l| !l.at_edge).map(|l| (l.c, y(l))).collect();
    let edge: Vec<(f64, f64)> = r.levels.iter().filter(|l| l.at_edge).map(|l| (l.c, y(l))).collect();
    let e = if tokens { &r.b } else { &r.a };
    let c = palette(color);
    let lnc: Vec<f64> = r.levels.iter().map(|l| l.c.ln()).collect();
    let lny: Vec<f64> = r.levels.iter().map(|l| y(l).ln()).collect();
    let label = Some(format!("{name} ({})", exponent_text(e)));
    match (ols(&lnc, &lny), extent(r.levels.iter().map(|l| l.c))) {
        (Some(f), Some((lo, hi))) => {
            let grid = log_space(lo, hi, 20);
            let lng: Vec<f64> = grid.iter().map(|x| x.ln()).collect();
            if let Some(b) = super::families::ls_band(&lnc, &lny, 1, &lng) {
                let b: Vec<(f64, f64, f64)> =
                    b.into_iter().map(|(x, l, h)| (x.exp(), l.exp(), h.exp())).collect();
                panel.series.push(Series::new(None, c, Style::Band, super::families::outline(&b)));
            }
            let pts = grid.iter().map(|&x| (x, (f.intercept + f.slope * x.ln()).exp())).collect();
            panel.series.push(Series::new(label, c, Style::Line, pts));
            panel.series.push(Series::new(None, c, Style::Points, inner));
        }
        _ => panel.series.push(Series::new(label, c, Style::Points, inner)),
    }
    panel.series.push(Series::new(None, c, Style::HollowPoints, edge));
}

/// N_opt(C) (`tokens` false) or D_opt(C) panel: Approaches 1 and 2 (levels and fits), the
/// Approach 3 law, and 20 tokens per parameter.
pub fn allocation_panel(
    g: &GroupReport,
    params: ParamsConvention,
    flops: FlopsConvention,
    tokens: bool,
    title: String,
) -> Panel {
    let y_axis = if tokens { D_LABEL.to_string() } else { format!("N_opt: {}", n_label(params)) };
    let mut panel = Panel::new(title, Axis::log(&c_label(flops)), Axis::log(&y_axis));
    panel.legend = Corner::UpperLeft;
    let mut cs: Vec<f64> = Vec::new();
    for (i, (r, name)) in [(&g.approach1, "Approach 1"), (&g.approach2, "Approach 2")].into_iter().enumerate()
    {
        if let Some(r) = r {
            allocation_series(&mut panel, r, name, i, tokens);
            cs.extend(r.levels.iter().map(|l| l.c));
        }
    }
    if let Some(a3) = &g.approach3 {
        cs.extend(a3.residuals.iter().map(|r| r.c));
    }
    let Some((lo, hi)) = extent(cs) else { return panel };
    if let Some(a3) = &g.approach3 {
        let law = a3.law;
        let e = a3.derived.iter().find(|e| e.name == if tokens { "b" } else { "a" });
        let text = e.map(exponent_text).unwrap_or_default();
        let xs = log_space(lo, hi, 40);
        let at = |l: &crate::fit::law::ChinchillaLaw, c: f64| if tokens { l.d_opt(c) } else { l.n_opt(c) };
        if let Some(b) = super::families::bootstrap_band(&xs, &a3.bootstrap_laws, at) {
            panel.series.push(Series::new(
                Some("Approach 3, 95% bootstrap band".into()),
                FIT_BLACK,
                Style::Band,
                b,
            ));
        }
        let pts = xs.iter().map(|&c| (c, at(&law, c))).collect();
        panel.series.push(Series::new(Some(format!("Approach 3 ({text})")), FIT_BLACK, Style::Dashed, pts));
    }
    // 20 tokens per parameter with C = 6ND: N = √(C/120), D = 20·N.
    let pts = log_space(lo, hi, 20)
        .into_iter()
        .map(|c| (c, if tokens { 20.0 * (c / 120.0).sqrt() } else { (c / 120.0).sqrt() }))
        .collect();
    panel.series.push(Series::new(
        Some("20 tokens per parameter".into()),
        REFERENCE_GREY,
        Style::Dashed,
        pts,
    ));
    panel
}

/// Figure 5: N_opt(C) and D_opt(C) from Approaches 1, 2 and 3.
pub fn allocation(v: &GroupView<'_>) -> Built {
    let g = v.group;
    if g.approach1.is_none() && g.approach2.is_none() && g.approach3.is_none() {
        return Err("no allocation fit (Approaches 1, 2 and 3 all skipped)".into());
    }
    let c = &v.fit.conventions;
    let left = allocation_panel(g, c.params, c.flops, false, format!("Compute-optimal N{}", v.title));
    let right = allocation_panel(g, c.params, c.flops, true, format!("Compute-optimal D{}", v.title));
    if !left.has_data() {
        return Err("no compute level to draw".into());
    }
    Ok(Figure {
        name: format!("allocation{}", v.suffix),
        caption: "Compute-optimal model size and tokens against compute: Approach 1 (training-curve envelope) and \
                  Approach 2 (IsoFLOP minima) levels (hollow: at the edge of the sampled sizes) with their log-log \
                  least-squares lines (shaded: 95% confidence bands, t with n − 2 df), the Approach 3 law N_opt = G·(C/6)^a, D_opt = G⁻¹·(C/6)^b (dashed; grey shading: its 95% bootstrap band), and 20 \
                  tokens per parameter (grey) for reference."
            .into(),
        panels: vec![left, right],
    })
}

/// Figure 7: Approach 3 residuals against N and D.
pub fn residuals(v: &GroupView<'_>) -> Built {
    let Some(a3) = &v.group.approach3 else { return Err("no Approach 3 fit".into()) };
    if a3.residuals.is_empty() {
        return Err("the Approach 3 fit has no residuals".into());
    }
    let y = "ln(predicted/observed) (≈ relative error)";
    let mut panels = Vec::new();
    for by_n in [true, false] {
        let x_label = if by_n { n_label(v.fit.conventions.params) } else { D_LABEL.to_string() };
        let mut p = Panel::new(
            format!("Approach 3 residuals vs {}{}", if by_n { "N" } else { "D" }, v.title),
            Axis::log(&x_label),
            Axis::linear(y),
        );
        let pts: Vec<(f64, f64)> =
            a3.residuals.iter().map(|r| (if by_n { r.n } else { r.d }, r.log_residual)).collect();
        if let Some((lo, hi)) = extent(pts.iter().map(|p| p.0)) {
            p.series.push(Series::new(None, REFERENCE_GREY, Style::Dashed, vec![(lo, 0.0), (hi, 0.0)]));
        }
        p.series.push(Series::new(Some("cell (seed mean)".into()), palette(0), Style::Points, pts));
        panels.push(p);
    }
    Ok(Figure {
        name: format!("residuals{}", v.suffix),
        caption: format!(
            "Residuals of the Approach 3 fit, ln(predicted) − ln(observed) per cell, against N and D (R² on log \
             loss {:.4}, RMSE {:.4}). A trend in either panel means the functional form misses something.",
            a3.quality.r2_log, a3.quality.rmse_log
        ),
        panels,
    })
}

/// Figure 8: predicted vs actual loss of the held-out cells.
pub fn holdout(v: &GroupView<'_>) -> Built {
    let Some(h) = v.group.holdout.as_ref().filter(|h| !h.runs.is_empty()) else {
        return Err("no held-out forecast in fit.json (run the fit with --holdout-top K)".into());
    };
    let mut p = Panel::new(
        format!("Held-out forecast{}", v.title),
        Axis::linear("actual loss (nats/token)"),
        Axis::linear("predicted loss (nats/token)"),
    );
    p.legend = Corner::LowerRight;
    let lo = h.runs.iter().flat_map(|r| [r.actual, r.predicted]).fold(f64::INFINITY, f64::min);
    let hi = h.runs.iter().flat_map(|r| [r.actual, r.predicted]).fold(f64::NEG_INFINITY, f64::max);
    let pad = 0.05 * (hi - lo).max(0.01);
    p.series.push(Series::new(
        Some("predicted = actual".into()),
        REFERENCE_GREY,
        Style::Dashed,
        vec![(lo - pad, lo - pad), (hi + pad, hi + pad)],
    ));
    let mut s = Series::new(
        Some(
            if h.runs.iter().any(|r| r.interval.is_some()) {
                "held-out cell, 95% interval"
            } else {
                "held-out cell"
            }
            .into(),
        ),
        palette(1),
        Style::ErrorBars,
        h.runs.iter().map(|r| (r.actual, r.predicted)).collect(),
    );
    s.errors =
        h.runs.iter().map(|r| r.interval.map_or((r.predicted, r.predicted), |[a, b]| (a, b))).collect();
    p.series.push(s);
    Ok(Figure {
        name: format!("holdout{}", v.suffix),
        caption: format!(
            "Forecast of the {} largest-compute cells by the Approach 3 fit to the others: predicted against actual \
             loss ({}).",
            h.k, h.note
        ),
        panels: vec![p],
    })
}

/// Figure 9: loss vs N with the Approach 3 fit, and N_opt(C), under each parameter convention.
pub fn conventions(views: &[&GroupView<'_>]) -> Built {
    if views.len() < 2 {
        return Err("only one parameter convention was fitted".into());
    }
    let mut top = Vec::new();
    let mut bottom = Vec::new();
    for v in views {
        let conv = v.fit.conventions.params.name();
        let pts: &[RunPoint] = &v.points;
        top.push(loss_panel(
            pts,
            v.group.approach3.as_ref(),
            true,
            v.fit.conventions.params,
            format!("N = {conv} parameters{}", v.title),
        ));
        let c = &v.fit.conventions;
        bottom.push(allocation_panel(
            v.group,
            c.params,
            c.flops,
            false,
            format!("Compute-optimal N, {conv}{}", v.title),
        ));
    }
    top.extend(bottom);
    Ok(Figure {
        name: format!("conventions{}", views[0].suffix),
        caption: "The same fits with N counted as total parameters (Chinchilla) and as non-embedding parameters \
                  (Kaplan), side by side: final loss vs N with the Approach 3 fit (top) and compute-optimal N from \
                  Approaches 1–3 (bottom). At toy scale embeddings are a large share of the parameters, so the \
                  convention moves the exponents (Pearce & Song 2024 trace the Kaplan–Chinchilla gap to it)."
            .into(),
        panels: top,
    })
}
