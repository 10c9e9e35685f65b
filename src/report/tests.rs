//! End-to-end tests of the report on synthetic results folders: every file is written, the
//! numbers in report.md are fit.json's, PNGs show data, figures without data are skipped with a
//! note, and bad input is an input error.

use std::path::{Path, PathBuf};

use super::figs::figure::{palette, Axis, Figure, Panel, Series, Style, FIT_BLACK, PALETTE};
use super::synth::{write_results, SynthSweep};
use super::*;
use crate::fit::input::synth::log_grid;
use crate::fit::schema::Estimate;
use crate::fmt::fmt_num;

/// Writes `sweep` into `dir`, fits it cheaply (coarse starts, 20 bootstrap replicates) and
/// writes the report into `dir/report`; returns the fit, the output folder and the files.
pub(super) fn synthetic_report(
    dir: &Path,
    sweep: &SynthSweep,
    holdout: usize,
) -> (FitReport, PathBuf, Vec<PathBuf>) {
    write_results(dir, sweep).expect("synthetic results");
    let mut fa = fit_request(dir, ParamsConvention::Total, None);
    fa.bootstrap = 20;
    fa.starts = Starts::Coarse;
    fa.holdout_top = holdout;
    let (fit, _) = fit_report(&fa).expect("fit");
    let out = dir.join("report");
    let files = write_report(dir, &fit, &out).expect("report");
    (fit, out, files)
}

/// Rows of the first Markdown table whose header starts with `header`, as trimmed cells.
fn table(md: &str, header: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = md.lines().collect();
    let start =
        lines.iter().position(|l| l.starts_with(header)).unwrap_or_else(|| panic!("no table {header}"));
    lines[start + 2..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().replace("\\|", "|")).collect())
        .collect()
}

/// A cell shows exactly the fit.json value: the formatted number (and parses back to it within
/// the digits shown) with the interval, or "not determined" without a bare value.
fn check_cell(cell: &str, e: &Estimate) {
    if !e.determined {
        assert!(cell.starts_with("not determined ("), "{}: undetermined shown as {cell:?}", e.name);
        return;
    }
    let shown = cell.split(" (").next().unwrap_or_default();
    assert_eq!(shown, fmt_num(e.value), "{}: {cell:?} vs {}", e.name, e.value);
    let parsed: f64 = shown.parse().expect("number");
    // fmt_num: 4 significant digits, so within half a unit of the 4th.
    let tol = 5.0001e-4 * e.value.abs();
    assert!((parsed - e.value).abs() <= tol, "{}: {parsed} vs {}", e.name, e.value);
    if let Some([lo, hi]) = e.ci95 {
        assert!(cell.contains(&format!("95% CI {}–{}", fmt_num(lo), fmt_num(hi))), "{}: {cell:?}", e.name);
    }
}

/// Counts pixels of each palette colour in a PNG file.
fn palette_pixels(path: &Path) -> Vec<usize> {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("png"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let mut counts = vec![0; PALETTE.len()];
    for px in buf[..info.buffer_size()].chunks_exact(3) {
        if let Some(i) = PALETTE.iter().position(|c| (c.0, c.1, c.2) == (px[0], px[1], px[2])) {
            counts[i] += 1;
        }
    }
    counts
}

// Long on purpose (issue #20): one end-to-end report of one synthetic sweep, checked section by
// section; split, each part would redo the sweep and the fit.
#[test]
fn synthetic_sweep_report_has_fit_json_numbers_and_figures_with_data() {
    let t = tempfile::tempdir().expect("tempdir");
    let (fit, out, files) = synthetic_report(t.path(), &SynthSweep::thirty(), 3);
    for name in [
        "loss_vs_n",
        "loss_vs_d",
        "loss_vs_compute",
        "isoflop",
        "allocation",
        "training_curves",
        "residuals",
        "holdout",
        "forecast",
        "isoloss",
        "conventions",
    ] {
        for ext in ["svg", "png"] {
            let p = out.join("plots").join(format!("{name}.{ext}"));
            assert!(files.contains(&p), "{} not written", p.display());
            assert!(std::fs::metadata(&p).expect("file").len() > 2000, "{} is tiny", p.display());
        }
        // PNGs show data, not blank axes: many pixels of the series colours.
        let counts = palette_pixels(&out.join("plots").join(format!("{name}.png")));
        let total: usize = counts.iter().sum();
        let colours = counts.iter().filter(|c| **c >= 40).count();
        assert!(total >= 400, "{name}.png: only {total} data-coloured pixels ({counts:?})");
        let want = if matches!(name, "residuals" | "holdout" | "forecast") { 1 } else { 2 };
        assert!(colours >= want, "{name}.png: {colours} series colours ({counts:?})");
        let svg = std::fs::read_to_string(out.join("plots").join(format!("{name}.svg"))).expect("svg");
        let units = ["(nats/token)", "(parameters", "(training tokens)", "(training FLOPs"];
        assert!(
            svg.starts_with("<svg") && units.iter().any(|u| svg.contains(u)),
            "{name}.svg: no axis units"
        );
    }
    // Issue #18: bootstrap bands (filled polygons) on the fitted curves; ticks as powers of ten.
    for name in ["loss_vs_n", "loss_vs_d", "loss_vs_compute", "allocation"] {
        let svg = std::fs::read_to_string(out.join("plots").join(format!("{name}.svg"))).expect("svg");
        assert!(svg.contains("<polygon"), "{name}.svg: no bootstrap band");
        assert!(svg.contains("95% bootstrap band"), "{name}.svg: band not in the legend");
        assert!(["10⁵", "10⁶", "10⁷", "10¹"].iter().any(|t| svg.contains(t)), "{name}.svg: ticks");
        assert!(
            !svg.contains("1e5") && !svg.contains("1e6") && !svg.contains("1e7"),
            "{name}.svg: 1e5-style tick"
        );
    }
    // Least-squares fits get their 95% confidence band: the IsoFLOP parabolas, and the
    // Approach 1/2 lines (allocation.svg then holds more bands than Approach 3's two).
    let svg = std::fs::read_to_string(out.join("plots/isoflop.svg")).expect("svg");
    assert!(svg.contains("<polygon"), "isoflop.svg: no confidence band");
    let svg = std::fs::read_to_string(out.join("plots/allocation.svg")).expect("svg");
    assert!(svg.matches("<polygon").count() > 2, "allocation.svg: only Approach 3's bands");
    // report.md numbers are fit.json's (read back from disk), for both conventions.
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    let primary = read_report(&t.path().join("fit.json")).expect("fit.json");
    assert_eq!(primary.groups.len(), fit.groups.len());
    let alt = read_report(&out.join("fit.nonembedding.json")).expect("fit.nonembedding.json");
    let rows = table(&md, "| quantity | unit |");
    let (g, ga) = (&primary.groups[0], &alt.groups[0]);
    let (a3, a3b) = (g.approach3.as_ref().expect("a3"), ga.approach3.as_ref().expect("a3 alt"));
    let mut checked = 0;
    for (e, eb) in a3.params.iter().chain(&a3.derived).zip(a3b.params.iter().chain(&a3b.derived)) {
        let row = rows.iter().find(|r| r[0] == super::doc::tables::row_label(&e.name)).expect("row");
        check_cell(&row[2], e);
        check_cell(&row[3], eb);
        checked += 2;
    }
    assert_eq!(checked, 18);
    let floor = rows.iter().find(|r| r[0].starts_with("corpus entropy floor")).expect("floor row");
    assert_eq!(floor[2], "1.75");
    // The checklist compares the fitted E with the floor, in the direction fit.json says.
    let e = a3.params.iter().find(|p| p.name == "E").expect("E");
    let verdict = match (e.determined, e.value >= 1.75) {
        (false, _) => "E is not determined",
        (true, true) => "is at or above the corpus entropy floor 1.75",
        (true, false) => "is below the corpus entropy floor 1.75",
    };
    assert!(md.contains(verdict), "checklist lacks \"{verdict}\"");
    let rows = table(&md, "| method |");
    for (i, r) in [&g.approach1, &g.approach2].into_iter().enumerate() {
        let r = r.as_ref().expect("approach 1 and 2 fitted");
        check_cell(&rows[i][1], &r.a);
        check_cell(&rows[i][2], &r.b);
    }
    assert!(rows.iter().any(|r| r[0] == "Kaplan et al. (2020)" && r[1] == "0.73" && r[2] == "0.27"));
    let rows = table(&md, "| law | parameter |");
    for k in &g.kaplan {
        for e in &k.params {
            let row = rows
                .iter()
                .find(|r| r[0].starts_with(&k.form) && r[1] == super::doc::tables::row_label(&e.name))
                .expect("kaplan row");
            check_cell(&row[3], e);
        }
    }
    let rows = table(&md, "| runs |");
    let h = g.holdout.as_ref().expect("holdout");
    assert_eq!(rows.len(), h.runs.len());
    for (row, r) in rows.iter().zip(&h.runs) {
        assert_eq!(
            (row[4].as_str(), row[5].as_str(), row[6].as_str()),
            (fmt_num(r.actual).as_str(), fmt_num(r.predicted).as_str(), fmt_num(r.pct_error).as_str())
        );
    }
    assert!(md.contains("div0 (status diverged"), "excluded run listed");
    // Issue #24: nothing about the machine that draws the report (the same results give the
    // same report bytes on every machine).
    assert!(!md.contains("logical cores") && !md.contains("machine writing this report"), "hardware line");
    assert!(md.contains("candle 0.11.1"));
    // The HTML page is self-contained: inline SVG, no scripts, no external references.
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert_eq!(html.matches("<svg class=\"fig\"").count(), 11);
    for bad in ["<script", "<link", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(bad), "report.html contains {bad}");
    }
}

#[test]
fn figures_without_data_are_skipped_with_a_note() {
    // Doubling N and ×5 D: no two cells share a compute budget, so there is no IsoFLOP profile;
    // and no --holdout-top, so no forecast.
    let t = tempfile::tempdir().expect("tempdir");
    let mut s = SynthSweep::thirty();
    s.ds = log_grid(2e6, 5e7, 3);
    s.diverged = 0;
    let (_, out, files) = synthetic_report(t.path(), &s, 0);
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains("IsoFLOP profiles: skipped (no IsoFLOP profile"), "{md}");
    assert!(md.contains("Held-out forecast: skipped (no held-out forecast in fit.json"));
    assert!(!files.iter().any(|f| f.ends_with("isoflop.svg") || f.ends_with("holdout.png")));
    assert!(out.join("plots/loss_vs_n.png").exists());
    // With fit.json present, run_report reads it instead of fitting again.
    let before = std::fs::metadata(t.path().join("fit.json")).expect("fit.json").modified().expect("mtime");
    let args = ReportOptions {
        results_dir: t.path().to_path_buf(),
        out: Some(t.path().join("again")),
        refit: false,
        bootstrap: None,
        holdout_top: None,
        starts: None,
        seed: None,
        e_floor: None,
        a3_points: None,
    };
    run_report(&args).expect("report from fit.json");
    let after = std::fs::metadata(t.path().join("fit.json")).expect("fit.json").modified().expect("mtime");
    assert_eq!(before, after, "fit.json was rewritten");
    assert!(t.path().join("again/report.html").exists());
    // Issue #24: a fitting flag the existing fit was not made with is not silently ignored:
    // the report fits again with it (and says so).
    let held =
        ReportOptions { holdout_top: Some(2), bootstrap: Some(0), starts: Some(Starts::Coarse), ..args };
    run_report(&held).expect("report with a hold-out");
    let fit = read_report(&t.path().join("fit.json")).expect("fit.json");
    assert_eq!(fit.conventions.holdout_top, 2, "the report's --holdout-top reached fit.json");
}

#[test]
fn bad_input_is_an_input_error() {
    let t = tempfile::tempdir().expect("tempdir");
    let args = |dir: PathBuf| ReportOptions {
        results_dir: dir,
        out: None,
        refit: false,
        bootstrap: None,
        holdout_top: None,
        starts: None,
        seed: None,
        e_floor: None,
        a3_points: None,
    };
    let e = run_report(&args(t.path().join("missing"))).expect_err("missing folder");
    assert!(crate::error::is_input_error(&e) && e.to_string().contains("missing"), "{e}");
    std::fs::write(t.path().join("fit.json"), "{not json").expect("write");
    let e = run_report(&args(t.path().to_path_buf())).expect_err("bad fit.json");
    assert!(crate::error::is_input_error(&e), "{e:#}");
}

#[test]
fn blank_axes_fail_the_data_pixel_count() {
    // The PNG check above would catch a figure that drew axes but no series.
    let mut p = Panel::new("blank", Axis::log("x (units)"), Axis::log("y (units)"));
    p.series.push(Series::new(None, FIT_BLACK, Style::Points, vec![(1.0, 1.0), (10.0, 10.0)]));
    let fig = Figure { name: "blank".into(), caption: String::new(), panels: vec![p.clone()] };
    let t = tempfile::tempdir().expect("tempdir");
    let path = t.path().join("blank.png");
    std::fs::write(&path, render::png(&fig).expect("png")).expect("write");
    assert_eq!(palette_pixels(&path).iter().sum::<usize>(), 0);
    p.series.push(Series::new(Some("data".into()), palette(2), Style::Line, vec![(1.0, 1.0), (10.0, 10.0)]));
    let fig = Figure { name: "data".into(), caption: String::new(), panels: vec![p] };
    std::fs::write(&path, render::png(&fig).expect("png")).expect("write");
    assert!(palette_pixels(&path)[2] > 300);
}
