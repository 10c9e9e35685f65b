//! Helpers shared by the integration tests: run the real binary, read its results.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The scalinglab binary cargo built for these tests.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scalinglab"));
    c.current_dir(env!("CARGO_MANIFEST_DIR")).env("RAYON_NUM_THREADS", "1").env("RUST_BACKTRACE", "0");
    c
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

/// Path inside the repository.
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// `results_dir=<dir>` override.
pub fn rd(dir: &Path) -> String {
    format!("results_dir={}", dir.display())
}

/// All run results of a results folder, as JSON, sorted by id.
pub fn results(dir: &Path) -> Vec<serde_json::Value> {
    let mut v: Vec<serde_json::Value> = std::fs::read_dir(dir.join("runs"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    v
}

/// (id, final_val_loss bits, final_train_loss bits) of every run.
pub fn losses(dir: &Path) -> Vec<(String, u64, u64)> {
    results(dir)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["final_val_loss"].as_f64().unwrap().to_bits(),
                r["final_train_loss"].as_f64().unwrap().to_bits(),
            )
        })
        .collect()
}

/// Asserts a command failed with exit code 2, one error line naming `needle`, and no panic.
pub fn assert_input_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "expected exit 2, stderr: {err}");
    assert!(err.contains(needle), "stderr should name {needle:?}: {err}");
    assert!(!err.contains("panicked") && !err.contains("stack backtrace"), "{err}");
    let error_lines = err.lines().filter(|l| l.starts_with("Error:")).count();
    assert_eq!(error_lines, 1, "{err}");
}

/// True when `python3 -c "import MODULES"` works. Otherwise `what` is skipped loudly (stderr,
/// past libtest's capture), or, under `CI=true`, the test fails: CI installs them (`.ci/run`).
pub fn python_has(modules: &str, what: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = format!(
            "Python `{modules}` is not installed (pip install {}; .ci/run installs it)",
            modules.replace(',', "")
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{what} needs {why}");
        }
        eprintln!("SKIPPED {what}: {why}");
    }
    ok
}
