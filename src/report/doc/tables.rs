//! The fitted-parameter sections of the report: every approach under both parameter
//! conventions side by side, the allocation exponents against the published values, Kaplan's
//! forms, the compute levels and the held-out forecast. Every number is formatted from the
//! fit.json value with [`fmt_num`], and a quantity the fit marks undetermined is never shown as
//! a bare point estimate.

use crate::fit::estimate::{shown, symbol, Footnotes, Shown};
use crate::fit::schema::{AllocationReport, Estimate, GroupReport};
use crate::fmt::fmt_num;

use super::Block;

/// Chinchilla's published allocation exponents (Hoffmann et al. 2022, Table 2): approach, a, b.
pub const CHINCHILLA: [(&str, f64, f64); 3] =
    [("Approach 1", 0.50, 0.50), ("Approach 2", 0.49, 0.51), ("Approach 3", 0.46, 0.54)];
/// Kaplan et al. (2020)'s allocation: N_opt ∝ C^0.73, D_opt ∝ C^0.27.
pub const KAPLAN: (f64, f64) = (0.73, 0.27);

/// A fit under one convention, for a column: (column title, the group under that convention).
pub type Column<'a> = (String, Option<&'a GroupReport>);

/// Table cell of an estimate: `0.3412 (95% CI 0.31–0.37)`, or `not determined (95% interval
/// 0.04–8.1; reasons)` ([`shown`]).
pub fn estimate_cell(e: &Estimate) -> String {
    estimate_cell_noted(e, &Footnotes::default())
}

/// [`estimate_cell`], citing reasons shared across the table as `[k]` (listed under it).
pub fn estimate_cell_noted(e: &Estimate, notes: &Footnotes) -> String {
    shown(e, notes, Shown::Cell)
}

/// A quantity's row label: its [`symbol`], and tokens per parameter in words.
pub fn row_label(name: &str) -> String {
    if name == "tokens_per_param" {
        "tokens per parameter".into()
    } else {
        symbol(name)
    }
}

fn header(first: &[&str], cols: &[Column<'_>]) -> Vec<String> {
    first.iter().map(|s| s.to_string()).chain(cols.iter().map(|c| c.0.clone())).collect()
}

/// Approach 3 parameters and derived quantities, one column per convention; the corpus
/// entropy floor right after E when the runs record one.
pub fn approach3_table(cols: &[Column<'_>], floors: &[f64]) -> Vec<Block> {
    let Some(a3) = cols.first().and_then(|c| c.1).and_then(|g| g.approach3.as_ref()) else {
        return vec![Block::Para("Approach 3 was not fitted.".into())];
    };
    let footnotes = Footnotes::collect(
        cols.iter()
            .filter_map(|c| c.1.and_then(|g| g.approach3.as_ref()))
            .flat_map(|a| a.params.iter().chain(&a.derived)),
    );
    let mut rows = Vec::new();
    for (i, e) in a3.params.iter().chain(&a3.derived).enumerate() {
        let mut row = vec![row_label(&e.name), e.unit.clone()];
        for (_, g) in cols {
            let other = g.and_then(|g| g.approach3.as_ref()).and_then(|a| {
                let all: Vec<&Estimate> = a.params.iter().chain(&a.derived).collect();
                all.get(i).filter(|o| o.name == e.name).copied()
            });
            row.push(other.map_or("—".into(), |o| estimate_cell_noted(o, &footnotes)));
        }
        rows.push(row);
        if e.name == "E" && !floors.is_empty() {
            let f: Vec<String> = floors.iter().map(|f| fmt_num(*f)).collect();
            let mut r = vec!["corpus entropy floor (from the runs)".into(), "nats/token".into()];
            r.extend(cols.iter().map(|_| f.join(", ")));
            rows.push(r);
        }
    }
    let mut out = vec![Block::Table(header(&["quantity", "unit"], cols), rows)];
    out.extend(footnote_list(&footnotes));
    let mut notes = vec![format!(
        "{}; fit quality on log loss: R² = {:.4}, RMSE = {:.4} over {} cells; {}/{} starts converged.",
        a3.form, a3.quality.r2_log, a3.quality.rmse_log, a3.quality.points, a3.converged_starts, a3.starts
    )];
    if let Some(b) = &a3.bootstrap {
        notes.push(format!(
            "Intervals: bootstrap percentile, {} of {} replicates converged; resampling {}.",
            b.converged, b.reps, b.resampling
        ));
    }
    if let Some(d) = &a3.data {
        notes.extend(d.lines().into_iter().map(|l| format!("Approach 3 {l}.")));
    }
    if let Some(g) = cols[0].1 {
        notes.push(g.interval_note.clone());
        // When the data are not additive, the footnotes above already say so.
        notes.extend(
            g.design.additivity.as_ref().filter(|a| !a.not_additive).map(|a| format!("{}.", a.line())),
        );
    }
    out.push(Block::List(notes));
    out
}

fn allocation_of(g: &GroupReport, which: usize) -> Option<(&Estimate, &Estimate)> {
    match which {
        0 => g.approach1.as_ref().map(|r| (&r.a, &r.b)),
        1 => g.approach2.as_ref().map(|r| (&r.a, &r.b)),
        _ => g.approach3.as_ref().and_then(|a| {
            let f = |n: &str| a.derived.iter().find(|e| e.name == n);
            Some((f("a")?, f("b")?))
        }),
    }
}

fn contains(e: &Estimate, v: f64) -> &'static str {
    match e.ci95 {
        Some([lo, hi]) if (lo..=hi).contains(&v) => "inside",
        Some(_) => "outside",
        None => "no interval",
    }
}

/// The numbered list under a table whose cells cite shared reasons as `[k]`.
fn footnote_list(notes: &Footnotes) -> Option<Block> {
    (!notes.notes.is_empty()).then(|| {
        Block::List(notes.notes.iter().enumerate().map(|(k, n)| format!("[{}] {n}", k + 1)).collect())
    })
}

/// a and b of Approaches 1–3 per convention, with Chinchilla's and Kaplan's published values.
pub fn exponents_table(cols: &[Column<'_>]) -> Vec<Block> {
    let mut head = vec!["method".to_string()];
    for (t, _) in cols {
        head.push(format!("a, {t}"));
        head.push(format!("b, {t}"));
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let footnotes = Footnotes::collect(
        (0..3)
            .flat_map(|w| cols.iter().filter_map(move |(_, g)| g.and_then(|g| allocation_of(g, w))))
            .flat_map(|(a, b)| [a, b]),
    );
    for (w, name) in ["Approach 1", "Approach 2", "Approach 3"].iter().enumerate() {
        let mut row = vec![format!("this sweep, {name}")];
        for (t, g) in cols {
            match g.and_then(|g| allocation_of(g, w)) {
                Some((a, b)) => {
                    row.push(estimate_cell_noted(a, &footnotes));
                    row.push(estimate_cell_noted(b, &footnotes));
                    if a.determined {
                        notes.push(format!(
                            "{name}, {t}: a = {}; Chinchilla's 0.5 is {} its 95% interval, Kaplan's 0.73 {}.",
                            fmt_num(a.value),
                            contains(a, 0.5),
                            contains(a, KAPLAN.0)
                        ));
                    }
                }
                None => row.extend(["not fitted".to_string(), "not fitted".to_string()]),
            }
        }
        rows.push(row);
    }
    for (name, a, b) in CHINCHILLA {
        let mut row = vec![format!("Chinchilla (Hoffmann et al. 2022), {name}")];
        row.extend(cols.iter().flat_map(|_| [fmt_num(a), fmt_num(b)]));
        rows.push(row);
    }
    let mut row = vec!["Kaplan et al. (2020)".to_string()];
    row.extend(cols.iter().flat_map(|_| [fmt_num(KAPLAN.0), fmt_num(KAPLAN.1)]));
    rows.push(row);
    notes.extend(agreement(cols));
    let mut out = vec![Block::Table(head, rows)];
    out.extend(footnote_list(&footnotes));
    if !notes.is_empty() {
        out.push(Block::List(notes));
    }
    out
}

/// Whether the approaches agree on a, per convention: two determined estimates agree when their
/// 95% intervals overlap (Gemstones' runs give a ≈ 0.50 by Approach 1 and ≈ 0.71 by Approach 3:
/// a report must say when its approaches part like that).
fn agreement(cols: &[Column<'_>]) -> Vec<String> {
    let names = ["Approach 1", "Approach 2", "Approach 3"];
    let mut out = Vec::new();
    for (t, g) in cols {
        let Some(g) = g else { continue };
        let det: Vec<(&str, [f64; 2])> = (0..3)
            .filter_map(|w| {
                let (a, _) = allocation_of(g, w)?;
                a.determined.then_some(())?;
                Some((names[w], a.ci95?))
            })
            .collect();
        for i in 0..det.len() {
            for j in i + 1..det.len() {
                let ((n1, [l1, h1]), (n2, [l2, h2])) = (det[i], det[j]);
                let verdict = if l1 <= h2 && l2 <= h1 { "agree" } else { "disagree" };
                out.push(format!(
                    "{t}: {n1} and {n2} {verdict} on a (95% intervals {}–{} and {}–{} {}).",
                    fmt_num(l1),
                    fmt_num(h1),
                    fmt_num(l2),
                    fmt_num(h2),
                    if verdict == "agree" { "overlap" } else { "do not overlap" }
                ));
            }
        }
    }
    out
}

/// Kaplan forms, one row per parameter, one column per convention.
pub fn kaplan_table(cols: &[Column<'_>]) -> Vec<Block> {
    let Some(g) = cols.first().and_then(|c| c.1) else { return Vec::new() };
    if g.kaplan.is_empty() {
        return vec![Block::Para("No Kaplan form was fitted.".into())];
    }
    let mut rows = Vec::new();
    for k in &g.kaplan {
        for e in &k.params {
            let mut row = vec![format!("{} on {}", k.form, k.selection), row_label(&e.name), e.unit.clone()];
            for (_, og) in cols {
                let other = og
                    .and_then(|og| og.kaplan.iter().find(|o| o.name == k.name))
                    .and_then(|o| o.params.iter().find(|p| p.name == e.name));
                row.push(other.map_or("—".into(), estimate_cell));
            }
            rows.push(row);
        }
    }
    vec![Block::Table(header(&["law", "parameter", "unit"], cols), rows)]
}

/// Compute levels of Approach 1 or 2 (primary convention).
pub fn levels_table(r: &AllocationReport) -> Vec<Block> {
    let rows = r
        .levels
        .iter()
        .map(|l| {
            vec![
                fmt_num(l.c),
                fmt_num(l.n_opt),
                fmt_num(l.d_opt),
                fmt_num(l.loss),
                l.points.to_string(),
                if l.at_edge { "yes (extrapolated)".into() } else { "no".into() },
            ]
        })
        .collect();
    let head =
        ["C (FLOPs)", "N_opt (parameters)", "D_opt (tokens)", "loss (nats/token)", "points", "at edge"];
    let mut out = vec![Block::Table(head.iter().map(|s| s.to_string()).collect(), rows)];
    if !r.notes.is_empty() {
        out.push(Block::List(r.notes.clone()));
    }
    out
}

/// Held-out forecast table and coverage (primary convention).
pub fn holdout_blocks(g: &GroupReport) -> Vec<Block> {
    let Some(h) = &g.holdout else {
        return vec![Block::Para(
            "No held-out forecast: fit.json has no holdout section (fit with --holdout-top K).".into(),
        )];
    };
    let rows = h
        .runs
        .iter()
        .map(|r| {
            vec![
                r.ids.join(", "),
                fmt_num(r.n),
                fmt_num(r.d),
                fmt_num(r.c),
                fmt_num(r.actual),
                fmt_num(r.predicted),
                fmt_num(r.pct_error),
                r.interval.map_or("—".into(), |[a, b]| format!("{}–{}", fmt_num(a), fmt_num(b))),
                r.inside.map_or("—".into(), |i| if i { "yes".into() } else { "NO".into() }),
            ]
        })
        .collect();
    let head = [
        "runs",
        "N (parameters)",
        "D (tokens)",
        "C (FLOPs)",
        "actual (nats/token)",
        "predicted (nats/token)",
        "error (%)",
        "95% interval",
        "inside",
    ];
    let mut notes = vec![h.note.clone()];
    if let Some(c) = h.coverage {
        notes.push(format!("coverage: {}% of held-out cells inside their 95% interval", fmt_num(100.0 * c)));
    }
    let mae = h.runs.iter().map(|r| r.pct_error.abs()).sum::<f64>() / h.runs.len().max(1) as f64;
    notes.push(format!("mean absolute error: {}%", fmt_num(mae)));
    vec![Block::Table(head.iter().map(|s| s.to_string()).collect(), rows), Block::List(notes)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(determined: bool, ci: Option<[f64; 2]>, reasons: &[&str]) -> Estimate {
        Estimate::sample(determined, ci, reasons)
    }

    #[test]
    fn undetermined_cells_carry_no_point_estimate() {
        let c = estimate_cell(&est(false, Some([0.04, 8.1]), &["N range under a decade"]));
        assert_eq!(c, "not determined (95% interval 0.04–8.1; N range under a decade)");
        assert!(!c.contains("0.34"));
        let c = estimate_cell(&est(false, None, &[]));
        assert_eq!(c, "not determined (no reason recorded)");
        assert_eq!(estimate_cell(&est(true, Some([0.3, 0.38]), &[])), "0.34 (95% CI 0.3–0.38)");
        assert_eq!(contains(&est(true, Some([0.3, 0.38]), &[]), 0.5), "outside");
    }
}
