//! Reading a results folder (`runs/*.json`, `curves/*.jsonl`) into fit points under the chosen
//! conventions.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::data::{Excluded, RunPoint};
use crate::error::input_err;
use crate::results::{ResultsDir, RunResult, RunStatus};

/// Which parameter count is N (recorded in fit.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamsConvention {
    /// All trainable parameters, `RunResult.params_total` (Hoffmann et al. 2022).
    Total,
    /// Without embeddings, `RunResult.params_nonembedding` (Kaplan et al. 2020).
    Nonembedding,
}

/// Which FLOP count is C (recorded in fit.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlopsConvention {
    /// C = 6·N_total·D, `RunResult.flops_6nd` (Kaplan et al. 2020; Hoffmann et al. 2022).
    #[serde(rename = "6nd")]
    SixNd,
    /// Exact forward+backward count, `RunResult.flops_exact`.
    Exact,
}

impl ParamsConvention {
    /// The name on the command line and in fit.json: `total` or `nonembedding`.
    pub fn name(self) -> &'static str {
        match self {
            ParamsConvention::Total => "total",
            ParamsConvention::Nonembedding => "nonembedding",
        }
    }
}

impl FlopsConvention {
    /// The name on the command line and in fit.json: `6nd` or `exact`.
    pub fn name(self) -> &'static str {
        match self {
            FlopsConvention::SixNd => "6nd",
            FlopsConvention::Exact => "exact",
        }
    }
}

/// One run's validation curve, for Approach 1.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCurve {
    /// Run id.
    pub id: String,
    /// Parameters N.
    pub n: f64,
    /// Training FLOPs per token under the convention (C / D of the whole run).
    pub flops_per_token: f64,
    /// LR schedule (`spec["schedule"]`), if recorded.
    pub schedule: Option<String>,
    /// (tokens so far, val loss) for every curve point with a finite positive val loss.
    pub points: Vec<(f64, f64)>,
    /// Group value (`--group-by`).
    pub group: Option<String>,
    /// Tokens after which the weights have seen a decayed LR ([`annealing_from`]); `None`
    /// when the LR never decays (constant) or the spec does not say.
    pub annealing_from: Option<f64>,
}

/// Everything read from a results folder.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Usable runs (status ok, finite positive final val loss).
    pub points: Vec<RunPoint>,
    /// Runs left out, with the reason.
    pub excluded: Vec<Excluded>,
    /// Validation curves of the usable runs (empty when `curves/` is missing).
    pub curves: Vec<RunCurve>,
    /// The largest corpus entropy floor the usable runs recorded (synthetic corpora), nats/token.
    pub entropy_floor: Option<f64>,
}

fn spec_string(r: &RunResult, key: &str) -> Option<String> {
    match r.spec.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

/// Tokens after which a run's weights have seen a decayed LR: a curve point at t tokens is
/// annealing when t > this. Cosine: the first update below the peak is step W + 1 (W =
/// `warmup_steps`; `train::schedule`), so W + 1 steps; WSD: the cooldown start s_c
/// (`config::spec::wsd_cooldown_start`), whose update is the first below the peak. `None` for
/// constant LR, an unknown schedule or a spec without `max_steps` (or, for WSD,
/// `cooldown_fraction`).
pub fn annealing_from(r: &RunResult) -> Option<f64> {
    let steps = r.spec.get("max_steps").and_then(|v| v.as_u64()).filter(|s| *s > 0)?;
    let warmup = r.spec.get("warmup_steps").and_then(|v| v.as_u64()).unwrap_or(0);
    let start = match spec_string(r, "schedule")?.as_str() {
        "cosine" => warmup + 1,
        "wsd" => {
            let f = r.spec.get("cooldown_fraction").and_then(|v| v.as_f64())?;
            crate::config::spec::wsd_cooldown_start(steps, warmup, f)
        }
        _ => return None,
    };
    Some(start as f64 * r.tokens as f64 / steps as f64)
}

/// Converts one run under the conventions; `Err(reason)` when it must be excluded.
pub fn run_point(
    r: &RunResult,
    params: ParamsConvention,
    flops: FlopsConvention,
    group_by: Option<&str>,
) -> std::result::Result<RunPoint, String> {
    if r.status != RunStatus::Ok {
        let why = r.reason.as_deref().unwrap_or("no reason recorded");
        return Err(format!("status {}: {why}", r.status.as_str()));
    }
    let loss = r.final_val_loss.ok_or("no final_val_loss")?;
    if !loss.is_finite() || loss <= 0.0 {
        return Err(format!("final_val_loss = {loss} is not a positive finite number"));
    }
    let n = r.params(params == ParamsConvention::Nonembedding) as f64;
    if n <= 0.0 || r.tokens == 0 {
        return Err(format!("params = {n}, tokens = {}: both must be positive", r.tokens));
    }
    let c = match flops {
        FlopsConvention::SixNd => r.flops_6nd,
        FlopsConvention::Exact => r.flops_exact,
    };
    if !c.is_finite() || c <= 0.0 {
        return Err(format!("FLOPs = {c} is not a positive finite number"));
    }
    let group = match group_by {
        Some(k) => Some(spec_string(r, k).ok_or_else(|| format!("spec has no key `{k}` (--group-by)"))?),
        None => None,
    };
    let flops_budget =
        r.spec.get("flops_budget").and_then(|v| v.as_f64()).filter(|v| v.is_finite() && *v > 0.0);
    Ok(RunPoint {
        id: r.id.clone(),
        n,
        d: r.tokens as f64,
        c,
        loss,
        seed: spec_string(r, "seed"),
        group,
        flops_budget,
        schedule: spec_string(r, "schedule"),
        run: None,
        unique_tokens: None,
    })
}

/// Spec keys that differ between the runs of one sweep by design: the size, budget and seed
/// axes and what follows from them (steps, warmup and eval spacing, the tuned LR and its note).
/// Any other key that differs means runs that do not belong in one fit.
const PER_RUN_KEYS: [&str; 12] = [
    "n_embd",
    "n_layer",
    "n_head",
    "tokens",
    "max_steps",
    "seed",
    "learning_rate",
    "warmup_steps",
    "eval_interval",
    "flops_budget",
    "tokens_per_param",
    "tuned",
];

/// The settings (spec keys outside [`PER_RUN_KEYS`] and the `--group-by` key) on which the
/// usable runs disagree, each with its values and how many runs have each, within each group.
pub fn mixed_settings(runs: &[&RunResult], group_by: Option<&str>) -> Vec<(String, Vec<(String, usize)>)> {
    let mut groups: BTreeMap<Option<String>, Vec<&RunResult>> = BTreeMap::new();
    for r in runs {
        groups.entry(group_by.and_then(|k| spec_string(r, k))).or_default().push(r);
    }
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for members in groups.values() {
        let keys: std::collections::BTreeSet<&String> = members.iter().flat_map(|r| r.spec.keys()).collect();
        for k in keys {
            if PER_RUN_KEYS.contains(&k.as_str()) || Some(k.as_str()) == group_by {
                continue;
            }
            let mut vals: BTreeMap<String, usize> = BTreeMap::new();
            for r in members {
                let v = r.spec.get(k).map(|v| v.to_string()).unwrap_or_else(|| "(missing)".into());
                *vals.entry(v).or_default() += 1;
            }
            if vals.len() > 1 {
                let e = out.entry(k.clone()).or_default();
                for (v, n) in vals {
                    *e.entry(v).or_default() += n;
                }
            }
        }
    }
    out.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect()
}

/// The input error for runs that would be pooled across differing settings.
fn mixed_error(dir: &Path, mixed: &[(String, Vec<(String, usize)>)]) -> anyhow::Error {
    let shorten = |v: &str| {
        if v.chars().count() > 60 {
            format!("{}…", v.chars().take(60).collect::<String>())
        } else {
            v.to_string()
        }
    };
    let lines: Vec<String> = mixed
        .iter()
        .map(|(k, vals)| {
            let vs: Vec<String> = vals.iter().map(|(v, n)| format!("{} ({n} runs)", shorten(v))).collect();
            format!("  {k}: {}", vs.join(", "))
        })
        .collect();
    let first = &mixed[0].0;
    input_err(format!(
        "{}: the runs differ in settings that are not grid axes, so one fit would pool runs that do not belong \
         together:\n{}\nfix: fit each setting separately with --group-by {first}, move the runs that do not belong \
         to their own results folder, or pass --allow-mixed to pool them anyway (recorded in fit.json)",
        dir.display(),
        lines.join("\n")
    ))
}

/// Loads `dir/runs/*.json` (and curves) under the conventions. Runs whose settings differ in
/// anything but the per-run keys (sizes, budgets, seeds, tuned LR) are an input error naming
/// the keys, unless `allow_mixed`; with `group_by` only runs of one group must agree.
pub fn load_results(
    dir: &Path,
    params: ParamsConvention,
    flops: FlopsConvention,
    group_by: Option<&str>,
    allow_mixed: bool,
) -> Result<Loaded> {
    if !dir.is_dir() {
        return Err(input_err(format!(
            "{}: not a folder; fix: pass a sweep's results folder (with runs/*.json) or use --csv FILE",
            dir.display()
        )));
    }
    let rd = ResultsDir::new(dir);
    let runs = rd.load_runs()?;
    if runs.is_empty() {
        return Err(input_err(format!(
            "{}: no run results in runs/*.json; fix: run the sweep first, or pass --csv FILE",
            dir.display()
        )));
    }
    if let Some(k) = group_by {
        if !runs.iter().any(|r| r.spec.contains_key(k)) {
            let keys: std::collections::BTreeSet<&String> = runs.iter().flat_map(|r| r.spec.keys()).collect();
            let keys: Vec<&str> = keys.into_iter().map(|s| s.as_str()).collect();
            return Err(input_err(format!(
                "--group-by {k}: no run's spec has key `{k}`; fix: use one of: {}",
                keys.join(", ")
            )));
        }
    }
    let mut out = Loaded::default();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for r in &runs {
        match run_point(r, params, flops, group_by) {
            Ok(p) => {
                by_id.insert(p.id.clone(), out.points.len());
                out.points.push(p);
            }
            Err(reason) => out.excluded.push(Excluded { id: r.id.clone(), reason }),
        }
    }
    if !allow_mixed {
        let used: Vec<&RunResult> = runs.iter().filter(|r| by_id.contains_key(&r.id)).collect();
        let mixed = mixed_settings(&used, group_by);
        if !mixed.is_empty() {
            return Err(mixed_error(dir, &mixed));
        }
    }
    out.entropy_floor = runs
        .iter()
        .filter(|r| out.points.iter().any(|p| p.id == r.id))
        .filter_map(|r| r.corpus_entropy_floor)
        .reduce(f64::max);
    let by_run: BTreeMap<&str, &RunResult> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    for p in &out.points {
        let curve = rd.load_curve(&p.id)?;
        let pts: Vec<(f64, f64)> = curve
            .iter()
            .filter_map(|c| c.val_loss.filter(|v| v.is_finite() && *v > 0.0).map(|v| (c.tokens as f64, v)))
            .filter(|(t, _)| *t > 0.0)
            .collect();
        if !pts.is_empty() {
            out.curves.push(RunCurve {
                id: p.id.clone(),
                n: p.n,
                flops_per_token: p.c / p.d,
                schedule: p.schedule.clone(),
                points: pts,
                group: p.group.clone(),
                annealing_from: by_run.get(p.id.as_str()).and_then(|r| annealing_from(r)),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A RunResult for tests (status ok, seed/schedule in the spec).
    pub(crate) fn run(id: &str, n: u64, d: u64, loss: Option<f64>, status: RunStatus) -> RunResult {
        let mut spec = serde_json::Map::new();
        spec.insert("seed".into(), serde_json::json!(1));
        spec.insert("schedule".into(), serde_json::json!("cosine"));
        spec.insert("lr".into(), serde_json::json!(if n > 1_000_000 { 0.001 } else { 0.002 }));
        RunResult {
            schema_version: crate::results::SCHEMA_VERSION,
            id: id.into(),
            sweep: "t".into(),
            index: None,
            spec,
            params_total: n,
            params_nonembedding: n / 2,
            tokens: d,
            flops_6nd: 6.0 * n as f64 * d as f64,
            flops_exact: 7.0 * n as f64 * d as f64,
            final_train_loss: loss,
            final_val_loss: loss,
            val_bits_per_byte: None,
            corpus_entropy_floor: None,
            status,
            reason: (status != RunStatus::Ok).then(|| "loss NaN at step 10".into()),
            wall_seconds: 1.0,
            tokens_per_second: 1.0,
            device: "cpu".into(),
            threads: 1,
            versions: Default::default(),
            resumed_from_step: 0,
        }
    }

    #[test]
    fn conventions_and_exclusions() {
        let ok = run("a", 2_000_000, 10_000_000, Some(3.0), RunStatus::Ok);
        let p =
            run_point(&ok, ParamsConvention::Nonembedding, FlopsConvention::Exact, Some("lr")).expect("ok");
        assert_eq!((p.n, p.d, p.c), (1_000_000.0, 1e7, 7.0 * 2e6 * 1e7));
        assert_eq!(p.group.as_deref(), Some("0.001"));
        assert_eq!(p.schedule.as_deref(), Some("cosine"));
        let bad = run("b", 2, 3, Some(3.0), RunStatus::Diverged);
        assert!(run_point(&bad, ParamsConvention::Total, FlopsConvention::SixNd, None)
            .unwrap_err()
            .contains("diverged"));
        let no_loss = run("c", 2, 3, None, RunStatus::Ok);
        assert!(run_point(&no_loss, ParamsConvention::Total, FlopsConvention::SixNd, None).is_err());
        let nan = run("d", 2, 3, Some(f64::NAN), RunStatus::Ok);
        assert!(run_point(&nan, ParamsConvention::Total, FlopsConvention::SixNd, None).is_err());
        assert!(run_point(&ok, ParamsConvention::Total, FlopsConvention::SixNd, Some("nope")).is_err());
    }

    /// Cosine anneals from step W + 1, WSD from its cooldown start; constant never (issue #21).
    #[test]
    fn annealing_starts_where_the_lr_first_decays() {
        let mut r = run("a", 1000, 100 * 1024, Some(3.0), RunStatus::Ok);
        r.spec.insert("cooldown_fraction".into(), serde_json::json!(0.2));
        r.spec.insert("max_steps".into(), serde_json::json!(100));
        r.spec.insert("warmup_steps".into(), serde_json::json!(10));
        assert_eq!(annealing_from(&r), Some(11.0 * 1024.0), "cosine: after step W + 1");
        r.spec.insert("schedule".into(), serde_json::json!("wsd"));
        assert_eq!(annealing_from(&r), Some(80.0 * 1024.0), "wsd: after s_c = 100 − 20");
        r.spec.insert("schedule".into(), serde_json::json!("constant"));
        assert_eq!(annealing_from(&r), None);
        r.spec.insert("schedule".into(), serde_json::json!("wsd"));
        r.spec.remove("cooldown_fraction");
        assert_eq!(annealing_from(&r), None, "no cooldown_fraction: unknown");
    }

    #[test]
    fn missing_or_empty_dir_is_an_input_error() {
        let t = tempfile::tempdir().expect("tempdir");
        let e = load_results(t.path(), ParamsConvention::Total, FlopsConvention::SixNd, None, false)
            .expect_err("empty");
        assert!(crate::error::is_input_error(&e), "{e}");
        let e =
            load_results(&t.path().join("x"), ParamsConvention::Total, FlopsConvention::SixNd, None, false)
                .expect_err("missing");
        assert!(crate::error::is_input_error(&e));
    }
}
