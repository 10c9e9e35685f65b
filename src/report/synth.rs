//! Synthetic results folders from a known law, for tests, demos and timing the report without
//! training anything: `runs/ID.json` and `curves/ID.jsonl` exactly as a sweep writes them.

use std::path::Path;

use anyhow::Result;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::fit::input::synth::{log_grid, normal};
use crate::fit::law::ChinchillaLaw;
use crate::results::{write_atomic, write_json_atomic, ResultsDir, RunResult};

/// Embedding parameters of every synthetic model (so the non-embedding share varies with N).
pub const EMBEDDING_PARAMS: u64 = 20_000;

/// A grid of synthetic runs.
#[derive(Debug, Clone)]
pub struct SynthSweep {
    /// The true law (N = total parameters, C = 6ND).
    pub law: ChinchillaLaw,
    /// Model sizes, total parameters.
    pub ns: Vec<f64>,
    /// Token budgets.
    pub ds: Vec<f64>,
    /// Seeds per cell.
    pub seeds: usize,
    /// Relative loss noise (1 + noise·ε).
    pub noise: f64,
    /// Extra runs with status `diverged`.
    pub diverged: usize,
    /// RNG seed.
    pub seed: u64,
}

impl SynthSweep {
    /// 5 sizes × 6 token budgets = 30 runs on a doubling lattice (so 6ND falls on shared
    /// IsoFLOP budgets), one seed, 0.5% noise, one diverged run.
    pub fn thirty() -> SynthSweep {
        let law = ChinchillaLaw {
            e: 1.8,
            a: 0.9 * 4e5f64.powf(0.34),
            b: 0.9 * 1.1e7f64.powf(0.3),
            alpha: 0.34,
            beta: 0.3,
        };
        SynthSweep {
            law,
            ns: log_grid(1e5, 1.6e6, 5),
            ds: log_grid(2e6, 6.4e7, 6),
            seeds: 1,
            noise: 0.005,
            diverged: 1,
            seed: 7,
        }
    }
}

/// A complete `RunResult` as JSON (readable by every schema version that defaults new fields).
pub fn run_json(id: &str, n: u64, d: u64, loss: Option<f64>, status: &str, corpus: Value) -> Value {
    let width = ((n as f64 / 12.0).sqrt().round() as u64).max(8);
    json!({
        "schema_version": crate::results::SCHEMA_VERSION,
        "id": id,
        "sweep": "synth",
        "index": null,
        "spec": {
            "n_embd": width, "n_layer": 1, "tokens": d, "seed": 0, "schedule": "constant",
            "learning_rate": 0.003, "lr_rule": "sqrt", "lr_base_width": 32, "warmup_steps": 10,
            "batch_size": 16, "beta2": 0.95, "corpus": corpus,
        },
        "params_total": n,
        "params_nonembedding": n.saturating_sub(EMBEDDING_PARAMS).max(1),
        "tokens": d,
        "flops_6nd": 6.0 * n as f64 * d as f64,
        "flops_exact": 6.6 * n as f64 * d as f64,
        "final_train_loss": loss,
        "final_val_loss": loss,
        "val_bits_per_byte": null,
        "corpus_entropy_floor": 1.75,
        "status": status,
        "reason": if status == "ok" { Value::Null } else { json!("loss NaN at step 10") },
        "wall_seconds": 2.5,
        "tokens_per_second": d as f64 / 2.5,
        "device": "cpu",
        "threads": 1,
        "versions": {"scalinglab": "0.1.0", "candle": "0.11.1"},
    })
}

/// Writes the sweep into `dir` (runs and curves) and returns the runs.
pub fn write_results(dir: &Path, s: &SynthSweep) -> Result<Vec<RunResult>> {
    let store = ResultsDir::new(dir);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let mut out = Vec::new();
    let corpus = json!({"source": "synthetic", "seed": 0, "options": {}});
    for (i, &n) in s.ns.iter().enumerate() {
        for (j, &d) in s.ds.iter().enumerate() {
            for k in 0..s.seeds {
                let id = format!("n{i}d{j}s{k}");
                let (n, d) = (n.round() as u64, d.round() as u64);
                let mut curve = String::new();
                let mut loss = 0.0;
                for t in log_grid(d as f64 / 30.0, d as f64, 12) {
                    loss = s.law.loss(n as f64, t) * (1.0 + s.noise * normal(&mut rng));
                    let line = json!({"step": (t / 512.0).round() as u64, "tokens": t.round() as u64, "lr": 0.003,
                        "train_loss": loss * 1.01, "val_loss": loss, "seconds": t / 4e5});
                    curve.push_str(&line.to_string());
                    curve.push('\n');
                }
                let mut v = run_json(&id, n, d, Some(loss), "ok", corpus.clone());
                v["spec"]["seed"] = json!(k);
                v["index"] = json!(out.len());
                let r: RunResult = serde_json::from_value(v)?;
                write_json_atomic(&store.run_path(&id), &r)?;
                write_atomic(&store.curve_path(&id), curve.as_bytes())?;
                out.push(r);
            }
        }
    }
    for k in 0..s.diverged {
        let id = format!("div{k}");
        let mut v =
            run_json(&id, s.ns[0].round() as u64, s.ds[0].round() as u64, None, "diverged", corpus.clone());
        v["index"] = json!(out.len());
        let r: RunResult = serde_json::from_value(v)?;
        write_json_atomic(&store.run_path(&id), &r)?;
        out.push(r);
    }
    Ok(out)
}
