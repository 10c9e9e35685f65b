//! `--tensorboard DIR` (issue #18): a sweep writes one event-file folder per run, and
//! TensorBoard's own reader (`tests/tb_check.py`, Python `tensorboard`) reads back the same
//! values as `curves/ID.jsonl`.

mod common;

use std::process::Command;

use common::{rd, repo, run};

#[test]
fn tensorboard_events_match_the_curves() {
    let d = tempfile::tempdir().unwrap();
    let (res, tb) = (d.path().join("r"), d.path().join("tb"));
    let smoke = repo("configs/smoke.toml");
    let o = run(&[
        "sweep",
        smoke.to_str().unwrap(),
        "--set",
        &rd(&res),
        "--tensorboard",
        tb.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let folders: Vec<String> = std::fs::read_dir(&tb)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 8, "one folder per run: {folders:?}");
    assert!(folders.iter().all(|f| f.starts_with("32x") || f.starts_with("48x")), "{folders:?}");
    if !common::python_has("tensorboard, numpy", "the read-back of tensorboard_events_match_the_curves") {
        return;
    }
    let o = Command::new("python3")
        .arg(repo("tests/tb_check.py"))
        .args([tb.to_str().unwrap(), res.join("smoke").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tb_check.py: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(j["runs"], 8);
    assert!(j["points"].as_u64().unwrap() >= 8 * 10, "{j}");
}
