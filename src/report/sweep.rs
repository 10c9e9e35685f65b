//! Facts about the sweep for report.md: grid, run counts, compute, wall time, hardware,
//! versions, corpus epochs, entropy floor and the per-size hyperparameter rules.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub use crate::results::Epochs;
use crate::results::{epochs_of, RunResult, RunStatus};

/// Spec keys of the per-size hyperparameter rules shown in the validity checklist.
/// `tuned` says where a `[tune]`d run's learning rate came from (best trial, or the fitted rule).
pub const HYPER_KEYS: [&str; 7] =
    ["learning_rate", "lr_rule", "lr_base_width", "warmup_steps", "batch_size", "beta2", "tuned"];

/// Runs repeating their corpus more than this many times are flagged.
pub const MAX_EPOCHS: f64 = 4.0;

/// Hyperparameters of one model size.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeRow {
    /// Total parameters.
    pub params_total: u64,
    /// Shape, `n_embd × n_layer` when recorded.
    pub shape: String,
    /// Runs of this size.
    pub runs: usize,
    /// Distinct values of each of [`HYPER_KEYS`] ("—" when absent).
    pub values: Vec<String>,
}

/// Everything report.md says about the sweep itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFacts {
    /// Sweep names found in the runs.
    pub sweeps: Vec<String>,
    /// All runs in `runs/`.
    pub runs: usize,
    /// Runs by status (`ok`, `diverged`, `failed`).
    pub by_status: BTreeMap<String, usize>,
    /// Spec keys whose value differs between runs, with their values.
    pub grid: Vec<(String, Vec<String>)>,
    /// Σ flops_6nd over all runs, FLOPs.
    pub flops_6nd: f64,
    /// Σ flops_exact over all runs, FLOPs.
    pub flops_exact: f64,
    /// Σ wall seconds over all runs, each shared WSD phase counted once ([`own_wall_seconds`]).
    pub wall_seconds: f64,
    /// `device, N thread(s)` → runs.
    pub devices: BTreeMap<String, usize>,
    /// Version key → values seen.
    pub versions: BTreeMap<String, BTreeSet<String>>,
    /// Corpus entropy floors recorded by the runs, nats/token (distinct values).
    pub entropy_floors: Vec<f64>,
    /// Epochs per run id.
    pub epochs: Vec<(String, Epochs)>,
    /// Hyperparameters per size.
    pub sizes: Vec<SizeRow>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// CPU model name from /proc/cpuinfo-style text (`model name`, or `Hardware`/`cpu model`).
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        matches!(k.trim(), "model name" | "Hardware" | "cpu model").then(|| v.trim().to_string())
    })
}

/// Collects the facts from every run (whatever its status).
pub fn sweep_facts(runs: &[RunResult]) -> SweepFacts {
    let mut by_status = BTreeMap::new();
    let mut devices = BTreeMap::new();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut floors: Vec<f64> = Vec::new();
    let mut manifests = BTreeMap::new();
    for r in runs {
        *by_status.entry(r.status.as_str().to_string()).or_insert(0) += 1;
        let t = if r.threads == 1 { "thread" } else { "threads" };
        *devices.entry(format!("{}, {} {t}", r.device, r.threads)).or_insert(0) += 1;
        for (k, v) in &r.versions {
            versions.entry(k.clone()).or_default().insert(v.clone());
        }
        for (k, v) in &r.spec {
            keys.entry(k.clone()).or_default().insert(value_text(v));
        }
        if let Some(f) = r.corpus_entropy_floor.filter(|f| f.is_finite()) {
            if !floors.iter().any(|x| (x - f).abs() < 1e-12) {
                floors.push(f);
            }
        }
    }
    // A key is a grid axis when it differs between runs (absent counts as a value).
    let grid = keys
        .into_iter()
        .filter_map(|(k, vals)| {
            let missing = runs.iter().any(|r| !r.spec.contains_key(&k));
            let mut vals: Vec<String> = vals.into_iter().collect();
            if missing {
                vals.push("—".into());
            }
            (vals.len() > 1).then(|| {
                vals.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y),
                    _ => a.cmp(b),
                });
                (k, vals)
            })
        })
        .collect();
    let mut sizes: BTreeMap<u64, Vec<&RunResult>> = BTreeMap::new();
    for r in runs {
        sizes.entry(r.params_total).or_default().push(r);
    }
    let sizes = sizes
        .into_iter()
        .map(|(n, rs)| {
            let distinct = |k: &str| {
                let set: BTreeSet<String> =
                    rs.iter().map(|r| r.spec.get(k).map_or("—".into(), value_text)).collect();
                set.into_iter().collect::<Vec<_>>().join(", ")
            };
            SizeRow {
                params_total: n,
                shape: format!("{} × {}", distinct("n_embd"), distinct("n_layer")),
                runs: rs.len(),
                values: HYPER_KEYS.iter().map(|k| distinct(k)).collect(),
            }
        })
        .collect();
    let mut sweeps: Vec<String> = runs.iter().map(|r| r.sweep.clone()).collect();
    sweeps.sort();
    sweeps.dedup();
    SweepFacts {
        sweeps,
        runs: runs.len(),
        by_status,
        grid,
        flops_6nd: runs.iter().map(|r| r.flops_6nd).sum(),
        flops_exact: runs.iter().map(|r| r.flops_exact).sum(),
        wall_seconds: runs.iter().map(own_wall_seconds).sum(),
        devices,
        versions,
        entropy_floors: floors,
        epochs: runs.iter().map(|r| (r.id.clone(), epochs_of(r, &mut manifests))).collect(),
        sizes,
    }
}

/// Wall seconds a run spent itself. A WSD branch resumes at its cooldown start s_c from the
/// checkpoint its group's longest run wrote there, and its `wall_seconds` carries that shared
/// phase's time too, which the longest run already counts (summing them double-counted it,
/// issue #24). Its own part is the cooldown's share of its S steps, wall · (S − s_c) / S (the
/// same shape runs at the same throughput). Any other run's time is all its own.
pub fn own_wall_seconds(r: &RunResult) -> f64 {
    let int = |k: &str| r.spec.get(k).and_then(Value::as_u64);
    let wsd = r.spec.get("schedule").and_then(Value::as_str) == Some("wsd");
    let (Some(total), Some(warmup), Some(f)) =
        (int("max_steps"), int("warmup_steps"), r.spec.get("cooldown_fraction").and_then(Value::as_f64))
    else {
        return r.wall_seconds;
    };
    let s_c = crate::config::spec::wsd_cooldown_start(total, warmup, f);
    if !wsd || r.resumed_from_step == 0 || r.resumed_from_step != s_c || total == 0 {
        return r.wall_seconds;
    }
    r.wall_seconds * (total - s_c) as f64 / total as f64
}

impl SweepFacts {
    /// Runs with status ok.
    pub fn ok(&self) -> usize {
        self.by_status.get(RunStatus::Ok.as_str()).copied().unwrap_or(0)
    }
    /// Runs over [`MAX_EPOCHS`] epochs, with their epochs.
    pub fn over_epochs(&self) -> Vec<(&str, f64)> {
        self.epochs
            .iter()
            .filter_map(|(id, e)| match e {
                Epochs::Known(x) if *x > MAX_EPOCHS => Some((id.as_str(), *x)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_is_read_from_cpuinfo() {
        let text =
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(cpu_model(text).as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn a_wsd_branch_counts_only_its_cooldown_wall_time() {
        let run = |resumed: u64| -> RunResult {
            let mut v =
                super::super::synth::run_json("x", 1000, 5000, Some(3.0), "ok", serde_json::json!({}));
            let spec = v["spec"].as_object_mut().expect("spec");
            spec.insert("schedule".into(), "wsd".into());
            spec.insert("max_steps".into(), 1000.into());
            spec.insert("warmup_steps".into(), 50.into());
            spec.insert("cooldown_fraction".into(), 0.2.into());
            v["resumed_from_step"] = resumed.into();
            v["wall_seconds"] = 100.0.into();
            serde_json::from_value(v).expect("run")
        };
        // Branched at s_c = 1000 − 200 = 800: 200 of its 1000 steps are its own.
        assert_eq!(own_wall_seconds(&run(800)), 20.0);
        // From scratch, or resumed after an interruption elsewhere: all its own.
        assert_eq!(own_wall_seconds(&run(0)), 100.0);
        assert_eq!(own_wall_seconds(&run(640)), 100.0);
        assert_eq!(sweep_facts(&[run(0), run(800)]).wall_seconds, 120.0);
    }

    #[test]
    fn prepared_corpus_epochs_come_from_the_manifest() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::write(t.path().join("manifest.json"), r#"{"train": {"tokens": 1000}}"#).expect("write");
        let path = t.path().display().to_string();
        let run: RunResult = serde_json::from_value(super::super::synth::run_json(
            "x",
            1000,
            5000,
            Some(3.0),
            "ok",
            serde_json::json!({"source": "prepared", "path": path}),
        ))
        .expect("run");
        let f = sweep_facts(std::slice::from_ref(&run));
        assert_eq!(f.epochs[0].1, Epochs::Known(5.0));
        assert_eq!(f.over_epochs(), vec![("x", 5.0)]);
        assert_eq!(f.ok(), 1);
    }

    /// runs.csv carries each run's epochs (issue #16): D / the manifest's training tokens for a
    /// prepared corpus, empty for the synthetic stream and where the manifest is missing.
    #[test]
    fn runs_csv_has_epochs_per_run() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::write(t.path().join("manifest.json"), r#"{"train": {"tokens": 2000}}"#).expect("write");
        let prepared = serde_json::json!({"source": "prepared", "path": t.path().display().to_string()});
        let gone =
            serde_json::json!({"source": "prepared", "path": t.path().join("gone").display().to_string()});
        let run = |id: &str, d: u64, corpus: serde_json::Value| -> RunResult {
            serde_json::from_value(super::super::synth::run_json(id, 1000, d, Some(3.0), "ok", corpus))
                .expect("run")
        };
        let runs = [
            run("a", 500, prepared),
            run("b", 500, serde_json::json!({"source": "synthetic"})),
            run("c", 500, gone),
        ];
        let csv = crate::results::runs_csv(&runs);
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let col = header.iter().position(|h| *h == "epochs").expect("epochs column");
        assert_eq!(header[col - 1], "tokens");
        let cells: Vec<String> = lines.map(|l| l.split(',').nth(col).expect("cell").to_string()).collect();
        assert_eq!(cells, ["0.25", "", ""]);
    }
}
