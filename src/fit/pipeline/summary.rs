//! The human-readable summary printed on stdout. Undetermined quantities are never printed as
//! bare point estimates: "α: not determined (95% interval 0.04–8.1; N range under a decade ...)"
//! (the wording is `estimate::shown`'s, shared with the report).

use std::fmt::Write;

use crate::fit::estimate::{shown, Footnotes, Shown};
use crate::fit::schema::{
    AllocationReport, Approach3Report, Estimate, FitReport, GroupReport, HoldoutReport, PowerLawReport,
};
use crate::fit::uncertainty::agreement::lines;
use crate::fmt::fmt_num;

/// One line for an estimate.
pub fn estimate_line(e: &Estimate) -> String {
    shown(e, &Footnotes::default(), Shown::Line)
}

/// One line for an estimate, citing shared reasons from `notes`.
pub fn estimate_line_noted(e: &Estimate, notes: &Footnotes) -> String {
    shown(e, notes, Shown::Line)
}

fn allocation(out: &mut String, title: &str, r: &AllocationReport) {
    let _ = writeln!(out, "  {title}: {} compute levels", r.levels.len());
    for l in &r.levels {
        let edge = if l.at_edge { "  [edge]" } else { "" };
        let _ = writeln!(
            out,
            "    C = {:>10}  N_opt = {:>10}  D_opt = {:>10}  loss = {:.4}{edge}",
            fmt_num(l.c),
            fmt_num(l.n_opt),
            fmt_num(l.d_opt),
            l.loss
        );
    }
    let _ = writeln!(out, "    {}", estimate_line(&r.a));
    let _ = writeln!(out, "    {}", estimate_line(&r.b));
    for n in &r.notes {
        let _ = writeln!(out, "    note: {n}");
    }
}

/// The group's design, seed noise, interval note and additivity line.
fn design(out: &mut String, g: &GroupReport) {
    let d = &g.design;
    let _ = writeln!(
        out,
        "{} runs in {} cells; N: {} sizes spanning {:.1}×, D: {} values spanning {:.1}×",
        g.runs, g.cells, d.distinct_n, d.n_span, d.distinct_d, d.d_span
    );
    if let Some(n) = &g.seed_noise {
        let _ = writeln!(out, "run-to-run noise (seeds): pooled SD {:.4} nats", n.pooled_sd);
        for c in &n.cells {
            let _ = writeln!(
                out,
                "  N = {:>10} D = {:>10}: {} seeds, SD {:.4} nats",
                fmt_num(c.n),
                fmt_num(c.d),
                c.seeds,
                c.sd_loss
            );
        }
    }
    let _ = writeln!(out, "{}", g.interval_note);
    if let Some(a) = &d.additivity {
        let _ = writeln!(out, "{}", a.line());
    }
}

/// Approach 3's estimates, reasons they share as numbered notes.
fn approach3(out: &mut String, a3: &Approach3Report) {
    let _ = writeln!(
        out,
        "\nApproach 3 (Besiroglu et al. 2024 procedure): {}  [R² log = {:.4}, RMSE log = {:.4}; {}/{} starts converged]",
        a3.form, a3.quality.r2_log, a3.quality.rmse_log, a3.converged_starts, a3.starts
    );
    if let Some(d) = &a3.data {
        for l in d.lines() {
            let _ = writeln!(out, "  {l}");
        }
    }
    let notes = Footnotes::collect(a3.params.iter().chain(&a3.derived));
    for e in a3.params.iter().chain(&a3.derived) {
        let _ = writeln!(out, "  {}", estimate_line_noted(e, &notes));
    }
    for (k, n) in notes.notes.iter().enumerate() {
        let _ = writeln!(out, "  [{}] {n}", k + 1);
    }
}

/// The Kaplan forms, each with its estimates.
fn kaplan(out: &mut String, laws: &[PowerLawReport]) {
    if laws.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nKaplan et al. 2020 forms:");
    for k in laws {
        let _ = writeln!(
            out,
            "  {} on {} ({} points, R² log = {:.4})",
            k.form, k.selection, k.quality.points, k.quality.r2_log
        );
        for e in &k.params {
            let _ = writeln!(out, "    {}", estimate_line(e));
        }
    }
}

/// The forecast of the held-out cells against their prediction intervals.
fn holdout(out: &mut String, h: &HoldoutReport) {
    let _ = writeln!(out, "\nForecast of the {} largest-compute cells (fit on the rest): {}", h.k, h.note);
    for r in &h.runs {
        let iv = r
            .interval
            .map(|[lo, hi]| {
                format!(
                    " 95% PI {:.4}–{:.4} {}",
                    lo,
                    hi,
                    if r.inside == Some(true) { "inside" } else { "OUTSIDE" }
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  N = {:>10} D = {:>10}: actual {:.4}, predicted {:.4} ({:+.2}%){iv}",
            fmt_num(r.n),
            fmt_num(r.d),
            r.actual,
            r.predicted,
            r.pct_error
        );
    }
    if let Some(c) = h.coverage {
        let _ = writeln!(out, "  coverage: {:.0}% of held-out cells inside their 95% interval", 100.0 * c);
    }
}

fn group(out: &mut String, g: &GroupReport) {
    if let (Some(k), Some(v)) = (&g.key, &g.value) {
        let _ = writeln!(out, "\n== {k} = {v} ==");
    }
    design(out, g);
    if let Some(a3) = &g.approach3 {
        approach3(out, a3);
    }
    kaplan(out, &g.kaplan);
    if let Some(a) = &g.approach1 {
        let _ = writeln!(out);
        allocation(out, "Approach 1 (training-curve envelope)", a);
    }
    if let Some(a) = &g.approach2 {
        let _ = writeln!(out);
        allocation(out, "Approach 2 (IsoFLOP profiles)", a);
    }
    if let Some(a) = &g.agreement {
        let _ = writeln!(out, "\nApproach agreement on a (N_opt ∝ C^a):");
        for l in lines(a) {
            let _ = writeln!(out, "  {l}");
        }
    }
    if let Some(c) = &g.data_constrained {
        let _ = writeln!(out, "\nData-constrained law (Muennighoff et al. 2023): {}", c.form);
        let l = &c.law;
        let _ = writeln!(
            out,
            "  E = {:.4}, A = {:.4}, B = {:.4}, alpha = {:.4}, beta = {:.4}, R* = {:.3} ({} runs, {} repeat data; no intervals yet)",
            l.e, l.a, l.b, l.alpha, l.beta, c.r_star, c.points, c.repeated
        );
    }
    if let Some(h) = &g.holdout {
        holdout(out, h);
    }
    for s in &g.skipped {
        let _ = writeln!(out, "skipped: {s}");
    }
}

/// Renders the whole report.
pub fn render(r: &FitReport) -> String {
    let mut out = String::new();
    let c = &r.conventions;
    let _ = writeln!(
        out,
        "scalinglab fit: {} {}  (N = {} params, C = {} FLOPs, loss = {})",
        r.source.kind,
        r.source.path,
        c.params.name(),
        c.flops.name(),
        c.loss
    );
    if !c.a3_points.is_final() {
        let _ = writeln!(
            out,
            "Approach 3 fitted on --a3-points {} (see each group's Approach 3 section)",
            c.a3_points.name()
        );
    }
    if let Some(f) = c.e_floor {
        let _ = writeln!(
            out,
            "E bounded below by {} nats/token (--e-floor): no model can go below it",
            fmt_num(f)
        );
    }
    if !r.excluded.is_empty() {
        let _ = writeln!(out, "excluded {} runs:", r.excluded.len());
        for e in &r.excluded {
            let _ = writeln!(out, "  {}: {}", e.id, e.reason);
        }
    }
    for g in &r.groups {
        group(&mut out, g);
    }
    if r.groups.len() > 1 {
        let _ = writeln!(out, "\nExponents side by side (Approach 3):");
        let _ = writeln!(out, "  {:<16} {:>34} {:>34} {:>34}", "group", "alpha", "beta", "a");
        for g in &r.groups {
            if let Some(a3) = &g.approach3 {
                let pick = |n: &str| {
                    a3.params
                        .iter()
                        .chain(&a3.derived)
                        .find(|e| e.name == n)
                        .map(|e| shown(e, &Footnotes::default(), Shown::Short))
                        .unwrap_or_default()
                };
                let _ = writeln!(
                    out,
                    "  {:<16} {:>34} {:>34} {:>34}",
                    g.value.clone().unwrap_or_default(),
                    pick("alpha"),
                    pick("beta"),
                    pick("a")
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(determined: bool, ci: Option<[f64; 2]>, reasons: &[&str]) -> Estimate {
        Estimate::sample(determined, ci, reasons)
    }

    #[test]
    fn undetermined_is_never_a_bare_number() {
        let l = estimate_line(&est(false, Some([0.04, 8.1]), &["N range under a decade (N spans 2.0×)"]));
        assert_eq!(l, "α: not determined (95% interval 0.04–8.1; N range under a decade (N spans 2.0×))");
        assert!(!l.contains("0.34"));
        let l = estimate_line(&est(
            false,
            Some([0.04, 8.1]),
            &["95% interval 0.04 – 8.1 is wider than the value"],
        ));
        assert_eq!(l, "α: not determined (95% interval 0.04 – 8.1 is wider than the value)");
        let l = estimate_line(&est(true, Some([0.3, 0.38]), &[]));
        assert_eq!(l, "α = 0.34 (95% interval 0.3–0.38)");
    }

    #[test]
    fn shared_reasons_are_numbered_once_and_cited() {
        let design = "N range under a decade (N spans 2.0×)";
        let mut a = est(false, Some([0.04, 8.1]), &[design, "flat profile: moving α by ±50% ..."]);
        a.name = "alpha".into();
        let mut b = est(false, None, &[design, "flat profile: moving α by ±50% ..."]);
        b.name = "a".into();
        let mut c = est(false, None, &["95% interval 1 – 99 spans more than a decade"]);
        c.name = "B".into();
        let notes = Footnotes::collect([&a, &b, &c]);
        assert_eq!(notes.notes, vec![design.to_string(), "flat profile: moving α by ±50% ...".to_string()]);
        assert_eq!(estimate_line_noted(&a, &notes), "α: not determined (95% interval 0.04–8.1; see [1] [2])");
        assert_eq!(estimate_line_noted(&b, &notes), "a: not determined (see [1] [2])");
        // A reason given once stays inline.
        assert_eq!(
            estimate_line_noted(&c, &notes),
            "B: not determined (95% interval 1 – 99 spans more than a decade)"
        );
    }
}
