//! End-to-end tests of `scalinglab fit` / `predict` from their flags: a results folder built
//! from [`RunResult`](crate::results::RunResult)s, `--group-by`, CSV input with seed
//! replicates, and degenerate inputs that must be input errors (exit code 2).

use super::fit::FitArgs;
use super::predict::PredictArgs;
use crate::error::is_input_error;
use crate::fit::forecast::predict::{run_predict, PredictRequest};
use crate::fit::input::source::tests::run;
use crate::fit::law::ChinchillaLaw;
use crate::fit::pipeline::summary::render;
use crate::fit::schema::read_report;
use crate::fit::schema::FitReport;
use crate::fit::{fit_report, FitRequest};
use crate::results::write_json_atomic;
use crate::results::{CurvePoint, ResultsDir, RunStatus};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    fit: FitArgs,
}

fn args(list: &[&str]) -> FitRequest {
    Cli::try_parse_from(std::iter::once("fit").chain(list.iter().copied()))
        .expect("valid flags")
        .fit
        .request()
}

const LAW: ChinchillaLaw = ChinchillaLaw { e: 1.7, a: 300.0, b: 2000.0, alpha: 0.34, beta: 0.36 };

/// A results folder: a 5×4 grid per learning rate, plus one diverged and one failed run,
/// and a cosine curve for every ok run.
fn results_dir(lrs: &[f64]) -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    let rd = ResultsDir::new(t.path());
    let mut k = 0;
    for (li, &lr) in lrs.iter().enumerate() {
        for n in [100_000u64, 400_000, 1_600_000, 6_400_000, 25_600_000] {
            for d in [10_000_000u64, 40_000_000, 160_000_000, 640_000_000] {
                let loss = LAW.loss(n as f64, d as f64) * (1.0 + 0.002 * ((k * 7 % 5) as f64 - 2.0))
                    + 0.01 * li as f64;
                let mut r = run(&format!("run{k:03}"), n, d, Some(loss), RunStatus::Ok);
                r.spec.insert("lr".into(), serde_json::json!(lr));
                write_json_atomic(&rd.run_path(&r.id), &r).expect("write run");
                let curve: String = (1..=4)
                    .map(|s| {
                        let tok = d / 4 * s;
                        let p = CurvePoint {
                            step: s,
                            tokens: tok,
                            lr,
                            train_loss: 0.0,
                            val_loss: Some(LAW.loss(n as f64, tok as f64) + 0.01),
                            seconds: 1.0,
                        };
                        serde_json::to_string(&p).expect("json") + "\n"
                    })
                    .collect();
                std::fs::create_dir_all(t.path().join("curves")).expect("mkdir");
                std::fs::write(rd.curve_path(&r.id), curve).expect("write curve");
                k += 1;
            }
        }
    }
    for (id, status) in [("bad1", RunStatus::Diverged), ("bad2", RunStatus::Failed)] {
        let mut r = run(id, 1_000_000, 10_000_000, None, status);
        r.spec.insert("lr".into(), serde_json::json!(lrs[0]));
        write_json_atomic(&rd.run_path(id), &r).expect("write run");
    }
    t
}

#[test]
fn fits_a_results_dir_and_predicts_from_it() {
    let dir = results_dir(&[0.001]);
    let path = dir.path().to_str().expect("utf8").to_string();
    let a = args(&[&path, "--starts", "coarse", "--bootstrap", "30", "--holdout-top", "2"]);
    let (report, out) = fit_report(&a).expect("fit");
    assert_eq!(out, dir.path().join("fit.json"));
    // Read back (serde_json may differ in the last bit of a float, so compare fields).
    let back: FitReport = serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("parse");
    assert_eq!(
        (back.groups.len(), &back.excluded, &back.conventions),
        (1, &report.excluded, &report.conventions)
    );
    let (l0, l1) = (
        report.groups[0].approach3.as_ref().expect("a3").law,
        back.groups[0].approach3.as_ref().expect("a3").law,
    );
    assert!((l0.alpha / l1.alpha - 1.0).abs() < 1e-14 && (l0.e / l1.e - 1.0).abs() < 1e-14);
    assert_eq!(report.excluded.len(), 2);
    assert!(report.excluded.iter().any(|e| e.id == "bad1" && e.reason.contains("diverged")));
    let g = &report.groups[0];
    assert_eq!((g.runs, g.cells), (20, 20));
    let a3 = g.approach3.as_ref().expect("approach 3");
    assert!((a3.law.alpha - LAW.alpha).abs() < 0.05, "{:?}", a3.law);
    assert!(a3.params.iter().all(|p| p.ci95.is_some()));
    assert_eq!(g.kaplan.len(), 4);
    let a1 = g.approach1.as_ref().expect("approach 1 from curves");
    assert!(a1.notes.iter().any(|n| n.contains("cosine")), "{:?}", a1.notes);
    let h = g.holdout.as_ref().expect("holdout");
    assert_eq!(h.runs.len(), 2);
    assert!(render(&report).contains("Approach 3"));
    let p = PredictRequest {
        fit_json: out,
        flops: Some(1e18),
        params: None,
        tokens: None,
        inference_tokens: Some(1e12),
        group: None,
        json: false,
    };
    run_predict(&p).expect("predict");
}

#[test]
fn group_by_fits_each_value() {
    let dir = results_dir(&[0.001, 0.003]);
    let path = dir.path().to_str().expect("utf8").to_string();
    let out = dir.path().join("g.json");
    let a = args(&[&path, "--starts", "coarse", "--group-by", "lr", "--out", out.to_str().expect("utf8")]);
    let (report, written) = fit_report(&a).expect("fit");
    assert_eq!(written, out);
    let values: Vec<&str> = report.groups.iter().filter_map(|g| g.value.as_deref()).collect();
    assert_eq!(values, vec!["0.001", "0.003"]);
    assert!(render(&report).contains("Exponents side by side"));
    let bad = args(&[&path, "--group-by", "nope"]);
    assert!(is_input_error(&fit_report(&bad).expect_err("unknown key")));
}

fn csv_err(text: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("pts.csv");
    std::fs::write(&f, text).expect("write");
    let out = dir.path().join("fit.json");
    let mut list =
        vec!["--csv", f.to_str().expect("utf8"), "--out", out.to_str().expect("utf8"), "--starts", "coarse"];
    list.extend_from_slice(extra);
    let e = fit_report(&args(&list)).expect_err("should fail");
    assert!(is_input_error(&e), "not an input error: {e}");
    e.to_string()
}

#[test]
fn degenerate_csv_inputs_are_input_errors() {
    let same_d: String = std::iter::once("N,D,loss\n".to_string())
        .chain((0..8).map(|i| format!("{},1e9,{}\n", 1e5 * 2f64.powi(i), 3.0 - 0.1 * i as f64)))
        .collect();
    let m = csv_err(&same_d, &[]);
    assert!(m.contains("same D") && m.contains("β") && m.contains("fix:"), "{m}");
    let few = "N,D,loss\n1e5,1e8,3\n1e6,1e9,2.5\n1e7,1e8,2.4\n";
    assert!(csv_err(few, &[]).contains("5 parameters"));
    assert!(csv_err("", &[]).contains("empty file"));
    assert!(csv_err("N,D,loss\n1e5,1e8,NaN\n", &[]).contains("pts.csv:2"));
    assert!(csv_err("N,D,loss\n1e5,1e8,3\n", &["--flops", "exact"]).contains("no exact FLOP"));
}

#[test]
fn e_floor_flag_is_checked_recorded_and_holds() {
    let grid: String = std::iter::once("N,D,loss\n".to_string())
        .chain(
            [1e5, 4e5, 1.6e6, 6.4e6]
                .iter()
                .flat_map(|&n| [1e7, 4e7, 1.6e8, 6.4e8].map(|d| format!("{n},{d},{}\n", LAW.loss(n, d)))),
        )
        .collect();
    let m = csv_err(&grid, &["--e-floor", "runs"]);
    assert!(m.contains("--e-floor runs") && m.contains("fix:"), "{m}");
    let m = csv_err(&grid, &["--e-floor=-1"]);
    assert!(m.contains("not a positive number") && m.contains("fix:"), "{m}");
    // A floor above the law's E (1.7) holds the fitted E at or above it, and fit.json says so.
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("pts.csv");
    std::fs::write(&f, &grid).expect("write");
    let out = dir.path().join("fit.json");
    let list = [f.to_str().expect("utf8"), out.to_str().expect("utf8")];
    let a = args(&["--csv", list[0], "--out", list[1], "--starts", "coarse", "--e-floor", "1.75"]);
    let (rep, _) = fit_report(&a).expect("fit");
    assert_eq!(rep.conventions.e_floor, Some(1.75));
    let e = rep.groups[0].approach3.as_ref().expect("a3").law.e;
    assert!(e >= 1.75, "E {e}");
    assert!(render(&rep).contains("E bounded below by 1.75"), "{}", render(&rep));
    let back: FitReport = serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("parse");
    assert_eq!(back.conventions.e_floor, Some(1.75));
}

#[test]
fn csv_with_seed_replicates_reports_noise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("pts.csv");
    let mut text = String::from("N,D,loss,seed\n");
    for (i, n) in [1e5, 4e5, 1.6e6, 6.4e6, 2.56e7].iter().enumerate() {
        for (j, d) in [1e7, 4e7, 1.6e8, 6.4e8].iter().enumerate() {
            for s in 0..2 {
                let wobble = if (i + j + s) % 2 == 0 { 1.003 } else { 0.997 };
                text.push_str(&format!("{n},{d},{},{s}\n", LAW.loss(*n, *d) * wobble));
            }
        }
    }
    std::fs::write(&f, text).expect("write");
    let out = dir.path().join("fit.json");
    let a = args(&[
        "--csv",
        f.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
        "--starts",
        "coarse",
    ]);
    let (report, _) = fit_report(&a).expect("fit");
    let g = &report.groups[0];
    assert_eq!((g.runs, g.cells), (40, 20));
    let noise = g.seed_noise.as_ref().expect("replicates");
    assert_eq!(noise.cells.len(), 20);
    assert!(g.interval_note.contains("include seed noise"));
}

/// Issue #24: `fit DIR` never replaces a fit.json made with more (bootstrap, hold-out) by a
/// poorer one without being told to.
#[test]
fn a_poorer_fit_does_not_replace_a_richer_one() {
    let dir = results_dir(&[0.001]);
    let path = dir.path().to_str().expect("utf8").to_string();
    fit_report(&args(&[&path, "--starts", "coarse", "--bootstrap", "20", "--holdout-top", "2"]))
        .expect("fit");
    let fit_json = dir.path().join("fit.json");
    let before = std::fs::read(&fit_json).expect("fit.json");
    let e = fit_report(&args(&[&path, "--starts", "coarse"])).expect_err("poorer fit refused");
    assert!(is_input_error(&e), "{e:#}");
    let msg = e.to_string();
    assert!(
        msg.contains("--bootstrap 20") && msg.contains("--holdout-top 2") && msg.contains("--overwrite"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&fit_json).expect("fit.json"), before, "fit.json untouched");
    // The same flags, or a fit elsewhere, or --overwrite, go ahead.
    fit_report(&args(&[&path, "--starts", "coarse", "--bootstrap", "20", "--holdout-top", "2"]))
        .expect("same flags");
    let other = dir.path().join("plain.json");
    fit_report(&args(&[&path, "--starts", "coarse", "--out", other.to_str().expect("utf8")])).expect("--out");
    let (r, _) = fit_report(&args(&[&path, "--starts", "coarse", "--overwrite"])).expect("--overwrite");
    assert_eq!(r.conventions.bootstrap_reps, 0);
}

/// Renames the keys of every object in `v` with `f` (recursively).
fn rename_keys(v: &mut serde_json::Value, f: &dyn Fn(&str) -> Option<&'static str>) {
    match v {
        serde_json::Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let mut val = m.remove(&k).expect("key");
                rename_keys(&mut val, f);
                m.insert(f(&k).map(str::to_string).unwrap_or(k), val);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| rename_keys(x, f)),
        _ => {}
    }
}

/// Issue #18: schema 2 names the law's coefficients E, A, B (not e, a, b, which clashed with
/// the allocation exponent a) and the residual ln_predicted_minus_ln_observed; a schema-1
/// file (the old names) still reads, to the same report.
#[test]
fn schema_1_files_still_read() {
    let dir = results_dir(&[0.001]);
    let path = dir.path().to_str().expect("utf8").to_string();
    let (_, out) = fit_report(&args(&[&path, "--starts", "coarse"])).expect("fit");
    let text = std::fs::read_to_string(&out).expect("read");
    assert!(
        text.contains("\"A\"")
            && text.contains("ln_predicted_minus_ln_observed")
            && !text.contains("\"log_residual\"")
    );
    let new = read_report(&out).expect("schema 2");
    assert_eq!(new.schema_version, 2);
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    rename_keys(&mut v, &|k| match k {
        "E" => Some("e"),
        "A" => Some("a"),
        "B" => Some("b"),
        "ln_predicted_minus_ln_observed" => Some("log_residual"),
        _ => None,
    });
    v["schema_version"] = serde_json::json!(1);
    let old = dir.path().join("old.json");
    std::fs::write(&old, serde_json::to_string(&v).expect("json")).expect("write");
    let mut read = read_report(&old).expect("schema 1 reads");
    assert_eq!(read.schema_version, 1);
    read.schema_version = 2;
    assert_eq!(read, new);
}

/// Issue #19: a fit.json of another schema version is refused with the fix, not used silently.
#[test]
fn predict_refuses_another_schema_version() {
    let dir = results_dir(&[0.001]);
    let path = dir.path().to_str().expect("utf8").to_string();
    let (_, out) = fit_report(&args(&[&path, "--starts", "coarse"])).expect("fit");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
    v["schema_version"] = serde_json::json!(999);
    std::fs::write(&out, serde_json::to_string(&v).expect("json")).expect("write");
    let p = PredictRequest {
        fit_json: out,
        flops: Some(1e18),
        params: None,
        tokens: None,
        inference_tokens: None,
        group: None,
        json: false,
    };
    let e = run_predict(&p).expect_err("version 999");
    assert!(is_input_error(&e) && e.to_string().contains("schema_version 999"), "{e:#}");
}

/// Issue #19: a negative number is our one-line error with the fix, not clap's "unexpected
/// argument '-1'" (clap would read `-1` as a flag).
#[test]
fn a_negative_number_is_one_line_with_the_fix() {
    #[derive(Parser)]
    struct P {
        #[command(flatten)]
        p: PredictArgs,
    }
    let p = P::try_parse_from(["predict", "fit.json", "--flops", "-1"]).expect("-1 parses as a number").p;
    let e = run_predict(&p.request()).expect_err("negative");
    let msg = e.to_string();
    assert!(is_input_error(&e) && msg.contains("--flops -1") && msg.contains("fix:"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    let a = Cli::try_parse_from(["fit", "x", "--reference-flops", "-5"]).expect("parses").fit;
    let e = fit_report(&a.request()).expect_err("negative");
    assert!(is_input_error(&e) && e.to_string().contains("--reference-flops -5"), "{e:#}");
}
