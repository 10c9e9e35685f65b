//! Figures of the losses themselves: final loss vs N (one line per D) and vs D (one line per N)
//! with the Approach 3 fit, loss vs compute with the fitted frontier and Kaplan's L(C), and the
//! training curves.

use crate::fit::input::data::RunPoint;
use crate::fit::input::source::{FlopsConvention, ParamsConvention};
use crate::fit::schema::{Approach3Report, PowerLawReport};
use crate::fmt::fmt_num;

use super::families::{
    bootstrap_band, c_label, extent, families, family_index, family_label, log_space, mean_by, n_label,
    D_LABEL, LOSS_LABEL,
};
use super::figure::{palette, Axis, Figure, Panel, Series, Style, FIT_BLACK, REFERENCE_GREY};
use super::view::{Built, GroupView};

/// A coordinate of a run (N or D).
type Key = fn(&RunPoint) -> f64;

/// Samples along a drawn law.
const SAMPLES: usize = 80;

/// A caption note when the drawn Approach 3 law is not determined by the data.
pub fn undetermined_note(a3: Option<&Approach3Report>) -> &'static str {
    match a3 {
        Some(a) if a.params.iter().chain(&a.derived).any(|e| !e.determined) => {
            " Some Approach 3 quantities are not determined by these data (see the tables): its curves illustrate \
             the best fit, not a measured law."
        }
        _ => "",
    }
}

/// Final loss against N (`by_n`) or D, one line per value of the other variable, with the
/// Approach 3 law at that value dashed in the same colour.
pub fn loss_panel(
    points: &[RunPoint],
    a3: Option<&Approach3Report>,
    by_n: bool,
    params: ParamsConvention,
    title: String,
) -> Panel {
    let (x, other): (Key, Key) = if by_n { (|p| p.n, |p| p.d) } else { (|p| p.d, |p| p.n) };
    let x_axis = if by_n { n_label(params) } else { D_LABEL.to_string() };
    let mut panel = Panel::new(title, Axis::log(&x_axis), Axis::log(LOSS_LABEL));
    let fams = families(points, other);
    let (sym, unit) = if by_n { ("D", "tokens") } else { ("N", "params") };
    let range = extent(points.iter().map(x));
    let mut banded = false;
    for (i, f) in fams.iter().enumerate() {
        let color = palette(i);
        let runs: Vec<(f64, f64)> = f.runs.iter().map(|p| (x(p), p.loss)).collect();
        let means = mean_by(&f.runs, x);
        let label = Some(family_label(sym, unit, f));
        if means.len() >= 2 && !f.binned {
            panel.series.push(Series::new(label, color, Style::Line, means));
            panel.series.push(Series::new(None, color, Style::Points, runs));
        } else {
            panel.series.push(Series::new(label, color, Style::Points, runs));
        }
        if let (Some(a3), Some((lo, hi))) = (a3, range) {
            let law = a3.law;
            let xs = log_space(lo / 1.15, hi * 1.15, SAMPLES);
            let at = |l: &crate::fit::law::ChinchillaLaw, v: f64| {
                if by_n {
                    l.loss(v, f.value)
                } else {
                    l.loss(f.value, v)
                }
            };
            if let Some(b) = bootstrap_band(&xs, &a3.bootstrap_laws, at) {
                banded = true;
                panel.series.push(Series::new(None, color, Style::Band, b));
            }
            let pts = xs.iter().map(|&v| (v, at(&law, v))).collect();
            panel.series.push(Series::new(None, color, Style::Dashed, pts));
        }
    }
    if a3.is_some() && !fams.is_empty() {
        panel.series.push(Series::new(
            Some("Approach 3 fit (dashed)".into()),
            FIT_BLACK,
            Style::Dashed,
            Vec::new(),
        ));
    }
    if banded {
        panel.series.push(Series::new(Some("95% bootstrap band".into()), FIT_BLACK, Style::Band, Vec::new()));
    }
    panel
}

fn binned_note(points: &[RunPoint], by_n: bool) -> String {
    let fams = families(points, if by_n { |p: &RunPoint| p.d } else { |p: &RunPoint| p.n });
    if fams.iter().any(|f| f.binned) {
        format!(
            " More than {} distinct {} values: runs are binned in log space and the fit is drawn at each bin's geometric mean.",
            super::families::MAX_FAMILIES,
            if by_n { "D" } else { "N" }
        )
    } else {
        String::new()
    }
}

/// Figure 1: final loss vs N, one line per D, with the Approach 3 fit.
pub fn loss_vs_n(v: &GroupView<'_>) -> Built {
    loss_figure(v, true)
}

/// Figure 2: final loss vs D, one line per N, with the Approach 3 fit.
pub fn loss_vs_d(v: &GroupView<'_>) -> Built {
    loss_figure(v, false)
}

fn loss_figure(v: &GroupView<'_>, by_n: bool) -> Built {
    if v.points.is_empty() {
        return Err("no usable runs".into());
    }
    let (name, title) = if by_n {
        ("loss_vs_n", "Final loss vs model size, one line per D")
    } else {
        ("loss_vs_d", "Final loss vs training tokens, one line per N")
    };
    let panel = loss_panel(
        &v.points,
        v.group.approach3.as_ref(),
        by_n,
        v.fit.conventions.params,
        format!("{title}{}", v.title),
    );
    Ok(Figure {
        name: format!("{name}{}", v.suffix),
        caption: format!(
            "Final validation loss of every usable run (dots; lines join seed means) against {}, one colour per {}; \
             dashed: Approach 3, L = E + A/N^α + B/D^β, at that {} (shaded: its 95% bootstrap band, with \
             `--bootstrap`).{}{}",
            if by_n { "N" } else { "D" },
            if by_n { "D" } else { "N" },
            if by_n { "D" } else { "N" },
            binned_note(&v.points, by_n),
            undetermined_note(v.group.approach3.as_ref())
        ),
        panels: vec![panel],
    })
}

/// Kaplan's L(C) (or L(C)+E) evaluated at `c`.
pub fn kaplan_c(k: &PowerLawReport, c: f64) -> Option<f64> {
    let get = |n: &str| k.params.iter().find(|e| e.name == n).map(|e| e.value);
    let (alpha, cc) = (get("alpha_C")?, get("C_c")?);
    Some(get("E").unwrap_or(0.0) + (cc / c).powf(alpha))
}

/// Figure 3: loss vs compute for every training curve and final point, with the Approach 3
/// compute-optimal frontier and Kaplan's L(C).
pub fn loss_vs_compute(v: &GroupView<'_>) -> Built {
    if v.points.is_empty() {
        return Err("no usable runs".into());
    }
    let flops = v.fit.conventions.flops;
    let mut panel = Panel::new(
        format!("Loss vs compute: training curves and compute-optimal frontier{}", v.title),
        Axis::log(&c_label(flops)),
        Axis::log(LOSS_LABEL),
    );
    let fams = families(&v.points, |p| p.n);
    for c in &v.curves {
        let i = family_index(&fams, c.n);
        let pts = c.points.iter().map(|&(t, l)| (c.flops_per_token * t, l)).collect();
        panel.series.push(Series::new(None, palette(i), Style::ThinLine, pts));
    }
    for (i, f) in fams.iter().enumerate() {
        let pts = f.runs.iter().map(|p| (p.c, p.loss)).collect();
        panel.series.push(Series::new(Some(family_label("N", "params", f)), palette(i), Style::Points, pts));
    }
    let cs = v
        .points
        .iter()
        .map(|p| p.c)
        .chain(v.curves.iter().flat_map(|c| c.points.iter().map(|&(t, _)| c.flops_per_token * t)));
    let final_cs = extent(v.points.iter().map(|p| p.c));
    let mut notes = Vec::new();
    if let (Some((lo, hi)), Some(a3)) = (extent(cs), v.group.approach3.as_ref()) {
        let lo = lo.max(final_cs.map_or(lo, |r| r.0) / 10.0);
        let law = a3.law;
        let xs = log_space(lo, hi, SAMPLES);
        if let Some(b) = bootstrap_band(&xs, &a3.bootstrap_laws, |l, c| l.loss_opt(c)) {
            panel.series.push(Series::new(Some("95% bootstrap band".into()), FIT_BLACK, Style::Band, b));
        }
        let pts = xs.iter().map(|&c| (c, law.loss_opt(c))).collect();
        panel.series.push(Series::new(
            Some("Approach 3 frontier L(N_opt(C), D_opt(C))".into()),
            FIT_BLACK,
            Style::Dashed,
            pts,
        ));
        if flops == FlopsConvention::Exact {
            notes.push("the frontier assumes C = 6ND while C here is the exact count".to_string());
        }
        for k in v.group.kaplan.iter().filter(|k| k.name.starts_with("L(C)")) {
            let xs = log_space(lo, hi, SAMPLES);
            // The bootstrap refits' L(C), from their parameter vectors (`params` order).
            let at = |name: &str| k.params.iter().position(|e| e.name == name);
            if let (Some(ia), Some(ic)) = (at("alpha_C"), at("C_c")) {
                let ie = at("E");
                let bp = &k.bootstrap_params;
                let f = |i: usize, c: f64| ie.map_or(0.0, |j| bp[i][j]) + (bp[i][ic] / c).powf(bp[i][ia]);
                if let Some(b) = super::families::sample_band(&xs, bp.len(), f) {
                    panel.series.push(Series::new(None, REFERENCE_GREY, Style::Band, b));
                }
            }
            let pts: Vec<(f64, f64)> = xs.into_iter().filter_map(|c| Some((c, kaplan_c(k, c)?))).collect();
            let alpha = k.params.iter().find(|e| e.name == "alpha_C").map(|e| e.value).unwrap_or(f64::NAN);
            panel.series.push(Series::new(
                Some(format!("Kaplan {} (α_C = {})", k.name, fmt_num(alpha))),
                REFERENCE_GREY,
                if k.name.ends_with("+E") { Style::Line } else { Style::Dashed },
                pts,
            ));
        }
    }
    Ok(Figure {
        name: format!("loss_vs_compute{}", v.suffix),
        caption: format!(
            "Validation loss against training compute: thin lines are training curves (C = FLOPs per token × tokens \
             so far), dots the final losses, one colour per N. Black dashed: the loss of the compute-optimal model \
             under Approach 3; grey: Kaplan's L(C) fitted to the compute frontier; shaded: 95% bootstrap bands (with \
             `--bootstrap`).{}{}",
            notes.iter().map(|n| format!(" Note: {n}.")).collect::<String>(),
            undetermined_note(v.group.approach3.as_ref())
        ),
        panels: vec![panel],
    })
}

/// Figure 6: validation loss against tokens for every run, one colour per N.
pub fn training_curves(v: &GroupView<'_>) -> Built {
    if v.curves.is_empty() {
        return Err("no training curves (curves/*.jsonl missing or without validation losses)".into());
    }
    let mut panel = Panel::new(
        format!("Training curves{}", v.title),
        Axis::log("tokens seen (tokens)"),
        Axis::log(LOSS_LABEL),
    );
    let fams = families(&v.points, |p| p.n);
    let mut labelled = vec![false; fams.len()];
    for c in &v.curves {
        let i = family_index(&fams, c.n);
        let label = (!labelled[i]).then(|| family_label("N", "params", &fams[i]));
        labelled[i] = true;
        panel.series.push(Series::new(label, palette(i), Style::ThinLine, c.points.clone()));
    }
    Ok(Figure {
        name: format!("training_curves{}", v.suffix),
        caption: format!(
            "Validation loss (periodic evaluation) against training tokens, one line per run ({} runs), one colour per N.",
            v.curves.len()
        ),
        panels: vec![panel],
    })
}
