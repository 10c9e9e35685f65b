//! Checkpoints: `checkpoints/ID.sSTEP.safetensors` (model, GPT-2/nanoGPT tensor names),
//! `checkpoints/ID.sSTEP.optim.safetensors` (AdamW moments `exp_avg.NAME`, `exp_avg_sq.NAME`)
//! and `checkpoints/ID.state.json` (step, optimizer t, loss accumulators, wall time, curve
//! length, the names and sha256 of both tensor files).
//!
//! Crash safety: the tensor files of a new checkpoint get new names (their step), each written
//! to a temp name and renamed; then the state file is replaced atomically; only then are the
//! previous step's files deleted. A kill at any moment leaves a state file whose tensor files
//! exist intact (the old generation or the new one), so resuming never needs a hand. A file
//! that does not match its recorded hash is reported as corrupt, never trusted.
//!
//! Floats in the state file are stored as their IEEE bit patterns, so a resumed run continues
//! bit-identically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::input_err;
use crate::results::write_json_atomic;

/// Loop state saved beside the tensors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Run id (guards against loading another run's checkpoint).
    pub id: String,
    /// Next step to run.
    pub step: u64,
    /// AdamW t.
    pub opt_t: u64,
    /// Training wall seconds so far (f64 bits).
    pub wall_seconds_bits: u64,
    /// Sum of train losses since the last curve point (f64 bits) and their count.
    pub loss_acc_bits: u64,
    /// Count for `loss_acc_bits`.
    pub loss_acc_n: u64,
    /// Recent per-step train losses for `final_train_loss`.
    pub recent_losses: Vec<f32>,
    /// Curve lines written up to this step (the curve file is cut back to this on resume).
    pub curve_lines: usize,
    /// File name of the model tensors (in the checkpoints folder).
    #[serde(default)]
    pub model_file: String,
    /// File name of the optimizer tensors.
    #[serde(default)]
    pub optim_file: String,
    /// sha256 of the model file.
    pub model_sha256: String,
    /// sha256 of the optimizer file.
    pub optim_sha256: String,
}

impl TrainState {
    /// The state of run `id` before its first step.
    pub fn new(id: &str) -> Self {
        TrainState {
            id: id.to_string(),
            step: 0,
            opt_t: 0,
            wall_seconds_bits: 0f64.to_bits(),
            loss_acc_bits: 0f64.to_bits(),
            loss_acc_n: 0,
            recent_losses: vec![],
            curve_lines: 0,
            model_file: String::new(),
            optim_file: String::new(),
            model_sha256: String::new(),
            optim_sha256: String::new(),
        }
    }
}

/// Paths of one run's checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointPaths {
    /// The checkpoints folder.
    pub dir: PathBuf,
    /// Run id (file name prefix).
    pub id: String,
    /// Loop state (`ID.state.json`), the file that says which tensor files are current.
    pub state: PathBuf,
}

impl CheckpointPaths {
    /// From `checkpoints/ID.safetensors` (the results store's checkpoint path).
    pub fn new(model: PathBuf) -> Self {
        let dir = model.parent().map(Path::to_path_buf).unwrap_or_default();
        let id = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        CheckpointPaths { state: dir.join(format!("{id}.state.json")), dir, id }
    }

    /// Tensor file names of the checkpoint at `step`: (model, optimizer).
    fn files_at(&self, step: u64) -> (String, String) {
        (format!("{}.s{step}.safetensors", self.id), format!("{}.s{step}.optim.safetensors", self.id))
    }

    /// True when a checkpoint (its state file) exists.
    pub fn exists(&self) -> bool {
        self.state.exists()
    }

    /// Tensor files of this run other than `keep` (older generations, temp files).
    fn tensor_files_except(&self, keep: &[&str]) -> Vec<PathBuf> {
        let prefix = format!("{}.", self.id);
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| {
                        n.starts_with(&prefix) && n.contains(".safetensors") && !keep.contains(&n.as_str())
                    })
                    .map(|n| self.dir.join(n))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes the checkpoint (after the run's result is written): the state file first, so
    /// a kill midway leaves no state pointing at missing files.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.state);
        for p in self.tensor_files_except(&[]) {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn sha256_file(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// `e` with `what` as context, reduced to its innermost io error when it has one: candle wraps
/// safetensors' `IoError`, whose message and source both print the io error, so "No space left
/// on device" came out twice (issue #19).
fn io_once(e: candle_core::Error, what: String) -> anyhow::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return anyhow::Error::new(std::io::Error::new(io.kind(), io.to_string())).context(what);
        }
        cause = c.source();
    }
    anyhow::Error::new(e).context(what)
}

fn save_tensors(path: &Path, names: &[String], values: &[Vec<f32>], shapes: &[Vec<usize>]) -> Result<String> {
    let mut map = HashMap::new();
    for ((n, v), s) in names.iter().zip(values).zip(shapes) {
        map.insert(n.clone(), Tensor::from_slice(v, s.as_slice(), &Device::Cpu)?);
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    candle_core::safetensors::save(&map, &tmp)
        .map_err(|e| io_once(e, format!("writing {}", tmp.display())))?;
    let sha = sha256_file(&tmp)?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(sha)
}

/// Writes model values, optimizer moments and state (state last).
#[allow(clippy::too_many_arguments)]
pub fn save(
    paths: &CheckpointPaths,
    names: &[String],
    shapes: &[Vec<usize>],
    params: &[Vec<f32>],
    m: &[Vec<f32>],
    v: &[Vec<f32>],
    mut state: TrainState,
) -> Result<()> {
    let (model_file, optim_file) = paths.files_at(state.step);
    state.model_sha256 = save_tensors(&paths.dir.join(&model_file), names, params, shapes)?;
    let mut onames = Vec::new();
    let mut ovals = Vec::new();
    let mut oshapes = Vec::new();
    for (i, n) in names.iter().enumerate() {
        onames.push(format!("exp_avg.{n}"));
        ovals.push(m[i].clone());
        oshapes.push(shapes[i].clone());
        onames.push(format!("exp_avg_sq.{n}"));
        ovals.push(v[i].clone());
        oshapes.push(shapes[i].clone());
    }
    state.optim_sha256 = save_tensors(&paths.dir.join(&optim_file), &onames, &ovals, &oshapes)?;
    state.model_file = model_file.clone();
    state.optim_file = optim_file.clone();
    write_json_atomic(&paths.state, &state)?;
    // The new generation is current: older tensor files are no longer referenced.
    for old in paths.tensor_files_except(&[&model_file, &optim_file]) {
        if !old.to_string_lossy().contains(".tmp.") {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(())
}

/// A loaded checkpoint.
pub struct Loaded {
    /// Loop state.
    pub state: TrainState,
    /// Parameter values in `names` order.
    pub params: Vec<Vec<f32>>,
    /// First moments.
    pub m: Vec<Vec<f32>>,
    /// Second moments.
    pub v: Vec<Vec<f32>>,
}

/// Loads and verifies a checkpoint; anything inconsistent is an input error that says how to
/// start over (finished results are never touched).
pub fn load(paths: &CheckpointPaths, id: &str, names: &[String], shapes: &[Vec<usize>]) -> Result<Loaded> {
    let corrupt = |why: String| {
        input_err(format!(
            "corrupt checkpoint {}: {why}; fix: delete {} and {}/{}.s*.safetensors to restart this run from step 0",
            paths.state.display(),
            paths.state.display(),
            paths.dir.display(),
            paths.id
        ))
    };
    let text = std::fs::read_to_string(&paths.state).map_err(|e| corrupt(e.to_string()))?;
    let state: TrainState =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("bad state file ({e})")))?;
    if state.id != id {
        return Err(corrupt(format!("it belongs to run {}", state.id)));
    }
    if state.model_file.is_empty() || state.optim_file.is_empty() {
        return Err(corrupt("the state file names no tensor files".into()));
    }
    let (model_path, optim_path) = (paths.dir.join(&state.model_file), paths.dir.join(&state.optim_file));
    for (p, want) in [(&model_path, &state.model_sha256), (&optim_path, &state.optim_sha256)] {
        let got = sha256_file(p).map_err(|e| corrupt(format!("{e:#}")))?;
        if &got != want {
            return Err(corrupt(format!("{} has sha256 {got}, the state file expects {want}", p.display())));
        }
    }
    let read = |p: &Path| -> Result<HashMap<String, Tensor>> {
        candle_core::safetensors::load(p, &Device::Cpu).map_err(|e| corrupt(format!("{}: {e}", p.display())))
    };
    let model = read(&model_path)?;
    let optim = read(&optim_path)?;
    let get = |map: &HashMap<String, Tensor>, n: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let t = map.get(n).ok_or_else(|| corrupt(format!("tensor {n} is missing")))?;
        if t.dims() != shape {
            return Err(corrupt(format!("tensor {n} has shape {:?}, expected {shape:?}", t.dims())));
        }
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    };
    let mut out = Loaded { state, params: vec![], m: vec![], v: vec![] };
    for (n, s) in names.iter().zip(shapes) {
        out.params.push(get(&model, n, s)?);
        out.m.push(get(&optim, &format!("exp_avg.{n}"), s)?);
        out.v.push(get(&optim, &format!("exp_avg_sq.{n}"), s)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #19: a full disk is reported once, with the file. (The error is built as candle
    /// returns it from a full disk, safetensors' IoError inside candle's: `/dev/full` cannot
    /// stand in, as writes to it succeed under gVisor.)
    #[test]
    fn a_full_disk_names_the_file_once() {
        let enospc = || std::io::Error::from_raw_os_error(28);
        let e = candle_core::Error::SafeTensor(safetensors::SafeTensorError::IoError(enospc()));
        let plain = format!("{:#}", anyhow::Error::new(e).context("writing x"));
        assert_eq!(plain.matches("No space left on device").count(), 2, "the repetition: {plain}");
        let e = candle_core::Error::SafeTensor(safetensors::SafeTensorError::IoError(enospc()));
        let msg = format!("{:#}", io_once(e, "writing /r/checkpoints/x.safetensors".into()));
        assert_eq!(msg, "writing /r/checkpoints/x.safetensors: No space left on device (os error 28)");
    }
}
