//! Result records and the results store, shared by train, sweep, fit and report.
//!
//! One file per run (`results/NAME/runs/ID.json`), written atomically (temp file + rename) and
//! never rewritten, so concurrent Slurm array tasks on a shared filesystem never collide and a
//! crash never leaves half a record. `runs.csv` is an aggregate regenerated from `runs/`.
//! This module depends on nothing but serde, so `fit` and `report` can read results without
//! candle.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Version of the [`RunResult`] schema; bump on any incompatible change (CHANGELOG.md).
pub const SCHEMA_VERSION: u32 = 1;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Trained to its last token; losses are valid.
    Ok,
    /// Loss became NaN/Inf or exceeded the divergence threshold; excluded from fits.
    Diverged,
    /// The process crashed, ran out of memory or hit an error; excluded from fits.
    Failed,
}

impl RunStatus {
    /// Lowercase name as written in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Diverged => "diverged",
            RunStatus::Failed => "failed",
        }
    }
}

/// One finished run: `results/NAME/runs/ID.json`.
///
/// Units: losses in nats per token on held-out tokens; FLOPs are training FLOPs for the whole
/// run (`flops_6nd` = 6·N_total·D, Chinchilla's C; `flops_exact` = forward+backward count with
/// attention scores and the LM head, see `model::count`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// [`SCHEMA_VERSION`] at write time.
    pub schema_version: u32,
    /// First 16 hex chars of sha256 of the canonical spec.
    pub id: String,
    /// Sweep name (the results folder name).
    pub sweep: String,
    /// Index of the run in the expanded grid, if it came from a sweep.
    pub index: Option<usize>,
    /// The resolved run spec, flat (n_embd, n_layer, n_head, block_size, vocab_size, tokens,
    /// batch_size, learning_rate, schedule, seed, corpus id, ...). Grid axes are keys here.
    pub spec: serde_json::Map<String, serde_json::Value>,
    /// All trainable parameters (Chinchilla's N), counting a tied embedding once.
    pub params_total: u64,
    /// Parameters without token and position embeddings (Kaplan's N).
    pub params_nonembedding: u64,
    /// Training tokens actually consumed (D).
    pub tokens: u64,
    /// 6 · params_total · tokens.
    pub flops_6nd: f64,
    /// Exact forward+backward training FLOPs (see `model::count::flops_per_token_exact`).
    pub flops_exact: f64,
    /// Mean training loss over the last steps (nats/token).
    pub final_train_loss: Option<f64>,
    /// Mean cross-entropy on the fixed final validation set (nats/token).
    pub final_val_loss: Option<f64>,
    /// `final_val_loss / ln 2 / bytes_per_token`: compares tokenizers.
    pub val_bits_per_byte: Option<f64>,
    /// Entropy floor of the corpus in nats/token when known (synthetic corpus).
    pub corpus_entropy_floor: Option<f64>,
    /// ok | diverged | failed.
    pub status: RunStatus,
    /// Why the run diverged or failed.
    pub reason: Option<String>,
    /// Wall time of the training itself, seconds (summed over resumed segments).
    pub wall_seconds: f64,
    /// Training tokens per second of wall time.
    pub tokens_per_second: f64,
    /// cpu | cuda:i
    pub device: String,
    /// Threads used by the CPU backend (RAYON_NUM_THREADS).
    pub threads: usize,
    /// Versions: scalinglab, candle, git commit if known.
    pub versions: BTreeMap<String, String>,
    /// Step this process started at: 0 from scratch, else resumed from a checkpoint (after an
    /// interruption, or a WSD branch handed over by the group's longest run).
    #[serde(default)]
    pub resumed_from_step: u64,
}

impl RunResult {
    /// N under a convention: `total` (Chinchilla) or `nonembedding` (Kaplan).
    pub fn params(&self, nonembedding: bool) -> u64 {
        if nonembedding {
            self.params_nonembedding
        } else {
            self.params_total
        }
    }
}

/// One evaluation point of a training curve: a line of `results/NAME/curves/ID.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurvePoint {
    /// Optimizer steps done.
    pub step: u64,
    /// Training tokens consumed so far.
    pub tokens: u64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Mean training loss since the previous point (nats/token).
    pub train_loss: f64,
    /// Loss on the fixed periodic-eval validation batches (nats/token).
    pub val_loss: Option<f64>,
    /// Training wall seconds so far.
    pub seconds: f64,
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ok();
    }
    fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// Layout of one sweep's results folder.
#[derive(Debug, Clone)]
pub struct ResultsDir {
    /// `results/NAME`
    pub root: PathBuf,
}

impl ResultsDir {
    /// Wraps a folder path (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ResultsDir { root: root.into() }
    }
    /// `runs/ID.json`
    pub fn run_path(&self, id: &str) -> PathBuf {
        self.root.join("runs").join(format!("{id}.json"))
    }
    /// `curves/ID.jsonl`
    pub fn curve_path(&self, id: &str) -> PathBuf {
        self.root.join("curves").join(format!("{id}.jsonl"))
    }
    /// `checkpoints/ID.safetensors` (the `.state.json` sits beside it).
    pub fn checkpoint_path(&self, id: &str) -> PathBuf {
        self.root.join("checkpoints").join(format!("{id}.safetensors"))
    }
    /// `models/ID.safetensors`: a finished run's final weights (issue #17).
    pub fn model_path(&self, id: &str) -> PathBuf {
        self.root.join("models").join(format!("{id}.safetensors"))
    }
    /// `locks/ID.lock`
    pub fn lock_path(&self, id: &str) -> PathBuf {
        self.root.join("locks").join(format!("{id}.lock"))
    }

    /// The finished result of run `id`, if any. A `runs/ID.json` that does not parse (a
    /// truncated write from another tool, a disk error) is neither done nor overwritten: it is
    /// moved aside to `runs/ID.json.corrupt-<unix time>`, named in a warning, and `None` is
    /// returned, so the run trains again.
    pub fn finished(&self, id: &str) -> Result<Option<RunResult>> {
        let path = self.run_path(id);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        match serde_json::from_str::<RunResult>(&text) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let aside = path.with_extension(format!("json.corrupt-{stamp}"));
                fs::rename(&path, &aside)
                    .with_context(|| format!("moving {} aside to {}", path.display(), aside.display()))?;
                eprintln!(
                    "warning: {} is not a run result ({e}); moved it to {} and the run trains again",
                    path.display(),
                    aside.display()
                );
                Ok(None)
            }
        }
    }

    /// Reads every `runs/*.json`, sorted by (index, id). A file that does not parse is an
    /// input error naming the file.
    pub fn load_runs(&self) -> Result<Vec<RunResult>> {
        let dir = self.root.join("runs");
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let r: RunResult = serde_json::from_str(&text).map_err(|e| {
                crate::error::input_err(format!(
                    "{}: not a scalinglab run result ({e}); fix: remove the file or restore it from the run",
                    path.display()
                ))
            })?;
            out.push(r);
        }
        out.sort_by(|a, b| (a.index, &a.id).cmp(&(b.index, &b.id)));
        Ok(out)
    }

    /// Reads `curves/ID.jsonl` (empty when missing).
    pub fn load_curve(&self, id: &str) -> Result<Vec<CurvePoint>> {
        let path = self.curve_path(id);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    crate::error::input_err(format!("{}:{}: bad curve line ({e})", path.display(), i + 1))
                })
            })
            .collect()
    }

    /// Regenerates `runs.csv` from `runs/*.json`: one row per run, stable columns, spec keys
    /// as `spec columns` after the fixed ones, empty cells for missing values.
    pub fn write_runs_csv(&self) -> Result<PathBuf> {
        let runs = self.load_runs()?;
        let path = self.root.join("runs.csv");
        write_atomic(&path, runs_csv(&runs).as_bytes())?;
        Ok(path)
    }
}

/// How often a run went through its training corpus (issue #16: recorded per run in runs.csv
/// and the report, since a repeated token is worth less than a fresh one).
#[derive(Debug, Clone, PartialEq)]
pub enum Epochs {
    /// A generated stream (the synthetic corpus): every token fresh.
    Fresh,
    /// D / training tokens of the prepared corpus (sampling is with replacement, so under one
    /// epoch some windows still repeat, as in nanoGPT).
    Known(f64),
    /// Not known, and why.
    Unknown(String),
}

impl Epochs {
    /// The epochs as a number, when known.
    pub fn known(&self) -> Option<f64> {
        match self {
            Epochs::Known(x) => Some(*x),
            _ => None,
        }
    }
}

/// Epochs of one run: a prepared corpus's training tokens are read from `PATH/manifest.json`
/// (`train.tokens`, cached in `manifests` by path), so runs recorded before the column existed
/// get it too.
pub fn epochs_of(r: &RunResult, manifests: &mut BTreeMap<String, Option<u64>>) -> Epochs {
    let corpus = r.spec.get("corpus");
    let source = corpus.and_then(|c| c.get("source")).and_then(serde_json::Value::as_str);
    match source {
        Some("synthetic") => Epochs::Fresh,
        Some("prepared") => {
            let Some(path) = corpus.and_then(|c| c.get("path")).and_then(serde_json::Value::as_str) else {
                return Epochs::Unknown("prepared corpus without a path in the spec".into());
            };
            let train = *manifests.entry(path.to_string()).or_insert_with(|| {
                let text = std::fs::read_to_string(Path::new(path).join("manifest.json")).ok()?;
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                v.get("train")?.get("tokens")?.as_u64()
            });
            match train {
                Some(t) if t > 0 => Epochs::Known(r.tokens as f64 / t as f64),
                _ => Epochs::Unknown(format!("{path}/manifest.json not readable here")),
            }
        }
        other => Epochs::Unknown(format!("corpus source {} not known", other.unwrap_or("missing"))),
    }
}

/// Renders runs as CSV (pandas-friendly: snake_case, units in names, empty for missing).
/// `epochs` is D over the prepared corpus's training tokens ([`epochs_of`]); empty for the
/// synthetic stream, whose tokens are all fresh, and where the manifest is not readable.
pub fn runs_csv(runs: &[RunResult]) -> String {
    let mut manifests = BTreeMap::new();
    let mut spec_keys: Vec<String> = runs.iter().flat_map(|r| r.spec.keys().cloned()).collect();
    spec_keys.sort();
    spec_keys.dedup();
    let fixed = [
        "id",
        "index",
        "status",
        "reason",
        "params_total",
        "params_nonembedding",
        "tokens",
        "epochs",
        "flops_6nd",
        "flops_exact",
        "final_train_loss",
        "final_val_loss",
        "val_bits_per_byte",
        "wall_seconds",
        "tokens_per_second",
        "threads",
        "device",
    ];
    let mut out = String::new();
    let header: Vec<String> = fixed
        .iter()
        .map(|s| s.to_string())
        .chain(spec_keys.iter().filter(|k| !fixed.contains(&k.as_str())).cloned())
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    for r in runs {
        let mut row = vec![
            r.id.clone(),
            r.index.map(|i| i.to_string()).unwrap_or_default(),
            r.status.as_str().to_string(),
            r.reason.as_deref().map(csv_escape).unwrap_or_default(),
            r.params_total.to_string(),
            r.params_nonembedding.to_string(),
            r.tokens.to_string(),
            opt(epochs_of(r, &mut manifests).known()),
            format!("{}", r.flops_6nd),
            format!("{}", r.flops_exact),
            opt(r.final_train_loss),
            opt(r.final_val_loss),
            opt(r.val_bits_per_byte),
            format!("{}", r.wall_seconds),
            format!("{}", r.tokens_per_second),
            r.threads.to_string(),
            r.device.clone(),
        ];
        for k in spec_keys.iter().filter(|k| !fixed.contains(&k.as_str())) {
            row.push(match r.spec.get(k) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => csv_escape(s),
                Some(v) => csv_escape(&v.to_string()),
            });
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
