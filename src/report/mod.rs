//! `scalinglab report`: figures and a written report of a sweep and its scaling-law fits.
//!
//! Reads a results folder (`runs/*.json`, `curves/*.jsonl`) and its `fit.json` (running
//! `scalinglab fit` in-process when it is missing), fits again under the other parameter
//! convention (total vs non-embedding) for the side-by-side comparison, and writes to the
//! output folder:
//!
//! * the figures as SVG and PNG, log-log axes labelled with units, drawn with plotters
//!   ([`figs`]); a figure without data is skipped with a note instead of drawing blank axes;
//! * `report.md`: the sweep ([`sweep`]), fitted parameters with 95% intervals for every
//!   approach and both conventions, a and b against Chinchilla's and Kaplan's published values,
//!   held-out errors and a validity checklist. Every number is formatted from the fit.json
//!   value; undetermined quantities are never shown as point estimates ([`doc`]);
//! * `report.html`: the same content as one self-contained page (inline SVG and CSS, no
//!   scripts, no network) ([`doc`]);
//! * `fit.nonembedding.json` (or `fit.total.json`): the fit under the other convention.
//!
//! This module is the command: [`run_report`] fits when needed and [`write_report`] writes
//! everything. The flags are in `cli::report`; [`synth`] writes synthetic results folders for
//! the tests.
//!
//! Never depends on candle; fonts are embedded (DejaVu Sans), so no system fonts are needed.

pub mod sweep;

pub mod doc;
pub mod figs;

pub mod synth;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_browser;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::input_err;
use crate::fit::input::source::ParamsConvention;
use crate::fit::laws::approach3::Starts;
use crate::fit::schema::read_report;
use crate::fit::schema::{A3Points, FitReport};
use crate::fit::{fit_report, FitRequest};
use crate::results::{write_atomic, ResultsDir};

use doc::Block;
use figs::{draw, figures, render, view};

/// What `scalinglab report` is asked (the command line's flags as plain values;
/// `cli::report` parses them). The fitting settings are `None` where not given: an existing
/// fit.json is then used as it is, and a new fit takes the defaults named below.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Results folder of a sweep (runs/*.json, curves/*.jsonl, fit.json if already fitted).
    pub results_dir: PathBuf,
    /// Where to write the figures, report.md and report.html (default: `results_dir`).
    pub out: Option<PathBuf>,
    /// Fit again even when fit.json exists (it is overwritten).
    pub refit: bool,
    /// Bootstrap replicates when fitting (default 200).
    pub bootstrap: Option<usize>,
    /// Cells held out for the forecast check when fitting (default 0).
    pub holdout_top: Option<usize>,
    /// Approach 3 start grid when fitting (default full).
    pub starts: Option<Starts>,
    /// Seed of the bootstrap RNG when fitting (default 0).
    pub seed: Option<u64>,
    /// Lower bound on E when fitting, nats/token or `runs`.
    pub e_floor: Option<String>,
    /// The points Approach 3 is fitted on when fitting (default each run's final point).
    pub a3_points: Option<A3Points>,
}

/// The fitting flags a report was given that an existing fit was not made with.
fn differs_from(args: &ReportOptions, fit: &FitReport) -> Vec<String> {
    let c = &fit.conventions;
    let mut d = Vec::new();
    if let Some(b) = args.bootstrap.filter(|b| *b != c.bootstrap_reps) {
        d.push(format!("--bootstrap {b} (fit.json: {})", c.bootstrap_reps));
    }
    if let Some(h) = args.holdout_top.filter(|h| *h != c.holdout_top) {
        d.push(format!("--holdout-top {h} (fit.json: {})", c.holdout_top));
    }
    if let Some(s) = args.seed.filter(|s| *s != c.seed) {
        d.push(format!("--seed {s} (fit.json: {})", c.seed));
    }
    let made = Starts::of_count(c.starts);
    if let Some(st) = args.starts.filter(|st| *st != made) {
        d.push(format!("--starts {} (fit.json: {})", st.name(), made.name()));
    }
    if args.e_floor.is_some() && c.e_floor.is_none() {
        d.push("--e-floor (fit.json: none)".into());
    }
    if let Some(p) = args.a3_points.filter(|p| *p != c.a3_points) {
        d.push(format!("--a3-points {} (fit.json: {})", p.name(), c.a3_points.name()));
    }
    d
}

/// The fit of results folder `dir` under convention `params` that the report makes, written
/// to `out` (default: `dir/fit.json`), replacing what is there.
fn fit_request(dir: &Path, params: ParamsConvention, out: Option<PathBuf>) -> FitRequest {
    FitRequest { results_dir: Some(dir.to_path_buf()), out, params, overwrite: true, ..FitRequest::default() }
}

/// `scalinglab report`: fits if needed (writing RESULTS_DIR/fit.json), then writes the report.
pub fn run_report(args: &ReportOptions) -> Result<()> {
    let dir = &args.results_dir;
    if !dir.is_dir() {
        return Err(input_err(format!(
            "{}: not a folder; fix: pass a sweep's results folder (with runs/*.json)",
            dir.display()
        )));
    }
    let path = dir.join("fit.json");
    let existing = if path.exists() && !args.refit {
        let fit = read_report(&path).map_err(|e| {
            input_err(format!(
                "{e:#}; if it was written by `scalinglab fit` (a non-finite interval bound is written as null), \
                 fix: run the report with --refit"
            ))
        })?;
        let differs = differs_from(args, &fit);
        if differs.is_empty() {
            let c = &fit.conventions;
            eprintln!(
                "reading {} (fitted with --bootstrap {} --holdout-top {}; --refit or other fitting flags fit again)",
                path.display(),
                c.bootstrap_reps,
                c.holdout_top
            );
            Some(fit)
        } else {
            eprintln!("{} was fitted otherwise; fitting again with {}", path.display(), differs.join(", "));
            None
        }
    } else {
        None
    };
    let fit = match existing {
        Some(fit) => fit,
        None => {
            let mut fa = fit_request(dir, ParamsConvention::Total, None);
            fa.bootstrap = args.bootstrap.unwrap_or(200);
            fa.holdout_top = args.holdout_top.unwrap_or(0);
            fa.starts = args.starts.unwrap_or(Starts::Full);
            fa.seed = args.seed.unwrap_or(0);
            fa.e_floor = args.e_floor.clone();
            fa.a3_points = args.a3_points.unwrap_or_default();
            // Asked for by the report's own flags (or --refit), so it replaces fit.json.
            fa.overwrite = true;
            // The report is formatted from the same values fit_report just wrote to fit.json.
            let (fit, out) = fit_report(&fa)?;
            eprintln!("wrote {}", out.display());
            fit
        }
    };
    let out = args.out.clone().unwrap_or_else(|| dir.clone());
    let files = write_report(dir, &fit, &out)?;
    for f in &files {
        println!("{}", f.display());
    }
    Ok(())
}

/// Fits `dir` again under the other parameter convention with `fit`'s settings, writing
/// `OUT/fit.CONVENTION.json`. `Err` says why it could not (shown in the report).
pub fn other_convention(dir: &Path, fit: &FitReport, out: &Path) -> std::result::Result<FitReport, String> {
    let c = &fit.conventions;
    let other = match c.params {
        ParamsConvention::Total => ParamsConvention::Nonembedding,
        ParamsConvention::Nonembedding => ParamsConvention::Total,
    };
    let mut fa = fit_request(dir, other, Some(out.join(format!("fit.{}.json", other.name()))));
    fa.flops = c.flops;
    fa.group_by = c.group_by.clone();
    fa.curve_points = c.curve_points;
    fa.bootstrap = c.bootstrap_reps;
    fa.seed = c.seed;
    fa.holdout_top = c.holdout_top;
    fa.reference_flops = c.reference_flops;
    fa.e_floor = c.e_floor.map(|x| x.to_string());
    fa.starts = Starts::of_count(c.starts);
    fa.a3_points = c.a3_points;
    eprintln!("fitting again with N = {} parameters for the side-by-side comparison ...", other.name());
    fit_report(&fa).map(|(r, _)| r).map_err(|e| format!("{e:#}"))
}

/// Writes the figures (SVG and PNG), report.md and report.html for `fit` of results folder
/// `dir` into `out`, fitting again under the other parameter convention; returns the files
/// written.
pub fn write_report(dir: &Path, fit: &FitReport, out: &Path) -> Result<Vec<PathBuf>> {
    if fit.source.kind != "results_dir" {
        return Err(input_err(format!(
            "{}: fit.json was fitted from {} {}, not from this results folder; fix: rerun with --refit",
            dir.display(),
            fit.source.kind,
            fit.source.path
        )));
    }
    render::register_fonts()?;
    let runs = ResultsDir::new(dir).load_runs()?;
    let facts = sweep::sweep_facts(&runs);
    let loaded = view::load_for(dir, fit)?;
    let views = view::views(fit, &loaded);
    let alt = other_convention(dir, fit, out);
    let mut written = Vec::new();
    if let Ok(a) = &alt {
        written.push(out.join(format!("fit.{}.json", a.conventions.params.name())));
    }
    let alt_loaded = match &alt {
        Ok(a) => Some(view::load_for(dir, a)?),
        Err(_) => None,
    };
    let alt_views = match (&alt, &alt_loaded) {
        (Ok(a), Some(l)) => view::views(a, l),
        _ => Vec::new(),
    };
    let slots = figures(&views, &alt_views);
    let started = std::time::Instant::now();
    let mut figs = Vec::new();
    for d in draw(&slots) {
        let (f, svg, png) = d?;
        for (ext, bytes) in [("svg", svg.as_bytes()), ("png", png.as_slice())] {
            let p = out.join("plots").join(format!("{}.{ext}", f.name));
            write_atomic(&p, bytes)?;
            written.push(p);
        }
        figs.push(Block::Figure { name: f.name.clone(), caption: f.caption.clone(), svg });
    }
    eprintln!("drew {} figures (SVG + PNG) in {:.1} s", figs.len(), started.elapsed().as_secs_f64());
    let skipped: Vec<String> = slots
        .iter()
        .filter_map(|s| s.built.as_ref().err().map(|why| format!("{}: skipped ({why})", s.title)))
        .collect();
    let blocks = doc::content::blocks(dir, fit, alt.as_ref(), &facts, figs, skipped);
    let title = format!("scalinglab report: {}", facts.sweeps.join(", "));
    for (name, text) in
        [("report.md", doc::to_markdown(&blocks)), ("report.html", doc::to_html(&title, &blocks))]
    {
        let p = out.join(name);
        write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    Ok(written)
}
