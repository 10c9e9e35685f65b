//! Validated, resolved specs (ripgrep's "high args"): a [`RunSpec`] is everything that
//! determines a run's numbers, in canonical form; its id is a hash of that form.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::raw::RawConfig;
use crate::error::input_err;
use crate::input_bail;
use crate::model::{GptConfig, InitScheme};

/// A config file read from disk, with `--set` overrides applied.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it came from (named in every error).
    pub path: PathBuf,
    /// The merged TOML (file + overrides), before grid axes.
    pub table: toml::Table,
    /// The typed view of `table`.
    pub raw: RawConfig,
}

/// Sections a bare key (`n_embd=128`, a grid axis `learning_rate`) can belong to.
const SECTIONS: [&str; 3] = ["model", "train", "corpus"];

/// Reads `path`, applies `sets` (`key=value`, key dotted or bare), validates the schema.
pub fn load_config(path: &Path, sets: &[String]) -> Result<LoadedConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        input_err(format!("{}: cannot read config ({e}); fix: check the path", path.display()))
    })?;
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        input_err(format!("{}: malformed TOML: {}", path.display(), one_line(&e.to_string())))
    })?;
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            input_err(format!("--set {s}: expected key=value, e.g. --set train.learning_rate=1e-3"))
        })?;
        set_key(&mut table, k.trim(), parse_value(v.trim()), &format!("--set {s}"))?;
    }
    let raw = typed(&table, path)?;
    // Results go to <results_dir>/<name>: a name with a separator or `..` would write
    // outside it, an empty one straight into it.
    let n = raw.name.as_str();
    if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\']) {
        return Err(input_err(format!(
            "{}: name = {n:?} must be one folder name (no `/`, not empty, `.` or `..`): results go to \
             <results_dir>/<name>; fix: e.g. name = \"my-sweep\"",
            path.display()
        )));
    }
    Ok(LoadedConfig { path: path.to_path_buf(), table, raw })
}

/// Deserialises the merged table, naming the file on error.
pub fn typed(table: &toml::Table, path: &Path) -> Result<RawConfig> {
    RawConfig::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        input_err(format!(
            "{}: {}; fix: correct or remove that key (README, \"Config reference\")",
            path.display(),
            one_line(e.message())
        ))
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses a CLI value as TOML (`1e-3`, `true`, `"x"`, `[1,2]`), else as a bare string.
pub fn parse_value(v: &str) -> toml::Value {
    format!("x = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

/// Sets `key` (dotted like `train.seed`, or bare like `seed`) in the table. A bare key is
/// looked up among the known fields of [model], [train] and [corpus].
pub fn set_key(table: &mut toml::Table, key: &str, value: toml::Value, origin: &str) -> Result<()> {
    let path: Vec<String> = match key.split_once('.') {
        Some(_) => key.split('.').map(str::to_string).collect(),
        None if key == "name" || key == "results_dir" => vec![key.to_string()],
        None => {
            let owner = SECTIONS.iter().find(|s| section_fields(s).iter().any(|f| f == key));
            match owner {
                Some(s) => vec![s.to_string(), key.to_string()],
                None => input_bail!(
                    "{origin}: unknown key `{key}`; fix: use one of the [model], [train] or [corpus] keys \
                     (README, \"Config reference\"), or a dotted key like train.learning_rate"
                ),
            }
        }
    };
    let mut cur = table;
    for p in &path[..path.len() - 1] {
        let entry = cur.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| input_err(format!("{origin}: `{p}` is not a table")))?;
    }
    cur.insert(path[path.len() - 1].clone(), value);
    Ok(())
}

/// Field names of a section, from its defaults.
fn section_fields(section: &str) -> Vec<String> {
    use super::raw::{RawCorpus, RawModel, RawTrain};
    let v = match section {
        "model" => toml::Value::try_from(RawModel::default()),
        "train" => toml::Value::try_from(RawTrain::default()),
        _ => toml::Value::try_from(RawCorpus::default()),
    };
    let mut keys: Vec<String> =
        v.ok().and_then(|v| v.as_table().map(|t| t.keys().cloned().collect())).unwrap_or_default();
    if section == "corpus" {
        keys.extend(["path".to_string(), "synthetic".to_string()]);
    }
    keys
}

/// Where a run's tokens come from, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum CorpusSpec {
    /// The embedded generator: world seed and its options (`corpus::synthetic`).
    Synthetic {
        /// World seed.
        seed: u64,
        /// Generator options as given (defaults filled by the generator).
        options: serde_json::Value,
    },
    /// A folder written by `corpus prepare`.
    Prepared {
        /// Folder path as given.
        path: String,
    },
}

/// LR schedule shape (pure functions in `train::schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Linear warmup, then cosine to `min_lr_fraction` exactly at the last step.
    Cosine,
    /// Warmup, stable at the peak, then a (1−√) cooldown over `cooldown_fraction` of the run.
    Wsd,
    /// Warmup, then constant.
    Constant,
}

/// First cooldown step of a WSD run of `total` steps, s_c = S − round(f·S), at least one
/// cooldown step and not before the end of warmup. Here (not in `train::schedule`) because
/// the report also needs it, to count a WSD branch's shared phase once (issue #24).
pub fn wsd_cooldown_start(total: u64, warmup: u64, cooldown_fraction: f64) -> u64 {
    let k = ((cooldown_fraction * total as f64).round() as u64).clamp(1, total);
    (total - k).max(warmup.min(total.saturating_sub(1)))
}

/// Everything that determines a run's numbers, resolved and validated. Serialised with
/// sorted keys, its sha256 gives the run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Model shape (vocab_size from the corpus).
    #[serde(flatten)]
    pub model: GptConfig,
    /// Corpus.
    pub corpus: CorpusSpec,
    /// Corpus content id (manifest id or generator hash), so a changed corpus changes the id.
    pub corpus_id: String,
    /// Optimizer steps.
    pub max_steps: u64,
    /// Training tokens D = max_steps · batch_size · block_size.
    pub tokens: u64,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak LR after the width rule.
    pub learning_rate: f64,
    /// The rule that produced it ("none", "sqrt", "inverse") and its base width.
    pub lr_rule: String,
    /// Base width of the LR rule.
    pub lr_base_width: usize,
    /// Schedule.
    pub schedule: ScheduleKind,
    /// Final LR / peak.
    pub min_lr_fraction: f64,
    /// Warmup steps.
    pub warmup_steps: u64,
    /// WSD cooldown fraction.
    pub cooldown_fraction: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Global-norm clip (0 = off).
    pub grad_clip: f64,
    /// Init and data seed.
    pub seed: u64,
    /// Periodic eval interval in steps.
    pub eval_interval: u64,
    /// Periodic eval sequences.
    pub eval_sequences: usize,
    /// Final eval sequences.
    pub final_eval_sequences: usize,
    /// Divergence threshold as a multiple of ln(vocab_size).
    pub divergence_factor: f64,
    /// IsoFLOP grids: the compute budget C this run belongs to (D = C / (6·N_total)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops_budget: Option<f64>,
    /// Grids by tokens per parameter: the ratio D / N this run was sized by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_param: Option<f64>,
    /// Where a `[tune]`d grid run's learning rate (and other tuned keys) came from, e.g.
    /// "tune: best of 4 learning rates at 5e5 tokens" (logged in every result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned: Option<String>,
}

impl RunSpec {
    /// First 16 hex chars of sha256 of the canonical JSON (sorted keys).
    pub fn id(&self) -> String {
        let canon = self.canonical_json();
        let h = Sha256::digest(canon.as_bytes());
        h.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The spec as JSON with sorted keys (serde_json's map is ordered).
    pub fn canonical_json(&self) -> String {
        let v = serde_json::to_value(self).expect("RunSpec serialises");
        v.to_string()
    }

    /// The spec as a flat JSON object (for `RunResult::spec`).
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self).expect("RunSpec serialises") {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("a struct serialises to an object"),
        }
    }
}

/// Options that change how a run is executed but not its numbers (not part of the id).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Checkpoint every this many steps (0 = only by time).
    pub checkpoint_interval: u64,
    /// Checkpoint every this many seconds (0 = only by steps).
    pub checkpoint_seconds: f64,
    /// Keep the final weights in `models/ID.safetensors` (`train.keep_model = "final"`).
    pub keep_model: bool,
    /// TensorBoard event files under this folder (`train.tensorboard`).
    pub tensorboard: Option<PathBuf>,
}

/// What the corpus tells the spec: its vocabulary and content id.
#[derive(Debug, Clone)]
pub struct CorpusMeta {
    /// Vocabulary size of the token ids.
    pub vocab_size: usize,
    /// Content id.
    pub id: String,
    /// Training tokens available (None: an unbounded generated stream).
    pub train_tokens: Option<u64>,
}

/// Builds the corpus spec of a raw config (no data is read).
pub fn corpus_spec(raw: &RawConfig, path: &Path) -> Result<CorpusSpec> {
    match raw.corpus.source.as_str() {
        "synthetic" => Ok(CorpusSpec::Synthetic {
            seed: raw.corpus.seed,
            options: serde_json::to_value(raw.corpus.synthetic.clone().unwrap_or_default())
                .context("synthetic options")?,
        }),
        "prepared" => match &raw.corpus.path {
            Some(p) => Ok(CorpusSpec::Prepared { path: p.clone() }),
            None => input_bail!(
                "{}: [corpus] source = \"prepared\" needs `path`; fix: set corpus.path to a folder \
                 written by `scalinglab corpus prepare`",
                path.display()
            ),
        },
        other => input_bail!(
            "{}: [corpus] source = \"{other}\" is unknown; fix: use \"synthetic\" or \"prepared\"",
            path.display()
        ),
    }
}

/// Resolves and validates one run from a typed config and its corpus metadata.
pub fn resolve_run(raw: &RawConfig, path: &Path, corpus: &CorpusMeta) -> Result<RunSpec> {
    let f = path.display();
    let m = &raw.model;
    let t = &raw.train;
    let pos = |sec: &str, k: &str, v: i64| -> Result<usize> {
        if v <= 0 {
            input_bail!("{f}: [{sec}] {k} = {v} must be positive; fix: set {sec}.{k} to at least 1");
        }
        Ok(v as usize)
    };
    let n_embd = pos("model", "n_embd", m.n_embd)?;
    let n_layer = pos("model", "n_layer", m.n_layer)?;
    let block_size = pos("model", "block_size", m.block_size)?;
    let n_head = if m.n_head == 0 {
        let hd = pos("model", "head_dim", m.head_dim)?;
        if n_embd % hd != 0 {
            input_bail!("{f}: [model] head_dim = {hd} does not divide n_embd = {n_embd}; fix: set model.n_head or a head_dim that divides n_embd");
        }
        n_embd / hd
    } else {
        pos("model", "n_head", m.n_head)?
    };
    let model = GptConfig {
        vocab_size: corpus.vocab_size,
        block_size,
        n_layer,
        n_head,
        n_embd,
        tie_embeddings: m.tie_embeddings,
        bias: m.bias,
        init: InitScheme::parse(&m.init).ok_or_else(|| {
            input_err(format!(
                "{f}: [model] init = \"{}\" is not a known initialisation; fix: use {}",
                m.init,
                InitScheme::NAMES
            ))
        })?,
    };
    model.validate().map_err(|e| input_err(format!("{f}: [model] {e}")))?;
    let batch_size = pos("train", "batch_size", t.batch_size)?;
    let per_step = (batch_size * block_size) as f64;
    if !(t.tokens.is_finite() && t.tokens > 0.0) {
        input_bail!("{f}: [train] tokens = {} must be positive; fix: set train.tokens, e.g. 1e6", t.tokens);
    }
    if t.tokens < per_step {
        input_bail!(
            "{f}: [train] tokens = {} is below one batch ({batch_size} sequences × {block_size} tokens = {per_step}); \
             fix: raise train.tokens or lower train.batch_size",
            t.tokens
        );
    }
    let max_steps = (t.tokens / per_step).round().max(1.0) as u64;
    let positive_f =
        [("learning_rate", t.learning_rate), ("divergence_factor", t.divergence_factor), ("eps", t.eps)];
    for (k, v) in positive_f {
        if !(v.is_finite() && v > 0.0) {
            input_bail!("{f}: [train] {k} = {v} must be positive; fix: set train.{k} to a positive number");
        }
    }
    for (k, v) in [("beta1", t.beta1), ("beta2", t.beta2), ("min_lr_fraction", t.min_lr_fraction)] {
        let ok = (0.0..1.0).contains(&v) || (k == "min_lr_fraction" && v == 1.0);
        if !ok {
            input_bail!("{f}: [train] {k} = {v} must be in [0, 1); fix: e.g. beta1 = 0.9, beta2 = 0.95, min_lr_fraction = 0.1");
        }
    }
    for (k, v) in [("weight_decay", t.weight_decay), ("grad_clip", t.grad_clip)] {
        if !(v.is_finite() && v >= 0.0) {
            input_bail!("{f}: [train] {k} = {v} must be ≥ 0; fix: set train.{k} to 0 or more");
        }
    }
    if !(t.cooldown_fraction > 0.0 && t.cooldown_fraction <= 1.0) {
        input_bail!(
            "{f}: [train] cooldown_fraction = {} must be in (0, 1]; fix: e.g. 0.2",
            t.cooldown_fraction
        );
    }
    let schedule = match t.schedule.as_str() {
        "cosine" => ScheduleKind::Cosine,
        "wsd" => ScheduleKind::Wsd,
        "constant" => ScheduleKind::Constant,
        s => input_bail!(
            "{f}: [train] schedule = \"{s}\" is unknown; fix: use \"cosine\", \"wsd\" or \"constant\""
        ),
    };
    let base = pos("train", "lr_base_width", t.lr_base_width)?;
    let learning_rate = match t.lr_rule.as_str() {
        "none" => t.learning_rate,
        "sqrt" => t.learning_rate * (base as f64 / n_embd as f64).sqrt(),
        "inverse" => t.learning_rate * base as f64 / n_embd as f64,
        r => input_bail!(
            "{f}: [train] lr_rule = \"{r}\" is unknown; fix: use \"none\", \"sqrt\" or \"inverse\""
        ),
    };
    // Warmup: `warmup_tokens`, or by default (negative) N_total tokens — longer for bigger
    // models, as their early updates are the most unstable — capped at 5% of a cosine run.
    // WSD runs are not capped by their own length, so runs that differ only in tokens share
    // their warmup and stable phase (sweep branching); they stop at the cooldown start.
    let n_total = crate::model::count::params_total(&model) as f64;
    let warmup_tokens = if t.warmup_tokens < 0.0 { n_total } else { t.warmup_tokens };
    let mut warmup_steps = (warmup_tokens / per_step).round() as u64;
    if schedule == ScheduleKind::Wsd {
        warmup_steps = warmup_steps.min(max_steps.saturating_sub(1));
    } else {
        warmup_steps = warmup_steps.min(max_steps / 20);
    }
    let eval_interval = if t.eval_interval > 0 { t.eval_interval as u64 } else { (max_steps / 20).max(1) };
    Ok(RunSpec {
        model,
        corpus: corpus_spec(raw, path)?,
        corpus_id: corpus.id.clone(),
        max_steps,
        tokens: max_steps * per_step as u64,
        batch_size,
        learning_rate,
        lr_rule: t.lr_rule.clone(),
        lr_base_width: base,
        schedule,
        min_lr_fraction: t.min_lr_fraction,
        warmup_steps,
        cooldown_fraction: t.cooldown_fraction,
        weight_decay: t.weight_decay,
        beta1: t.beta1,
        beta2: t.beta2,
        eps: t.eps,
        grad_clip: t.grad_clip,
        seed: t.seed,
        eval_interval,
        eval_sequences: pos("train", "eval_sequences", t.eval_sequences)?,
        final_eval_sequences: pos("train", "final_eval_sequences", t.final_eval_sequences)?,
        divergence_factor: t.divergence_factor,
        flops_budget: None,
        tokens_per_param: None,
        tuned: None,
    })
}

/// Execution options of a raw config.
pub fn run_options(raw: &RawConfig) -> RunOptions {
    RunOptions {
        checkpoint_interval: raw.train.checkpoint_interval.max(0) as u64,
        checkpoint_seconds: raw.train.checkpoint_seconds.max(0.0),
        keep_model: raw.train.keep_model == super::raw::KeepModel::Final,
        tensorboard: (!raw.train.tensorboard.is_empty()).then(|| PathBuf::from(&raw.train.tensorboard)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(s: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(&p, s).unwrap();
        (d, p)
    }

    fn meta() -> CorpusMeta {
        CorpusMeta { vocab_size: 100, id: "x".into(), train_tokens: None }
    }

    #[test]
    fn unknown_key_is_named() {
        let (_d, p) = write("name = \"a\"\n[model]\nn_embed = 3\n");
        let e = load_config(&p, &[]).unwrap_err();
        assert!(crate::error::is_input_error(&e));
        assert!(e.to_string().contains("n_embed"), "{e}");
        assert!(e.to_string().contains("c.toml"), "{e}");
    }

    #[test]
    fn set_overrides_bare_and_dotted() {
        let (_d, p) = write("name = \"a\"\n");
        let c = load_config(&p, &["n_embd=96".into(), "train.learning_rate=1e-3".into()]).unwrap();
        assert_eq!(c.raw.model.n_embd, 96);
        assert_eq!(c.raw.train.learning_rate, 1e-3);
        assert!(load_config(&p, &["bogus=1".into()]).is_err());
    }

    #[test]
    fn head_must_divide_width() {
        let (_d, p) = write("name = \"a\"\n[model]\nn_embd = 64\nn_head = 6\n");
        let c = load_config(&p, &[]).unwrap();
        let e = resolve_run(&c.raw, &p, &meta()).unwrap_err().to_string();
        assert!(e.contains("n_head = 6 does not divide n_embd = 64"), "{e}");
    }

    #[test]
    fn id_is_stable_and_sensitive() {
        let (_d, p) = write("name = \"a\"\n");
        let c = load_config(&p, &[]).unwrap();
        let a = resolve_run(&c.raw, &p, &meta()).unwrap();
        assert_eq!(a.id(), resolve_run(&c.raw, &p, &meta()).unwrap().id());
        let c2 = load_config(&p, &["seed=1".into()]).unwrap();
        assert_ne!(a.id(), resolve_run(&c2.raw, &p, &meta()).unwrap().id());
        assert_eq!(a.id().len(), 16);
    }

    #[test]
    fn name_is_one_folder_name() {
        for bad in ["", ".", "..", "../x", "a/b"] {
            let (_d, p) = write(&format!("name = {bad:?}\n"));
            let e = load_config(&p, &[]).expect_err(bad);
            assert!(crate::error::is_input_error(&e) && e.to_string().contains("one folder name"), "{e}");
        }
        let (_d, p) = write("name = \"ok-name_1.2\"\n");
        assert!(load_config(&p, &[]).is_ok());
    }

    #[test]
    fn tokens_below_one_batch() {
        let (_d, p) = write("name = \"a\"\n[train]\ntokens = 10\n");
        let c = load_config(&p, &[]).unwrap();
        let e = resolve_run(&c.raw, &p, &meta()).unwrap_err().to_string();
        assert!(e.contains("below one batch"), "{e}");
    }
}
