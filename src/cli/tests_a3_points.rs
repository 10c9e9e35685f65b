//! `--a3-points` on `fit` and `report` (issue #21): its choices, bad values as usage errors
//! (exit code 2) that say what is wrong and the fix, and the input it needs.

use super::fit::FitArgs;
use super::report::ReportArgs;
use crate::error::is_input_error;
use crate::fit::fit_report;
use crate::fit::schema::A3Points;
use clap::Parser;

#[derive(Parser)]
struct Fit {
    #[command(flatten)]
    fit: FitArgs,
}

#[derive(Parser)]
struct Report {
    #[command(flatten)]
    report: ReportArgs,
}

fn fit_args(extra: &[&str]) -> Result<FitArgs, clap::Error> {
    Fit::try_parse_from(["fit", "results/x"].iter().chain(extra)).map(|c| c.fit)
}

fn report_args(extra: &[&str]) -> Result<ReportArgs, clap::Error> {
    Report::try_parse_from(["report", "results/x"].iter().chain(extra)).map(|c| c.report)
}

#[test]
fn a3_points_flag_parses_its_choices() {
    let get = |extra: &[&str]| fit_args(extra).expect("parses").request().a3_points;
    let curve = |from: f64, annealing_only: bool| A3Points::Curve { from, annealing_only };
    assert_eq!(get(&[]), A3Points::Final, "the default is today's fit");
    assert_eq!(get(&["--a3-points", "final"]), A3Points::Final);
    assert_eq!(get(&["--a3-points", "annealed"]), A3Points::Annealed);
    assert_eq!(get(&["--a3-points", "curve"]), curve(0.5, false));
    assert_eq!(get(&["--a3-points=curve:0.25"]), curve(0.25, false));
    assert_eq!(get(&["--a3-points", "curve:0"]), curve(0.0, false));
    assert_eq!(get(&["--a3-points", "curve-annealing"]), curve(0.5, true));
    assert_eq!(get(&["--a3-points", "curve-annealing:1"]), curve(1.0, true));
    let get = |extra: &[&str]| report_args(extra).expect("parses").options().a3_points;
    assert_eq!(get(&[]), None, "report: an existing fit.json is used as it is");
    assert_eq!(get(&["--a3-points", "curve:0.3"]), Some(curve(0.3, false)));
}

#[test]
fn bad_a3_points_are_usage_errors_with_the_fix() {
    for (bad, says) in [
        ("curve:1.5", "outside [0, 1]"),
        ("curve:-0.1", "outside [0, 1]"),
        ("curve:x", "not a number"),
        ("curve:", "no fraction after the colon"),
        ("annealed:0.5", "takes no fraction"),
        ("all", "is not one of final"),
    ] {
        let flag = ["--a3-points", bad];
        for e in [fit_args(&flag).err(), report_args(&flag).err()] {
            let e = e.unwrap_or_else(|| panic!("{bad} accepted"));
            let msg = e.to_string();
            assert_eq!(e.exit_code(), 2, "{msg}");
            assert!(msg.contains("--a3-points") && msg.contains(says) && msg.contains("fix:"), "{msg}");
        }
    }
}

/// Fits `rows` (CSV text after the header `N,D,loss[,run]`) with `flags`.
fn fit_csv(header: &str, rows: &str, flags: &[&str]) -> anyhow::Result<crate::fit::schema::FitReport> {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("pts.csv");
    std::fs::write(&f, format!("{header}\n{rows}")).expect("write");
    let out = dir.path().join("fit.json");
    let (f, out) = (f.to_str().expect("utf8"), out.to_str().expect("utf8"));
    let mut list = vec!["--csv", f, "--out", out, "--starts", "coarse"];
    list.extend_from_slice(flags);
    let a = Fit::try_parse_from(std::iter::once("fit").chain(list)).expect("parses");
    fit_report(&a.fit.request()).map(|r| r.0)
}

/// Three checkpoints of each of 16 runs (4 sizes × 4 lengths) on a known law.
fn checkpoints() -> String {
    let law = crate::fit::law::ChinchillaLaw { e: 1.8, a: 300.0, b: 2000.0, alpha: 0.34, beta: 0.3 };
    let mut rows = String::new();
    for (i, n) in [1e5, 3e5, 1e6, 3e6].into_iter().enumerate() {
        for (j, d) in [1e8, 3e8, 1e9, 3e9].into_iter().enumerate() {
            for t in [0.25 * d, 0.5 * d, d] {
                rows.push_str(&format!("{n},{t},{},r{i}{j}\n", law.loss(n, t)));
            }
        }
    }
    rows
}

#[test]
fn curve_points_on_a_csv_need_its_run_column() {
    let rows = checkpoints();
    let r = fit_csv("N,D,loss,run", &rows, &["--a3-points", "curve:0.5", "--bootstrap", "5"]).expect("fit");
    let a3 = r.groups[0].approach3.as_ref().expect("approach 3");
    let d = a3.data.as_ref().expect("data");
    // Per run the checkpoints at D/2 and D: 32 points of 16 runs, resampled whole.
    assert_eq!((d.runs, d.points, d.before_end), (16, 32, 16));
    assert!(a3.bootstrap.as_ref().expect("bootstrap").resampling.starts_with("whole runs"));
    for (header, rows, flag, says) in [
        (
            "N,D,loss",
            rows.lines().map(|l| l.rsplit_once(',').expect("run").0.to_string() + "\n").collect(),
            "curve:0.5",
            "no `run` column",
        ),
        ("N,D,loss,run", rows.clone(), "annealed", "needs each run's schedule"),
        ("N,D,loss,run", rows.clone(), "curve-annealing", "needs each run's schedule"),
    ] {
        let e = fit_csv(header, &rows, &["--a3-points", flag]).expect_err(flag);
        let msg = format!("{e:#}");
        assert!(
            is_input_error(&e)
                && msg.contains(&format!("--a3-points {}", A3Points::parse(flag).expect("valid").name())),
            "{msg}"
        );
        assert!(msg.contains("with --csv") && msg.contains(says) && msg.contains("fix:"), "{msg}");
    }
}
