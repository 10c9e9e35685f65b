//! `scalinglab fit` as a library call: a [`FitRequest`] (the command line's flags as plain
//! values) is checked, its runs loaded and every group fitted, and the [`FitReport`] written
//! to fit.json atomically. [`run_fit`] is the command: the summary (data) goes to stdout,
//! progress and warnings to stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::group::{fit_group, PipelineOptions};
use super::summary::render;
use crate::error::input_err;
use crate::fit::input::data::{make_cells, RunPoint};
use crate::fit::input::source::{load_results, FlopsConvention, Loaded, ParamsConvention};
use crate::fit::laws::allocation::ISOFLOP_GAP;
use crate::fit::laws::approach3::{Approach3Options, Starts};
use crate::fit::schema::{
    A3Points, Conventions, CurvePoints, FitReport, GroupReport, Source, FIT_SCHEMA_VERSION,
};
use crate::fit::solve::multistart::{FitOptions, COARSE_ROWS};
use crate::fit::uncertainty::bootstrap::BootstrapOptions;
use crate::fit::uncertainty::design::design;
use crate::fmt::fmt_num;
use crate::results::write_json_atomic;

/// Everything `scalinglab fit` is asked to do: the command line's flags as plain values
/// (`cli::fit` parses them; `report` builds one to fit a results folder). [`Default`] gives
/// the command line's defaults, with no input chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRequest {
    /// Results folder of a sweep (runs/*.json, curves/*.jsonl); exclusive with `csv`.
    pub results_dir: Option<PathBuf>,
    /// CSV with columns N,D,loss or N,C,loss (`--csv`).
    pub csv: Option<PathBuf>,
    /// Where to write fit.json (default: RESULTS_DIR/fit.json, or ./fit.json with `csv`).
    pub out: Option<PathBuf>,
    /// Parameter count used as N.
    pub params: ParamsConvention,
    /// FLOP count used as C.
    pub flops: FlopsConvention,
    /// Fit each value of this spec key separately.
    pub group_by: Option<String>,
    /// Training-curve points for Approach 1.
    pub curve_points: CurvePoints,
    /// Bootstrap replicates for 95% intervals (0 = none).
    pub bootstrap: usize,
    /// Bootstrap: also resample seeds within each drawn cell (two-stage).
    pub resample_seeds: bool,
    /// Seed of the bootstrap RNG.
    pub seed: u64,
    /// Hold out the K largest-compute cells and check their forecast (0 = none).
    pub holdout_top: usize,
    /// Also fit every Kaplan form with an irreducible term E.
    pub kaplan_e: bool,
    /// Compute at which to report tokens per parameter, FLOPs (default: the largest C).
    pub reference_flops: Option<f64>,
    /// Approach 3 starting grid.
    pub starts: Starts,
    /// Run every start on every row (`--all-rows`; by default large data sets run the start
    /// grid on a subsample and polish on all rows).
    pub all_rows: bool,
    /// Approach 2 without flops_budget: a gap over this many decades of C starts a new budget.
    pub isoflop_gap: f64,
    /// Fit even when every run shares one N or one D.
    pub allow_degenerate: bool,
    /// Pool runs whose settings differ in more than sizes, budgets and seeds.
    pub allow_mixed: bool,
    /// Replace an existing fit.json even when it was made with more.
    pub overwrite: bool,
    /// Lower bound on E as given: a number of nats/token, or `runs` for the corpus entropy
    /// floor the runs recorded (resolved, and checked, once the runs are loaded).
    pub e_floor: Option<String>,
    /// The points Approach 3 is fitted on (`--a3-points`; default each run's final point).
    pub a3_points: A3Points,
}

impl Default for FitRequest {
    fn default() -> Self {
        FitRequest {
            results_dir: None,
            csv: None,
            out: None,
            params: ParamsConvention::Total,
            flops: FlopsConvention::SixNd,
            group_by: None,
            curve_points: CurvePoints::Auto,
            bootstrap: 0,
            resample_seeds: false,
            seed: 0,
            holdout_top: 0,
            kaplan_e: false,
            reference_flops: None,
            starts: Starts::Full,
            all_rows: false,
            isoflop_gap: ISOFLOP_GAP,
            allow_degenerate: false,
            allow_mixed: false,
            overwrite: false,
            e_floor: None,
            a3_points: A3Points::Final,
        }
    }
}

/// Resolves `--e-floor` against the loaded runs.
fn e_floor(args: &FitRequest, loaded: &Loaded) -> Result<Option<f64>> {
    let Some(v) = args.e_floor.as_deref() else { return Ok(None) };
    if v == "runs" {
        return match loaded.entropy_floor {
            Some(f) => Ok(Some(f)),
            None => Err(input_err(
                "--e-floor runs: no usable run recorded a corpus entropy floor (only the synthetic corpus has one); \
                 fix: pass the floor in nats/token, e.g. --e-floor 1.83, or drop --e-floor",
            )),
        };
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
        _ => Err(input_err(format!(
            "--e-floor {v}: not a positive number of nats/token or `runs`; fix: e.g. --e-floor 1.83 or --e-floor runs"
        ))),
    }
}

fn load(args: &FitRequest) -> Result<(Source, Loaded)> {
    match (&args.results_dir, &args.csv) {
        (Some(dir), None) => {
            let loaded =
                load_results(dir, args.params, args.flops, args.group_by.as_deref(), args.allow_mixed)?;
            Ok((Source { kind: "results_dir".into(), path: dir.display().to_string() }, loaded))
        }
        (None, Some(csv)) => {
            if args.flops == FlopsConvention::Exact {
                return Err(input_err(format!(
                    "--flops exact with --csv {}: a CSV has no exact FLOP counts; fix: drop --flops (C is the CSV's C column, else 6ND)",
                    csv.display()
                )));
            }
            let mut points = crate::fit::input::csv::read_csv(csv)?;
            check_csv_a3_points(args.a3_points, &points, csv)?;
            if let Some(k) = &args.group_by {
                if k != "group" {
                    return Err(input_err(format!(
                        "--group-by {k} with --csv: only the CSV's `group` column can group rows; fix: name that column `group`"
                    )));
                }
            }
            for p in &mut points {
                p.schedule = None;
            }
            Ok((
                Source { kind: "csv".into(), path: csv.display().to_string() },
                Loaded { points, ..Default::default() },
            ))
        }
        _ => Err(input_err("give either RESULTS_DIR or --csv FILE, not both")),
    }
}

/// `--a3-points` with a CSV: only `curve:F`, and only when a `run` column names the run each
/// row is a checkpoint of (a CSV has no schedules and no separate final eval).
fn check_csv_a3_points(p: A3Points, points: &[RunPoint], csv: &Path) -> Result<()> {
    let keep = "pass the sweep's RESULTS_DIR, or drop --a3-points (a CSV's rows are fitted as given)";
    match p {
        A3Points::Final => Ok(()),
        A3Points::Curve { annealing_only: false, .. } if points.iter().any(|r| r.run.is_some()) => Ok(()),
        A3Points::Curve { annealing_only: false, .. } => Err(input_err(format!(
            "--a3-points {} with --csv {}: no `run` column says which rows are checkpoints of one run; fix: add a \
             `run` column (the run each row was taken from), or {keep}",
            p.name(),
            csv.display()
        ))),
        _ => Err(input_err(format!(
            "--a3-points {} with --csv {}: telling annealed points from the others needs each run's schedule, which \
             only a results folder records; fix: {keep}",
            p.name(),
            csv.display()
        ))),
    }
}

/// Input error when every point shares one N or one D (unless allowed).
fn check_degenerate(points: &[RunPoint], what: &str, allow: bool) -> Result<()> {
    let des = design(&make_cells(points));
    if allow {
        return Ok(());
    }
    if des.distinct_d <= 1 {
        return Err(input_err(format!(
            "{what}: every run has the same D ({} tokens): B/D^β is then a constant that merges into E, so β, B, E and \
             the allocation exponents a, b are not identifiable; fix: vary D at fixed N (e.g. an IsoFLOP grid), or pass \
             --allow-degenerate to fit anyway and see what is undetermined",
            fmt_num(points[0].d)
        )));
    }
    if des.distinct_n <= 1 {
        return Err(input_err(format!(
            "{what}: every run has the same N ({} parameters): α, A, E and a, b are not identifiable; fix: vary the model \
             size, or pass --allow-degenerate",
            fmt_num(points[0].n)
        )));
    }
    Ok(())
}

/// Where the fit is written: `--out`, else `RESULTS_DIR/fit.json`, else `./fit.json`.
fn out_path(args: &FitRequest) -> PathBuf {
    match (&args.out, &args.results_dir) {
        (Some(o), _) => o.clone(),
        (None, Some(dir)) => dir.join("fit.json"),
        (None, None) => PathBuf::from("fit.json"),
    }
}

/// What an existing fit at `out` has that a fit with `args` would lose (fewer bootstrap
/// replicates, no hold-out, another convention, grouping or E bound); empty when nothing.
pub fn poorer_than_existing(out: &Path, args: &FitRequest) -> Vec<String> {
    let Ok(old) = crate::fit::schema::read_report(out) else { return Vec::new() };
    let c = &old.conventions;
    let mut lost = Vec::new();
    if c.bootstrap_reps > args.bootstrap {
        lost.push(format!("--bootstrap {} (this fit: {})", c.bootstrap_reps, args.bootstrap));
    }
    if c.holdout_top > args.holdout_top {
        lost.push(format!("--holdout-top {} (this fit: {})", c.holdout_top, args.holdout_top));
    }
    if c.params != args.params {
        lost.push(format!("--params {:?} (this fit: {:?})", c.params, args.params).to_lowercase());
    }
    if c.group_by.is_some() && c.group_by != args.group_by {
        lost.push(format!("--group-by {}", c.group_by.as_deref().unwrap_or("")));
    }
    if let (Some(e), None) = (c.e_floor, &args.e_floor) {
        lost.push(format!("--e-floor {e}"));
    }
    if !c.a3_points.is_final() && c.a3_points != args.a3_points {
        lost.push(format!("--a3-points {} (this fit: {})", c.a3_points.name(), args.a3_points.name()));
    }
    lost
}

/// The checks that need no data: `--reference-flops` and `--isoflop-gap` in range, and no
/// existing fit at the output (returned) that this one would make poorer, unless `--overwrite`.
fn check_request(args: &FitRequest) -> Result<PathBuf> {
    if let Some(c) = args.reference_flops.filter(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(input_err(format!(
            "--reference-flops {c}: must be a positive finite number; fix: e.g. --reference-flops 1e15"
        )));
    }
    if !(args.isoflop_gap.is_finite() && args.isoflop_gap >= 0.0) {
        return Err(input_err(format!(
            "--isoflop-gap {}: must be a number of decades ≥ 0; fix: e.g. --isoflop-gap 0.05",
            args.isoflop_gap
        )));
    }
    let out = out_path(args);
    if !args.overwrite {
        let lost = poorer_than_existing(&out, args);
        if !lost.is_empty() {
            return Err(input_err(format!(
                "{} was fitted with {}; this fit would replace it with a poorer one; fix: pass the same flags, \
                 write elsewhere with --out FILE, or pass --overwrite to replace it",
                out.display(),
                lost.join(", ")
            )));
        }
    }
    Ok(out)
}

/// The request's points, each exclusion named on stderr; input error when none is usable.
fn load_usable(args: &FitRequest) -> Result<(Source, Loaded)> {
    let (source, loaded) = load(args)?;
    for e in &loaded.excluded {
        eprintln!("excluded {}: {}", e.id, e.reason);
    }
    if loaded.points.is_empty() {
        return Err(input_err(format!(
            "{}: no usable runs (all excluded, see above); fix: rerun or repair them",
            source.path
        )));
    }
    Ok((source, loaded))
}

/// The settings every group is fitted with (`--e-floor` resolved against the loaded runs).
fn pipeline_options(args: &FitRequest, loaded: &Loaded) -> Result<PipelineOptions> {
    Ok(PipelineOptions {
        a3: Approach3Options {
            grid: args.starts.grid(),
            fit: FitOptions {
                e_floor: e_floor(args, loaded)?,
                coarse_rows: if args.all_rows { 0 } else { COARSE_ROWS },
                ..Default::default()
            },
        },
        bootstrap: BootstrapOptions {
            reps: args.bootstrap,
            seed: args.seed,
            within_cell: args.resample_seeds,
        },
        kaplan_e: args.kaplan_e,
        curve_points: args.curve_points,
        isoflop_gap: args.isoflop_gap,
        holdout_top: args.holdout_top,
        reference_flops: args.reference_flops,
        params: args.params,
        a3_points: args.a3_points,
    })
}

/// Fits each group of points (key `group_key`), with progress on stderr; an input error names
/// the group.
fn fit_groups(
    args: &FitRequest,
    source: &Source,
    loaded: &Loaded,
    group_key: Option<&str>,
    opts: &PipelineOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<GroupReport>> {
    let mut groups: BTreeMap<Option<String>, Vec<RunPoint>> = BTreeMap::new();
    for p in &loaded.points {
        groups.entry(p.group.clone()).or_default().push(p.clone());
    }
    let mut reports = Vec::new();
    for (value, pts) in &groups {
        let what = match value {
            Some(v) => format!("{} ({} = {v})", source.path, group_key.unwrap_or("group")),
            None => source.path.clone(),
        };
        check_degenerate(pts, &what, args.allow_degenerate)?;
        eprintln!("fitting {what}: {} runs ...", pts.len());
        let curves: Vec<_> = loaded.curves.iter().filter(|c| &c.group == value).cloned().collect();
        let key = group_key.filter(|_| value.is_some());
        let g = fit_group(key, value.as_deref(), pts, &curves, opts, warnings).map_err(|e| {
            if crate::error::is_input_error(&e) {
                input_err(format!("{what}: {e}"))
            } else {
                e
            }
        })?;
        reports.push(g);
    }
    Ok(reports)
}

/// Fits everything `args` asks for and writes fit.json; returns the report and where it went.
/// An existing fit that this one would make poorer is kept (input error) unless `--overwrite`.
pub fn fit_report(args: &FitRequest) -> Result<(FitReport, PathBuf)> {
    let out = check_request(args)?;
    let (source, loaded) = load_usable(args)?;
    let group_key = args
        .group_by
        .clone()
        .or_else(|| loaded.points.iter().any(|p| p.group.is_some()).then(|| "group".to_string()));
    let opts = pipeline_options(args, &loaded)?;
    let mut warnings = Vec::new();
    if source.kind == "csv" && args.params == ParamsConvention::Nonembedding {
        warnings.push("--params nonembedding with --csv: N is taken from the CSV as given".to_string());
    }
    let groups = fit_groups(args, &source, &loaded, group_key.as_deref(), &opts, &mut warnings)?;
    let report = FitReport {
        schema_version: FIT_SCHEMA_VERSION,
        conventions: Conventions {
            params: args.params,
            flops: args.flops,
            loss: if source.kind == "csv" { "csv loss column".into() } else { "final_val_loss".into() },
            curve_points: args.curve_points,
            huber_delta: opts.a3.fit.delta,
            starts: opts.a3.grid.starts().len(),
            bootstrap_reps: args.bootstrap,
            seed: args.seed,
            holdout_top: args.holdout_top,
            reference_flops: args.reference_flops,
            group_by: group_key,
            e_floor: opts.a3.fit.e_floor,
            allow_mixed: args.allow_mixed,
            a3_points: args.a3_points,
        },
        excluded: loaded.excluded,
        groups,
        warnings,
        source,
    };
    write_json_atomic(&out, &report)?;
    Ok((report, out))
}

/// `scalinglab fit`.
pub fn run_fit(args: &FitRequest) -> Result<()> {
    let spinner = LateSpinner::start("fitting (Approach 3 start grid, Kaplan laws, Approaches 1 and 2)");
    let fitted = fit_report(args);
    drop(spinner);
    let (report, out) = fitted?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", render(&report));
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// A spinner on stderr that appears only when the work takes longer than a second (and
/// stderr is a terminal), with the elapsed time (issue #18: a 10⁵-row fit ran silently).
struct LateSpinner {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LateSpinner {
    fn start(what: &'static str) -> LateSpinner {
        use std::sync::atomic::Ordering;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let thread = crate::progress::bars_enabled(false).then(|| {
            std::thread::spawn(move || {
                let t0 = std::time::Instant::now();
                while t0.elapsed().as_secs_f64() < 1.0 {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let pb = indicatif::ProgressBar::new_spinner();
                pb.set_style(
                    indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                        .expect("valid template"),
                );
                pb.set_message(what);
                while !flag.load(Ordering::SeqCst) {
                    pb.tick();
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                pb.finish_and_clear();
            })
        });
        LateSpinner { done, thread }
    }
}

impl Drop for LateSpinner {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
